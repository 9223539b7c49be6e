"""The Dask path's cost: the CS411 sample class graded through a two-worker LocalCluster (one kernel each)
against the local pool with --jobs 2, in one run, and the time the client spends per submission receiving
and writing a result folder.

Run: .venv/bin/python -m benchmarks.cluster_overhead [--mode full|quick] [--data-dir ../shared/data]
(full mode: about twenty minutes on two cores, the class graded twice).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from checks.batch.class_grading import grade_class
from checks.batch.local_cluster import start_local_cluster
from checks.engine.sandbox import SandboxLimits
from checks.grading.scheme import load_assignment
from checks.grading.submission import GradeOptions

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "student_submissions" / "cs411-a2"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=("full", "quick"), default="full")
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--cell-timeout", type=float, default=240)
    args = parser.parse_args()
    data = Path(args.data_dir)
    assignment = load_assignment("cs411-a2")
    options = GradeOptions(mode=args.mode, data_dir=data, cell_timeout_s=args.cell_timeout)
    with tempfile.TemporaryDirectory(prefix="xaigrader-cluster-bench-") as work:
        started = time.perf_counter()
        pooled = grade_class([SAMPLES], assignment, _pool(options), Path(work, "pool"))
        pool_s = time.perf_counter() - started
        with start_local_cluster(2, 1, data) as cluster:
            said = io.StringIO()
            started = time.perf_counter()
            with contextlib.redirect_stdout(said):
                clustered = grade_class(
                    [SAMPLES], assignment, options, Path(work, "cluster"), scheduler=cluster.scheduler_address
                )
            cluster_s = time.perf_counter() - started
    same = [a["score"] for a in pooled] == [b["score"] for b in clustered]
    transfer = re.search(r"(\d+) result folder\(s\) received and written, ([\d.]+) s each", said.getvalue())
    print(f"{len(pooled)} notebooks, {args.mode} mode")
    print(f"local pool, --jobs 2:           {pool_s:7.1f} s")
    print(f"LocalCluster, 2 workers x 1:    {cluster_s:7.1f} s   ratio {cluster_s / pool_s:.3f}")
    print(f"per submission, received and written by the client: {transfer.group(2) if transfer else '?'} s")
    print(f"same scores: {same} ({[a['score'] for a in pooled]})")


def _pool(options: GradeOptions) -> GradeOptions:
    return replace(options, jobs=2, limits=SandboxLimits(threads=1))


if __name__ == "__main__":
    main()
