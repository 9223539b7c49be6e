"""Reference figures drawn in the grader's process, shown beside a student's figure in the report.

Drawn with matplotlib's object API (no pyplot state), so checks running in worker threads
for different students never share a current figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

PANEL_INCHES = 2.6
DPI = 80


@dataclass(frozen=True)
class Panel:
    image: np.ndarray
    title: str = ""
    cmap: str | None = None
    centred: bool = False
    colorbar: bool = False


def draw_panels(path: Path, rows: list[list[Panel]], title: str = "") -> None:
    """A grid of image panels, one list per row; signed images can be centred at zero."""
    columns = max(len(row) for row in rows)
    figure = Figure(figsize=(PANEL_INCHES * columns, PANEL_INCHES * len(rows) + 0.4), dpi=DPI)
    FigureCanvasAgg(figure)
    grid = figure.subplots(len(rows), columns, squeeze=False)
    for axes_row, panels in zip(grid, rows):
        for axes in axes_row:
            axes.axis("off")
        for axes, panel in zip(axes_row, panels):
            image = np.asarray(panel.image)
            limit = float(np.abs(image).max()) or 1.0
            shown = axes.imshow(
                image, cmap=panel.cmap, vmin=-limit if panel.centred else None, vmax=limit if panel.centred else None
            )
            axes.set_title(panel.title, fontsize=9)
            if panel.colorbar:
                figure.colorbar(shown, ax=axes, fraction=0.046)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.savefig(path, format="png")
