"""Cats vs dogs as the assignment's notebooks load it: Resize((64, 64)) + ToTensor on the 2,002 images,
split at random into train / validation / test parts whose sizes the assignment leaves free."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from checks.data.assets import DataDir

IMAGE_SIZE = 64
SPLIT_FRACTIONS = (0.7, 0.15, 0.15)


@dataclass(frozen=True)
class Preprocessing:
    """How a notebook turns a photo into its model's input before ToTensor: ``Resize((size, size))``
    (bilinear, as torchvision does to a PIL image; ``bicubic`` is PIL's own ``image.resize`` default),
    or, with ``shorter``, ``Resize(shorter)`` then ``CenterCrop(size)``."""

    size: int = IMAGE_SIZE
    shorter: int | None = None
    bicubic: bool = False

    def pixels(self, path: Path) -> np.ndarray:
        resample = Image.Resampling.BICUBIC if self.bicubic else Image.Resampling.BILINEAR
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        if self.shorter is None:
            return np.asarray(image.resize((self.size, self.size), resample))
        width, height = image.size
        resized = image.resize(
            (self.shorter, int(self.shorter * height / width))
            if width <= height
            else (int(self.shorter * width / height), self.shorter),
            resample,
        )
        left = int(round((resized.width - self.size) / 2.0))
        top = int(round((resized.height - self.size) / 2.0))
        return np.asarray(resized.crop((left, top, left + self.size, top + self.size)))


@functools.lru_cache(maxsize=2)
def _decoded(root: Path, preprocessing: Preprocessing) -> tuple[np.ndarray, np.ndarray]:
    """Every image as read-only uint8 (N, size, size, 3), decoded once per process: decoding the JPEGs
    takes seconds, and the checks ask for the same images many times."""
    data = DataDir(root)
    files = data.cats_vs_dogs_files()
    images = np.stack([preprocessing.pixels(data.path(relative)) for relative, _ in files])
    labels = np.array([label for _, label in files], dtype=np.int64)
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


def image_count(data: DataDir) -> int:
    return len(data.cats_vs_dogs_files())


def load_images(
    data: DataDir, indices: Sequence[int], size: int = IMAGE_SIZE, preprocessing: Preprocessing | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The images at these canonical indices as float32 (N, 3, size, size) in [0, 1], and int64 labels:
    resized to a square, or as ``preprocessing`` says (which then gives the size)."""
    pixels, labels = _decoded(data.root, preprocessing or Preprocessing(size))
    chosen = np.asarray(indices, dtype=np.int64)
    if chosen.size and (chosen.min() < 0 or chosen.max() >= len(pixels)):
        raise IndexError(f"image indices must lie in 0..{len(pixels) - 1}")
    images = torch.from_numpy(pixels[chosen]).permute(0, 3, 1, 2).to(torch.float32).div(255)
    return images.contiguous(), torch.from_numpy(labels[chosen].copy())


def split_indices(
    count: int, seed: int = 0, fractions: tuple[float, float, float] = SPLIT_FRACTIONS
) -> tuple[list[int], list[int], list[int]]:
    """Disjoint train / validation / test indices covering range(count), each in ascending order.

    Train and validation get floor(fraction * count) indices, test the rest, so the parts always add up.
    """
    if len(fractions) != 3 or min(fractions) <= 0 or not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be three positive numbers adding up to 1 (got {fractions})")
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed)).tolist()
    train_end = int(fractions[0] * count)
    val_end = train_end + int(fractions[1] * count)
    return sorted(order[:train_end]), sorted(order[train_end:val_end]), sorted(order[val_end:])


@dataclass(frozen=True)
class Split:
    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    train_indices: tuple[int, ...]
    val_indices: tuple[int, ...]
    test_indices: tuple[int, ...]


def load_split(data: DataDir, seed: int = 0, size: int = IMAGE_SIZE) -> Split:
    train, val, test = split_indices(image_count(data), seed)
    return Split(
        *load_images(data, train, size),
        *load_images(data, val, size),
        *load_images(data, test, size),
        tuple(train),
        tuple(val),
        tuple(test),
    )
