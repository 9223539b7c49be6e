"""Folders carried between the batch's client and a cluster worker as one archive of bytes: a submission's
intake going out, a result folder coming back.

Both ends are the grader's own processes, but what the folders hold came from a student (files handed in,
figures their kernel drew), so unpacking takes regular files only, inside the destination, within a size
cap; links and anything else are left out. Archives are stored, not compressed: figures and notebooks gain
little, and a stored archive cannot expand beyond what was sent.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import uuid
import zipfile
from pathlib import Path, PurePosixPath

MAX_UNPACKED_BYTES = 2 << 30


class TransferRefused(ValueError):
    """An archive that is not a plain tree of files within the cap."""


STAGING = ".transfer"  # beside the result folders, one level down, so no */results.json glob meets it


def pack_folder(folder: Path) -> bytes:
    """Every regular file below ``folder`` (links inside it are neither followed nor sent)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED, strict_timestamps=False) as archive:
        add_folder(archive, folder)
    return buffer.getvalue()


def add_folder(archive: zipfile.ZipFile, folder: Path, prefix: str = "") -> None:
    """The files below ``folder`` under ``prefix/``; a link inside it is left out, wherever ``folder`` itself
    lies (a home or scratch directory behind a link is common on clusters)."""
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        inside = [folder / parent for parent in relative.parents if parent != Path(".")]
        if path.is_file() and not path.is_symlink() and not any(part.is_symlink() for part in inside):
            archive.write(path, str(PurePosixPath(prefix, relative.as_posix())))


def unpack(content: bytes, destination: Path, limit: int = MAX_UNPACKED_BYTES) -> None:
    """Into ``destination`` (made); raises ``TransferRefused`` on a name that leaves it or is given twice, a
    size over the cap, or a file that cannot be written."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile as error:
        raise TransferRefused(f"not an archive: {error}") from None
    with archive:
        entries = [entry for entry in archive.infolist() if not entry.is_dir()]
        if sum(entry.file_size for entry in entries) > limit:
            raise TransferRefused(f"the archive unpacks to more than {limit >> 20} MiB")
        root = destination.resolve()
        root.mkdir(parents=True, exist_ok=True)
        for entry in entries:
            relative = PurePosixPath(entry.filename)
            target = root.joinpath(*relative.parts)
            if relative.is_absolute() or ".." in relative.parts or not target.resolve().is_relative_to(root):
                raise TransferRefused(f"{entry.filename!r} would land outside the folder")
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(entry) as source, target.open("xb") as sink:
                    shutil.copyfileobj(source, sink)
            except (OSError, zipfile.BadZipFile) as error:
                raise TransferRefused(f"{entry.filename!r} could not be written: {error}") from None


def replace_folder(content: bytes, target: Path) -> None:
    """``target`` becomes exactly the archive's tree, unpacked first in a staging folder and swapped in by
    renames, so that no crash leaves half of it: the old tree is kept until the new one is whole."""
    staging = target.parent / STAGING
    staging.mkdir(parents=True, exist_ok=True)
    incoming = staging / f"incoming-{target.name}-{uuid.uuid4().hex}"
    outgoing = staging / f"outgoing-{target.name}-{uuid.uuid4().hex}"
    try:
        unpack(content, incoming)
        if target.exists():
            target.rename(outgoing)
        try:
            incoming.rename(target)
        except OSError:
            if outgoing.exists():
                outgoing.rename(target)
            raise
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
        shutil.rmtree(outgoing, ignore_errors=True)
        with contextlib.suppress(OSError):
            staging.rmdir()
