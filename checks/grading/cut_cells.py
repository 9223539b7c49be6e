"""Checks whose verdict rests on a cell the time budget cut: held for a TA, never failed.

Real notebooks train for far longer than a grading budget allows. A cut training leaves its model half
trained and whatever the cell was filling half made, so a check that measures the model, or reads what
the cell made, can only report what the budget prevented. Such a check is held (no marks either way) for
a TA, who reads the notebook's saved output as the student's own, unverified claim, or grades again with
a larger budget. A check is held when it lost marks and either

- its first cause is a cut training (it found nothing because that cell never finished), or a cut cell
  that was not training but whose saved output claims it finished (an attack loop that waits for success);
- or it declares that it rests on training (``rests_on=(TRAINING,)``: accuracy thresholds, attacks
  reaching their targets) and a training was cut by the end of its task.

A cut that trained nothing and claims nothing (``while True: sleep``) holds nothing: the checks it stopped
fail as before. A check that passed keeps its marks: a model that reached the threshold in the time it had
reached it.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import nbformat

from checks.engine.cell_code import parsed_cell
from checks.engine.kernel import CellRecord
from checks.grading.first_causes import cell_label
from checks.grading.results import CUT, FAILED, PARTIAL, CheckResult

TRAINING = "training"
"""What a check names in ``rests_on`` when its verdict needs the notebook's training to have finished."""
MAX_SOURCE_CHARS = 200_000
MAX_NOTEBOOK_SOURCE_CHARS = 2_000_000
"""Cells past these sizes (one cell, all cells together) are not read for training code."""


@dataclass(frozen=True)
class CutCell:
    """A cell stopped by its time limit, whether it was training a model, and whether the notebook was saved
    with an output of it (the student's claim that it finished)."""

    cell: int
    label: str
    ran_s: float
    limit_s: float
    training: bool
    claimed: bool = False

    def describe(self) -> str:
        what = f"the training in {self.label}" if self.training else self.label
        return f"{what} was cut when the {self.limit_s:.0f} s it was given ran out"

    @property
    def holds(self) -> bool:
        """Whether checks stopped by this cut wait for a TA rather than fail."""
        return self.training or self.claimed


def cut_cells(
    run_cells: Iterable[CellRecord],
    events: Iterable[dict[str, Any]],
    notebook: nbformat.NotebookNode,
    claimed: Collection[int] = (),
) -> dict[int, CutCell]:
    """The cells the budget cut, by index. A cut cell trained when the kernel saw a model's weights change in
    it, or when its code (or a function of the notebook it calls) steps an optimiser built on a model's
    parameters: a model made in the cut cell itself has no earlier weights to compare with. ``claimed``: the
    cells the notebook was saved with outputs of."""
    trained = {event["cell"] for event in events if event["kind"] == "weights_changed"}
    cut = [record for record in run_cells if record.status == "timeout"]
    optimising = _optimising_cells(notebook, {record.index for record in cut}) if cut else set()
    return {
        record.index: CutCell(
            record.index,
            cell_label(record.index, record.execution_count),
            round(record.duration_s, 1),
            round(record.limit_s if record.limit_s is not None else record.duration_s, 1),
            record.index in trained or record.index in optimising,
            record.index in claimed,
        )
        for record in cut
    }


def _optimising_cells(notebook: nbformat.NotebookNode, wanted: set[int]) -> set[int]:
    """Which of the ``wanted`` cells step an optimiser over a model's parameters, in their own code or in a
    notebook function they call (read with ast, so comments and strings do not count)."""
    trees: dict[int, ast.Module] = {}
    budget = MAX_NOTEBOOK_SOURCE_CHARS
    for index, cell in enumerate(notebook.cells):
        source = str(cell.source) if cell.cell_type == "code" else ""
        budget -= len(source)
        if source and len(source) <= MAX_SOURCE_CHARS and budget >= 0:
            tree = parsed_cell(source)
            if tree is not None:
                trees[index] = tree
    optimising_functions = {
        node.name
        for tree in trees.values()
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _optimises(node)
    }
    found = set()
    for index in wanted & trees.keys():
        statements = [node for node in trees[index].body if not isinstance(node, ast.FunctionDef | ast.ClassDef)]
        called = {name for statement in statements for name in _called_names(statement)}
        if any(_optimises(statement) for statement in statements) or called & optimising_functions:
            found.add(index)
    return found


def _optimises(node: ast.AST) -> bool:
    methods = {call.func.attr for call in ast.walk(node) if _is_method_call(call)}
    return {"parameters", "step"} <= methods


def _is_method_call(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)


def _called_names(node: ast.AST) -> set[str]:
    return {call.func.id for call in ast.walk(node) if isinstance(call, ast.Call) and isinstance(call.func, ast.Name)}


def hold_cut_checks(
    checks: list[CheckResult],
    rests_on: dict[str, tuple[str, ...]],
    cuts: dict[int, CutCell],
    task_cells: dict[str, list[int]],
) -> list[CheckResult]:
    """Turn every check whose lost marks a cut explains into a held one (status ``cut``, no marks either way);
    ``rests_on`` maps a check's name to what its verdict rests on. Returns the held checks."""
    held = []
    for check in checks:
        if check.status not in (FAILED, PARTIAL):
            continue
        cut = _cut_behind(check, rests_on.get(check.name, ()), cuts, task_cells, check.task)
        if cut is None:
            continue
        verdict = f"{check.status}: {check.message}"
        check.status, check.score, check.cut = CUT, 0.0, asdict(cut)
        claim = (
            "the notebook's saved output of it is the student's own, unverified claim"
            if cut.claimed
            else "the notebook was saved without an output of it"
        )
        check.message = (
            f"not verifiable: {cut.describe()}, so this check's verdict ({verdict}) claims no marks either way; "
            f"a TA decides ({claim}; grading again with a larger --cell-timeout settles it)"
        )
        held.append(check)
    return held


def _cut_behind(
    check: CheckResult,
    rests_on: tuple[str, ...],
    cuts: dict[int, CutCell],
    task_cells: dict[str, list[int]],
    task: str,
) -> CutCell | None:
    """The cut that explains the check's lost marks: its first cause, or a training cut by the end of its task.
    A task the notebook marks none of its cells for (in a notebook that marks others) was not attempted,
    which no cut explains."""
    cause = check.first_cause
    if cause is not None and cause["cell"] in cuts:
        cut = cuts[cause["cell"]]
        return cut if cut.holds else None
    own_cells = task_cells.get(task, [])
    if TRAINING not in rests_on or (not own_cells and any(task_cells.values())):
        return None
    last = max(own_cells, default=None)
    trainings = [cut for cut in cuts.values() if cut.training and (last is None or cut.cell <= last)]
    return max(trainings, key=lambda cut: cut.cell, default=None)
