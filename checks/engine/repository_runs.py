"""Run a team repository's notebooks one by one, each in a fresh kernel started in its own folder, and join
what they did into one record that reads like the run of their merged notebook.

Teams write one notebook per task and open each from where it sits, so ``../data/kite.jpeg`` or
``outputs/descriptions.csv`` must resolve as on their machine; a kernel shared by all of them would
also let one notebook's variables decide another's verdict. The files a notebook writes are passed on
(``carried_files``), as on the team's machine, where Task 4 reads the masks Task 3 saved. The checks
read one notebook, so the parts' cells, events and figures are renumbered to where ``merge_notebooks``
puts them.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import nbformat

from checks.engine.carried_files import CarryBudget, carry_written_files
from checks.engine.exchange_records import FigureRecord
from checks.engine.kernel import KernelSession, RunConfig, RunResult
from checks.engine.notebook import merge_notebooks
from checks.engine.run import copy_figures
from checks.engine.sandbox import not_plain


@dataclass(frozen=True)
class Part:
    """One notebook of a repository: its path inside it and its cells (shared with the merged notebook)."""

    name: str
    notebook: nbformat.NotebookNode

    @property
    def folder(self) -> str:
        return PurePosixPath(self.name).parent.as_posix()


def merged_program(parts: list[Part]) -> nbformat.NotebookNode:
    """The parts as one notebook, each headed by a cell naming its file."""
    return merge_notebooks([(part.name, part.notebook) for part in parts])


def part_offsets(parts: list[Part]) -> list[int]:
    """Where each part's first cell lands in the merged notebook (after its heading cell)."""
    offsets, position = [], 0
    for part in parts:
        offsets.append(position + 1)
        position += 1 + len(part.notebook.cells)
    return offsets


def _moved(records: list[dict[str, Any]], offset: int, cells: int) -> list[dict[str, Any]]:
    """Records renumbered into the merged notebook; one naming a cell its own notebook lacks is the kernel's forgery
    (it would land on another notebook's cell) and is dropped."""
    moved = []
    for record in records:
        cell = record.get("cell")
        if not isinstance(cell, int):
            moved.append(record)
        elif 0 <= cell < cells:
            moved.append({**record, "cell": cell + offset})
    return moved


def _join(runs: list[RunResult], parts: list[Part]) -> RunResult:
    """One run whose cells, events, figures and restarts carry the merged notebook's cell numbers."""
    joined = RunResult(sandbox=runs[0].sandbox, budget=runs[0].budget)
    for run, offset, part in zip(runs, part_offsets(parts), parts):
        cells = len(part.notebook.cells)
        for cell in run.cells:
            cell.index += offset
        joined.cells += run.cells
        joined.events += _moved(run.events, offset, cells)
        joined.figures += _moved(run.figures, offset, cells)
        joined.kernel_restarts += _moved(run.kernel_restarts, offset, cells)
        joined.dropped += run.dropped
        joined.notebook_timed_out |= run.notebook_timed_out
        joined.quota_exceeded = joined.quota_exceeded or run.quota_exceeded
        joined.startup_error = joined.startup_error or run.startup_error
        joined.total_s += run.total_s
    return joined


async def run_parts(parts: list[Part], repository: Path, config: RunConfig, figure_dir: Path) -> RunResult:
    """Run every part in task order, each from its folder in a fresh copy of the repository that also holds the
    files the parts before it wrote; the figures of all are copied into ``figure_dir`` under one numbering. The
    parts' notebooks are executed in place."""
    runs: list[RunResult] = []
    figures: list[FigureRecord] = []
    with tempfile.TemporaryDirectory(prefix="xaigrader-repository-") as staging:
        current = Path(staging) / "repository"
        shutil.copytree(repository, current, ignore=not_plain)
        budget = CarryBudget()
        for number, part in enumerate(parts):
            async with KernelSession(config, submission_dir=current, notebook_folder=part.folder) as session:
                run = await session.run_notebook(part.notebook)
                copied = copy_figures(session, run.figures, figure_dir, first_number=len(figures) + 1)
                if number < len(parts) - 1:
                    carried = await carry_written_files(session, current, budget)
                    run.dropped += [f"{part.name}: {problem}" for problem in carried.problems]
            run.figures = copied
            figures += copied
            runs.append(run)
    return _join(runs, parts)
