"""The real-style EE5179 submissions (tests/grading/real_style_notebooks.py) graded under a budget, by default
the assignment's own (900 s a cell, 2,400 s a notebook, then overtime): per student the automatic marks,
what waits for a TA and why, the checks that failed, the cells the budget cut and the time it took.

.venv/bin/python -m benchmarks.real_style OUT [--cell-timeout S] [--timeout S] [--jobs N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from checks.batch.class_grading import grade_class
from checks.data.assets import DataDir
from checks.grading.scheme import load_assignment
from checks.grading.submission import GradeOptions
from tests.grading.real_style_notebooks import write_class


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path, help="where the graded class is written")
    parser.add_argument("--cell-timeout", type=float, help="seconds per cell (default: the assignment's)")
    parser.add_argument("--timeout", type=float, help="seconds per notebook (default: the assignment's)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    assignment = load_assignment("ee5179-pa2")
    options = GradeOptions(
        data_dir=DataDir(args.data_dir).root,
        jobs=args.jobs,
        cell_timeout_s=args.cell_timeout,
        notebook_timeout_s=args.timeout,
    )
    with tempfile.TemporaryDirectory() as scratch:
        write_class(Path(scratch))
        started = time.perf_counter()
        results = grade_class([Path(scratch)], assignment, options, args.out, regrade=True)
        elapsed = time.perf_counter() - started
    automatic = sum(task.automatic for task in assignment.tasks)
    for payload in sorted(results, key=lambda p: p["student"]):
        by_status: dict[str, list[str]] = {}
        for check in payload["checks"]:
            by_status.setdefault(check["status"], []).append(f"{check['task']} {check['name']}")
        held = sum(check["max_score"] for check in payload["checks"] if check["status"] == "cut")
        cuts = [flag.removeprefix("timeout: ") for flag in payload["flags"] if flag.startswith("timeout: ")]
        print(
            f"{payload['student']}: {payload['score']:g} of {automatic:g} automatic, {held:g} held for a TA, "
            f"{payload['execution_time']:.0f} s"
        )
        print(f"  held: {', '.join(by_status.get('cut', [])) or 'none'}")
        print(f"  failed: {', '.join(by_status.get('failed', []) + by_status.get('partial', [])) or 'none'}")
        print(f"  cut: {'; '.join(cuts) or 'none'}")
    print(f"class graded in {elapsed:.0f} s with {args.jobs} job(s)")


if __name__ == "__main__":
    main()
