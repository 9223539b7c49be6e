"""What finding things without names costs: one EE5179 PA2 notebook graded in full mode, split
into the notebook's own run and the checks that search its kernel and figures afterwards
(describing every module, re-measuring each classifier on 10,000 test images, recomputing the
occlusion map, classifying the generated images).

Run: .venv/bin/python benchmarks/ee5179_findings.py [--data-dir ../shared/data] [--threads 2]
(about four minutes on two cores; the first run on a machine also trains the reference CNN).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from checks.engine.intake import intake_one
from checks.engine.sandbox import SandboxLimits
from checks.grading.scheme import load_assignment
from checks.grading.submission import GradeOptions, grade_submission

REPO = Path(__file__).resolve().parent.parent
CORRECT = REPO / "student_submissions" / "ee5179-pa2" / "Arun_Kumar_EE21B001.zip"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    options = GradeOptions(mode="full", data_dir=Path(args.data_dir), limits=SandboxLimits(threads=args.threads))
    with tempfile.TemporaryDirectory() as work:
        submission = intake_one(CORRECT, Path(work) / "intake")
        started = time.perf_counter()
        payload = grade_submission(submission, load_assignment("ee5179-pa2"), options, Path(work) / "out")
        total = time.perf_counter() - started
    notebook = sum(cell["duration_s"] or 0 for cell in payload["run"]["cells"])
    print(f"score                     {payload['score']:g} / {payload['max_score']:g}")
    print(f"graded in                 {total:7.1f} s  ({args.threads} kernel threads)")
    print(f"notebook cells            {notebook:7.1f} s")
    print(f"checks and set-up         {total - notebook:7.1f} s  ({(total - notebook) / total:.0%} of the grading)")


if __name__ == "__main__":
    main()
