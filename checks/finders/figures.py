"""Questions checks ask about the figures a notebook drew (records from the in-kernel probe)."""

from __future__ import annotations

import re
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

NUMBER = re.compile(r"\d+(?:\.\d+)?")
MAX_TEMPLATE = 200  # characters of a title compared between figures

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


def _image_panel(figure: FigureRecord) -> Axes | None:
    """The one image panel of a figure that shows a single image, beside at most line plots (a
    loop that draws each generated image next to its cost curve); its figure's title names it
    when it has none of its own."""
    panels = plot_axes(figure)
    images = [axes for axes in panels if axes["images"]]
    if len(images) != 1 or len(images[0]["images"]) != 1:
        return None
    panel = images[0]
    return panel if panel["title"] or not figure["suptitle"] else {**panel, "title": figure["suptitle"]}


def figure_place(figure: Figure) -> str:
    """Where a figure is, for a message: its cell and the start of its title."""
    title = title_text(figure)
    drawn = f"the {len(figure['parts'])} one-image figures" if "parts" in figure else "the figure"
    return f"{drawn} of {cell_number(figure['cell'])}" + (f" ({title[:60]})" if title else "")


def title_template(title: str) -> str:
    """A title with its numbers blanked: the titles one loop writes share it."""
    return NUMBER.sub("#", title[:MAX_TEMPLATE]).strip()


def _group(cell: int | str | None, parts: list[tuple[FigureRecord, Axes]]) -> FigureGroup:
    return {"cell": cell, "suptitle": "", "parts": [part for part, _ in parts], "axes": [axes for _, axes in parts]}


def with_cell_groups(figures: list[FigureRecord]) -> list[Figure]:
    """The figures, plus one per cell that drew several one-image figures (a loop of
    ``plt.figure()`` calls) holding their panels in drawing order, so that ten figures of one
    image each are read like one figure of ten subplots. When the panels' titles are of several
    kinds (a loop that shows the starting noise, then the result, for each target), each kind
    with several panels is also a group of its own."""
    one_image: dict[int | str | None, list[tuple[FigureRecord, Axes]]] = {}
    for figure in figures:
        panel = _image_panel(figure)
        if panel is not None:
            one_image.setdefault(figure["cell"], []).append((figure, panel))
    groups: list[FigureGroup] = []
    for cell, parts in one_image.items():
        if len(parts) < 2:
            continue
        groups.append(_group(cell, parts))
        kinds: dict[str, list[tuple[FigureRecord, Axes]]] = {}
        for part in parts:
            kinds.setdefault(title_template(part[1]["title"]), []).append(part)
        if len(kinds) > 1:
            groups += [_group(cell, kind) for kind in kinds.values() if len(kind) > 1]
    return [*figures, *groups]


def _cells(figures: list[Figure]) -> str:
    numbers = sorted({figure["cell"] for figure in figures if isinstance(figure["cell"], int)})
    if not numbers:
        return ""
    if len(numbers) > 2 and numbers[-1] - numbers[0] == len(numbers) - 1:
        return f"cells {numbers[0] + 1}-{numbers[-1] + 1}"
    shown = ", ".join(str(number + 1) for number in numbers[:6]) + (", ..." if len(numbers) > 6 else "")
    return f"cell{'s' if len(numbers) > 1 else ''} {shown}"


def figure_kind(figure: Figure) -> tuple[str, str]:
    """What a figure shows, as a reader sorts figures (a single image, n images, a line plot),
    in the singular and the plural."""
    panels = plot_axes(figure)
    images = sum(len(axes["images"]) for axes in panels)
    lines = any(axes["lines"] for axes in panels if not axes["images"])
    if not panels:
        return "empty figure", "empty figures"
    if images == 0:
        return ("line plot", "line plots") if lines else ("other plot", "other plots")
    beside = " beside a line plot" if lines else ""
    if images == 1:
        return f"single image{beside}", f"single images{beside}"
    return f"figure of {images} images{beside}", f"figures of {images} images{beside}"


def survey(figures: list[Figure]) -> str:
    """The figures a check looked at, counted by kind with their cells: ``14 figures: 10 single
    images (cells 31-40), 4 line plots (cell 12)``; groups of one-image figures are not counted twice."""
    records = [figure for figure in figures if "parts" not in figure]
    if not records:
        return "no figures"
    kinds: dict[tuple[str, str], list[Figure]] = {}
    for figure in records:
        kinds.setdefault(figure_kind(figure), []).append(figure)
    counted = []
    for (singular, plural), members in sorted(kinds.items(), key=lambda item: -len(item[1])):
        where = _cells(members)
        counted.append(f"{len(members)} {singular if len(members) == 1 else plural}" + (f" ({where})" if where else ""))
    return f"{len(records)} figure{'' if len(records) == 1 else 's'}: " + ", ".join(counted)


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
