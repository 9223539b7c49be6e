"""Intake: turn whatever a class handed in into one ``Submission`` per student.

A path is a ``.zip``, an ``.ipynb``, or a class folder whose entries (zips, notebooks,
per-student folders) are each one submission. Archives are extracted defensively: no
entry lands outside its folder, links are skipped, and size, ratio and entry count are
capped while reading, not only as declared. Anything unusable becomes an invalid
submission that says what was found; nothing raises, so one hostile submission cannot
stop a class from being graded. Ids are folder names in the output, so they never repeat
(case-blind) and never take the name of a class file such as ``grades.csv``.
"""

from __future__ import annotations

import re
import shutil
import stat
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import nbformat

from checks.data.assets import resolve_data_dir
from checks.data.class_folder import is_class_file
from checks.engine.notebook import InvalidNotebook, load_notebook, merge_notebooks
from checks.engine.notebook_order import (
    MAX_NOTEBOOKS,
    RunOrder,
    data_file_names,
    file_names_in,
    order_notebooks,
)

DEFAULT_ID_PATTERN = r"^(?P<name>.+?)_(?P<roll>[A-Za-z0-9]+)$"
IGNORED_FOLDERS = {"__MACOSX", ".ipynb_checkpoints", "__pycache__"}
CHUNK = 1 << 16
NAME_MAX = 255
MERGED_FOLDER = ".merged"
REFUSED_SUFFIX = "-refused"


@dataclass(frozen=True)
class ZipLimits:
    max_total_bytes: int = 512 << 20
    max_entries: int = 2000
    max_ratio: float = 200.0


@dataclass
class Submission:
    student_id: str
    source: Path
    name: str | None = None
    roll: str | None = None
    folder: Path | None = None
    notebook: Path | None = None
    problem: str | None = None
    found: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    merged_from: list[str] = field(default_factory=list)
    run_order: RunOrder | None = None
    parts: list[str] = field(default_factory=list)  # a repository's notebooks, run one by one in this order
    notes: list[str] = field(default_factory=list)  # what a TA should know about how it was taken in

    @property
    def valid(self) -> bool:
        return self.problem is None and self.notebook is not None


class UnsafeArchive(ValueError):
    pass


@dataclass(frozen=True)
class RepositoryRules:
    """A team hands in its repository: the notebooks run one by one, each from its own folder, and the
    team is named by ``team_pattern`` found in the file's name or the repository's top folder."""

    team_pattern: str | None = None


TASK_NUMBER = re.compile(r"(?:task|deliverable|part)[\s_-]*(\d{1,3})|^(\d{1,3})(?!\d)", re.IGNORECASE)


def student_identity(stem: str, pattern: str = DEFAULT_ID_PATTERN) -> tuple[str, str | None, str | None]:
    """(id, name, roll) from a file name such as ``Asha_Rao_CS2301``."""
    match = re.match(pattern, stem)
    if not match:
        return _safe_id(stem), None, None
    groups = match.groupdict()
    return _safe_id(stem), groups.get("name"), groups.get("roll")


def _safe_id(text: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "unnamed"
    return cleaned[:120]


def _ignored(relative: PurePosixPath) -> bool:
    return any(part in IGNORED_FOLDERS or part.startswith(".") for part in relative.parts)


def safe_extract(archive: Path, destination: Path, limits: ZipLimits = ZipLimits()) -> tuple[list[str], list[str]]:
    """Extract into ``destination``; returns (extracted, skipped) relative names."""
    try:
        bundle = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as error:
        raise UnsafeArchive(f"{archive.name} is not a readable zip file ({error})") from None
    with bundle:
        entries = bundle.infolist()
        if len(entries) > limits.max_entries:
            raise UnsafeArchive(f"{archive.name} has {len(entries)} entries, over the limit of {limits.max_entries}")
        declared = sum(entry.file_size for entry in entries)
        if declared > limits.max_total_bytes:
            raise UnsafeArchive(
                f"{archive.name} would unpack to {declared >> 20} MiB, over the "
                f"{limits.max_total_bytes >> 20} MiB limit"
            )
        root = destination.resolve()
        extracted, skipped, written = [], [], 0
        for entry in entries:
            relative = PurePosixPath(entry.filename.replace("\\", "/"))
            mode = entry.external_attr >> 16
            if stat.S_ISLNK(mode):
                skipped.append(f"{entry.filename} (link)")
                continue
            if entry.is_dir() or _ignored(relative):
                continue
            if any(len(part.encode()) > NAME_MAX for part in relative.parts):
                skipped.append(f"{entry.filename} (name too long)")
                continue
            target = (root / relative).resolve()
            if relative.is_absolute() or ".." in relative.parts or not target.is_relative_to(root):
                skipped.append(f"{entry.filename} (outside the archive folder)")
                continue
            if entry.flag_bits & 0x1:
                raise UnsafeArchive(f"{archive.name} is password-protected ({entry.filename})")
            if (
                entry.compress_size
                and entry.file_size > (1 << 20)
                and entry.file_size / entry.compress_size > limits.max_ratio
            ):
                raise UnsafeArchive(
                    f"{archive.name}: {entry.filename} expands {entry.file_size // entry.compress_size}x, "
                    "which looks like a zip bomb"
                )
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with bundle.open(entry) as source, target.open("wb") as sink:
                    while chunk := source.read(CHUNK):
                        written += len(chunk)
                        if written > limits.max_total_bytes:
                            raise UnsafeArchive(
                                f"{archive.name} unpacks to more than {limits.max_total_bytes >> 20} MiB"
                            )
                        sink.write(chunk)
            except (FileExistsError, NotADirectoryError, IsADirectoryError):
                raise UnsafeArchive(
                    f"{archive.name}: {entry.filename} could not be extracted, because the archive "
                    "holds a file and a folder of the same name"
                ) from None
            except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, OSError) as error:
                raise UnsafeArchive(f"{archive.name}: {entry.filename} could not be extracted ({error})") from None
            extracted.append(str(relative))
        return extracted, skipped


def _notebooks_in(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.rglob("*.ipynb")
        if path.is_file() and not path.is_symlink() and not _ignored(PurePosixPath(path.relative_to(folder).as_posix()))
    )


def _listing(folder: Path) -> list[str]:
    return sorted(
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and not _ignored(PurePosixPath(path.relative_to(folder).as_posix()))
    )[:200]


def task_order_key(relative: str) -> tuple[int, str]:
    """Notebooks of a repository by the task their path names (``Task2_gradcam.ipynb``, ``task_3/lime.ipynb``,
    ``01_dissection.ipynb``), those naming none last, then by path."""
    numbers = [int(a or b) for a, b in TASK_NUMBER.findall(PurePosixPath(relative).as_posix())]
    return (numbers[-1] if numbers else 1000, relative.lower())


def repository_root(folder: Path) -> Path:
    """The repository inside what was handed in: GitHub's zips hold one top folder (``TML25_A4_13-main/``)."""
    entries = [entry for entry in folder.iterdir() if not _ignored(PurePosixPath(entry.name))]
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return folder


def _top_folder_of_zip(path: Path) -> str | None:
    """The one folder a zip's entries all sit in, read from its directory (nothing extracted)."""
    try:
        with zipfile.ZipFile(path) as bundle:
            tops = {PurePosixPath(name.replace("\\", "/")).parts[0] for name in bundle.namelist() if name.strip("/\\")}
    except (zipfile.BadZipFile, OSError):
        return None
    return tops.pop() if len(tops) == 1 else None


@dataclass(frozen=True)
class TeamName:
    name: str
    from_folder: bool  # read from the zip's top folder, which the team wrote, not from the file's name


def team_name(path: Path, pattern: str) -> TeamName | None:
    """The team ``pattern`` finds in the file's name (as the course's upload named it), else in the one top
    folder its zip holds."""
    if match := re.search(pattern, _stem(path), re.IGNORECASE):
        return TeamName(match.group(0), from_folder=False)
    if path.suffix.lower() == ".zip" and path.is_file() and not path.is_symlink():
        if match := re.search(pattern, _top_folder_of_zip(path) or "", re.IGNORECASE):
            return TeamName(match.group(0), from_folder=True)
    return None


def _choose_notebooks_of_repository(submission: Submission) -> None:
    """A team's notebooks each run on their own, in task order, from the repository's folder layout."""
    assert submission.folder is not None
    submission.folder = repository_root(submission.folder)
    submission.found = _listing(submission.folder)
    notebooks = _notebooks_in(submission.folder)
    if not notebooks:
        submission.problem = "no notebook (.ipynb) found in the repository" + (
            f"; it holds: {', '.join(submission.found[:20])}" if submission.found else "; it is empty"
        )
        return
    names = [path.relative_to(submission.folder).as_posix() for path in notebooks]
    submission.parts = sorted(names, key=task_order_key)[:MAX_NOTEBOOKS]
    submission.notebook = submission.folder / submission.parts[0]


def _choose_notebook(submission: Submission, work_dir: Path, data_dir: Path | None) -> None:
    """One notebook is graded as it is; several are merged in the order their files require
    (one that writes ``model.pth`` before one that loads it), else in name order, and graded as one."""
    assert submission.folder is not None
    submission.found = _listing(submission.folder)
    notebooks = _notebooks_in(submission.folder)
    if len(notebooks) == 1:
        submission.notebook = notebooks[0]
    elif not notebooks:
        submission.problem = "no notebook (.ipynb) found" + (
            f"; the submission holds: {', '.join(submission.found[:20])}" if submission.found else "; it is empty"
        )
    else:
        names = [n.relative_to(submission.folder).as_posix() for n in notebooks]
        try:
            available = file_names_in(submission.folder) | data_file_names(resolve_data_dir(data_dir))
            loaded = {name: load_notebook(path) for name, path in zip(names, notebooks)}
            order = order_notebooks(list(loaded.items()), available)
            merged = merge_notebooks([(name, loaded[name]) for name in order.names])
        except InvalidNotebook as error:
            submission.problem = f"{len(notebooks)} notebooks found ({', '.join(names)}) to merge, but {error}"
            return
        target = work_dir / MERGED_FOLDER / f"{submission.student_id}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(merged, target)
        submission.notebook, submission.merged_from, submission.run_order = target, list(order.names), order


def _stem(path: Path) -> str:
    """The name an id is read from; a path that cannot even be examined keeps its whole name."""
    try:
        return path.stem if path.is_file() else path.name
    except OSError:
        return path.name


def intake_one(
    path: Path,
    work_dir: Path,
    id_pattern: str = DEFAULT_ID_PATTERN,
    limits: ZipLimits = ZipLimits(),
    student_id: str | None = None,
    data_dir: Path | None = None,
    repository: RepositoryRules | None = None,
) -> Submission:
    """``student_id`` overrides the one read from the name (used to keep ids unique); ``data_dir`` is
    the grading data directory (default: as ``DataDir`` resolves it), whose files notebooks may read.

    Any error, however unexpected, becomes this submission's problem rather than the class's.
    """
    wanted, from_folder = _wanted_name(path, repository)
    derived, name, roll = student_identity(wanted, id_pattern)
    submission = Submission(student_id or derived, path, name, roll)
    if from_folder:
        submission.notes.append(
            f"named {wanted} by the top folder of {path.name}, whose own name names no team; check it is that team's"
        )
    try:
        _take_in(submission, work_dir, limits, data_dir, repository)
    except Exception as error:
        shutil.rmtree(work_dir / submission.student_id, ignore_errors=True)
        submission.notebook, submission.folder = None, None
        submission.problem = f"{path.name} could not be taken in: {error}"
    return submission


def _wanted_name(path: Path, repository: RepositoryRules | None) -> tuple[str, bool]:
    """The name an id is made of (the team's, for a repository whose rules name teams, else the file's), and
    whether the submission's own contents chose it."""
    team = team_name(path, repository.team_pattern) if repository and repository.team_pattern else None
    return (team.name, team.from_folder) if team else (_stem(path), False)


def _choose(submission: Submission, work_dir: Path, data_dir: Path | None, repository: RepositoryRules | None) -> None:
    if repository is not None:
        _choose_notebooks_of_repository(submission)
    else:
        _choose_notebook(submission, work_dir, data_dir)


def _take_in(
    submission: Submission, work_dir: Path, limits: ZipLimits, data_dir: Path | None, repository: RepositoryRules | None
) -> None:
    """Fill in the folder and notebook, or the problem, by what kind of thing was handed in."""
    path, folder = submission.source, work_dir / submission.student_id
    if path.is_symlink():
        submission.problem = f"{path.name} is a link; submissions must be plain files or folders"
    elif path.is_dir():
        submission.folder = path
        _choose(submission, work_dir, data_dir, repository)
    elif path.suffix.lower() == ".zip":
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        try:
            _, submission.skipped = safe_extract(path, folder, limits)
        except UnsafeArchive as error:
            shutil.rmtree(folder, ignore_errors=True)
            submission.problem = str(error)
            return
        submission.folder = folder
        _choose(submission, work_dir, data_dir, repository)
    elif path.suffix.lower() == ".ipynb":
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, folder / path.name)
        submission.folder = folder
        submission.found = [path.name]
        submission.notebook = folder / path.name
        submission.parts = [path.name] if repository is not None else []
    else:
        submission.problem = f"{path.name} is neither a .zip nor an .ipynb file"


def _unique(wanted: str, taken: set[str]) -> str:
    """``wanted``, or it with the first free counter; compared case-blind, as some disks compare names."""
    student_id, count = wanted, 1
    while student_id.lower() in taken:
        count += 1
        student_id = f"{wanted}-{count}"
    taken.add(student_id.lower())
    return student_id


def _refused(candidate: Path, wanted: str, taken: set[str]) -> Submission:
    """A visible invalid result under an id that cannot overwrite the class file ``wanted`` names."""
    return Submission(
        _unique(wanted + REFUSED_SUFFIX, taken),
        candidate,
        problem=f"the name {wanted} collides with the class file {wanted} in the output folder; "
        "rename the submission after the student",
    )


def discover(
    paths: Sequence[Path],
    work_dir: Path,
    id_pattern: str = DEFAULT_ID_PATTERN,
    limits: ZipLimits = ZipLimits(),
    data_dir: Path | None = None,
    repository: RepositoryRules | None = None,
) -> list[Submission]:
    """One submission per zip, notebook or student (or team) folder; a folder argument is a class."""
    candidates: list[Path] = []
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            candidates += sorted(
                child
                for child in path.iterdir()
                if not child.name.startswith(".") and child.name not in IGNORED_FOLDERS
            )
        else:
            candidates.append(path)
    wanted = [_wanted_name(candidate, repository) for candidate in candidates]
    ids = [student_identity(name, id_pattern)[0] for name, _ in wanted]
    taken: set[str] = set()
    # A name the upload's file gives wins over one a zip's own top folder claims: a team cannot take another's.
    for number in sorted(range(len(candidates)), key=lambda number: wanted[number][1]):
        if not is_class_file(ids[number]):
            ids[number] = _unique(ids[number], taken)
    return [
        _refused(candidate, student_id, taken)
        if is_class_file(student_id)
        else intake_one(candidate, work_dir, id_pattern, limits, student_id, data_dir, repository)
        for candidate, student_id in zip(candidates, ids)
    ]
