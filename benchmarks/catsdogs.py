"""One correct cats-vs-dogs XAI notebook graded in full mode: the grading's wall time against the
notebook's bare nbclient execution (ratio), and the time spent finding the model, split and figures
and checking them (re-measuring the model, recomputing Grad-CAM, occlusion and FGSM accuracies).

Run: .venv/bin/python -m benchmarks.catsdogs [--data-dir ../shared/data] [--threads 2]
(about five minutes on two cores; the first run on a machine also trains the reference CNN).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import zipfile
from pathlib import Path

from benchmarks.batch import bare_nbclient
from checks.engine.intake import intake_one
from checks.engine.sandbox import SandboxLimits
from checks.grading.scheme import load_assignment
from checks.grading.submission import GradeOptions, grade_submission

REPO = Path(__file__).resolve().parent.parent
CORRECT = REPO / "student_submissions" / "catsdogs-xai" / "Aditi_Sharma_CD001.zip"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    data_dir = Path(args.data_dir).resolve()
    options = GradeOptions(mode="full", data_dir=data_dir, limits=SandboxLimits(threads=args.threads))
    with tempfile.TemporaryDirectory(prefix="xaigrader-bench-") as temporary:
        work = Path(temporary)
        submission = intake_one(CORRECT, work / "intake")
        started = time.perf_counter()
        payload = grade_submission(submission, load_assignment("catsdogs-xai"), options, work / "out")
        graded = time.perf_counter() - started
        with zipfile.ZipFile(CORRECT) as archive:
            archive.extractall(work / "bare-source")
        notebook = next((work / "bare-source").rglob("*.ipynb"))
        (work / "bare").mkdir()
        bare, bare_errors = bare_nbclient(notebook, data_dir, work / "bare")
    cells = sum(cell["duration_s"] or 0 for cell in payload["run"]["cells"])
    print(f"score                     {payload['score']:g} / {payload['max_score']:g}")
    print(f"graded in                 {graded:7.1f} s  ({args.threads} kernel threads)")
    print(f"bare nbclient             {bare:7.1f} s  ({bare_errors} cell errors); graded / bare {graded / bare:.2f}")
    print(f"notebook cells (graded)   {cells:7.1f} s")
    print(f"finding and checking      {graded - cells:7.1f} s  ({(graded - cells) / graded:.0%} of the grading)")


if __name__ == "__main__":
    main()
