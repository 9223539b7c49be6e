"""MNIST as the assignment uses it: ToTensor scaling and a 50,000 / 10,000 train / validation split."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from checks.data.assets import DataDir

TRAIN_SIZE, VALIDATION_SIZE, TEST_SIZE = 50_000, 10_000, 10_000


def to_tensor_scale(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1], bit-equal to transforms.ToTensor()."""
    return images.unsqueeze(1).to(torch.float32).div(255)


@dataclass(frozen=True)
class MnistSplit:
    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    train_indices: torch.Tensor
    val_indices: torch.Tensor


def split_indices(seed: int = 0, total: int = TRAIN_SIZE + VALIDATION_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint random train / validation indices into the 60,000 training images."""
    order = torch.randperm(total, generator=torch.Generator().manual_seed(seed))
    return order[:TRAIN_SIZE].sort().values, order[TRAIN_SIZE:].sort().values


def load_split(data: DataDir, seed: int = 0) -> MnistSplit:
    train_images, train_labels = data.mnist_arrays(train=True)
    test_images, test_labels = data.mnist_arrays(train=False)
    images, test = to_tensor_scale(train_images), to_tensor_scale(test_images)
    train_indices, val_indices = split_indices(seed, len(images))
    return MnistSplit(
        images[train_indices],
        train_labels[train_indices],
        images[val_indices],
        train_labels[val_indices],
        test,
        test_labels,
        train_indices,
        val_indices,
    )
