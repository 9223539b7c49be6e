"""``xaigrader check --server``: the student's side of a self-check, which sends the notebook and waits."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import requests

WAIT_S = 60  # the server holds each request this long at most before answering "still running"


class ServerCheckError(RuntimeError):
    """What the server said when it did not grade: the student reads it as is."""


def _answer(response: requests.Response) -> dict[str, Any]:
    if response.status_code == 429:
        raise ServerCheckError(
            f"{_detail(response)}; try again in {response.headers.get('Retry-After', 'a few')} seconds"
        )
    if response.status_code >= 400:
        raise ServerCheckError(f"the server answered {response.status_code}: {_detail(response)}")
    return response.json()


def _detail(response: requests.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))[:500]
    except ValueError:
        return response.text[:500]


def check_on_server(
    server: str, token: str, notebook: Path, assignment: str, mode: str, timeout_s: float = 3600
) -> dict[str, Any]:
    """The finished job as the server's JSON (its ``result`` is the student's view of results.json)."""
    base = server.rstrip("/")
    headers = {"token": token}
    with notebook.open("rb") as handle:
        job = _answer(
            requests.post(
                f"{base}/check",
                params={"wait": WAIT_S},
                files={"file": (notebook.name, handle)},
                data={"assignment": assignment, "mode": mode},
                headers=headers,
                timeout=WAIT_S + 30,
            )
        )
    deadline = time.monotonic() + timeout_s
    while job["status"] not in ("done", "failed"):
        if time.monotonic() > deadline:
            raise ServerCheckError(f"no result after {timeout_s:g} s; it will be at {base}{job['page']}")
        job = _answer(
            requests.get(f"{base}{job['json']}", params={"wait": WAIT_S}, headers=headers, timeout=WAIT_S + 30)
        )
    if job["status"] == "failed":
        raise ServerCheckError(job["error"] or "the server could not grade this upload")
    return job
