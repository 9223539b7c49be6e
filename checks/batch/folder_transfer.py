"""Folders carried between the batch's client and a cluster worker as one archive of bytes: a submission's
intake going out, a result folder coming back.

Both ends are the grader's own processes, but what the folders hold came from a student (files handed in,
figures their kernel drew), so unpacking takes regular files only, inside the destination, within a size
cap; links and anything else are left out. Archives are stored, not compressed: figures and notebooks gain
little, and a stored archive cannot expand beyond what was sent.
"""

from __future__ import annotations

import io
import shutil
import uuid
import zipfile
from pathlib import Path, PurePosixPath

MAX_UNPACKED_BYTES = 2 << 30


class TransferRefused(ValueError):
    """An archive that is not a plain tree of files within the cap."""


def pack_folder(folder: Path, prefix: str = "") -> bytes:
    """Every regular file below ``folder`` (links are not followed), under ``prefix/`` when one is given."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        add_folder(archive, folder, prefix)
    return buffer.getvalue()


def add_folder(archive: zipfile.ZipFile, folder: Path, prefix: str = "") -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink() and not any(p.is_symlink() for p in path.parents):
            name = PurePosixPath(prefix, path.relative_to(folder).as_posix())
            archive.write(path, str(name))


def unpack(content: bytes, destination: Path, limit: int = MAX_UNPACKED_BYTES) -> None:
    """Into ``destination`` (made); raises ``TransferRefused`` on a name that leaves it or a size over the cap."""
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
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(entry) as source, target.open("xb") as sink:
                shutil.copyfileobj(source, sink)


def replace_folder(content: bytes, target: Path) -> None:
    """``target`` becomes exactly the archive's tree, swapped in by renames so that no reader (and no crash)
    ever finds half of it: the old tree is kept until the new one is in place."""
    incoming = target.with_name(f".incoming-{target.name}-{uuid.uuid4().hex}")
    outgoing = target.with_name(f".outgoing-{target.name}-{uuid.uuid4().hex}")
    try:
        unpack(content, incoming)
        if target.exists():
            target.rename(outgoing)
        incoming.rename(target)
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
        shutil.rmtree(outgoing, ignore_errors=True)
