"""Things a notebook shows without naming them, found among its captured figures by shape:
a bank of convolution filters, an occlusion probability map. For assignments such as
EE5179 PA2 whose students choose their own names and layouts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from checks.figure_queries import Axes, Figure, load_image, plot_axes, title_text
from reference.ee5179_pa2.occlusion import occlusion_grid_size

OCCLUSION_WORDS = re.compile(r"occlu|probab|heat ?map|sensitiv", re.IGNORECASE)


def square_panels(figure: Figure, size: int) -> list[Axes]:
    """Panels whose first image is size x size (colour channels allowed)."""
    return [axes for axes in plot_axes(figure)
            if axes.get("images") and tuple(axes["images"][0].get("shape", ()))[:2] == (size, size)]


def filter_grids(figures: list[Figure], kernel: int, count: int) -> list[Figure]:
    """Figures with at least ``count`` panels of kernel x kernel images: a plotted filter bank."""
    return [figure for figure in figures if len(square_panels(figure, kernel)) >= count]


@dataclass(frozen=True)
class OcclusionCandidate:
    figure: Figure
    axes: Axes
    size: int
    fits: tuple[tuple[int, int], ...]  # (patch, stride) pairs giving this grid size
    in_unit_range: bool
    named: bool


def occlusion_maps(figures: list[Figure], figure_dir: Path, image_size: int = 28,
                   patches: range = range(1, 6)) -> list[OcclusionCandidate]:
    """2-D maps whose size is the number of positions of a 1-5 pixel occluder; named ones first."""
    found = []
    for figure in figures:
        for axes in plot_axes(figure):
            for position, image in enumerate(axes.get("images", [])):
                shape = tuple(image.get("shape", ()))
                if len(shape) != 2 or shape[0] != shape[1]:
                    continue
                fits = tuple((patch, stride) for patch in patches for stride in range(1, patch + 1)
                             if occlusion_grid_size(image_size, patch, stride) == shape[0])
                if not fits:
                    continue
                values = load_image(figure_dir, axes, position)
                in_range = values is not None and float(values.min()) >= 0 and float(values.max()) <= 1
                text = " ".join((title_text(figure), axes.get("xlabel", ""), axes.get("ylabel", "")))
                found.append(OcclusionCandidate(figure, axes, shape[0], fits, in_range,
                                                bool(OCCLUSION_WORDS.search(text))))
    return sorted(found, key=lambda candidate: not candidate.named)
