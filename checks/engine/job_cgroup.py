"""Memory and process limits for a whole job, across every process it starts.

rlimits count one process at a time (RLIMIT_AS) or one uid (RLIMIT_NPROC), so three
children, or files in the sandbox's tmpfs mounts, together escape them; a memory cgroup
also charges tmpfs pages to the job that wrote them. The job's cgroups are made under
the grader's own cgroup, so the job stays inside whatever limits the grader runs under.
When cgroups are unavailable (not root, a read-only or undelegated hierarchy),
``JobCgroup.create`` returns None and the caller keeps its per-process rlimits.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
GROUP = "xaigrader"
CONTROLLERS = ("memory", "pids")
_SWAP_LIMIT = {"cgroup v1": "memory.memsw.limit_in_bytes", "cgroup v2": "memory.swap.max"}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


@dataclass
class JobCgroup:
    mode: str
    folders: tuple[Path, ...]
    memory_bytes: int
    processes: int

    @classmethod
    def create(cls, name: str, memory_bytes: int, processes: int, root: Path = CGROUP_ROOT) -> JobCgroup | None:
        """A fresh memory+pids cgroup for one job, or None when this machine cannot give one."""
        if not _NAME.fullmatch(name):
            raise ValueError(f"not a cgroup name: {name!r}")
        if os.geteuid() != 0:
            return None
        if (root / "cgroup.controllers").exists():
            job = cls("cgroup v2", (_own_folder(root, "") / GROUP / name,), memory_bytes, processes)
        else:
            folders = tuple(_own_folder(root / controller, controller) / GROUP / name for controller in CONTROLLERS)
            job = cls("cgroup v1", folders, memory_bytes, processes)
        try:
            job._make()
        except OSError:
            job.close()
            return None
        return job

    def _make(self) -> None:
        for folder in self.folders:
            if self.mode == "cgroup v2":
                _enable_controllers(folder.parent.parent)
                folder.parent.mkdir(exist_ok=True)
                _enable_controllers(folder.parent)
            folder.mkdir(parents=True)
        if self.mode == "cgroup v2":
            (folder,) = self.folders
            _write(folder / "memory.max", self.memory_bytes)
            _write_if_present(folder / _SWAP_LIMIT[self.mode], 0)
            _write(folder / "pids.max", self.processes)
            return
        memory, pids = self.folders
        _write(memory / "memory.limit_in_bytes", self.memory_bytes)
        # Without this cap on memory + swap, pages pushed to swap would escape the limit.
        _write_if_present(memory / _SWAP_LIMIT[self.mode], self.memory_bytes)
        # The OOM killer stays enabled (oom_kill_disable 0): a job over its limit is killed, not frozen.
        _write(memory / "memory.oom_control", 0)
        _write(pids / "pids.max", self.processes)

    def command_prefix(self) -> list[str]:
        """An argv prefix that joins the cgroup(s) and then execs the rest; it must run as root."""
        joins = " && ".join(f"echo $$ > {shlex.quote(str(folder / 'cgroup.procs'))}" for folder in self.folders)
        return ["/bin/sh", "-c", f'{joins} && exec "$@"', "xaigrader-cgroup"]

    def describe(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "paths": [str(folder) for folder in self.folders],
            "memory_bytes": self.memory_bytes,
            "processes": self.processes,
            "swap_capped": (self.folders[0] / _SWAP_LIMIT[self.mode]).exists(),
        }

    def peak_memory_bytes(self) -> int | None:
        """The most memory (tmpfs pages included) the job held at once; None if unknown."""
        name = "memory.peak" if self.mode == "cgroup v2" else "memory.max_usage_in_bytes"
        try:
            return int((self.folders[0] / name).read_text())
        except (OSError, ValueError):
            return None

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of the job for going over its memory limit."""
        name = "memory.events" if self.mode == "cgroup v2" else "memory.oom_control"
        try:
            counters = dict(line.split() for line in (self.folders[0] / name).read_text().splitlines())
        except (OSError, ValueError):
            return False
        return int(counters.get("oom_kill", 0)) > 0

    def pids(self) -> set[int]:
        found: set[int] = set()
        for folder in self.folders:
            try:
                found.update(int(pid) for pid in (folder / "cgroup.procs").read_text().split())
            except FileNotFoundError:
                continue
        return found

    def close(self, timeout_s: float = 10.0) -> bool:
        """Kill every process left in the job and remove its folders; False if some remain."""
        deadline = time.monotonic() + timeout_s
        while pids := self.pids():
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        while True:
            left = [folder for folder in self.folders if folder.exists()]
            for folder in left:
                try:
                    folder.rmdir()
                except FileNotFoundError:
                    continue
                except OSError:
                    if time.monotonic() > deadline:
                        return False
            if not left:
                return True
            time.sleep(0.02)

    def __enter__(self) -> JobCgroup:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def remove_abandoned(alive: Callable[[str], bool], root: Path = CGROUP_ROOT, older_than_s: float = 600) -> list[str]:
    """Empty job cgroups that a killed grader left behind, removed: those whose job ``alive`` says
    is gone and that have been empty long enough not to be a job about to start its kernel."""
    if os.geteuid() != 0:
        return []
    if (root / "cgroup.controllers").exists():
        groups = [_own_folder(root, "") / GROUP]
    else:
        groups = [_own_folder(root / controller, controller) / GROUP for controller in CONTROLLERS]
    removed = []
    for group in (group for group in groups if group.is_dir()):
        for folder in group.iterdir():
            try:
                if not folder.is_dir() or alive(folder.name) or time.time() - folder.stat().st_mtime < older_than_s:
                    continue
                folder.rmdir()
            except OSError:
                continue
            removed.append(folder.name)
    return removed


def _own_folder(hierarchy: Path, controller: str) -> Path:
    """This process's cgroup in ``hierarchy`` (its mount root when that is all we can see)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            folder = hierarchy / path.lstrip("/")
            return folder if folder.is_dir() else hierarchy
    return hierarchy


def _enable_controllers(folder: Path) -> None:
    """cgroup v2 gives a child a controller only once its parent delegates it."""
    enabled = (folder / "cgroup.subtree_control").read_text().split()
    missing = [controller for controller in CONTROLLERS if controller not in enabled]
    if missing:
        _write(folder / "cgroup.subtree_control", " ".join(f"+{controller}" for controller in missing))


def _write(path: Path, value: object) -> None:
    path.write_text(f"{value}\n")


def _write_if_present(path: Path, value: object) -> None:
    if path.exists():
        _write(path, value)
