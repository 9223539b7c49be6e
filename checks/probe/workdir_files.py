"""The files a repository's notebook wrote, packed for the grader so that the next notebook finds them, as it
would on the team's machine (Task 4 reading the masks Task 3 saved). What leaves is a plain tar in the
exchange folder; the grader trusts none of it and unpacks only plain files with plain names, within bounds."""

from __future__ import annotations

import json
import os
import stat
import tarfile
from pathlib import Path

MAX_FILES = 2000
TOOL_FOLDERS = {".cache", ".config", ".local", ".ipython", ".matplotlib", ".keras"}  # libraries' files, not the team's


def _written(root: Path, given: set[str], since_ns: int) -> list[tuple[str, Path, int]]:
    """(relative name, path, size) of each plain file the notebook created or changed, in name order."""
    found = []
    for folder, folders, files in os.walk(root, followlinks=False):
        folders[:] = sorted(name for name in folders if not (Path(folder) == root and name in TOOL_FOLDERS))
        for name in sorted(files):
            path = Path(folder, name)
            status = path.lstat()
            relative = path.relative_to(root).as_posix()
            if not stat.S_ISREG(status.st_mode) or name.endswith(".ipynb"):
                continue
            if relative not in given or status.st_mtime_ns > since_ns:
                found.append((relative, path, status.st_size))
    return found


def pack(limit_bytes: int) -> None:
    """``carried.tar`` and ``carried.json`` (what was left out for the bounds) in the exchange folder."""
    from . import _state

    exchange = Path(_state["exchange"])
    total, carried, left_out = 0, 0, []
    with tarfile.open(exchange / "carried.tar", "w", format=tarfile.PAX_FORMAT) as archive:
        for relative, path, size in _written(Path(_state["workdir"]), _state["given"], _state["copied_at_ns"]):
            if carried >= MAX_FILES or total + size > limit_bytes:
                left_out.append(relative)
                continue
            archive.add(path, arcname=relative, recursive=False)
            total, carried = total + size, carried + 1
    (exchange / "carried.json").write_text(json.dumps({"left_out": left_out[:20], "left_out_count": len(left_out)}))
