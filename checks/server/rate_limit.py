"""Per-member upload limits, answered with 429 and the seconds to wait, so one student cannot fill the queue."""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque

from fastapi import HTTPException

from checks.server.settings import RateLimit


def too_many(message: str, retry_after: int) -> HTTPException:
    return HTTPException(429, message, headers={"Retry-After": str(retry_after)})


class UploadLimiter:
    """A sliding window of upload times per member, in this process (the queue's own limit is in the store)."""

    def __init__(self, limit: RateLimit, clock=time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self._times: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def admit(self, member_id: str) -> int | None:
        """None when this upload may go ahead (and counts it), else the whole seconds until one may."""
        now = self.clock()
        with self._lock:
            times = self._times[member_id]
            while times and now - times[0] >= self.limit.window_s:
                times.popleft()
            if len(times) >= self.limit.uploads:
                return max(1, math.ceil(self.limit.window_s - (now - times[0])))
            times.append(now)
            return None
