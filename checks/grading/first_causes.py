"""The first cause of a lost mark: the notebook error that a failed check follows from.

One mistyped layer name makes every later task that needs the model fail, and each of its
checks can only say what it did not find. Following each NameError back to the cell that
failed to bind the name, and each skipped cell back to the timeout that stopped the run,
names the one error to fix, where it is, and (for mistakes an assignment is known for) how.
Cells are read with ast, never run.
"""

from __future__ import annotations

import ast
import bisect
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from IPython.core.inputtransformer2 import TransformerManager

from checks.engine.kernel import CellRecord
from checks.grading.results import FAILED, PARTIAL, PASSED, CheckResult
from checks.grading.scheme import AssignmentError

CAUSES_FILE = "causes.toml"
DID_NOT_FINISH = frozenset({"error", "timeout", "kernel_died", "not_run"})
STOPS_THE_RUN = frozenset({"timeout", "kernel_died"})
MAX_ERROR_CHARS = 300
MAX_MATCHED_CHARS = 2000
MAX_PATTERN_CHARS = 500
MAX_SOURCE_CHARS = 200_000
MAX_NOTEBOOK_SOURCE_CHARS = 2_000_000
"""Cells past these sizes (one cell, all cells together) are not read for the names they bind and read:
no notebook written by hand comes near them, and parsing is the costly part."""
IDENTIFIER = r"([^\W\d]\w{0,99})"
UNDEFINED_NAME = re.compile(rf"name '{IDENTIFIER}' is not defined")
MISSING_NAME_MESSAGES = (UNDEFINED_NAME, re.compile(rf"the notebook defines no '{IDENTIFIER}'"))
"""What a check's message says when a name is missing: Python's NameError, and the probe's answer
when the grader asks for a function or object the notebook never bound."""
NEW_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


@dataclass(frozen=True)
class KnownCause:
    """A mistake an assignment is known for: a regular expression on the error text, and what to do."""

    pattern: str
    hint: str

    def matches(self, error: str) -> bool:
        return re.search(self.pattern, error[:MAX_MATCHED_CHARS]) is not None


@dataclass(frozen=True)
class ErrorGroup:
    """One notebook error and every check whose lost marks follow from it."""

    cell: int
    label: str
    error: str
    traceback: list[str]
    hint: str | None
    checks: list[str]
    tasks: list[str]
    marks_lost: float
    changed_models: list[str]  # models whose weights the cell changed, as the kernel's log says (words only)


@dataclass(frozen=True)
class CellNames:
    binds: frozenset[str]
    reads: frozenset[str]


def cell_label(index: int, execution_count: int | None) -> str:
    """How a person finds the cell: its position among all cells from 1, and Jupyter's In [n] when it ran."""
    return f"cell {index + 1}" + (f" (In [{execution_count}])" if execution_count is not None else "")


def load_known_causes(assignment_folder: Path) -> list[KnownCause]:
    """The ``[[cause]]`` entries of the assignment's causes.toml (none when it has no such file)."""
    path = assignment_folder / CAUSES_FILE
    if not path.is_file():
        return []
    with path.open("rb") as handle:
        entries = tomllib.load(handle).get("cause", [])
    causes = []
    for number, entry in enumerate(entries if isinstance(entries, list) else [None], start=1):
        pattern, hint = (entry.get("pattern"), entry.get("hint")) if isinstance(entry, dict) else (None, None)
        if not isinstance(pattern, str) or not isinstance(hint, str) or not pattern or not hint:
            raise AssignmentError(f"{path}: cause {number} needs a pattern and a hint, both text")
        if len(pattern) > MAX_PATTERN_CHARS:
            raise AssignmentError(f"{path}: cause {number}'s pattern is longer than {MAX_PATTERN_CHARS} characters")
        try:
            re.compile(pattern)
        except re.error as error:
            raise AssignmentError(f"{path}: cause {number}'s pattern is not a regular expression: {error}") from None
        causes.append(KnownCause(pattern, hint))
    return causes


def root_cells(run_cells: list[CellRecord], notebook: nbformat.NotebookNode) -> dict[int, int]:
    """For every cell that raised, timed out or did not run: the cell whose error it follows from."""
    return _Flow(run_cells, notebook).roots


def attach_first_causes(
    checks: list[CheckResult],
    run_cells: list[CellRecord],
    notebook: nbformat.NotebookNode,
    task_cells: dict[str, list[int]],
    known: list[KnownCause],
    events: list[dict[str, Any]] = (),
) -> list[ErrorGroup]:
    """Set ``first_cause`` on each check that lost marks after an earlier notebook error (and its empty
    ``cause`` to the error's known hint); the errors with the checks they cost, most marks first, each
    with the models whose weights its cell changed (a later function training a model, say)."""
    flow = _Flow(run_cells, notebook)
    costs: dict[int, list[CheckResult]] = {}
    for check in checks:
        if not _lost_marks(check):
            continue
        root = flow.task_root(task_cells.get(check.task, []))
        if root is None:
            root = flow.missing_name_root(check.message)
        if root is None:
            continue
        check.first_cause = flow.describe(root, task_cells, known)
        if not check.cause and check.first_cause["hint"]:
            check.cause = check.first_cause["hint"]
        costs.setdefault(root, []).append(check)
    changed: dict[int, list[str]] = {}
    for event in events:
        if event["kind"] == "weights_changed" and isinstance(event["cell"], int):
            changed.setdefault(event["cell"], []).append(event["model"])
    groups = [
        _group(flow.describe(root, task_cells, known), costly, changed.get(root, [])) for root, costly in costs.items()
    ]
    return sorted(groups, key=lambda group: (-group.marks_lost, group.cell))


def _lost_marks(check: CheckResult) -> bool:
    """Failed or partial, or passed short of full marks; a check waiting for a TA or a full run has lost nothing."""
    return check.status in (FAILED, PARTIAL) or (check.status == PASSED and check.score < check.max_score)


def _group(cause: dict[str, Any], checks: list[CheckResult], changed_models: list[str]) -> ErrorGroup:
    tasks = sorted({check.task for check in checks}, key=_task_order)
    lost = round(sum(max(0.0, check.max_score - check.score) for check in checks), 4)
    return ErrorGroup(
        cause["cell"],
        cause["label"],
        cause["error"],
        list(cause["traceback"]),
        cause["hint"],
        [check.name for check in checks],
        tasks,
        lost,
        sorted(set(changed_models)),
    )


def _task_order(task_id: str) -> list[tuple[int, int | str]]:
    """2.2 before 2.10."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in task_id.split(".")]


class _Flow:
    """Which cell's failure each failed cell follows from, read from the cells' code and run records."""

    def __init__(self, run_cells: list[CellRecord], notebook: nbformat.NotebookNode) -> None:
        self.records = {record.index: record for record in run_cells}
        self.names = _names_of_cells(notebook)
        self.binders: dict[str, list[int]] = {}
        for index in sorted(self.names):
            for name in self.names[index].binds:
                self.binders.setdefault(name, []).append(index)
        self.roots: dict[int, int] = {}
        stopped_at = None
        for record in sorted(run_cells, key=lambda record: record.index):
            if record.status not in DID_NOT_FINISH:
                continue
            root = record.index
            if record.status == "not_run" and stopped_at is not None:
                root = self.roots[stopped_at]
            elif record.status == "error":
                match = UNDEFINED_NAME.search(f"{record.error_name}: {record.error_value}"[:MAX_MATCHED_CHARS])
                binder = self.last_binder(match.group(1), record.index) if match else None
                root = self.roots.get(binder, root)
            self.roots[record.index] = root
            if record.status in STOPS_THE_RUN:
                stopped_at = record.index

    def last_binder(self, name: str, before: int | None = None) -> int | None:
        """The last cell (before ``before``, if given) whose code binds ``name``."""
        indices = self.binders.get(name, [])
        position = len(indices) if before is None else bisect.bisect_left(indices, before)
        return indices[position - 1] if position else None

    def task_root(self, cells: list[int]) -> int | None:
        """The root of the task's first cell that did not finish, or that read a name last bound by one that did not."""
        for index in sorted(cells):
            if index in self.roots:
                return self.roots[index]
            upstream = self.upstream_root(index)
            if upstream is not None:
                return upstream
        return None

    def upstream_root(self, index: int) -> int | None:
        """A cell that ran can still work on what a failed cell left half made (``histories = {}`` before the
        error): the earliest root among the failed cells that last bound a name it reads."""
        names = self.names.get(index)
        if names is None:
            return None
        roots = [self.roots.get(self.last_binder(name, index)) for name in names.reads - names.binds]
        return min((root for root in roots if root is not None), default=None)

    def missing_name_root(self, message: str) -> int | None:
        """When a check says a name is missing and the cell that binds it failed: that cell's root."""
        for pattern in MISSING_NAME_MESSAGES:
            match = pattern.search(message[:MAX_MATCHED_CHARS])
            if match:
                return self.roots.get(self.last_binder(match.group(1)))
        return None

    def describe(self, root: int, task_cells: dict[str, list[int]], known: list[KnownCause]) -> dict[str, Any]:
        record = self.records[root]
        error = _error_text(record)
        return {
            "cell": root,
            "label": cell_label(root, record.execution_count),
            "error": error[:MAX_ERROR_CHARS],
            "traceback": list(record.traceback),
            "task": next((task_id for task_id, cells in task_cells.items() if root in cells), None),
            "hint": next((cause.hint for cause in known if cause.matches(error)), None),
        }


def _error_text(record: CellRecord) -> str:
    """The error as Python prints its last line, as much of it as known causes are matched against."""
    if record.error_name:
        return f"{record.error_name}: {record.error_value or ''}"[:MAX_MATCHED_CHARS]
    return "the cell did not run" if record.status == "not_run" else record.status.replace("_", " ")


def _names_of_cells(notebook: nbformat.NotebookNode) -> dict[int, CellNames]:
    transformer = TransformerManager()
    names = {}
    budget = MAX_NOTEBOOK_SOURCE_CHARS
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        source = str(cell.source)
        budget -= len(source)
        tree = _parsed(source, transformer) if len(source) <= MAX_SOURCE_CHARS and budget >= 0 else None
        names[index] = _cell_names(tree) if tree is not None else CellNames(frozenset(), frozenset())
    return names


def _parsed(source: str, transformer: TransformerManager) -> ast.Module | None:
    """The cell as Python (magics and shell escapes turned into calls), or None when it cannot be read."""
    try:
        return ast.parse(transformer.transform_cell(source))
    except Exception:  # the student's text: a syntax error, nesting past the parser's limits, a null byte
        return None


def _cell_names(tree: ast.Module) -> CellNames:
    """Names the cell binds and reads at notebook level: assignments, for / with / except targets, imports,
    functions and classes; what a function, class or lambda does inside its own body is left out."""
    binds: set[str] = set()
    reads: set[str] = set()
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, NEW_SCOPES):
            if not isinstance(node, ast.Lambda):
                binds.add(node.name)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            binds.update((alias.asname or alias.name).split(".")[0] for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            binds.add(node.id)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            reads.add(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            binds.add(node.name)
        pending.extend(ast.iter_child_nodes(node))
    return CellNames(frozenset(binds), frozenset(reads))
