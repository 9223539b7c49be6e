"""Things a notebook shows without naming them, found among its captured figures by shape:
the small images it shows (as subplots or as tiles of one grid image), a bank of convolution
filters, an occlusion probability map. For assignments such as EE5179 PA2 whose students
choose their own names and layouts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from checks.finders.figures import Axes, Figure, load_image, plot_axes, title_text
from checks.finders.image_grids import tiles

OCCLUSION_WORDS = re.compile(r"occlu|probab|heat ?map|sensitiv", re.IGNORECASE)


def square_panels(figure: Figure, size: int) -> list[Axes]:
    """Panels whose first image is size x size (colour channels allowed)."""
    return [
        axes for axes in plot_axes(figure) if axes["images"] and tuple(axes["images"][0]["shape"])[:2] == (size, size)
    ]


def _room_for_tiles(axes: Axes, size: int) -> bool:
    shape = tuple(axes["images"][0]["shape"]) if axes["images"] else ()
    return len(shape) >= 2 and shape[0] >= size and shape[1] >= size and shape[0] * shape[1] >= 2 * size * size


def _with_channels(array: np.ndarray, channels: int) -> np.ndarray | None:
    """A grey (H, W) image when ``channels`` is 1; a colour (H, W, 3) one, alpha dropped, when it is 3."""
    if channels == 1:
        return array if array.ndim == 2 else None
    if array.ndim == 3 and array.shape[2] in (channels, channels + 1):
        return array[:, :, :channels]
    return None


def panel_arrays(figure: Figure, figure_dir: Path, size: int, channels: int = 1) -> list[tuple[Axes, np.ndarray]]:
    """The figure's size x size images with ``channels`` channels (grey 2-D arrays, or colour
    (size, size, 3) ones as imshow takes them): whole panels, and, for grey images, the tiles of a
    panel that shows several side by side. A tile is an untitled panel of its own that keeps its grid
    panel (``tile_of``), its place there (``tile``) and the grid's number of tiles (``tiles``), so
    that labels written once for the whole grid can be matched to it."""
    square = {id(axes) for axes in square_panels(figure, size)}
    found = []
    for axes in plot_axes(figure):
        if id(axes) in square:
            array = load_image(figure_dir, axes)
            image = _with_channels(array, channels) if array is not None else None
            if image is not None:
                found.append((axes, image.astype(np.float32)))
        elif channels == 1 and _room_for_tiles(axes, size):
            array = load_image(figure_dir, axes)
            if array is not None:
                grid = tiles(array, size)
                found.extend(
                    ({"title": "", "tile_of": axes, "tile": position, "tiles": len(grid)}, tile.astype(np.float32))
                    for position, tile in enumerate(grid)
                )
    return found


def filter_grids(figures: list[Figure], figure_dir: Path, kernel: int, count: int) -> list[Figure]:
    """Figures that show at least ``count`` kernel x kernel images, as subplots or as tiles of a
    ``make_grid``: a plotted filter bank."""
    return [figure for figure in figures if len(panel_arrays(figure, figure_dir, kernel)) >= count]


@dataclass(frozen=True)
class OcclusionCandidate:
    figure: Figure
    axes: Axes
    size: int
    fits: tuple[tuple[int, int], ...]  # every (patch, stride) giving this grid size
    allowed: tuple[tuple[int, int], ...]  # those with a patch the assignment allows
    in_unit_range: bool
    named: bool  # its own panel's title or labels say occlusion / probability
    in_named_figure: bool


def occlusion_maps(
    figures: list[Figure], figure_dir: Path, grid_size: Callable[[int, int, int], int], image_size: int, patches: range
) -> list[OcclusionCandidate]:
    """Square 2-D maps whose size is the number of positions of an occluder (``grid_size`` of the
    image size, patch and stride, as the assignment's reference places it): of an allowed patch
    size, or of any when the panel or its figure says occlusion or probability (so a map made
    with too large a patch is still found, and judged). Named ones first, then allowed ones."""
    found = []
    for figure in figures:
        figure_named = bool(OCCLUSION_WORDS.search(title_text(figure)))
        for axes in plot_axes(figure):
            own = " ".join((axes["title"], axes["xlabel"], axes["ylabel"]))
            named = bool(OCCLUSION_WORDS.search(own))
            for position, image in enumerate(axes["images"]):
                shape = tuple(image["shape"])
                if len(shape) != 2 or shape[0] != shape[1] or shape[0] > image_size:
                    continue
                fits = tuple(
                    (patch, stride)
                    for patch in range(1, image_size + 1)
                    for stride in range(1, patch + 1)
                    if grid_size(image_size, patch, stride) == shape[0]
                )
                allowed = tuple(fit for fit in fits if fit[0] in patches)
                if not (allowed or named or figure_named):
                    continue
                values = load_image(figure_dir, axes, position)
                in_range = values is not None and float(values.min()) >= 0 and float(values.max()) <= 1
                found.append(OcclusionCandidate(figure, axes, shape[0], fits, allowed, in_range, named, figure_named))
    return sorted(found, key=lambda c: (not c.named, not c.in_named_figure, not c.allowed))
