"""Measuring and deleting a job folder the sandboxed kernel could write to.

The kernel can leave hostile trees there: folder chains deeper than Python's recursion
limit (``os.walk`` and ``shutil.rmtree`` fail on them), symlinks out of the folder,
fifos, 0000 folders, millions of files. Both walks here are iterative, work relative to
directory file descriptors (so path length never matters), never follow a symlink, keep
a bounded number of descriptors open, and tolerate entries vanishing mid-walk.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MAX_ENTRIES = 500_000
# Directory descriptors held open along the current path (besides the top folder);
# deeper ancestors are closed and reopened by name when the walk climbs back to them.
FD_WINDOW = 32
_OPEN_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_REMOVE_RETRIES = 100
# What opening a subfolder by name gives when it vanished or was replaced by a file or symlink.
_NOT_A_FOLDER = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)


@dataclass(frozen=True)
class Usage:
    bytes: int
    inodes: int
    truncated: bool


class TreeChanged(OSError):
    """A folder on the walk's path was replaced while it was being walked."""


@dataclass
class _Frame:
    name: str
    identity: tuple[int, int]
    fd: int | None
    pending: list[str] = field(default_factory=list)


class _DirectoryStack:
    """The folders from the top one down to the current one, with at most FD_WINDOW open."""

    def __init__(self, fd: int) -> None:
        info = os.fstat(fd)
        self.device = info.st_dev
        self.frames = [_Frame("", (info.st_dev, info.st_ino), fd)]

    def top(self) -> _Frame:
        return self.frames[-1]

    def top_fd(self) -> int:
        """The current folder's descriptor, reopened from its nearest open ancestor if closed."""
        nearest = len(self.frames) - 1
        while self.frames[nearest].fd is None:
            nearest -= 1
        keep_from = len(self.frames) - FD_WINDOW
        for index in range(nearest + 1, len(self.frames)):
            parent, frame = self.frames[index - 1], self.frames[index]
            try:
                fd, identity = _open_child(parent.fd, frame.name)
            except OSError as error:
                if error.errno in _NOT_A_FOLDER:
                    raise TreeChanged(error.errno, f"{frame.name} vanished during the walk") from error
                raise
            if identity != frame.identity:
                os.close(fd)
                raise TreeChanged(errno.ESTALE, f"{frame.name} was replaced during the walk")
            frame.fd = fd
            if nearest < index - 1 < keep_from:
                os.close(parent.fd)
                parent.fd = None
        return self.frames[-1].fd

    def push(self, name: str, make_accessible: bool = False) -> bool:
        """Enter the subfolder ``name`` of the current folder; False if it is gone, not a
        folder, or on another device (a mount point is not ours to walk)."""
        parent = self.top_fd()
        try:
            fd, identity = _open_child(parent, name, make_accessible)
        except OSError as error:
            if error.errno in _NOT_A_FOLDER:
                return False
            raise
        if identity[0] != self.device:
            os.close(fd)
            return False
        self.frames.append(_Frame(name, identity, fd))
        self._trim()
        return True

    def pop(self) -> _Frame:
        """Leave the current folder; its parent's descriptor comes back through ``..``."""
        frame = self.frames.pop()
        if frame.fd is not None:
            if self.frames and self.frames[-1].fd is None:
                self._reopen_parent(frame.fd)
            os.close(frame.fd)
            frame.fd = None
        return frame

    def _reopen_parent(self, child_fd: int) -> None:
        """Climb by ``..`` when it is still the folder recorded on the way down (same inode),
        which saves walking down again from the nearest open ancestor."""
        parent = self.frames[-1]
        try:
            fd = os.open("..", _OPEN_DIRECTORY, dir_fd=child_fd)
        except OSError:
            return
        info = os.fstat(fd)
        if (info.st_dev, info.st_ino) == parent.identity:
            parent.fd = fd
        else:
            os.close(fd)

    def close(self) -> None:
        for frame in self.frames:
            if frame.fd is not None:
                os.close(frame.fd)
                frame.fd = None
        self.frames.clear()

    def _trim(self) -> None:
        """Open folders are the top one and the last FD_WINDOW: close the one that left it."""
        index = len(self.frames) - 1 - FD_WINDOW
        if index > 0 and self.frames[index].fd is not None:
            os.close(self.frames[index].fd)
            self.frames[index].fd = None


def _open_child(parent_fd: int, name: str, make_accessible: bool = False) -> tuple[int, tuple[int, int]]:
    try:
        fd = os.open(name, _OPEN_DIRECTORY, dir_fd=parent_fd)
    except PermissionError:
        if not make_accessible:
            raise
        _grant_owner_access(parent_fd, name)
        fd = os.open(name, _OPEN_DIRECTORY, dir_fd=parent_fd)
    info = os.fstat(fd)
    return fd, (info.st_dev, info.st_ino)


def _grant_owner_access(parent_fd: int, name: str) -> None:
    """chmod u+rwx a folder we may not read, without following a symlink put in its place."""
    handle = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
    try:
        mode = os.stat(handle).st_mode
        os.chmod(f"/proc/self/fd/{handle}", stat.S_IMODE(mode) | stat.S_IRWXU)
    finally:
        os.close(handle)


def usage(folder: Path, max_entries: int = DEFAULT_MAX_ENTRIES) -> Usage:
    """Bytes allocated and inodes used under ``folder`` (itself included), counted up to ``max_entries``.

    Hard links are counted once; folders on another device are counted but not entered.
    """
    stack = _DirectoryStack(os.open(folder, _OPEN_DIRECTORY))
    top = os.fstat(stack.top_fd())
    total_bytes, inodes, truncated = top.st_blocks * 512, 1, False
    linked: set[tuple[int, int]] = set()
    scan = True
    try:
        while stack.frames:
            if scan:
                for entry in _entries(stack.top_fd()):
                    if inodes >= max_entries:
                        truncated = True
                        break
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except (FileNotFoundError, PermissionError):
                        continue
                    inodes += 1
                    if info.st_nlink > 1 and not stat.S_ISDIR(info.st_mode):
                        if (info.st_dev, info.st_ino) in linked:
                            continue
                        linked.add((info.st_dev, info.st_ino))
                    total_bytes += info.st_blocks * 512
                    if stat.S_ISDIR(info.st_mode):
                        stack.top().pending.append(entry.name)
                if truncated:
                    break
            frame = stack.top()
            if frame.pending:
                scan = _enter(stack, frame.pending.pop())
            else:
                stack.pop()
                scan = False
    finally:
        stack.close()
    return Usage(bytes=total_bytes, inodes=inodes, truncated=truncated)


def _enter(stack: _DirectoryStack, name: str) -> bool:
    """Counting goes on past a folder it cannot enter or that moved away."""
    try:
        return stack.push(name)
    except (TreeChanged, PermissionError):
        return False


def _entries(fd: int) -> Iterator[os.DirEntry[str]]:
    """A folder's entries, read lazily (it may hold millions); none if it cannot be read."""
    try:
        listing = os.scandir(fd)
    except (FileNotFoundError, PermissionError, NotADirectoryError):
        return
    with listing:
        yield from listing


def remove_tree(folder: Path) -> None:
    """Delete ``folder`` and everything under it; a symlink is removed, never followed.

    Folders the process cannot read or write (0000, or read-only) are chmod-ed first,
    which works as root or as their owner. Kill the job's processes before calling:
    a tree still being written to may raise ``TreeChanged`` or ENOTEMPTY.
    """
    try:
        parent_fd = os.open(folder.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        for _ in range(_REMOVE_RETRIES):
            try:
                fd, _ = _open_child(parent_fd, folder.name, make_accessible=True)
            except OSError as error:
                if error.errno not in _NOT_A_FOLDER:
                    raise
                _unlink_missing_ok(parent_fd, folder.name)
                return
            stack = _DirectoryStack(fd)
            try:
                _empty(stack)
            finally:
                stack.close()
            try:
                os.rmdir(folder.name, dir_fd=parent_fd)
                return
            except OSError as error:
                if error.errno != errno.ENOTEMPTY:
                    raise
        raise OSError(errno.ENOTEMPTY, "still being written to", str(folder))
    finally:
        os.close(parent_fd)


def _empty(stack: _DirectoryStack) -> None:
    """Delete everything below the stack's top folder, depth first."""
    retries = 0
    scan = True
    while True:
        if scan:
            fd = stack.top_fd()
            _make_writable(fd)
            for entry in _entries(fd):
                if entry.is_dir(follow_symlinks=False):
                    stack.top().pending.append(entry.name)
                else:
                    _unlink_missing_ok(fd, entry.name)
        frame = stack.top()
        if frame.pending:
            scan = stack.push(frame.pending.pop(), make_accessible=True)
            continue
        if len(stack.frames) == 1:
            return
        done = stack.pop()
        try:
            os.rmdir(done.name, dir_fd=stack.top_fd())
        except FileNotFoundError:
            pass
        except OSError as error:
            if error.errno != errno.ENOTEMPTY or retries >= _REMOVE_RETRIES:  # written to meanwhile
                raise
            retries += 1
            stack.top().pending.append(done.name)
        scan = False


def _make_writable(fd: int) -> None:
    mode = stat.S_IMODE(os.fstat(fd).st_mode)
    if mode & stat.S_IRWXU != stat.S_IRWXU:
        try:
            os.fchmod(fd, mode | stat.S_IRWXU)
        except PermissionError:
            pass


def _unlink_missing_ok(dir_fd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
