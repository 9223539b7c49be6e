"""The line teams wait in for the LIME scorer: one scoring at a time, one place per team, a bounded number of
places, and nobody's thread held while waiting.

A team whose earlier pickle is still in the line, or that finds the line full, is told at once to come back
(429), so a team posting in a loop cannot take every request thread of the server.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

TURN_POLL_S = 0.1


class LineRefused(Exception):
    """No place in the line for this team now; ``places_taken`` tells how long the wait would have been."""

    def __init__(self, message: str, places_taken: int) -> None:
        super().__init__(message)
        self.places_taken = places_taken


class ScoringLine:
    def __init__(self, places: int) -> None:
        self.places = places
        self._teams: set[str] = set()
        self._places_lock = threading.Lock()
        self._scoring = threading.Lock()

    def _join(self, team: str) -> None:
        with self._places_lock:
            if team in self._teams:
                raise LineRefused("your team's previous pickle is still being scored; wait for its answer", 1)
            if len(self._teams) >= self.places:
                raise LineRefused(f"{len(self._teams)} teams are waiting for the scorer; try again", len(self._teams))
            self._teams.add(team)

    def _leave(self, team: str) -> None:
        with self._places_lock:
            self._teams.discard(team)

    @asynccontextmanager
    async def turn(self, team: str) -> AsyncIterator[None]:
        """The team's turn at the scorer: waits on the event loop, not in a thread, until no one else scores."""
        self._join(team)
        try:
            while not self._scoring.acquire(blocking=False):
                await asyncio.sleep(TURN_POLL_S)
            try:
                yield
            finally:
                self._scoring.release()
        finally:
            self._leave(team)
