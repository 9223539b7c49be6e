"""What a batch is doing while it runs: a live bar on a terminal, one line per student in a log.

Each finished student prints its summary with done/total, failures, elapsed time and an
estimate, so a CI log or a redirected run shows progress too; on a terminal a tqdm bar
below those lines ticks every second with the students currently running.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from tqdm import tqdm


def clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class BatchProgress:
    def __init__(
        self, total: int, reused: int, describe: Callable[[dict[str, Any]], str], stream: TextIO = sys.stderr
    ) -> None:
        self.total, self.describe = total, describe
        if reused:
            print(f"{reused} unchanged submissions keep their stored results; {total} to grade", flush=True)
        self.done = self.failures = 0
        self.running: list[str] = []
        self.place = ""  # where the batch runs when not on this machine alone: "cluster: 3 workers, 24 kernels"
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.bar = tqdm(
            total=total,
            file=stream,
            unit="student",
            dynamic_ncols=True,
            disable=not stream.isatty(),
            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}] {postfix}",
        )
        self.stop = threading.Event()
        self.ticker = threading.Thread(target=self._tick, daemon=True)
        self.ticker.start()

    def _tick(self) -> None:
        while not self.stop.wait(1.0):
            with self.lock:
                self.bar.refresh()

    def estimate(self) -> float | None:
        if not self.done:
            return None
        return (time.monotonic() - self.started) / self.done * (self.total - self.done)

    def _show_running(self) -> None:
        place = f"{self.place}; " if self.place else ""
        self.bar.set_postfix_str(f"{place}{self.failures} failed; running {', '.join(self.running) or 'none'}")

    def set_place(self, place: str) -> None:
        with self.lock:
            self.place = place
            self._show_running()

    def began(self, student: str) -> None:
        with self.lock:
            self.running.append(student)
            self._show_running()

    def finished(self, payload: dict[str, Any]) -> None:
        with self.lock:
            self.done += 1
            self.failures += payload["problem"] is not None
            if payload["student"] in self.running:
                self.running.remove(payload["student"])
            remaining = self.estimate()
            status = (
                f"[{self.done}/{self.total} done, {self.failures} failed, elapsed "
                f"{clock(time.monotonic() - self.started)}, left ~{clock(remaining) if remaining else '0:00'}]"
            )
            self.bar.write(f"{self.describe(payload)}  {status}", file=sys.stdout)
            self._show_running()
            self.bar.update(1)

    def close(self) -> None:
        self.stop.set()
        self.ticker.join()
        self.bar.close()
