"""A guard for tests of hostile input that once took minutes on the grader: fail clearly instead of hanging."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def within_seconds(seconds: int, what: str) -> Iterator[None]:
    """Fail the test when the block runs past ``seconds`` (SIGALRM; the main thread only)."""

    def expired(signum, frame):
        pytest.fail(f"over {seconds} s: {what}")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
