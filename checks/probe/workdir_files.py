"""The files a repository's notebook wrote, handed to the grader so that the next notebook finds them, as it
would on the team's machine (Task 4 reading the masks Task 3 saved). Each file is copied into the exchange
folder under a number, beside a list of their names; the grader trusts none of it and reads only plain files
through its link-proof reader, with plain names, within bounds. No archive format: nothing is parsed but JSON."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

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


def pack(limit_bytes: int, limit_files: int) -> None:
    """``carried/<n>`` for each file passed on and ``carried.json``: their names, and how many were left out."""
    from . import _state

    exchange = Path(_state["exchange"])
    (exchange / "carried").mkdir(exist_ok=True)
    total, names, left_out = 0, [], 0
    for relative, path, size in _written(Path(_state["workdir"]), _state["given"], _state["copied_at_ns"]):
        if len(names) >= limit_files or total + size > limit_bytes:
            left_out += 1
            continue
        shutil.copyfile(path, exchange / "carried" / str(len(names)))
        names.append(relative)
        total += size
    (exchange / "carried.json").write_text(json.dumps({"files": names, "left_out_count": left_out}))
