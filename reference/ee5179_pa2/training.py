"""EE5179 PA2 questions 1.1 and 1.6: training with loss, error and accuracy histories.

Both trained references (with and without batch normalisation) are cached, keyed by
their recipe, so grading never retrains them.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from checks.data.assets import DataDir
from checks.data.model_cache import ModelCache
from checks.probe.standin import seeded_global_rng
from reference.ee5179_pa2.data import MnistSplit, load_split
from reference.ee5179_pa2.network import PrescribedCNN
from reference.torch_tools import evaluate

CACHE_NAME = "ee5179_pa2-cnn"


@dataclass(frozen=True)
class TrainingRecipe:
    """Everything that determines the trained weights; its hash keys the cache."""

    batch_norm: bool = False
    epochs: int = 3
    learning_rate: float = 1e-3
    batch_size: int = 64
    seed: int = 0
    split_seed: int = 0


@dataclass
class History:
    """Per epoch: mean training loss, training error, validation loss, error and accuracy."""

    train_loss: list[float] = field(default_factory=list)
    train_error: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_error: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class TrainedModel:
    model: PrescribedCNN
    history: History
    test_accuracy: float
    train_seconds: float
    from_cache: bool


def train(split: MnistSplit, recipe: TrainingRecipe) -> tuple[PrescribedCNN, History]:
    """Adam on shuffled mini-batches of the 50,000 training images; validation after each epoch."""
    with seeded_global_rng(recipe.seed):
        model = PrescribedCNN(batch_norm=recipe.batch_norm)
    generator = torch.Generator().manual_seed(recipe.seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=recipe.learning_rate)
    history = History()
    for _ in range(recipe.epochs):
        model.train()
        order = torch.randperm(len(split.train_images), generator=generator)
        total_loss, wrong = 0.0, 0
        for start in range(0, len(order), recipe.batch_size):
            batch = order[start : start + recipe.batch_size]
            optimiser.zero_grad()
            logits = model(split.train_images[batch])
            loss = nn.functional.cross_entropy(logits, split.train_labels[batch])
            loss.backward()
            optimiser.step()
            total_loss += loss.item() * len(batch)
            wrong += int((logits.argmax(dim=1) != split.train_labels[batch]).sum())
        history.train_loss.append(total_loss / len(order))
        history.train_error.append(wrong / len(order))
        val_loss, val_accuracy = evaluate(model, split.val_images, split.val_labels)
        history.val_loss.append(val_loss)
        history.val_error.append(1 - val_accuracy)
        history.val_accuracy.append(val_accuracy)
    model.eval()
    return model, history


def reference_model(
    data: DataDir, cache: ModelCache, recipe: TrainingRecipe = TrainingRecipe(), retrain: bool = False
) -> TrainedModel:
    """The trained reference, from the cache when this exact recipe was trained before."""
    model = PrescribedCNN(batch_norm=recipe.batch_norm)
    recipe_fields = {**asdict(recipe), "architecture": repr(model)}
    cached = None if retrain else cache.load_into(model, CACHE_NAME, recipe_fields)
    if cached is not None:
        model.eval()
        meta = cached.metadata
        return TrainedModel(model, History(**meta["history"]), meta["test_accuracy"], meta["train_seconds"], True)
    split = load_split(data, recipe.split_seed)
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
