"""CS411 A2 task 2.2: the SmallCNN classifier and its training recipe.

The trained model is cached (see ``checks.data.model_cache``) so no check ever retrains it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from checks.data.assets import DataDir
from checks.data.model_cache import ModelCache
from checks.probe.standin import seeded_global_rng
from reference.torch_tools import accuracy

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
PARAMETER_COUNT = 206_922
MIN_TEST_ACCURACY = 0.98
CACHE_NAME = "cs411_a2-smallcnn"


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(x.size(0), -1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28), bit-equal to ToTensor + Normalize."""
    return (images.unsqueeze(1).to(torch.float32).div(255) - MNIST_MEAN) / MNIST_STD


def mnist_split(data: DataDir, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised MNIST images and labels, as the assignment's transform yields them."""
    images, labels = data.mnist_arrays(train)
    return normalise(images), labels


@dataclass(frozen=True)
class TrainingRecipe:
    """Everything that determines the trained weights; its hash keys the cache."""

    epochs: int = 5
    learning_rate: float = 1e-3
    batch_size: int = 128
    seed: int = 0
    train_subset: int | None = None


@dataclass(frozen=True)
class TrainedSmallCNN:
    model: SmallCNN
    test_accuracy: float
    epoch_losses: list[float]
    train_seconds: float
    from_cache: bool


def train_small_cnn(
    train_images: torch.Tensor, train_labels: torch.Tensor, recipe: TrainingRecipe
) -> tuple[SmallCNN, list[float]]:
    """Adam + cross-entropy over shuffled mini-batches; returns the mean loss of each epoch."""
    generator = torch.Generator().manual_seed(recipe.seed)
    with seeded_global_rng(recipe.seed):
        model = SmallCNN()
    if recipe.train_subset is not None:
        train_images, train_labels = train_images[: recipe.train_subset], train_labels[: recipe.train_subset]
    optimiser = torch.optim.Adam(model.parameters(), lr=recipe.learning_rate)
    loss_fn = nn.CrossEntropyLoss()
    epoch_losses = []
    for _ in range(recipe.epochs):
        model.train()
        order = torch.randperm(len(train_images), generator=generator)
        total, seen = 0.0, 0
        for start in range(0, len(order), recipe.batch_size):
            batch = order[start : start + recipe.batch_size]
            optimiser.zero_grad()
            loss = loss_fn(model(train_images[batch]), train_labels[batch])
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
            seen += len(batch)
        epoch_losses.append(total / seen)
    model.eval()
    return model, epoch_losses


def reference_small_cnn(
    data: DataDir, cache: ModelCache, recipe: TrainingRecipe = TrainingRecipe(), retrain: bool = False
) -> TrainedSmallCNN:
    """The trained reference, from the cache when this exact recipe was trained before."""
    model = SmallCNN()
    recipe_fields = {**asdict(recipe), "architecture": repr(model)}
    cached = None if retrain else cache.load_into(model, CACHE_NAME, recipe_fields)
    if cached is not None:
        model.eval()
        meta = cached.metadata
        return TrainedSmallCNN(model, meta["test_accuracy"], meta["epoch_losses"], meta["train_seconds"], True)
    train_images, train_labels = mnist_split(data, train=True)
    test_images, test_labels = mnist_split(data, train=False)
    started = time.perf_counter()
    model, epoch_losses = train_small_cnn(train_images, train_labels, recipe)
    train_seconds = time.perf_counter() - started
    test_accuracy = accuracy(model, test_images, test_labels)
    cache.store(
        model,
        CACHE_NAME,
        recipe_fields,
        {"test_accuracy": test_accuracy, "epoch_losses": epoch_losses, "train_seconds": train_seconds},
    )
    return TrainedSmallCNN(model, test_accuracy, epoch_losses, train_seconds, False)
