"""Questions checks ask about the figures a notebook drew (records from the in-kernel probe)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np

DIVERGING_CMAPS = {"bwr", "seismic", "coolwarm", "RdBu", "RdBu_r", "bwr_r", "seismic_r", "coolwarm_r", "PiYG",
                   "PRGn", "BrBG", "PuOr", "RdGy", "RdYlBu", "RdYlGn", "Spectral", "PiYG_r", "PRGn_r", "BrBG_r",
                   "PuOr_r", "RdGy_r", "RdYlBu_r", "RdYlGn_r", "Spectral_r", "vlag", "icefire"}

Figure = dict[str, Any]
Axes = dict[str, Any]


def plot_axes(figure: Figure) -> list[Axes]:
    """The figure's axes that hold content, colorbars and switched-off empty panels excluded."""
    return [axes for axes in figure.get("axes", []) if not axes.get("is_colorbar")
            and (axes.get("images") or axes.get("lines") or axes.get("collections"))]


def with_cell_groups(figures: list[Figure]) -> list[Figure]:
    """The figures, plus one per cell that drew several one-image figures (a loop of
    ``plt.figure()`` calls) holding their panels in drawing order, so that ten figures of one
    image each are read like one figure of ten subplots."""
    one_image: dict[Any, list[Figure]] = {}
    for figure in figures:
        panels = plot_axes(figure)
        if len(panels) == 1 and panels[0].get("images"):
            one_image.setdefault(figure.get("cell"), []).append(figure)
    groups = [{"cell": cell, "parts": parts, "axes": [plot_axes(part)[0] for part in parts]}
              for cell, parts in one_image.items() if len(parts) > 1]
    return [*figures, *groups]


def image_axes(figure: Figure, ndim: int | None = None, shape: tuple[int, ...] | None = None) -> list[Axes]:
    found = []
    for axes in plot_axes(figure):
        for image in axes.get("images", []):
            image_shape = tuple(image.get("shape", ()))
            if ndim is not None and len(image_shape) != ndim:
                continue
            if shape is not None and image_shape[: len(shape)] != shape:
                continue
            found.append(axes)
            break
    return found


def titles(figure: Figure) -> list[str]:
    texts = [figure.get("suptitle", "")]
    for axes in figure.get("axes", []):
        texts += [axes.get("title", ""), axes.get("title_left", ""), axes.get("title_right", "")]
    return [text for text in texts if text]


def title_text(figure: Figure) -> str:
    return " | ".join(titles(figure))


def load_image(figure_dir: Path, axes: Axes, position: int = 0) -> np.ndarray | None:
    images = axes.get("images", [])
    if position >= len(images) or not images[position].get("array"):
        return None
    return np.load(figure_dir / images[position]["array"], allow_pickle=False)


def is_centred(image: dict[str, Any]) -> bool:
    if image.get("norm") in ("TwoSlopeNorm", "CenteredNorm"):
        return True
    low, high = image.get("vmin"), image.get("vmax")
    if low is None or high is None:
        return False
    scale = max(abs(low), abs(high), 1e-12)
    return low < 0 < high and abs(low + high) <= 1e-3 * scale


def unlabelled(figures: Iterable[Figure]) -> list[str]:
    """Every plot needs a title, and line plots need labelled axes: one sentence per miss."""
    misses = []
    for figure in figures:
        where = f"figure in cell {figure.get('cell')}"
        has_suptitle = bool(figure.get("suptitle"))
        for number, axes in enumerate(plot_axes(figure), start=1):
            if not (axes.get("title") or axes.get("title_left") or axes.get("title_right") or has_suptitle):
                misses.append(f"{where}, panel {number}: no title")
            if axes.get("lines") and not axes.get("images"):
                if not axes.get("xlabel"):
                    misses.append(f"{where}, panel {number}: x axis not labelled")
                if not axes.get("ylabel"):
                    misses.append(f"{where}, panel {number}: y axis not labelled")
    return misses
