"""Checks whose verdict rests on a cell the time budget cut: held for a TA, never failed.

Real notebooks train for far longer than a grading budget allows. A cut training leaves its model half
trained and whatever the cell was filling half made, so a check that measures the model, or reads what
the cell made, can only report what the budget prevented; the notebook's submitted output is the
evidence then, and a TA reads it. A check is held when it lost marks and either its first cause is a
cut cell (it found nothing because that cell never finished) or it declares that it rests on training
(``rests_on=(TRAINING,)``: accuracy thresholds, attacks reaching their targets, training curves) and a
cell that changed a model's weights was cut by the end of the check's task. A check that passed keeps
its marks: a model that reached the threshold in the time it had reached it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import nbformat

from checks.engine.cell_code import parsed_cell
from checks.engine.kernel import CellRecord
from checks.grading.first_causes import cell_label
from checks.grading.results import CUT, FAILED, PARTIAL, CheckResult

TRAINING = "training"
"""What a check names in ``rests_on`` when its verdict needs the notebook's training to have finished."""
OPTIMISING = re.compile(r"\.backward\(|\.step\(|\.fit\(")
"""Code that trains: a cut cell that runs it (itself or through a function the notebook defines) was training,
also when the model it trained was made in the same cell, so no earlier weights show the change."""
MAX_SOURCE_CHARS = 200_000


@dataclass(frozen=True)
class CutCell:
    """A cell stopped by its time limit, and whether it was training a model when it was stopped."""

    cell: int
    label: str
    ran_s: float
    limit_s: float
    training: bool

    def describe(self) -> str:
        what = f"the training in {self.label}" if self.training else self.label
        return f"{what} was cut at {self.ran_s:.0f} s of the {self.limit_s:.0f} s it was given"


def cut_cells(
    run_cells: Iterable[CellRecord], events: Iterable[dict[str, Any]], notebook: nbformat.NotebookNode
) -> dict[int, CutCell]:
    """The cells the budget cut, by index; a cut cell trained when the kernel's log shows a model's weights
    changing in it, or its code runs an optimiser step."""
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
        )
        for record in cut
    }


def _optimising_cells(notebook: nbformat.NotebookNode, wanted: set[int]) -> set[int]:
    """Which of the ``wanted`` cells run an optimiser step, in their own code or in a notebook function they call."""
    sources = {
        index: str(cell.source)[:MAX_SOURCE_CHARS]
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
    }
    optimising_functions = set()
    for source in sources.values():
        for node in _top_level(source):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if OPTIMISING.search(ast.get_source_segment(source, node) or ""):
                    optimising_functions.add(node.name)
    found = set()
    for index in wanted & sources.keys():
        source = sources[index]
        called = {
            node.func.id
            for node in ast.walk(ast.Module(_top_level(source), []))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        }
        if OPTIMISING.search(source) or called & optimising_functions:
            found.add(index)
    return found


def _top_level(source: str) -> list[ast.stmt]:
    tree = parsed_cell(source)
    return tree.body if tree is not None else []


def hold_cut_checks(
    checks: list[CheckResult],
    rests_on: dict[str, tuple[str, ...]],
    cuts: dict[int, CutCell],
    task_cells: dict[str, list[int]],
) -> list[CheckResult]:
    """Turn every check whose lost marks the cut explains into a held one (status ``cut``, no marks either way);
    ``rests_on`` maps a check's name to what its verdict rests on. Returns the held checks."""
    held = []
    for check in checks:
        if check.status not in (FAILED, PARTIAL):
            continue
        cut = _cut_behind(check, rests_on.get(check.name, ()), cuts, task_cells.get(check.task, []))
        if cut is None:
            continue
        verdict = f"{check.status}: {check.message}"
        check.status, check.score, check.cut = CUT, 0.0, asdict(cut)
        check.message = (
            f"not verifiable: {cut.describe()}, so this check's verdict ({verdict}) claims no marks either way; "
            f"a TA decides from the notebook's submitted output"
        )
        held.append(check)
    return held


def _cut_behind(
    check: CheckResult, rests_on: tuple[str, ...], cuts: dict[int, CutCell], own_cells: list[int]
) -> CutCell | None:
    cause = check.first_cause
    if cause is not None and cause["cell"] in cuts:
        return cuts[cause["cell"]]
    if TRAINING not in rests_on:
        return None
    last = max(own_cells, default=None)
    trainings = [cut for cut in cuts.values() if cut.training and (last is None or cut.cell <= last)]
    return max(trainings, key=lambda cut: cut.cell, default=None)
