"""What a check can see and do while it judges one submission."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import nbformat

from checks.data.assets import DataDir
from checks.engine.kernel import RunResult
from checks.engine.student import StudentProxy
from checks.grading.check_api import Evidence
from checks.grading.reference_figures import Panel, draw_panels


@dataclass
class GradingContext:
    """What a check can see: the live student kernel, the run, the figures, the assets."""

    mode: str
    student: StudentProxy
    executed: nbformat.NotebookNode
    run: RunResult
    figures: list[dict[str, Any]]
    figure_dir: Path
    data: DataDir
    stand_ins: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    memo: dict[str, Any] = field(default_factory=dict)
    evidence: Evidence = field(default_factory=Evidence)

    def remember(self, key: str, compute: Callable[[], Any]) -> Any:
        """Compute an expensive value once per submission (e.g. the reference model)."""
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]

    def cite(self, *figures: dict[str, Any]) -> None:
        """Mark the student's figures the running check judged, so the report shows them under its task."""
        for figure in (part for figure in figures for part in figure.get("parts", [figure])):
            if figure.get("png") and figure["png"] not in self.evidence.figures:
                self.evidence.figures.append(figure["png"])

    def show_reference(self, name: str, caption: str, rows: list[list[Panel]], title: str = "") -> None:
        """Draw what the figure should look like, to sit beside the student's in the report."""
        file_name = f"reference-{name}.png"
        if not (self.figure_dir / file_name).is_file():
            self.figure_dir.mkdir(parents=True, exist_ok=True)
            draw_panels(self.figure_dir / file_name, rows, title)
        self.evidence.references.append({"png": file_name, "caption": caption})
