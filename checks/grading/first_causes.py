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

from checks.engine.cell_code import parsed_cell
from checks.engine.kernel import CellRecord
from checks.engine.notebook import cell_number
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
MISSING_EVIDENCE = re.compile(
    r"\b(?:no|none|not defined|defines no|never|missing|raised|did not run|could not)\b", re.IGNORECASE
)
"""A check that says it found nothing to judge (no model, no figure, a call that raised) surely follows
from an error that stopped the notebook making it; a wrong value found may or may not."""

MAX_CHANGED_MODELS = 5
MUTATORS = frozenset(
    {"append", "extend", "insert", "update", "add", "setdefault", "pop", "popitem", "remove", "clear", "discard"}
    | {"load_state_dict", "add_module", "register_buffer", "register_parameter", "fit", "train"}
)
"""Methods that change their object: a call of one in a statement that raised leaves the object half made."""
CONTAINER_FILLS = frozenset({"append", "extend", "insert", "update", "add", "setdefault"})
"""Methods that fill a container: a cell cut while filling one (``results[name] = train(...)``, ``history.append``)
leaves it short, and a later ``results['Adam']`` raises for that reason."""
SHORT_CONTAINER_ERRORS = frozenset({"KeyError", "IndexError"})


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
    # (last line, names bound, names changed in place) per top-level statement
    statements: tuple[tuple[int, frozenset[str], frozenset[str]], ...] = ()
    fills: frozenset[str] = frozenset()  # containers the cell fills in place (items stored, appended)

    def bound_before(self, line: int) -> frozenset[str]:
        """What the statements that finished before ``line`` bound and the rest did not go on to fill in: a cell
        that raised there still bound ``import torch``, but left ``histories = {}`` half made when the loop
        that filled it raised."""
        bound = {name for end, names, _ in self.statements if end < line for name in names}
        unfinished = {name for end, _, changed in self.statements if end >= line for name in changed}
        return frozenset(bound - unfinished)


def cell_label(index: int, execution_count: int | None) -> str:
    """How a person finds the cell: its position among all cells from 1, and Jupyter's In [n] when it ran."""
    return cell_number(index) + (f" (In [{execution_count}])" if execution_count is not None else "")


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
) -> None:
    """Set ``first_cause`` on each check that lost marks after an earlier notebook error, ``certain`` when
    the check found nothing to judge or the error lies before its task, else only a possible explanation
    (a wrong answer in a task whose cells also raised). For the certain ones an empty ``cause`` gets the
    error's known hint."""
    flow = _Flow(run_cells, notebook)
    for check in checks:
        if not _lost_marks(check):
            continue
        own_cells = task_cells.get(check.task, [])
        root = flow.task_root(own_cells)
        by_name = root is None
        if by_name:
            root = flow.missing_name_root(check.message)
        if root is None:
            continue
        certain = by_name or root not in own_cells or bool(MISSING_EVIDENCE.search(check.message[:MAX_MATCHED_CHARS]))
        check.first_cause = {**flow.describe(root, task_cells, known), "certain": certain}
        if certain and not check.cause and check.first_cause["hint"]:
            check.cause = check.first_cause["hint"]


def error_groups(checks: list[CheckResult], events: list[dict[str, Any]] = ()) -> list[ErrorGroup]:
    """Each notebook error with the checks whose lost marks certainly follow from it, most marks first, and
    the models whose weights its cell changed (a later function training a model, say)."""
    costs: dict[int, list[CheckResult]] = {}
    for check in checks:
        if _lost_marks(check) and check.first_cause and check.first_cause["certain"]:
            costs.setdefault(check.first_cause["cell"], []).append(check)
    changed: dict[int, list[str]] = {}
    for event in events:
        if event["kind"] == "weights_changed" and isinstance(event["cell"], int):
            changed.setdefault(event["cell"], []).append(event["model"][:100])
    groups = [_group(costly[0].first_cause, costly, changed.get(cell, [])) for cell, costly in costs.items()]
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
        sorted(set(changed_models))[:MAX_CHANGED_MODELS],
    )


def _task_order(task_id: str) -> list[tuple[int, int | str]]:
    """2.2 before 2.10."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in task_id.split(".")]


class _Flow:
    """Which cell's failure each failed cell follows from, read from the cells' code and run records."""

    def __init__(self, run_cells: list[CellRecord], notebook: nbformat.NotebookNode) -> None:
        self.records = {record.index: record for record in run_cells}
        self.names = _names_of_cells(notebook)
        self.kept: dict[int, frozenset[str]] = {}
        for record in run_cells:
            names = self.names.get(record.index)
            if record.status == "error" and record.error_line is not None and names is not None:
                self.kept[record.index] = names.bound_before(record.error_line)
        self.binders: dict[str, list[int]] = {}
        for index in sorted(self.names):
            names = self.names[index]
            record = self.records.get(index)
            cut = record is not None and record.status == "timeout"
            for name in names.binds | (names.fills if cut else frozenset()):
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
                text = f"{record.error_value}"[:MAX_MATCHED_CHARS]
                match = UNDEFINED_NAME.search(text) if record.error_name == "NameError" else None
                root = self.failed_binder_root(match.group(1), record.index) if match else None
                if record.error_name in SHORT_CONTAINER_ERRORS:
                    root = self.upstream_root(record.index)
                root = record.index if root is None else root
            self.roots[record.index] = root
            if record.status in STOPS_THE_RUN:
                stopped_at = record.index

    def last_binder(self, name: str, before: int | None = None) -> int | None:
        """The last cell (before ``before``, if given) whose code binds ``name``."""
        indices = self.binders.get(name, [])
        position = len(indices) if before is None else bisect.bisect_left(indices, before)
        return indices[position - 1] if position else None

    def failed_binder_root(self, name: str, before: int | None = None) -> int | None:
        """The root of the last cell before ``before`` meant to bind ``name``, when it failed before doing so."""
        binder = self.last_binder(name, before)
        if binder is None or binder not in self.roots or name in self.kept.get(binder, frozenset()):
            return None
        return self.roots[binder]

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
        roots = [self.failed_binder_root(name, index) for name in names.reads - names.binds]
        return min((root for root in roots if root is not None), default=None)

    def missing_name_root(self, message: str) -> int | None:
        """When a check says a name is missing and the cell that binds it failed: that cell's root."""
        for pattern in MISSING_NAME_MESSAGES:
            match = pattern.search(message[:MAX_MATCHED_CHARS])
            if match:
                return self.failed_binder_root(match.group(1))
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
    names = {}
    budget = MAX_NOTEBOOK_SOURCE_CHARS
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        source = str(cell.source)
        budget -= len(source)
        tree = parsed_cell(source) if len(source) <= MAX_SOURCE_CHARS and budget >= 0 else None
        names[index] = _cell_names(tree) if tree is not None else CellNames(frozenset(), frozenset())
    return names


def _cell_names(tree: ast.Module) -> CellNames:
    """Names the cell binds and reads at notebook level, and what each top-level statement binds."""
    binds: set[str] = set()
    reads: set[str] = set()
    statements = []
    for statement in tree.body:
        own_binds, own_reads, changed = _statement_names(statement)
        binds |= own_binds
        reads |= own_reads
        statements.append((statement.end_lineno or statement.lineno, frozenset(own_binds), frozenset(changed)))
    fills = frozenset(name for node in ast.walk(tree) for name in _filled_in_place(node))
    return CellNames(frozenset(binds), frozenset(reads), tuple(statements), fills)


def _statement_names(statement: ast.stmt) -> tuple[set[str], set[str], set[str]]:
    """Assignments, for / with / except targets, imports, functions and classes a statement binds, the
    names it reads, and those it changes in place (``h[k] = v``, ``h.append(v)``, ``n += 1``); what a
    function, class or lambda does inside its own body is left out."""
    binds: set[str] = set()
    reads: set[str] = set()
    changed: set[str] = set()
    pending: list[ast.AST] = [statement]
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
        changed.update(_changed_in_place(node))
        pending.extend(ast.iter_child_nodes(node))
    return binds, reads, changed


def _filled_in_place(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store) and isinstance(node.value, ast.Name):
        return [node.value.id]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CONTAINER_FILLS:
        return [node.func.value.id] if isinstance(node.func.value, ast.Name) else []
    return []


def _changed_in_place(node: ast.AST) -> list[str]:
    if isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, (ast.Store, ast.Del)):
        return [node.value.id] if isinstance(node.value, ast.Name) else []
    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS:
        return [node.func.value.id] if isinstance(node.func.value, ast.Name) else []
    return []
