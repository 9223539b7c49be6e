"""Questions checks ask about the figures a notebook drew (records from the in-kernel probe)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from checks.engine.exchange_records import AxesRecord, FigureRecord, ImageRecord
from checks.engine.notebook import cell_number
from checks.grading.context import FigureGroup

DIVERGING_CMAPS = {
    "bwr",
    "seismic",
    "coolwarm",
    "RdBu",
    "RdBu_r",
    "bwr_r",
    "seismic_r",
    "coolwarm_r",
    "PiYG",
    "PRGn",
    "BrBG",
    "PuOr",
    "RdGy",
    "RdYlBu",
    "RdYlGn",
    "Spectral",
    "PiYG_r",
    "PRGn_r",
    "BrBG_r",
    "PuOr_r",
    "RdGy_r",
    "RdYlBu_r",
    "RdYlGn_r",
    "Spectral_r",
    "vlag",
    "icefire",
}

LABEL_MISSES = {"title": "no title", "x": "x axis not labelled", "y": "y axis not labelled"}

Figure = FigureRecord | FigureGroup
Axes = AxesRecord


def plot_axes(figure: Figure) -> list[Axes]:
    """The figure's axes that hold content, colorbars and switched-off empty panels excluded."""
    return [
        axes
        for axes in figure["axes"]
        if not axes["is_colorbar"] and (axes["images"] or axes["lines"] or axes["collections"])
    ]


def with_cell_groups(figures: list[FigureRecord]) -> list[Figure]:
    """The figures, plus one per cell that drew several one-image figures (a loop of
    ``plt.figure()`` calls) holding their panels in drawing order, so that ten figures of one
    image each are read like one figure of ten subplots."""
    one_image: dict[int | str | None, list[FigureRecord]] = {}
    for figure in figures:
        panels = plot_axes(figure)
        if len(panels) == 1 and panels[0]["images"]:
            one_image.setdefault(figure["cell"], []).append(figure)
    groups: list[FigureGroup] = [
        {"cell": cell, "suptitle": "", "parts": parts, "axes": [plot_axes(part)[0] for part in parts]}
        for cell, parts in one_image.items()
        if len(parts) > 1
    ]
    return [*figures, *groups]


def image_axes(figure: Figure, ndim: int | None = None, shape: tuple[int, ...] | None = None) -> list[Axes]:
    found = []
    for axes in plot_axes(figure):
        for image in axes["images"]:
            image_shape = tuple(image["shape"])
            if ndim is not None and len(image_shape) != ndim:
                continue
            if shape is not None and image_shape[: len(shape)] != shape:
                continue
            found.append(axes)
            break
    return found


def titles(figure: Figure) -> list[str]:
    texts = [figure["suptitle"]]
    for axes in figure["axes"]:
        texts += [axes["title"], axes["title_left"], axes["title_right"]]
    return [text for text in texts if text]


def title_text(figure: Figure) -> str:
    return " | ".join(titles(figure))


def load_image(figure_dir: Path, axes: Axes, position: int = 0) -> np.ndarray | None:
    images = axes["images"]
    array = images[position]["array"] if position < len(images) else None
    return np.load(figure_dir / array, allow_pickle=False) if array else None


def is_centred(image: ImageRecord) -> bool:
    if image["norm"] in ("TwoSlopeNorm", "CenteredNorm"):
        return True
    low, high = image["vmin"], image["vmax"]
    if low is None or high is None:
        return False
    scale = max(abs(low), abs(high), 1e-12)
    return low < 0 < high and abs(low + high) <= 1e-3 * scale


def plot_title(axes: Axes, figure: Figure | None = None, *, aligned: bool = False) -> str:
    """The title that names a plot: its own centred title (or, when ``aligned``, a left or right
    one), else the title ``figure`` gives all its panels; "" when there is none."""
    own = (axes["title"], axes["title_left"], axes["title_right"]) if aligned else (axes["title"],)
    return next((text for text in own if text), figure["suptitle"] if figure is not None else "")


def missing_labels(
    axes: Axes, figure: Figure | None = None, *, title: bool = True, aligned: bool = False, axis_labels: bool = True
) -> list[str]:
    """What a plot lacks of the labels a reader needs, among "title" (see ``plot_title``; asked
    for when ``title``), "x" and "y" (asked for when ``axis_labels``): one rule for every check
    that asks for titled plots with labelled axes, each keeping its own wording."""
    misses = ["title"] if title and not plot_title(axes, figure, aligned=aligned) else []
    if axis_labels:
        misses += [axis for axis, label in (("x", axes["xlabel"]), ("y", axes["ylabel"])) if not label]
    return misses


def label_summary(axes: Axes, *, title: bool = True) -> str:
    """A plot's title and axis labels as a message shows what was found: ``title='...', x='...', y='...'``."""
    return (f"title={axes['title']!r}, " if title else "") + f"x={axes['xlabel']!r}, y={axes['ylabel']!r}"


def unlabelled(figures: Iterable[Figure]) -> list[str]:
    """Every plot needs a title (at any position, or its figure's), and line plots need labelled
    axes: one sentence per miss."""
    misses = []
    for figure in figures:
        for number, axes in enumerate(plot_axes(figure), start=1):
            line_plot = bool(axes["lines"]) and not axes["images"]
            misses += [
                f"figure in {cell_number(figure['cell'])}, panel {number}: {LABEL_MISSES[miss]}"
                for miss in missing_labels(axes, figure, aligned=True, axis_labels=line_plot)
            ]
    return misses
