"""Task 4 and the scoreboard's metric: intersection over union of two highlighted regions.

CAMs and LIME masks are compared on one grid, the 224x224 centre crop of ``images.display_image``: the
model's input, the grid every CAM is resized to and the image the reference hands LIME. A CAM becomes a
region by ``cam_region``; a mask on another grid is brought onto this one by ``align``.
"""

from __future__ import annotations

import re

import numpy as np

DEFAULT_RULE = "top20"
TOP_PERCENT = re.compile(r"top(\d+(?:\.\d+)?)")


def _boolean(mask: np.ndarray, name: str) -> np.ndarray:
    """A bool mask, or an integer one holding only 0 and 1 (LIME's ``get_image_and_mask`` gives ints);
    a float map is refused, since only ``cam_region`` says which of its pixels are highlighted."""
    array = np.asarray(mask)
    if array.dtype == bool:
        return array
    if np.issubdtype(array.dtype, np.integer) and np.isin(array, (0, 1)).all():
        return array.astype(bool)
    raise ValueError(f"{name} must be a boolean mask (threshold a CAM with cam_region first), got {array.dtype}")


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """|a and b| / |a or b| of two masks on one grid. Two empty masks count as identical regions: 1.0."""
    first, second = _boolean(a, "the first mask"), _boolean(b, "the second mask")
    if first.shape != second.shape:
        raise ValueError(f"masks on different grids {first.shape} and {second.shape}: align one first")
    union = np.logical_or(first, second).sum()
    return 1.0 if union == 0 else float(np.logical_and(first, second).sum() / union)


def cam_region(cam: np.ndarray, rule: str | float = DEFAULT_RULE) -> np.ndarray:
    """The highlighted pixels of a CAM.

    ``"top20"`` (the default; ``"top<p>"`` in general): the pixels at or above the map's (100 - p)th
    percentile (``np.percentile``, linear interpolation), never a pixel at the map's minimum, so a map that
    is zero on more than 80 % of the grid gives just its positive part and a constant map gives nothing.
    A number t: the pixels with value >= t of a map in [0, 1], as a fixed threshold such as 0.5.
    """
    values = np.asarray(cam, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"expected an (H, W) map, got shape {values.shape}")
    if isinstance(rule, str):
        match = TOP_PERCENT.fullmatch(rule)
        if match is None or not 0 < float(match[1]) <= 100:
            raise ValueError(f"unknown region rule {rule!r}: use 'top<percent>' such as 'top20', or a threshold")
        cut = np.percentile(values, 100 - float(match[1]))
        return (values >= cut) & (values > values.min())
    if values.min() < 0 or values.max() > 1:
        raise ValueError("a fixed threshold needs a map rescaled to [0, 1]")
    return values >= rule


def align(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A mask resized to ``shape`` by nearest neighbour (each output pixel takes the input pixel under its
    centre, as PIL's NEAREST does), for a mask computed on another grid than the 224x224 crop."""
    source = _boolean(mask, "the mask")
    height, width = shape
    rows = np.minimum(((np.arange(height) + 0.5) * source.shape[0] / height).astype(int), source.shape[0] - 1)
    columns = np.minimum(((np.arange(width) + 0.5) * source.shape[1] / width).astype(int), source.shape[1] - 1)
    return source[np.ix_(rows, columns)]
