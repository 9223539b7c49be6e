"""Which dataset image a figure shows: a notebook that plots test digits (or occludes one) names
no index, but the array it drew is that image up to scaling, so a nearest-neighbour search finds it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

MATCH_TOLERANCE = 0.02  # root-mean-square difference of min-max scaled pixels


@dataclass(frozen=True)
class Nearest:
    index: int
    correlation: float


def _min_max(values: torch.Tensor) -> torch.Tensor:
    low = values.amin(dim=1, keepdim=True)
    span = (values.amax(dim=1, keepdim=True) - low).clamp_min(1e-12)
    return (values - low) / span


class ImageIndex:
    """A dataset's images, flattened and scaled, to look plotted arrays up in."""

    def __init__(self, images: torch.Tensor) -> None:
        self.size = tuple(images.shape[-2:])
        self.flat = _min_max(images.reshape(len(images), -1).to(torch.float32))

    @cached_property
    def _spread(self) -> torch.Tensor:
        """Each image's distance from its own mean: the denominator of a correlation."""
        size = self.flat.shape[1]
        return (self.flat.square().sum(dim=1) - size * self.flat.mean(dim=1).square()).clamp_min(0).sqrt()

    def _query(self, array: np.ndarray | None) -> torch.Tensor | None:
        if array is None:
            return None
        array = np.squeeze(np.asarray(array, dtype=np.float32))
        if array.shape != self.size or not np.isfinite(array).all():
            return None
        return _min_max(torch.from_numpy(array).reshape(1, -1))[0]

    def identify(self, array: np.ndarray | None) -> int | None:
        """The index of the image ``array`` shows (any affine scaling), or None."""
        query = self._query(array)
        if query is None:
            return None
        distances = ((self.flat - query) ** 2).mean(dim=1).sqrt()
        best = int(distances.argmin())
        return best if float(distances[best]) <= MATCH_TOLERANCE else None

    def nearest(self, array: np.ndarray | None) -> Nearest | None:
        """The image ``array`` correlates with best: an image made from a dataset image (an attack
        that keeps close to it, a noisy copy) is not that image, yet resembles it more than any other."""
        query = self._query(array)
        if query is None:
            return None
        centred = query - query.mean()
        if float(centred.norm()) == 0:
            return None
        correlations = (self.flat @ centred) / (self._spread * centred.norm()).clamp_min(1e-12)
        best = int(correlations.argmax())
        return Nearest(best, float(correlations[best]))
