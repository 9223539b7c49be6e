"""The line teams wait in for the LIME scorer: first come, first scored, one at a time, one place per team, a
bounded number of places, and nobody's thread held while waiting.

A team whose earlier pickle is still in the line, or that finds the line full, is told at once to come back
(429), so a team posting in a loop cannot take every request thread of the server.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

TURN_POLL_S = 0.1


class LineRefused(Exception):
    """No place in the line for this team now; ``places_taken`` tells how long the wait would have been."""

    def __init__(self, message: str, places_taken: int) -> None:
        super().__init__(message)
        self.places_taken = places_taken


class ScoringLine:
    def __init__(self, places: int) -> None:
        self.places = places
        self._line: deque[str] = deque()  # its first team is the one being scored
        self._lock = threading.Lock()

    @contextmanager
    def place(self, team: str) -> Iterator[None]:
        """The team's place at the back of the line, held until the block ends (its scoring done or given up)."""
        with self._lock:
            if team in self._line:
                raise LineRefused("your team's previous pickle is still being scored; wait for its answer", 1)
            if len(self._line) >= self.places:
                raise LineRefused(
                    f"the scorer's line is full ({len(self._line)} teams, one of them being scored); try again",
                    len(self._line),
                )
            self._line.append(team)
        try:
            yield
        finally:
            with self._lock:
                self._line.remove(team)

    def _first(self) -> str:
        with self._lock:
            return self._line[0]

    async def turn(self, team: str) -> None:
        """Returns once every team ahead has left, waiting on the event loop rather than in a thread."""
        while self._first() != team:
            await asyncio.sleep(TURN_POLL_S)
