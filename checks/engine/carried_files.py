"""Files one notebook of a repository wrote, handed to the notebooks after it.

A team runs its notebooks in order on one machine, so Task 4 may read the masks Task 3 saved. Each notebook
here runs in a kernel of its own, whose work folder vanishes with it; before it closes, the probe packs the
files the notebook wrote into a tar in the exchange folder (``probe/workdir_files.py``). That tar is the
kernel's bytes: it is read through the exchange's link-proof reader, within a size bound, and only plain
files with plain relative names are written, below a folder the grader made, within the same bounds.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from checks.engine.call_errors import GradingTimeUp, KernelUnavailable, StudentCallError
from checks.engine.exchange import ExchangeRefused
from checks.engine.kernel import KernelSession

MAX_CARRIED_BYTES = 64 << 20
MAX_CARRIED_FILES = 2000
MAX_DEPTH = 32
MAX_NAME_BYTES = 255
TAR_OVERHEAD = 2048  # bytes per member at most: a PAX header and a name record, each padded to 512
PACK_TIMEOUT_S = 120.0
NOTE_BYTES = 1 << 16
PACKING_CODE = "__import__('xaigrader_probe.workdir_files').workdir_files.pack({limit})"


@dataclass
class CarriedFiles:
    """What a notebook left for the next ones, and what it could not pass on (said to the TA)."""

    written: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def plain_name(name: str) -> list[str] | None:
    """The parts of a relative name that names a file below a folder, or None."""
    parts = name.split("/")
    if not name or len(parts) > MAX_DEPTH or "\x00" in name:
        return None
    for part in parts:
        if part in ("", ".", "..") or len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
            return None
        if any(ord(character) < 32 or ord(character) == 127 for character in part):
            return None
    return parts


def _write_below(folder: Path, parts: list[str], data: bytes) -> None:
    """Write ``data`` at ``folder/parts``: folders made as needed, never through a link, a file overwritten."""
    target = folder
    for part in parts[:-1]:
        target = target / part
        if target.is_symlink():
            raise OSError(f"{target.name} is a link")
        target.mkdir(exist_ok=True)
    descriptor = os.open(target / parts[-1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def unpack_carried(archive_bytes: bytes, folder: Path) -> CarriedFiles:
    """Plain files of the kernel's tar written below ``folder`` (which the grader made and only it writes)."""
    carried = CarriedFiles()
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(archive_bytes), mode="r:") as archive:
            for number, member in enumerate(archive):
                if number >= MAX_CARRIED_FILES:
                    carried.problems.append(f"more than {MAX_CARRIED_FILES} files: the rest were not passed on")
                    break
                parts = plain_name(member.name)
                if not member.isreg() or parts is None:
                    carried.problems.append(f"{member.name[:80]!r} is not a plain file with a plain name")
                    continue
                if total + member.size > MAX_CARRIED_BYTES:
                    carried.problems.append(f"{member.name[:80]} would pass {MAX_CARRIED_BYTES >> 20} MiB in all")
                    continue
                source = archive.extractfile(member)
                data = source.read(member.size) if source is not None else b""
                try:
                    _write_below(folder, parts, data)
                except OSError as error:
                    carried.problems.append(f"{member.name[:80]} could not be written: {error}")
                    continue
                total += len(data)
                carried.written.append(member.name)
    except (tarfile.TarError, EOFError, ValueError) as error:
        carried.problems.append(f"the packed files could not be read ({type(error).__name__})")
    return carried


def _left_out(note: bytes | None) -> list[str]:
    """The probe's own account of files too many or too large to pack."""
    try:
        raw = json.loads(note or b"{}")
        count = int(raw.get("left_out_count", 0))
    except (ValueError, TypeError, AttributeError):
        return []
    if count <= 0:
        return []
    return [f"{count} file(s) past {MAX_CARRIED_BYTES >> 20} MiB or {MAX_CARRIED_FILES} files were not passed on"]


async def carry_written_files(session: KernelSession, folder: Path) -> CarriedFiles:
    """The files the session's notebook wrote, unpacked below ``folder``; a kernel that no longer answers passes
    nothing on, and says so."""
    try:
        reply = await session.execute_hidden(PACKING_CODE.format(limit=MAX_CARRIED_BYTES), PACK_TIMEOUT_S)
    except (GradingTimeUp, KernelUnavailable, StudentCallError) as error:
        return CarriedFiles(problems=[f"its files could not be passed on: {error}"])
    if reply is None or reply["content"].get("status") != "ok":
        return CarriedFiles(problems=["its files could not be packed for the next notebooks"])
    limit = MAX_CARRIED_BYTES + TAR_OVERHEAD * (MAX_CARRIED_FILES + 2)
    try:
        archive = session.exchange.read_optional("carried.tar", limit)
        note = session.exchange.read_optional("carried.json", NOTE_BYTES)
    except ExchangeRefused as error:
        return CarriedFiles(problems=[f"its packed files were refused ({error})"])
    carried = unpack_carried(archive or b"", folder) if archive else CarriedFiles()
    carried.problems += _left_out(note)
    return carried
