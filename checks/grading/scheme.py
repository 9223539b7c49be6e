"""An assignment's mark scheme, read from its ``assignment.toml``.

The marks live in data so an instructor can edit them without touching code,
and adding an assignment needs no change to the grader.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

ASSIGNMENTS_DIR = Path(__file__).parent.parent / "assignments"
SCHEME_FILE = "assignment.toml"


class AssignmentError(ValueError):
    """An unknown assignment, or a mark scheme that does not add up."""


@dataclass(frozen=True)
class WrittenQuestion:
    prompt: str
    keywords: tuple[str, ...]
    sentences: str


@dataclass(frozen=True)
class Task:
    id: str
    title: str
    marks: float
    written: float = 0.0
    names: tuple[str, ...] = ()
    question: WrittenQuestion | None = None
    rests_on: tuple[str, ...] = ()  # assets its written answer is about: with stand-ins a TA cannot judge it as meant

    @property
    def automatic(self) -> float:
        return self.marks - self.written


@dataclass(frozen=True)
class Advisory:
    """A note on the whole notebook (every plot labelled, say) that carries no marks: its checks are worth
    0 points and a report shows them apart from the tasks."""

    id: str
    title: str


@dataclass(frozen=True)
class SubmissionLayout:
    """How a submission is laid out: one student's notebook(s) graded as one program, or a team's
    repository whose notebooks each run on their own in the repository's folders (``[submission]``)."""

    repository: bool = False
    team_pattern: str | None = None  # a regular expression naming the team in the zip or its top folder


@dataclass(frozen=True)
class Limits:
    """Seconds: per cell, per notebook, per cell and in all once the notebook's time is spent (so the
    figures after a long training are still drawn), for a whole quick run, and for the checks' calls
    into the kernel after a full run (so one stuck function cannot hold the batch)."""

    cell_timeout_s: float
    notebook_timeout_s: float
    overtime_cell_s: float = 60
    overtime_s: float = 600
    quick_timeout_s: float = 120
    checks_timeout_s: float = 900


@dataclass(frozen=True)
class Assignment:
    id: str
    title: str
    reference: str
    total: float
    limits: Limits
    tasks: tuple[Task, ...] = field(default_factory=tuple)
    advisories: tuple[Advisory, ...] = field(default_factory=tuple)
    kernel_packages: tuple[str, ...] = ()  # pip requirements its notebooks import; setup installs them
    layout: SubmissionLayout = field(default_factory=SubmissionLayout)
    folder: Path = ASSIGNMENTS_DIR

    @property
    def module(self) -> str:
        """The Python package of this assignment's checks (``checks.assignments.<folder>``)."""
        return f"checks.assignments.{self.folder.name}"

    @property
    def scheme_file(self) -> Path:
        return self.folder / SCHEME_FILE

    @property
    def advisory_ids(self) -> frozenset[str]:
        """What a check may name besides a task, so pages can show its note apart from the marks."""
        return frozenset(advisory.id for advisory in self.advisories)

    def task(self, task_id: str) -> Task:
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise AssignmentError(f"{self.id} has no task {task_id!r}")


def load_assignment_file(path: Path) -> Assignment:
    with path.open("rb") as handle:
        raw = tomllib.load(handle)
    tasks = tuple(
        Task(
            id=str(entry["id"]),
            title=entry["title"],
            marks=float(entry["marks"]),
            written=float(entry.get("written", 0)),
            names=tuple(entry.get("names", ())),
            question=WrittenQuestion(
                entry["question"]["prompt"], tuple(entry["question"]["keywords"]), entry["question"]["sentences"]
            )
            if "question" in entry
            else None,
            rests_on=tuple(entry.get("rests_on", ())),
        )
        for entry in raw["tasks"]
    )
    assignment = Assignment(
        id=raw["id"],
        title=raw["title"],
        reference=raw["reference"],
        total=float(raw["total"]),
        limits=Limits(**raw["limits"]),
        tasks=tasks,
        advisories=tuple(Advisory(id=str(entry["id"]), title=entry["title"]) for entry in raw.get("advisories", ())),
        kernel_packages=kernel_packages(raw.get("kernel", {}), path),
        layout=submission_layout(raw.get("submission", {}), path),
        folder=path.parent,
    )
    validate(assignment, path)
    return assignment


def kernel_packages(table: object, path: Path) -> tuple[str, ...]:
    """The ``[kernel]`` table's ``packages``: pip requirement strings, each package named once."""
    if not isinstance(table, dict):
        raise AssignmentError(f"{path}: [kernel] must be a table")
    unknown = sorted(set(table) - {"packages"})
    if unknown:
        raise AssignmentError(f"{path}: [kernel] has unknown keys {', '.join(unknown)}; it holds only `packages`")
    packages = table.get("packages", [])
    if not isinstance(packages, list) or not all(isinstance(item, str) and item.strip() for item in packages):
        raise AssignmentError(f"{path}: [kernel] packages must be a list of non-empty pip requirement strings")
    names: set[str] = set()
    for item in packages:
        try:
            name = canonicalize_name(Requirement(item).name)
        except InvalidRequirement as error:
            raise AssignmentError(f"{path}: [kernel] package {item!r} is not a pip requirement ({error})") from None
        if name in names:
            raise AssignmentError(f"{path}: [kernel] names the package {name} twice")
        names.add(name)
    return tuple(item.strip() for item in packages)


def submission_layout(table: object, path: Path) -> SubmissionLayout:
    """The ``[submission]`` table: ``layout`` ("notebook" or "repository") and a ``team_pattern``."""
    if not isinstance(table, dict) or set(table) - {"layout", "team_pattern"}:
        raise AssignmentError(f"{path}: [submission] is a table of `layout` and `team_pattern`")
    layout = table.get("layout", "notebook")
    if layout not in ("notebook", "repository"):
        raise AssignmentError(f'{path}: [submission] layout must be "notebook" or "repository", not {layout!r}')
    pattern = table.get("team_pattern")
    if pattern is not None:
        try:
            re.compile(pattern)
        except (re.error, TypeError) as error:
            raise AssignmentError(f"{path}: [submission] team_pattern is not a regular expression ({error})") from None
    return SubmissionLayout(layout == "repository", pattern)


def validate(assignment: Assignment, path: Path) -> None:
    marks = sum(task.marks for task in assignment.tasks)
    if abs(marks - assignment.total) > 1e-9:
        raise AssignmentError(f"{path}: tasks add up to {marks:g}, not the stated total {assignment.total:g}")
    ids = [task.id for task in assignment.tasks]
    if len(set(ids)) != len(ids):
        raise AssignmentError(f"{path}: task ids repeat")
    advisories = [advisory.id for advisory in assignment.advisories]
    if len(set(advisories)) != len(advisories) or set(advisories) & set(ids):
        raise AssignmentError(f"{path}: advisory ids repeat, or repeat a task id")
    for task in assignment.tasks:
        if not 0 <= task.written <= task.marks:
            raise AssignmentError(f"{path}: task {task.id} has written marks outside 0..{task.marks:g}")
        if task.written and task.question is None:
            raise AssignmentError(f"{path}: task {task.id} has written marks but no question to locate the answer")


def available_assignments(directory: Path = ASSIGNMENTS_DIR) -> list[Assignment]:
    return [load_assignment_file(scheme) for scheme in sorted(directory.glob(f"*/{SCHEME_FILE}"))]


def load_assignment(assignment_id: str, directory: Path = ASSIGNMENTS_DIR) -> Assignment:
    known = available_assignments(directory)
    for assignment in known:
        if assignment.id == assignment_id:
            return assignment
    names = ", ".join(a.id for a in known) or "none"
    raise AssignmentError(f"unknown assignment {assignment_id!r}; known assignments: {names}")
