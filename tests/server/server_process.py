"""A real ``xaigrader serve`` process on a free port, as an instructor starts it, for the process tests, the
browser test and the latency benchmark."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat
import requests

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
XAIGRADER = [sys.executable, "-m", "checks.cli"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def issue_roster_tokens(folder: Path, members: list[tuple[str, str]], db: str | None = None) -> dict[str, str]:
    """``xaigrader tokens`` on a roster of (id, role); returns each member's token from the 0600 file."""
    folder.mkdir(parents=True, exist_ok=True)
    roster, out = folder.parent / "roster.csv", folder.parent / "tokens.csv"
    with roster.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("id", "name", "email", "role"))
        writer.writerows(
            (member_id, f"Member {member_id}", f"{member_id}@example.edu", role) for member_id, role in members
        )
    command = [*XAIGRADER, "tokens", str(roster), "--out", str(out), "--server-dir", str(folder)]
    subprocess.run([*command, *(["--db", db] if db else [])], check=True, capture_output=True, cwd=REPO)
    with out.open(encoding="utf-8") as handle:
        return {row["id"]: row["token"] for row in csv.DictReader(handle)}


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen
    log: Path

    def kill(self) -> None:
        """SIGKILL to the server and every kernel it started, as a crash or an OOM kill would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)


def start_server(folder: Path, port: int, db: str | None = None, workers: int = 1, extra: tuple[str, ...] = ()):
    log = folder.parent / f"server-{port}.log"
    command = [
        *XAIGRADER,
        "serve",
        "--assignment",
        "cs411-a2",
        "--assignment",
        "tml25-a4",
        "--server-dir",
        str(folder),
        "--data-dir",
        str(DATA),
        "--port",
        str(port),
        "--workers",
        str(workers),
        *(["--db", db] if db else []),
        *extra,
    ]
    with log.open("ab") as handle:
        process = subprocess.Popen(command, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    server = ServerProcess(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            requests.get(server.url + "/", timeout=2)
            return server
        except requests.ConnectionError:
            time.sleep(0.3)
    server.kill()
    raise RuntimeError("the server did not answer within 120 s")


@contextmanager
def running_server(
    folder: Path, db: str | None = None, workers: int = 1, extra: tuple[str, ...] = ()
) -> Iterator[ServerProcess]:
    server = start_server(folder, free_port(), db, workers, extra)
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGINT)
            try:
                server.process.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()


def variant(notebook: bytes, nonce: str) -> bytes:
    """The same notebook with a different metadata note, so its grading key differs and it is graded anew."""
    parsed = nbformat.reads(notebook.decode("utf-8"), as_version=4)
    parsed.metadata["xaigrader_test_nonce"] = nonce
    return json.dumps(parsed).encode("utf-8")


def wait_for_jobs(url: str, token: str, job_ids: list[int], timeout_s: float) -> dict[int, dict]:
    """Each job's JSON once it is done or failed (a TA token reads every job)."""
    finished: dict[int, dict] = {}
    deadline = time.monotonic() + timeout_s
    while len(finished) < len(job_ids) and time.monotonic() < deadline:
        for job_id in job_ids:
            if job_id not in finished:
                job = requests.get(f"{url}/api/check/{job_id}", headers={"token": token}, timeout=30).json()
                if job["status"] in ("done", "failed"):
                    finished[job_id] = job
        time.sleep(1)
    return finished
