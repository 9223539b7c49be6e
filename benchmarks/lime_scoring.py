"""Scoring time of TML25 A4 LIME-parameter pickles: the whole scoring (reading, kernel start, model warm-up,
ten explanations times the repeats) against the median explanation times it reports, for a few sample
counts, and whether two scorings of one pickle give the same IoU.

Run: .venv/bin/python -m benchmarks.lime_scoring [--data-dir ../shared/data] [--threads 2] [--samples 25 100]
(about four minutes on two cores with the defaults; a real course's 1,000 samples take about ten times
the 100-sample figure).
"""

from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path

from checks.assignments.tml25_a4.lime_scoring import ScoringOptions, score_lime_pickle
from checks.data.assets import DataDir
from checks.engine.sandbox import SandboxLimits
from reference.tml25_a4.images import IMAGE_KEYS

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--samples", type=int, nargs="+", default=[25, 100])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    data = DataDir(Path(args.data_dir).resolve())
    options = ScoringOptions(cut_off_s=1800, repeats=args.repeats, limits=SandboxLimits(threads=args.threads))
    print(f"threads {args.threads}, repeats {args.repeats}")
    for samples in args.samples:
        pickled = pickle.dumps({key: {"num_samples": samples, "batch_size": 25, "top_labels": 1} for key in IMAGE_KEYS})
        walls, results = [], []
        for _ in range(2):
            started = time.perf_counter()
            results.append(score_lime_pickle(pickled, data, options))
            walls.append(time.perf_counter() - started)
        first, second = results
        print(
            f"num_samples {samples:>5}: scoring {walls[0]:6.1f} s and {walls[1]:6.1f} s wall; "
            f"avg_time {first.avg_time:.3f} s and {second.avg_time:.3f} s per image; "
            f"avg_iou {first.avg_iou:.4f} and {second.avg_iou:.4f} (same: {first.iou == second.iou})"
        )


if __name__ == "__main__":
    main()
