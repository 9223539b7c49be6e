"""Which dataset image a figure shows: a notebook that plots test digits (or occludes one) names
no index, but the array it drew is that image up to scaling, so a nearest-neighbour search finds it."""

from __future__ import annotations

import numpy as np
import torch

MATCH_TOLERANCE = 0.02  # root-mean-square difference of min-max scaled pixels


def _min_max(values: torch.Tensor) -> torch.Tensor:
    low = values.amin(dim=1, keepdim=True)
    span = (values.amax(dim=1, keepdim=True) - low).clamp_min(1e-12)
    return (values - low) / span


class ImageIndex:
    """A dataset's images, flattened and scaled, to look plotted arrays up in."""

    def __init__(self, images: torch.Tensor) -> None:
        self.size = tuple(images.shape[-2:])
        self.flat = _min_max(images.reshape(len(images), -1).to(torch.float32))

    def identify(self, array: np.ndarray | None) -> int | None:
        """The index of the image ``array`` shows (any affine scaling), or None."""
        if array is None:
            return None
        array = np.squeeze(np.asarray(array, dtype=np.float32))
        if array.shape != self.size or not np.isfinite(array).all():
            return None
        query = _min_max(torch.from_numpy(array).reshape(1, -1))
        distances = ((self.flat - query) ** 2).mean(dim=1).sqrt()
        best = int(distances.argmin())
        return best if float(distances[best]) <= MATCH_TOLERANCE else None
