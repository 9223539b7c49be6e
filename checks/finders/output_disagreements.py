"""Numbers a notebook printed when it was submitted against what the same cell printed when re-executed.

A training cut by the grading budget prints a lower accuracy than the student's own run, a missing
package prints none; a TA marks from the submitted output and needs to see where the two differ, and
what the grader itself measured on the model the re-execution left (read from the measurements the
checks already made, never a new call into the kernel).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from checks.engine.kernel import CellRecord
from checks.engine.notebook import cell_number
from checks.engine.submitted_outputs import SubmittedOutputs, output_texts
from checks.finders.classifiers import Measured
from checks.finders.stated_numbers import CLAIM_TOLERANCE, AccuracyClaims, stated_accuracies
from checks.grading.first_causes import cell_label

MAX_SOURCE = 20_000
"""How much of a cell's code is searched for the model it evaluates."""
CUT_STATUSES = ("timeout", "not_run")
"""A cell the budget stopped, or never reached: its re-executed output is short of the student's."""


@dataclass(frozen=True)
class Disagreement:
    """One number a cell printed differently: ``submitted`` and ``reexecuted`` as the cell printed them,
    ``measured`` the grader's own reading of the model (all in percent; None: none)."""

    cell: int
    label: str
    quantity: str
    submitted: float
    reexecuted: float | None
    measured: float | None = None
    measured_on: str = ""  # which model state the grader measured
    within_budget: bool = False  # the re-execution of the cell was cut or never ran

    def as_dict(self) -> dict[str, Any]:
        """The fields and the sentence a report shows (pages are rendered from stored results alone)."""
        return asdict(self) | {"message": self.sentence()}

    def sentence(self) -> str:
        """'cell 12 (In [9]): the submitted notebook printed 99.22 %; re-executed within the budget it printed
        97.9 %; the grader measured 97.81 % on model as the notebook left it'."""
        again = "re-executed within the budget" if self.within_budget else "re-executed"
        printed = f"it printed {_percent(self.reexecuted)}" if self.reexecuted is not None else "it printed no accuracy"
        parts = [f"the submitted notebook printed {_percent(self.submitted)}", f"{again} {printed}"]
        if self.measured is not None:
            parts.append(f"the grader measured {_percent(self.measured)} on {self.measured_on}")
        return f"{self.label}: " + "; ".join(parts)


@dataclass(frozen=True)
class OutputComparison:
    reexecuted: list[dict[str, Any]]  # {"cell", "text"}: what each cell with submitted outputs printed this time
    disagreements: list[Disagreement]


def compare_with_submitted(
    submitted: SubmittedOutputs, executed: Any, cells: list[CellRecord], memo: dict[str, Any]
) -> OutputComparison:
    """The re-executed text of each cell that has submitted outputs, and the accuracies that differ by more
    than ``CLAIM_TOLERANCE`` points. ``executed`` is the notebook after the run; ``memo`` the checks'
    remembered values, whose classifier measurements give the grader's reading."""
    records = {record.index: record for record in cells}
    texts = output_texts(executed, {cell.cell for cell in submitted.cells})
    again = {cell.cell: texts.get(cell.cell, "") if _ran(records.get(cell.cell)) else "" for cell in submitted.cells}
    measurements = _measurements(memo)
    found = []
    for cell in submitted.cells:
        before = reported_accuracy(cell.text)
        if before is None:
            continue
        after = reported_accuracy(again[cell.cell])
        if after is not None and abs(after - before) <= CLAIM_TOLERANCE:
            continue
        record = records.get(cell.cell)
        source = str(executed.cells[cell.cell].source) if cell.cell < len(executed.cells) else ""
        measured, measured_on = _closest(measurements, cell.cell, after if after is not None else before, source)
        found.append(
            Disagreement(
                cell.cell,
                cell_label(cell.cell, record.execution_count if record else None),
                "accuracy",
                before,
                after,
                measured,
                measured_on,
                record is None or record.status in CUT_STATUSES,
            )
        )
    return OutputComparison([{"cell": cell, "text": text} for cell, text in again.items()], found)


def reported_accuracy(text: str) -> float | None:
    """The accuracy a cell's text reports (the last naming the test set, else the last), in percent."""
    return AccuracyClaims(stated_accuracies(text), []).reported


def _ran(record: CellRecord | None) -> bool:
    """Whether the outputs the cell holds after the run are the run's (a cell never reached keeps the
    submitted ones)."""
    return record is not None and record.status != "not_run"


def _measurements(memo: dict[str, Any]) -> dict[int | None, list[tuple[str, float]]]:
    """The grader's accuracy readings in percent with the model's name, by the cell whose weights were
    measured (None: the weights as the notebook left them)."""
    by_cell: dict[int | None, list[tuple[str, float]]] = {}
    for value in memo.values():
        if isinstance(value, list):
            for item in value:
                if isinstance(item, Measured):
                    by_cell.setdefault(item.model.as_of_cell, []).append((item.model.name, item.accuracy * 100))
    return by_cell


def _closest(
    measurements: dict[int | None, list[tuple[str, float]]], cell: int, printed: float, source: str
) -> tuple[float | None, str]:
    """The reading of the model state nearest after the cell (as that cell left it, else as the first later
    cell the checks measured left it, else as the notebook left it) of the model the cell's code names, else
    the reading nearest what it printed."""
    later = sorted(as_of for as_of in measurements if as_of is not None and as_of >= cell)
    as_of = later[0] if later else None
    readings = measurements.get(as_of)
    if not readings:
        return None, ""
    named = [reading for reading in readings if re.search(rf"\b{re.escape(reading[0])}\b", source[:MAX_SOURCE])]
    name, value = min(named or readings, key=lambda reading: abs(reading[1] - printed))
    if as_of is None:
        return value, f"{name} as the notebook left it"
    return value, f"{name} as that cell left it" if as_of == cell else f"{name} as {cell_number(as_of)} left it"


def _percent(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") + " %"
