"""The folder a kernel writes its results into, read by the grader as hostile input.

The kernel owns the folder and may replace anything in it at any moment: a file by a
symlink to a host file, a folder by a link, a file by a fifo. So the grader holds a
descriptor of the folder it created and opens every path below it component by
component with ``O_NOFOLLOW``, accepts only regular files with one link and a bounded
size, and never writes into it. Each kernel start gets a fresh folder.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,200}")
DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class ExchangeRefused(ValueError):
    """A path in the exchange folder that the grader will not read, and why."""


def safe_parts(relative: str) -> list[str]:
    """The components of a name the kernel gave us, refused unless each is a plain file name."""
    parts = relative.split("/")
    if not parts or any(not SAFE_NAME.fullmatch(part) or part in (".", "..") for part in parts):
        raise ExchangeRefused(f"{relative[:80]!r} is not a plain relative file name")
    return parts


class ExchangeFolder:
    """One kernel generation's exchange folder, created here and read only through its descriptor."""

    def __init__(self, path: Path, generation: int, descriptor: int) -> None:
        self.path, self.generation, self._fd = path, generation, descriptor

    @classmethod
    def create(cls, path: Path, generation: int, uid: int | None) -> ExchangeFolder:
        """A new folder under a parent the kernel cannot write, handed to the kernel's uid."""
        os.mkdir(path, 0o700)
        descriptor = os.open(path, DIRECTORY_FLAGS)
        if uid is not None:
            os.fchown(descriptor, uid, uid)
        return cls(path, generation, descriptor)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def read_bytes(self, relative: str, limit: int) -> bytes:
        """The content of a regular file below the folder, at most ``limit`` bytes, never through a link."""
        *folders, name = safe_parts(relative)
        opened: list[int] = []
        try:
            directory = self._fd
            for folder in folders:
                directory = _open_at(folder, DIRECTORY_FLAGS, directory, relative)
                opened.append(directory)
            handle = _open_at(name, FILE_FLAGS, directory, relative)
            opened.append(handle)
            status = os.fstat(handle)
            if not stat.S_ISREG(status.st_mode):
                raise ExchangeRefused(f"{relative} is not a regular file")
            if status.st_nlink != 1:
                raise ExchangeRefused(f"{relative} has {status.st_nlink} links")
            if status.st_size > limit:
                raise ExchangeRefused(f"{relative} holds {status.st_size} bytes, more than {limit}")
            data = _read_at_most(handle, limit + 1)
            if len(data) > limit:
                raise ExchangeRefused(f"{relative} grew past {limit} bytes while being read")
            return data
        finally:
            for descriptor in reversed(opened):
                os.close(descriptor)

    def read_optional(self, relative: str, limit: int) -> bytes | None:
        """Like ``read_bytes``, but a file the kernel never wrote is None."""
        try:
            return self.read_bytes(relative, limit)
        except FileNotFoundError:
            return None


def _open_at(name: str, flags: int, directory: int, relative: str) -> int:
    try:
        return os.open(name, flags, dir_fd=directory)
    except FileNotFoundError:
        raise
    except OSError as error:  # ELOOP for a link, ENOTDIR for a file posing as a folder
        raise ExchangeRefused(f"{relative} cannot be opened safely: {os.strerror(error.errno)}") from None


def _read_at_most(handle: int, count: int) -> bytes:
    chunks, remaining = [], count
    while remaining > 0:
        chunk = os.read(handle, min(remaining, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
