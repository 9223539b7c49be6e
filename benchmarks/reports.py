"""What the pages of a graded class weigh and cost to make: each light report with the images it
loads, its single-file copy, the figures as PNG against their display copies, and publishing the
class (first time, re-rendered, similarity alone).

Run on a graded class folder (it is copied, never changed):
.venv/bin/python benchmarks/reports.py reports/cs411-a2
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from checks.data.class_folder import REFERENCE_FIGURES
from checks.grading.scheme import load_assignment
from checks.publish.page_images import page_weight
from checks.publish.publisher import load_results, publish
from checks.publish.report import REPORT_FILE, SINGLE_FILE_REPORT
from checks.publish.similarity import find_similar


def folder_bytes(folder: Path, pattern: str) -> int:
    return sum(path.stat().st_size for path in folder.glob(pattern) if path.is_file())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("graded", type=Path, help="a class folder written by xaigrader grade")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch) / "class"
        shutil.copytree(args.graded, work, ignore=shutil.ignore_patterns("web", REFERENCE_FIGURES, "report*.html"))
        started = time.perf_counter()
        publish(work)
        first = time.perf_counter() - started
        started = time.perf_counter()
        publish(work)
        again = time.perf_counter() - started
        payloads = load_results(work)
        started = time.perf_counter()
        pairs = find_similar(work, payloads, load_assignment(payloads[0]["assignment"]))
        similarity = time.perf_counter() - started
        print(f"{'student':<24}{'report+images':>15}{'single file':>13}{'figures PNG':>13}{'display':>10}")
        for payload in sorted(payloads, key=lambda p: p["student"]):
            folder = work / payload["student"]
            print(
                f"{payload['student']:<24}{page_weight(folder / REPORT_FILE):>15,}"
                f"{(folder / SINGLE_FILE_REPORT).stat().st_size:>13,}"
                f"{folder_bytes(folder / 'figures', '*.png'):>13,}{folder_bytes(folder / 'figures' / 'web', '*'):>10,}"
            )
        print(f"class reference figures, stored once: {folder_bytes(work / REFERENCE_FIGURES, '*'):,} bytes")
        print(f"publish: {first:.1f} s the first time, {again:.1f} s re-rendered; similarity {similarity:.2f} s")
        print(f"similar pairs: {len(pairs)} ({', '.join(sorted({pair.kind for pair in pairs})) or 'none'})")


if __name__ == "__main__":
    main()
