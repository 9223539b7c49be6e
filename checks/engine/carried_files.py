"""Files one notebook of a repository wrote, handed to the notebooks after it.

A team runs its notebooks in order on one machine, so Task 4 may read the masks Task 3 saved. Each notebook
here runs in a kernel of its own, whose work folder vanishes with it; before it closes, the probe copies the
files the notebook wrote into the exchange folder, numbered, beside a JSON list of their names
(``probe/workdir_files.py``). All of it is the kernel's: the list is parsed within a size bound and every
error it can raise; each file is read through the exchange's link-proof reader; only plain relative names
are written, below a folder the grader made; and one budget of bytes and of files and folders made holds for
the whole repository, so a dozen notebooks cannot pass on a dozen times as much.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from checks.engine.call_errors import GradingTimeUp, KernelUnavailable, StudentCallError
from checks.engine.exchange import ExchangeRefused
from checks.engine.kernel import KernelSession

MAX_CARRIED_BYTES = 64 << 20
MAX_CARRIED_ENTRIES = 2000  # files and the folders made for them
MAX_DEPTH = 16
MAX_NAME_BYTES = 255
MANIFEST_BYTES = 1 << 20
MAX_NOTES = 20  # problem notes of one notebook shown to the TA; the rest are counted
PACK_TIMEOUT_S = 60.0
PACKING_CODE = "__import__('xaigrader_probe.workdir_files').workdir_files.pack({limit}, {files})"

ReadFile = Callable[[int, int], bytes | None]  # (number, limit) -> the bytes of ``carried/<number>``


@dataclass
class CarryBudget:
    """What a whole repository's notebooks may still pass on."""

    bytes_left: int = MAX_CARRIED_BYTES
    entries_left: int = MAX_CARRIED_ENTRIES


@dataclass
class CarriedFiles:
    """What a notebook left for the next ones, and what it could not pass on (said to the TA)."""

    written: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def shown(name: object) -> str:
    """A hostile name as a note can show it: escaped (no lone surrogate reaches a page) and short."""
    return ascii(name)[:100]


def plain_name(name: object) -> list[str] | None:
    """The parts of a relative name that names a file below a folder, or None."""
    if not isinstance(name, str):
        return None
    parts = name.split("/")
    if not name or len(parts) > MAX_DEPTH:
        return None
    for part in parts:
        try:
            encoded = part.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: no file name a page can show
            return None
        if part in ("", ".", "..") or len(encoded) > MAX_NAME_BYTES:
            return None
        if any(ord(character) < 32 or ord(character) == 127 for character in part):
            return None
    return parts


def _manifest(raw: bytes | None) -> tuple[list[object], int] | str:
    """The names and the count of files left out, as the kernel listed them, or why the list is unusable."""
    try:
        listed = json.loads(raw or b"{}")
        names, left_out = listed.get("files", []), listed.get("left_out_count", 0)
    except (ValueError, RecursionError, AttributeError, TypeError):
        return "its list of files written was malformed"
    if not isinstance(names, list) or not isinstance(left_out, int) or isinstance(left_out, bool):
        return "its list of files written was malformed"
    return names, max(0, left_out)


def _folders_to_make(folder: Path, parts: list[str]) -> list[Path] | None:
    """The folders below ``folder`` that writing ``parts`` needs made; None when a file stands in the way."""
    missing, target = [], folder
    for part in parts[:-1]:
        target = target / part
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            return None
        if not target.exists():
            missing.append(target)
    return missing


def _write_file(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _carry_one(name: object, number: int, read_file: ReadFile, folder: Path, budget: CarryBudget) -> str | None:
    """Write one listed file below ``folder`` within ``budget``; the problem, if it was not passed on. A refused
    read may have read as much as it was allowed (a file growing while read), so it gives up half the bytes left:
    refusals cannot make the host read more than twice the budget, and a plain file after one still passes."""
    parts = plain_name(name)
    if parts is None:
        return f"{shown(name)} is not a plain relative file name"
    try:
        missing = _folders_to_make(folder, parts)
        if missing is None or (folder.joinpath(*parts)).is_dir():
            return f"{shown(name)} would replace a folder or need a file to be a folder"
        if len(missing) + 1 > budget.entries_left:
            return f"{shown(name)} is past the {MAX_CARRIED_ENTRIES} files and folders passed on in all"
        try:
            data = read_file(number, budget.bytes_left)
        except ExchangeRefused as error:
            budget.bytes_left //= 2
            return f"{shown(name)} was refused ({error})"
        if data is None:
            return f"{shown(name)} was listed but not written"
        for path in missing:
            path.mkdir()
        _write_file(folder.joinpath(*parts), data)
    except OSError as error:  # a name too long for a path (ENAMETOOLONG) among them
        return f"{shown(name)} could not be written ({error.strerror})"
    budget.bytes_left -= len(data)
    budget.entries_left -= len(missing) + 1
    return None


def unpack_carried(manifest: bytes | None, read_file: ReadFile, folder: Path, budget: CarryBudget) -> CarriedFiles:
    """The listed files written below ``folder`` (which the grader made and only it writes), within ``budget``."""
    carried = CarriedFiles()
    listed = _manifest(manifest)
    if isinstance(listed, str):
        carried.problems.append(listed)
        return carried
    names, left_out = listed
    refused = 0
    for number, name in enumerate(names[:MAX_CARRIED_ENTRIES]):
        if budget.entries_left <= 0:
            break
        problem = _carry_one(name, number, read_file, folder, budget)
        if problem is None:
            carried.written.append(str(name))
        elif len(carried.problems) < MAX_NOTES:
            carried.problems.append(problem)
        else:
            refused += 1
    unread = len(names) - len(carried.written) - len(carried.problems) - refused
    if refused or unread > 0:
        carried.problems.append(f"{refused + unread} more listed file(s) were not passed on")
    if left_out:
        count = f"{left_out}" if left_out < MAX_CARRIED_ENTRIES else f"over {MAX_CARRIED_ENTRIES}"
        carried.problems.append(f"{count} file(s) past {MAX_CARRIED_BYTES >> 20} MiB in all were not passed on")
    return carried


async def carry_written_files(session: KernelSession, folder: Path, budget: CarryBudget) -> CarriedFiles:
    """The files the session's notebook wrote, written below ``folder`` within ``budget``; a kernel that no
    longer answers passes nothing on, and says so."""
    code = PACKING_CODE.format(limit=budget.bytes_left, files=budget.entries_left)
    try:
        reply = await session.execute_hidden(code, PACK_TIMEOUT_S)
    except (GradingTimeUp, KernelUnavailable, StudentCallError) as error:
        return CarriedFiles(problems=[f"its files could not be passed on: {error}"])
    if reply is None or reply["content"].get("status") != "ok":
        return CarriedFiles(problems=["its files could not be gathered for the next notebooks"])
    try:
        manifest = session.exchange.read_optional("carried.json", MANIFEST_BYTES)
    except ExchangeRefused as error:
        return CarriedFiles(problems=[f"its list of files written was refused ({error})"])

    def read_file(number: int, limit: int) -> bytes | None:
        return session.exchange.read_optional(f"carried/{number}", limit)

    return unpack_carried(manifest, read_file, folder, budget)
