"""What happened inside the kernel, appended as JSON lines the grader reads afterwards."""

from __future__ import annotations

import json
import threading
from pathlib import Path

MAX_EVENTS = 2000


class EventLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self.cell: int | str | None = None
        self._lock = threading.Lock()

    def record(self, kind: str, **details: object) -> None:
        with self._lock:
            if self.count >= MAX_EVENTS:
                return
            self.count += 1
            entry = {"kind": kind, "cell": self.cell, **details}
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry, default=str) + "\n")
