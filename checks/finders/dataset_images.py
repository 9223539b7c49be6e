"""Which dataset image a figure shows: a notebook that plots test digits (or occludes one, or shows
a photo beside its saliency map) names no index, but the array it drew is that image up to scaling,
so a nearest-neighbour search finds it.

Grey and colour images alike: a colour query may come as imshow takes it (H, W, 3) or as a tensor
(3, H, W). The index keeps the images as it was given them (uint8 stays uint8, a float tensor is
not copied) and scales them a chunk at a time while it searches, unless their scaled copy is
small; or, with ``thumbnail``, it keeps only a small average-pooled thumbnail of each image, so a
set of photos costs kilobytes per image and a query of any size is compared at that scale.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

MATCH_TOLERANCE = 0.02  # root-mean-square difference of min-max scaled pixels
CACHED_VALUES = 1 << 24  # a scaled copy of at most this many values is kept between searches (64 MiB)
CHUNK = 4096  # images scaled at a time otherwise


@dataclass(frozen=True)
class Nearest:
    index: int
    correlation: float


def _min_max(values: torch.Tensor) -> torch.Tensor:
    low = values.amin(dim=1, keepdim=True)
    span = (values.amax(dim=1, keepdim=True) - low).clamp_min(1e-12)
    return (values - low) / span


def _spread(flat: torch.Tensor) -> torch.Tensor:
    """Each row's distance from its own mean: the denominator of a correlation."""
    size = flat.shape[1]
    return (flat.square().sum(dim=1) - size * flat.mean(dim=1).square()).clamp_min(0).sqrt()


def _thumbnails(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) images averaged down to (N, C, size, size) float32."""
    return F.adaptive_avg_pool2d(images.to(torch.float32), size)


Images = torch.Tensor | np.ndarray


class ImageIndex:
    """A dataset's images to look plotted arrays up in: (N, H, W) or (N, C, H, W) of any dtype, or
    such batches one after another (a dataset read in pieces; with ``thumbnail``, of any sizes)."""

    def __init__(
        self,
        images: Images | Iterable[Images],
        thumbnail: int | None = None,
        cached_values: int = CACHED_VALUES,
        chunk: int = CHUNK,
    ) -> None:
        self.thumbnail, self.chunk = thumbnail, chunk
        whole = isinstance(images, (torch.Tensor, np.ndarray))
        kept = []
        for batch in [images] if whole else images:
            batch = torch.as_tensor(batch)
            batch = batch.unsqueeze(1) if batch.ndim == 3 else batch
            self.channels, self.size = batch.shape[1], tuple(batch.shape[-2:])
            if thumbnail is None:
                kept.append(batch)
            else:
                kept.extend(_thumbnails(part, thumbnail) for part in batch.split(chunk))
        rows = torch.cat(kept) if len(kept) > 1 else kept[0] if kept else torch.empty(0)
        if not len(rows):
            raise ValueError("an image index needs at least one image")
        self.rows = rows.reshape(len(rows), -1)
        self._flat = _min_max(self.rows.to(torch.float32)) if self.rows.numel() <= cached_values else None
        self._flat_spread = _spread(self._flat) if self._flat is not None else None

    def _scaled(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The min-max scaled rows and their spreads: all at once when kept, else a chunk at a time."""
        if self._flat is not None:
            yield self._flat, self._flat_spread
            return
        for start in range(0, len(self.rows), self.chunk):
            flat = _min_max(self.rows[start : start + self.chunk].to(torch.float32))
            yield flat, _spread(flat)

    def _image(self, array: np.ndarray) -> np.ndarray | None:
        """``array`` as (C, H, W) for this index's channels: grey with any unit axes, colour channels
        first or last (an alpha channel dropped); None when it has another shape."""
        if self.channels == 1:
            array = np.squeeze(array)
            return array[None] if array.ndim == 2 else None
        if array.ndim == 4 and array.shape[0] == 1:
            array = array[0]
        if array.ndim == 3 and array.shape[0] != self.channels and array.shape[2] in (self.channels, self.channels + 1):
            array = np.moveaxis(array[:, :, : self.channels], 2, 0)
        return array if array.ndim == 3 and array.shape[0] == self.channels else None

    def _query(self, array: np.ndarray | None) -> torch.Tensor | None:
        if array is None:
            return None
        image = self._image(np.asarray(array, dtype=np.float32))
        if image is None or not np.isfinite(image).all():
            return None
        pixels = torch.from_numpy(np.ascontiguousarray(image))
        if self.thumbnail is None:
            return _min_max(pixels.reshape(1, -1))[0] if image.shape[1:] == self.size else None
        if min(image.shape[1:]) < self.thumbnail:
            return None
        return _min_max(_thumbnails(pixels[None], self.thumbnail).reshape(1, -1))[0]

    def identify(self, array: np.ndarray | None) -> int | None:
        """The index of the image ``array`` shows (any affine scaling), or None."""
        query = self._query(array)
        if query is None:
            return None
        distances = torch.cat([((flat - query) ** 2).mean(dim=1).sqrt() for flat, _ in self._scaled()])
        best = int(distances.argmin())
        return best if float(distances[best]) <= MATCH_TOLERANCE else None

    def nearest(self, array: np.ndarray | None) -> Nearest | None:
        """The image ``array`` correlates with best: an image made from a dataset image (an attack
        that keeps close to it, a noisy copy) is not that image, yet resembles it more than any other."""
        ranked = self.ranked(array, 1)
        return ranked[0] if ranked else None

    def ranked(self, array: np.ndarray | None, count: int) -> list[Nearest]:
        """The ``count`` images ``array`` correlates with best, best first: for an image that mixes a dataset
        image with something else (a heatmap blended in), the right one is among the first, not always first."""
        query = self._query(array)
        if query is None:
            return []
        centred = query - query.mean()
        if float(centred.norm()) == 0:
            return []
        correlations = torch.cat(
            [(flat @ centred) / (spread * centred.norm()).clamp_min(1e-12) for flat, spread in self._scaled()]
        )
        best = torch.topk(correlations, min(count, len(correlations)))
        return [Nearest(int(index), float(value)) for value, index in zip(best.values, best.indices)]
