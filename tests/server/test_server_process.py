"""The server as an instructor runs it: a real uvicorn process under load, killed and started again, on SQLite
and on PostgreSQL."""

from __future__ import annotations

import http.client
import select as io_select
import socket
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from checks.server.store import Job, default_store_url, open_store
from tests.server.server_process import issue_roster_tokens, running_server, variant, wait_for_jobs

pytestmark = pytest.mark.slow
SAMPLE = Path(__file__).resolve().parents[2] / "student_submissions" / "cs411-a2" / "Bela_Sen_CS2302.zip"
STUDENTS = [f"S{n:03d}" for n in range(20)]


@pytest.fixture(scope="module")
def notebook() -> bytes:
    with zipfile.ZipFile(SAMPLE) as archive:
        return archive.read(next(name for name in archive.namelist() if name.endswith(".ipynb")))


@pytest.fixture
def db_url(store_url: str) -> str | None:
    """None for the server folder's own SQLite file (the default an instructor gets), else PostgreSQL's URL."""
    return None if store_url.startswith("sqlite") else store_url


def upload(url: str, token: str, content: bytes) -> requests.Response:
    return requests.post(
        f"{url}/check",
        files={"file": ("A2.ipynb", content)},
        data={"assignment": "cs411-a2"},
        headers={"token": token},
        timeout=120,
    )


def stored_jobs(folder: Path, db: str | None) -> list[Job]:
    with open_store(db or default_store_url(folder))() as session:
        return list(session.scalars(select(Job).order_by(Job.id)))


def test_fifty_uploads_from_twenty_tokens_are_each_answered_and_graded_once(tmp_path, db_url, notebook):
    folder = tmp_path / "server"
    tokens = issue_roster_tokens(folder, [(student, "student") for student in STUDENTS] + [("ta1", "ta")], db_url)
    sends = [(STUDENTS[n % 20], variant(notebook, f"{n // 20}")) for n in range(50)]
    with running_server(folder, db_url, workers=2, extra=("--waiting-per-member", "1")) as server:
        with ThreadPoolExecutor(max_workers=20) as pool:
            answers = list(pool.map(lambda send: upload(server.url, tokens[send[0]], send[1]), sends))
        statuses = [answer.status_code for answer in answers]
        assert set(statuses) <= {202, 429}, [answer.text for answer in answers if answer.status_code not in (202, 429)]
        accepted = sorted({answer.json()["job"] for answer in answers if answer.status_code == 202})
        assert all(answer.headers.get("Retry-After") for answer in answers if answer.status_code == 429)
        assert len(accepted) >= 20  # each token's first upload at least
        finished = wait_for_jobs(server.url, tokens["ta1"], accepted, timeout_s=1200)
    assert sorted(finished) == accepted
    assert all(job["status"] == "done" and job["result"]["problem"] is None for job in finished.values())
    jobs = stored_jobs(folder, db_url)
    assert [job.id for job in jobs] == accepted  # nothing queued that was not answered, nothing lost
    assert all(job.attempts == 1 for job in jobs)  # nothing graded twice


def test_a_server_killed_with_ten_queued_finishes_all_ten_when_started_again(tmp_path, db_url, notebook):
    folder = tmp_path / "server"
    students = STUDENTS[:10]
    tokens = issue_roster_tokens(folder, [(student, "student") for student in students] + [("ta1", "ta")], db_url)
    with running_server(folder, db_url, workers=1) as server:
        job_ids = [upload(server.url, tokens[student], notebook).json()["job"] for student in students]
        deadline = time.monotonic() + 120
        while stored_jobs(folder, db_url)[0].status != "running" and time.monotonic() < deadline:
            time.sleep(0.2)
        server.kill()
    before = stored_jobs(folder, db_url)
    assert [job.status for job in before].count("running") == 1 and all(job.finished_at is None for job in before)
    with running_server(folder, db_url, workers=2) as server:
        finished = wait_for_jobs(server.url, tokens["ta1"], job_ids, timeout_s=900)
    assert sorted(finished) == sorted(job_ids)
    assert all(job["status"] == "done" and job["result"]["problem"] is None for job in finished.values())
    attempts = [job.attempts for job in stored_jobs(folder, db_url)]
    assert attempts.count(2) == 1 and attempts.count(1) == 9


def stream_until_answered(url: str, token: str, total: int) -> tuple[int, bytes]:
    """POST a chunked multipart body of ``total`` bytes, stopping as soon as the server answers; returns how
    many bytes were sent and the answer's first bytes."""
    host, port = url.removeprefix("http://").split(":")
    chunk = b"0" * (1 << 20)
    head = (
        f"POST /check HTTP/1.1\r\nHost: {host}\r\ntoken: {token}\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: multipart/form-data; boundary=xx\r\n\r\n"
    )
    opening = b'--xx\r\nContent-Disposition: form-data; name="file"; filename="big.ipynb"\r\n\r\n'
    sent = 0
    with socket.create_connection((host, int(port)), timeout=60) as connection:
        connection.sendall(head.encode() + f"{len(opening):x}\r\n".encode() + opening + b"\r\n")
        while sent < total:
            if io_select.select([connection], [], [], 0)[0]:
                break
            try:
                connection.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        return sent, connection.recv(4096)


def test_a_two_gigabyte_upload_is_cut_off_at_the_cap_unread_and_unkept(tmp_path):
    folder = tmp_path / "server"
    tokens = issue_roster_tokens(folder, [("S000", "student")])
    with running_server(folder, extra=("--max-upload-mib", "4")) as server:
        host, port = server.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        connection.putrequest("POST", "/check")
        connection.putheader("token", tokens["S000"])
        connection.putheader("Content-Length", str(2 << 30))
        connection.endheaders(b"{")
        declared = connection.getresponse()
        assert declared.status == 413 and b"4 MiB" in declared.read()
        connection.close()
        sent, answer = stream_until_answered(server.url, tokens["S000"], 2 << 30)
        assert answer.startswith(b"HTTP/1.1 413") and sent < 64 << 20, (sent, answer[:200])
        assert requests.get(f"{server.url}/", timeout=10).status_code == 200  # still serving
    assert stored_jobs(folder, None) == []
    spooled = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    assert spooled < 16 << 20
