"""Self-check latency and throughput of a real ``xaigrader serve`` process.

Latency: the correct CS411 sample, quick mode, one upload at a time on an idle server (each a new variant
of the notebook so none is answered from a stored result), timed from the POST to its answer with the
result (``wait``). Throughput: 50 uploads from 20 tokens at once, as the load test sends them.

    .venv/bin/python -m benchmarks.server_latency [--uploads 10] [--workers 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from tests.server.server_process import REPO, issue_roster_tokens, running_server, variant, wait_for_jobs

SAMPLE = REPO / "student_submissions" / "cs411-a2" / "Asha_Rao_CS2301.zip"


def _notebook() -> bytes:
    with zipfile.ZipFile(SAMPLE) as archive:
        return archive.read(next(name for name in archive.namelist() if name.endswith(".ipynb")))


def _post(url: str, token: str, content: bytes, wait: float) -> requests.Response:
    return requests.post(
        f"{url}/check",
        params={"wait": wait},
        files={"file": ("A2.ipynb", content)},
        data={"assignment": "cs411-a2"},
        headers={"token": token},
        timeout=wait + 60,
    )


def _students(tokens: dict[str, str]) -> list[str]:
    return sorted(member for member in tokens if member.startswith("S"))


def latency(url: str, tokens: dict[str, str], notebook: bytes, uploads: int) -> list[float]:
    """Each upload from the next student, as a class checks one after another (one token would soon meet
    its per-minute limit)."""
    students, seconds = _students(tokens), []
    for n in range(uploads):
        started = time.perf_counter()
        answer = _post(url, tokens[students[n % len(students)]], variant(notebook, f"latency-{n}"), wait=120)
        seconds.append(time.perf_counter() - started)
        assert answer.status_code == 200 and answer.json()["result"]["score"] == 39, answer.text[:300]
    return seconds


def load(url: str, tokens: dict[str, str], notebook: bytes) -> None:
    students = _students(tokens)
    sends = [(students[n % len(students)], variant(notebook, f"load-{n}")) for n in range(50)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda send: _post(url, tokens[send[0]], send[1], wait=0), sends))
    answered = time.perf_counter() - started
    accepted = sorted({answer.json()["job"] for answer in answers if answer.status_code == 202})
    refused = sum(answer.status_code == 429 for answer in answers)
    finished = wait_for_jobs(url, tokens["ta1"], accepted, timeout_s=3600)
    total = time.perf_counter() - started
    done = sum(job["status"] == "done" for job in finished.values())
    print(f"load: 50 uploads answered in {answered:.1f} s: {len(accepted)} queued, {refused} refused with 429")
    print(f"load: {done} of {len(accepted)} graded in {total:.0f} s: {60 * done / total:.1f} notebooks a minute")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uploads", type=int, default=10, help="uploads timed one after another")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    notebook = _notebook()
    with tempfile.TemporaryDirectory(prefix="xaigrader-bench-") as work:
        folder = Path(work) / "server"
        members = [(f"S{n:03d}", "student") for n in range(20)] + [("ta1", "ta")]
        tokens = issue_roster_tokens(folder, members)
        with running_server(folder, workers=args.workers) as server:
            seconds = latency(server.url, tokens, notebook, args.uploads)
            ordered = sorted(seconds)
            p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
            print(
                f"latency over {len(seconds)} quick self-checks: median {statistics.median(seconds):.2f} s, "
                f"95th percentile {p95:.2f} s, min {ordered[0]:.2f} s, max {ordered[-1]:.2f} s"
            )
            load(server.url, tokens, notebook)


if __name__ == "__main__":
    main()
