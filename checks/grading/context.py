"""What a check can see and do while it judges one submission."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict, TypeVar

import nbformat

from checks.data.assets import DataDir
from checks.data.model_cache import ModelCache
from checks.engine.exchange_records import AxesRecord, FigureRecord
from checks.engine.kernel import RunResult
from checks.engine.pdf_reports import PdfReport
from checks.engine.student import StudentProxy
from checks.grading.check_api import Evidence
from checks.grading.reference_figures import Panel, draw_panels

REFERENCE_TRAINING = threading.Lock()
Model = TypeVar("Model")


class FigureGroup(TypedDict):
    """Several one-image figures of one cell read as one figure of their panels (a loop of
    ``plt.figure()`` calls); a check citing it cites every part."""

    cell: int | str | None
    suptitle: str  # "": the parts' own titles are their panels' titles
    axes: list[AxesRecord]
    parts: list[FigureRecord]


@dataclass
class GradingContext:
    """What a check can see: the live student kernel (none for a repository, whose notebooks each ran in
    a kernel of their own), the run, the figures, the assets."""

    mode: str
    student: StudentProxy | None
    executed: nbformat.NotebookNode
    run: RunResult
    figures: list[FigureRecord]
    figure_dir: Path
    data: DataDir
    cache_dir: Path  # where trained reference models are cached: the instructor's choice
    task_cells: dict[str, list[int]] = field(default_factory=dict)  # the notebook's cells under each task
    repository: Path | None = None  # a team's repository as handed in: hostile files, read with repository_files
    reports: list[PdfReport] = field(default_factory=list)  # its report PDFs, read in the sandbox
    saved_outputs: frozenset[int] = frozenset()  # cells the notebook was handed in with outputs of
    stand_ins: list[str] = field(default_factory=list)
    stand_in_assets: dict[str, str] = field(default_factory=dict)  # asset -> note, as the grader found them
    substitutions: dict[str, str] = field(default_factory=dict)  # a piece of the notebook -> why the grader swapped it
    flags: list[str] = field(default_factory=list)
    memo: dict[str, Any] = field(default_factory=dict)
    evidence: Evidence = field(default_factory=Evidence)

    def kernel_stopped(self) -> tuple[str | None, int]:
        """Why the student's kernel takes no more calls, if it does not, and how many calls it refused so far
        (no kernel at all: none)."""
        if self.student is None:
            return None, 0
        return self.student.stopped(), self.student.refused_calls()

    def remember(self, key: str, compute: Callable[[], Any]) -> Any:
        """Compute an expensive value once per submission (e.g. the reference model)."""
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]

    def reference_model(self, name: str, load_or_train: Callable[[DataDir, ModelCache], Model]) -> Model:
        """A trained reference model, once per submission: ``load_or_train`` finds it among the data
        directory's shipped models or in the cache folder, else trains and stores it there. Training
        takes minutes, so it runs under a lock: parallel gradings never train one model twice."""

        def load() -> Model:
            with REFERENCE_TRAINING:
                return load_or_train(self.data, ModelCache(self.cache_dir, (self.data.root,)))

        return self.remember(f"reference_model_{name}", load)

    def cite(self, *figures: FigureRecord | FigureGroup) -> None:
        """Mark the student's figures the running check judged, so the report shows them under its task."""
        for part in (part for figure in figures for part in (figure["parts"] if "parts" in figure else [figure])):
            if part["png"] and part["png"] not in self.evidence.figures:
                self.evidence.figures.append(part["png"])

    def consider(self, figure: FigureRecord | FigureGroup, why: str) -> None:
        """Note a figure the running check looked at and did not accept, and why, for the report."""
        for part in figure["parts"] if "parts" in figure else [figure]:
            if part["png"] and all(entry["png"] != part["png"] for entry in self.evidence.considered):
                self.evidence.considered.append({"png": part["png"], "why": why})

    def substitute(self, piece: str, why: str) -> None:
        """Record that the grader ran a check with its own correct ``piece`` in place of the notebook's."""
        self.substitutions.setdefault(piece, why)

    def end_of_task(self, task: str) -> int | None:
        """The last cell under ``task`` (None when the notebook does not mark where the task is)."""
        cells = self.task_cells.get(task)
        return max(cells) if cells else None

    def show_reference(self, name: str, caption: str, rows: list[list[Panel]], title: str = "") -> None:
        """Draw what the figure should look like, to sit beside the student's in the report."""
        file_name = f"reference-{name}.png"
        if not (self.figure_dir / file_name).is_file():
            self.figure_dir.mkdir(parents=True, exist_ok=True)
            draw_panels(self.figure_dir / file_name, rows, title)
        self.evidence.references.append({"png": file_name, "caption": caption})
