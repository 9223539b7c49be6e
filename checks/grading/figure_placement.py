"""Which task each of a notebook's figures belongs to, so a report shows it where a TA looks for it.

A figure a check judged belongs to that check's task. Any other figure goes under the
task named by the nearest markdown heading above its cell ("## 1.5 Visualise ..."),
and stays unplaced when the notebook has no such heading.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import nbformat

from checks.engine.exchange_records import FigureRecord
from checks.grading.results import CheckResult

HEADING_LINE = re.compile(r"^\s*(#{1,6}\s|\*\*|__)")


def figure_title(figure: FigureRecord) -> str:
    return figure["suptitle"] or next((axes["title"] for axes in figure["axes"] if axes["title"]), "")


def task_headings(notebook: nbformat.NotebookNode, task_ids: Iterable[str]) -> list[tuple[int, str]]:
    """(cell index, task id) for every markdown heading that names a task, in cell order."""
    ids = sorted((task_id for task_id in task_ids if re.fullmatch(r"[\w.]+", task_id)), key=len, reverse=True)
    if not ids:
        return []
    naming = re.compile(r"(?<![\w.])(" + "|".join(re.escape(task_id) for task_id in ids) + r")(?![\w]|\.\d)")
    found = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "markdown":
            continue
        for line in str(cell.source).splitlines():
            match = naming.search(line) if HEADING_LINE.match(line) else None
            if match:
                found.append((index, match.group(1)))
                break
    return found


def place_figures(
    figures: list[FigureRecord], checks: list[CheckResult], notebook: nbformat.NotebookNode, task_ids: list[str]
) -> list[dict[str, Any]]:
    judged_by: dict[str, str] = {}
    for check in checks:
        for png in check.figures:
            if check.task in task_ids:
                judged_by.setdefault(png, check.task)
    headings = task_headings(notebook, task_ids)
    placed = []
    for figure in figures:
        png = figure["png"]
        if not png:
            continue
        cell = figure["cell"]
        task, placed_by = judged_by.get(png), "judged by a check"
        if task is None:
            above = [(index, task_id) for index, task_id in headings if cell is not None and index < cell]
            task, placed_by = (above[-1][1], f"under the heading in cell {above[-1][0]}") if above else (None, "")
        placed.append({"png": png, "cell": cell, "title": figure_title(figure), "task": task, "placed_by": placed_by})
    return placed
