"""The folders a notebook expects on its Google Drive exist in the simulated one.

On Colab the student's Drive already holds the course folder a notebook ``chdir``s into or saves
in (``/content/drive/MyDrive/EE5179/``); the simulated Drive starts empty, so every later cell
would fail on a folder, not on the student's work. Once the Drive is mounted, ``os.chdir`` into a
missing folder under the mount point, and writing a file (``open``, ``np.save``, ``savefig``,
``torch.save``) whose folder is missing there, create the folder inside the job and record a
``drive_folder`` event. Paths are resolved first (``..``, links): nothing outside the mount point
is ever created. The notebooks of a split submission share one kernel, so they share the folders.
"""

from __future__ import annotations

import builtins
import io
import os
import sys
from pathlib import Path

from .events import EventLog
from .imports import when_imported

MAX_MOUNTS = 4
MAX_CREATED = 64
MAX_NEW_LEVELS = 8
MAX_PATH_CHARS = 1024
WRITE_MODE_LETTERS = frozenset("wax+")


class _DriveFolders:
    """The mounted Drives and the folders made in them so far (bounded)."""

    def __init__(self) -> None:
        self.log: EventLog | None = None
        self.mounts: list[Path] = []
        self.created = 0

    def make_folder(self, path: object, call: str) -> None:
        """Create ``path`` when it is a missing folder inside a mounted Drive; never raises."""
        text = _text_path(path)
        if not self.mounts or text is None or self.created >= MAX_CREATED:
            return
        try:
            folder = Path(os.path.realpath(os.path.join(os.getcwd(), text)))
            mount = next((mount for mount in self.mounts if folder.is_relative_to(mount)), None)
            if mount is None or folder.exists():
                return
            missing = [parent for parent in [folder, *folder.parents] if not parent.exists()]
            if len(missing) > MAX_NEW_LEVELS or not all(parent.is_relative_to(mount) for parent in missing):
                return
            folder.mkdir(parents=True)
        except (OSError, ValueError):
            return
        self.created += 1
        if self.log is not None:
            self.log.record("shim", shim="drive_folder", path=str(folder), call=call)
        print(f"xaigrader: created {folder} in the simulated Google Drive, as the notebook expects it there")


_drive = _DriveFolders()


def mounted(mountpoint: Path) -> None:
    """Called by the simulated ``drive.mount``: folders under this mount point may be made as needed."""
    real = Path(os.path.realpath(mountpoint))
    if real not in _drive.mounts and len(_drive.mounts) < MAX_MOUNTS:
        _drive.mounts.append(real)


def install(log: EventLog) -> None:
    """Wrap ``os.chdir``, ``open`` (the builtin, ``io.open`` and IPython's own) and ``torch.save``."""
    _drive.log = log
    original_chdir = os.chdir

    def chdir(path):
        _drive.make_folder(path, "chdir")
        return original_chdir(path)

    os.chdir = chdir
    builtins.open = io.open = _opening(io.open)
    import IPython.core.interactiveshell as shell_module

    shell_module.io_open = _opening(shell_module.io_open)
    when_imported("torch.serialization", _patch_torch_save)


def _opening(original_open):
    def open(file, mode="r", *args, **kwargs):  # noqa: A001 - stands in for the builtin
        if _drive.mounts and isinstance(mode, str) and WRITE_MODE_LETTERS & set(mode):
            _drive.make_folder(os.path.dirname(_text_path(file) or ""), "open")
        return original_open(file, mode, *args, **kwargs)

    open.__doc__ = original_open.__doc__
    return open


def _patch_torch_save(serialization) -> None:
    """``torch.save`` to a path writes through its C++ writer, not ``open``."""
    original_save = serialization.save

    def save(obj, f, *args, **kwargs):
        if _drive.mounts:
            _drive.make_folder(os.path.dirname(_text_path(f) or ""), "torch.save")
        return original_save(obj, f, *args, **kwargs)

    save.__doc__ = original_save.__doc__
    serialization.save = save
    torch = sys.modules.get("torch")
    if torch is not None and getattr(torch, "save", None) is original_save:
        torch.save = save


def _text_path(path: object) -> str | None:
    """A path given as text, bytes or ``os.PathLike``; None for a file object or descriptor."""
    if not isinstance(path, str | bytes | os.PathLike):
        return None
    try:
        text = os.fsdecode(os.fspath(path))
    except Exception:  # the student's own os.PathLike may raise anything; ``open`` then raises it
        return None
    return text if 0 < len(text) <= MAX_PATH_CHARS and "\x00" not in text else None
