"""Which task each of a notebook's cells and figures belongs to, so a report shows them where a TA looks.

A task starts at a markdown heading that names it ("## 1.5 Visualise ...") or at a code cell
whose first line is a comment naming it ("# 2.6 distances"), and runs to the next such
marker. A figure a check judged belongs to that check's task; any other figure belongs to
the task its cell is in. A figure that checks looked at and rejected carries their reasons.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import nbformat

from checks.engine.exchange_records import FigureRecord
from checks.engine.notebook import cell_number
from checks.grading.results import CheckResult

HEADING_LINE = re.compile(r"^\s*(#{1,6}\s|\*\*|__)")
COMMENT_LINE = re.compile(r"^\s*#+\s*(?:task|question|q|part|exercise)?\s*", re.IGNORECASE)


def figure_title(figure: FigureRecord) -> str:
    return figure["suptitle"] or next((axes["title"] for axes in figure["axes"] if axes["title"]), "")


def _naming(task_ids: Iterable[str]) -> re.Pattern[str] | None:
    ids = sorted((task_id for task_id in task_ids if re.fullmatch(r"[\w.]+", task_id)), key=len, reverse=True)
    if not ids:
        return None
    return re.compile(r"(?<![\w.])(" + "|".join(re.escape(task_id) for task_id in ids) + r")(?![\w]|\.\d)")


def _first_line(source: str) -> str:
    return next((line for line in source.splitlines() if line.strip()), "")


def task_markers(notebook: nbformat.NotebookNode, task_ids: Iterable[str]) -> list[tuple[int, str, str]]:
    """(cell index, task id, "heading" or "comment") for every cell that starts a task, in cell order."""
    naming = _naming(task_ids)
    if naming is None:
        return []
    found = []
    for index, cell in enumerate(notebook.cells):
        source = str(cell.source)
        if cell.cell_type == "markdown":
            for line in source.splitlines():
                match = naming.search(line) if HEADING_LINE.match(line) else None
                if match:
                    found.append((index, match.group(1), "heading"))
                    break
        elif cell.cell_type == "code":
            line = _first_line(source)
            prefix = COMMENT_LINE.match(line)
            match = naming.match(line, prefix.end()) if prefix and line.lstrip().startswith("#") else None
            if match:
                found.append((index, match.group(1), "comment"))
    return found


def task_headings(notebook: nbformat.NotebookNode, task_ids: Iterable[str]) -> list[tuple[int, str]]:
    """(cell index, task id) for every markdown heading that names a task, in cell order."""
    return [(index, task) for index, task, kind in task_markers(notebook, task_ids) if kind == "heading"]


def task_cells(notebook: nbformat.NotebookNode, task_ids: Iterable[str]) -> dict[str, list[int]]:
    """The cell indices under each task, from its marker to the next one (a task marked twice gets both runs)."""
    markers = task_markers(notebook, task_ids)
    cells: dict[str, list[int]] = {}
    for position, (start, task, _) in enumerate(markers):
        end = markers[position + 1][0] if position + 1 < len(markers) else len(notebook.cells)
        cells.setdefault(task, []).extend(range(start, end))
    return cells


def _task_of_cell(markers: list[tuple[int, str, str]], cell: int | str | None) -> tuple[str, str] | None:
    above = [marker for marker in markers if isinstance(cell, int) and marker[0] <= cell]
    if not above:
        return None
    index, task, kind = above[-1]
    if kind == "comment" and index == cell:
        return task, "by the comment naming the task in its cell"
    return task, f"under the {'heading' if kind == 'heading' else 'comment'} in {cell_number(index)}"


def place_figures(
    figures: list[FigureRecord], checks: list[CheckResult], notebook: nbformat.NotebookNode, task_ids: list[str]
) -> list[dict[str, Any]]:
    """Each figure with its task, how it was placed and, for a figure no check accepted, why checks rejected it."""
    markers = task_markers(notebook, task_ids)
    judged_by: dict[str, list[str]] = {}
    considered: dict[str, list[dict[str, str]]] = {}
    for check in checks:
        if check.task not in task_ids:
            continue
        for png in check.figures:
            judged_by.setdefault(png, []).append(check.task)
        for entry in check.considered:
            considered.setdefault(entry["png"], []).append({"task": check.task, "check": check.title, **entry})
    placed = []
    for figure in figures:
        png = figure["png"]
        if not png:
            continue
        cell = figure["cell"]
        by_position = _task_of_cell(markers, cell)
        judges = judged_by.get(png, [])
        rejections = [] if judges else considered.get(png, [])
        if judges:
            # Several tasks' checks may read one figure: the one the figure's cell is under wins.
            task = by_position[0] if by_position and by_position[0] in judges else judges[0]
            placed_by = "judged by a check"
        elif by_position:
            task, placed_by = by_position
        elif rejections:
            task, placed_by = rejections[0]["task"], "considered by a check"
        else:
            task, placed_by = None, ""
        placed.append(
            {
                "png": png,
                "cell": cell,
                "title": figure_title(figure),
                "task": task,
                "placed_by": placed_by,
                "considered": [{"check": entry["check"], "why": entry["why"]} for entry in rejections],
            }
        )
    return placed
