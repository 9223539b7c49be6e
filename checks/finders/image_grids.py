"""Images laid side by side in one array: a notebook that shows ten digits through
``np.hstack`` or torchvision's ``make_grid`` still shows ten digits, each to be judged."""

from __future__ import annotations

import numpy as np

PADDINGS = range(5)  # pixels between tiles; make_grid's default is 2


def _grey(array: np.ndarray) -> np.ndarray | None:
    """The single channel of a grey image: make_grid repeats one channel three times."""
    if array.ndim == 2:
        return array
    if array.ndim == 3 and array.shape[2] in (3, 4):
        colour = array[:, :, :3]
        if np.array_equal(colour[:, :, 0], colour[:, :, 1]) and np.array_equal(colour[:, :, 0], colour[:, :, 2]):
            return colour[:, :, 0]
    return None


def _gutters_are_blank(grey: np.ndarray, size: int, padding: int) -> bool:
    gutter = np.ones(grey.shape, dtype=bool)
    step = size + padding
    for top in range(padding, grey.shape[0], step):
        for left in range(padding, grey.shape[1], step):
            gutter[top : top + size, left : left + size] = False
    values = grey[gutter]
    return values.size > 0 and bool(np.all(values == values[0]))


def _layout(grey: np.ndarray, size: int) -> tuple[int, int, int] | None:
    """(padding, rows, columns) when ``grey`` is a grid of at least two size x size tiles."""
    height, width = grey.shape
    for padding in PADDINGS:
        step = size + padding
        rows, rest_rows = divmod(height - padding, step)
        columns, rest_columns = divmod(width - padding, step)
        if rest_rows or rest_columns or rows * columns < 2 or (padding == 0 and min(rows, columns) > 1):
            continue  # unpadded, only a strip: a large photo divides into 28-pixel squares too
        if padding and not _gutters_are_blank(grey, size, padding):
            continue
        return padding, rows, columns
    return None


def tiles(array: np.ndarray, size: int) -> list[np.ndarray]:
    """The ``size`` x ``size`` images of a grid, row by row, blank filler tiles left out; [] when
    the array is no grid of at least two such images, or when it is a grid of smaller tiles (a
    make_grid of 3 x 3 filters with padding 1 also has blank lines every 8 pixels)."""
    grey = _grey(np.asarray(array))
    if grey is None:
        return []
    layout = _layout(grey, size)
    if layout is None or any(_layout(grey, finer) is not None for finer in range(1, size)):
        return []
    padding, rows, columns = layout
    step = size + padding
    found = [
        grey[
            padding + row * step : padding + row * step + size, padding + column * step : padding + column * step + size
        ]
        for row in range(rows)
        for column in range(columns)
    ]
    return [tile for tile in found if np.ptp(tile) > 0]
