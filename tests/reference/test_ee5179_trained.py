"""EE5179 PA2 with trained references: accuracy with and without batch normalisation, the
histories the plots need, and both attacks reaching their target class. Slow: trains two
models (about a minute each on two cores), then caches them."""

import pytest
import torch

from checks.data.model_cache import ModelCache
from reference.ee5179_pa2 import (
    TrainingRecipe,
    load_split,
    non_targeted_attack,
    occlusion_map,
    reference_model,
    targeted_attack,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return ModelCache(tmp_path_factory.mktemp("ee5179-cache"))


@pytest.fixture(scope="module")
def plain(data, cache):
    return reference_model(data, cache, TrainingRecipe())


def test_both_references_train_to_high_accuracy_with_full_histories(data, cache, plain):
    normalised = reference_model(data, cache, TrainingRecipe(batch_norm=True))
    for trained in (plain, normalised):
        print(
            f"batch_norm={trained.model.batch_norm}: test accuracy {trained.test_accuracy:.4f}, "
            f"{trained.train_seconds:.0f} s, history {trained.history}"
        )
        assert trained.test_accuracy >= 0.985
        assert all(len(values) == 3 for values in vars(trained.history).values())
        assert trained.history.train_loss[-1] < trained.history.train_loss[0]
        assert trained.history.val_error[-1] == pytest.approx(1 - trained.history.val_accuracy[-1])
    again = reference_model(data, cache, TrainingRecipe())
    assert again.from_cache and again.test_accuracy == plain.test_accuracy


def test_occluding_the_digit_lowers_its_probability_more_than_occluding_the_border(data, plain):
    split = load_split(data)
    image, label = split.test_images[0], int(split.test_labels[0])
    grid = occlusion_map(plain.model, image, label, patch=5, stride=1)
    assert grid.shape == (24, 24) and grid.max() <= 1
    assert grid[8:16, 8:16].min() < grid[0, 0]


def test_the_non_targeted_attack_reaches_every_class(plain):
    for target in range(10):
        result = non_targeted_attack(plain.model, target, torch.Generator().manual_seed(target))
        assert result.predicted_class == target and result.target_probability > 0.9, result
        assert result.costs[-1] > result.costs[0]


def test_the_targeted_attack_reaches_the_class_while_staying_near_the_source_digit(data, plain):
    split = load_split(data)
    two = split.test_images[split.test_labels == 2][0] * 255
    start_distance = None
    for target in (5, 8):
        result = targeted_attack(plain.model, two, target, torch.Generator().manual_seed(0))
        assert result.predicted_class == target, result
        distance = float(((result.image - two) ** 2).mean())
        noise = 128 + 32 * torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(0))
        start_distance = float(((noise - two) ** 2).mean())
        assert distance < start_distance / 4, (distance, start_distance)
