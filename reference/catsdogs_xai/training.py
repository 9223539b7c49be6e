"""Task 1: the CNN trained with Adam on the split's training part, validated after every epoch and tested once.

The trained reference is cached, keyed by its recipe, so grading never retrains it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from checks.data.assets import DataDir
from checks.data.model_cache import ModelCache
from checks.probe.standin import seeded_global_rng
from reference.catsdogs_xai.data import IMAGE_SIZE, Split, load_split
from reference.catsdogs_xai.network import CatDogCNN
from reference.torch_tools import evaluate

CACHE_NAME = "catsdogs_xai-cnn"


@dataclass(frozen=True)
class TrainingRecipe:
    """Everything that determines the trained weights; its hash keys the cache."""

    epochs: int = 12
    learning_rate: float = 1e-3
    batch_size: int = 32
    horizontal_flip: bool = True
    size: int = IMAGE_SIZE
    seed: int = 0
    split_seed: int = 0


@dataclass
class History:
    """Per epoch: mean training loss and accuracy (dropout on, as the batches saw it), validation loss and accuracy."""

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class TrainedModel:
    model: CatDogCNN
    history: History
    test_accuracy: float
    train_seconds: float
    from_cache: bool


def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Predicted classes in eval mode, for the confusion matrix and the classification report."""
    model.eval()
    with torch.no_grad():
        return torch.cat(
            [model(images[start : start + batch_size]).argmax(dim=1) for start in range(0, len(images), batch_size)]
        )


def _flipped(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """RandomHorizontalFlip(0.5) applied image by image, drawn from the training generator."""
    flip = torch.rand(len(images), generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def train(split: Split, recipe: TrainingRecipe) -> tuple[CatDogCNN, History]:
    """Adam on shuffled mini-batches of the training part; validation after each epoch."""
    with seeded_global_rng(recipe.seed):
        model = CatDogCNN()
    generator = torch.Generator().manual_seed(recipe.seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=recipe.learning_rate)
    history = History()
    with seeded_global_rng(recipe.seed):
        for _ in range(recipe.epochs):
            _train_epoch(model, optimiser, split, recipe, generator, history)
            val_loss, val_accuracy = evaluate(model, split.val_images, split.val_labels)
            history.val_loss.append(val_loss)
            history.val_accuracy.append(val_accuracy)
    model.eval()
    return model, history


def _train_epoch(
    model: CatDogCNN,
    optimiser: torch.optim.Optimizer,
    split: Split,
    recipe: TrainingRecipe,
    generator: torch.Generator,
    history: History,
) -> None:
    """One pass; dropout draws from the global generator, seeded by ``train`` so the weights are repeatable."""
    model.train()
    order = torch.randperm(len(split.train_images), generator=generator)
    total_loss, correct = 0.0, 0
    for start in range(0, len(order), recipe.batch_size):
        batch = order[start : start + recipe.batch_size]
        images, labels = split.train_images[batch], split.train_labels[batch]
        if recipe.horizontal_flip:
            images = _flipped(images, generator)
        optimiser.zero_grad()
        logits = model(images)
        loss = nn.functional.cross_entropy(logits, labels)
        loss.backward()
        optimiser.step()
        total_loss += loss.item() * len(batch)
        correct += int((logits.argmax(dim=1) == labels).sum())
    history.train_loss.append(total_loss / len(order))
    history.train_accuracy.append(correct / len(order))


def reference_model(
    data: DataDir, cache: ModelCache, recipe: TrainingRecipe = TrainingRecipe(), retrain: bool = False
) -> TrainedModel:
    """The trained reference, from the cache when this exact recipe was trained before."""
    model = CatDogCNN()
    recipe_fields = {**asdict(recipe), "architecture": repr(model)}
    cached = None if retrain else cache.load_into(model, CACHE_NAME, recipe_fields)
    if cached is not None:
        model.eval()
        meta = cached.metadata
        return TrainedModel(model, History(**meta["history"]), meta["test_accuracy"], meta["train_seconds"], True)
    split = load_split(data, recipe.split_seed, recipe.size)
    started = time.perf_counter()
    model, history = train(split, recipe)
    seconds = time.perf_counter() - started
    _, test_accuracy = evaluate(model, split.test_images, split.test_labels)
    cache.store(
        model,
        CACHE_NAME,
        recipe_fields,
        {"history": asdict(history), "test_accuracy": test_accuracy, "train_seconds": seconds},
    )
    return TrainedModel(model, history, test_accuracy, seconds, False)
