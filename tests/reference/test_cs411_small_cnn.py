"""SmallCNN, its data pipeline, the recipe cache, and the full training run (slow)."""

import time

import pytest
import torch
import torchvision
import torchvision.transforms as transforms

from checks.data.model_cache import ModelCache
from reference.cs411_a2 import (
    LAMBDA_SWEEP,
    PARAMETER_COUNT,
    SmallCNN,
    TrainingRecipe,
    accuracy,
    lambda_sweep,
    mnist_split,
    reference_small_cnn,
    run_digit_pairs,
    trainable_parameter_count,
)


def test_small_cnn_has_the_stated_parameter_count_and_shapes():
    model = SmallCNN()
    assert trainable_parameter_count(model) == PARAMETER_COUNT == 206_922
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_tensor_pipeline_is_bit_equal_to_the_assignments_transform(data):
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    dataset = torchvision.datasets.MNIST(str(data.mnist_root), train=False, download=False, transform=transform)
    images, labels = mnist_split(data, train=False)
    for index in (0, 1, 9999):
        image, label = dataset[index]
        assert torch.equal(images[index], image) and labels[index] == label


def test_an_unchanged_recipe_is_served_from_the_cache(data, tmp_path):
    recipe = TrainingRecipe(epochs=1, train_subset=256)
    cache = ModelCache(tmp_path)
    trained = reference_small_cnn(data, cache, recipe)
    again = reference_small_cnn(data, cache, recipe)
    other = reference_small_cnn(data, cache, TrainingRecipe(epochs=1, train_subset=256, seed=1))
    assert not trained.from_cache and again.from_cache and not other.from_cache
    assert torch.equal(again.model.fc2.weight, trained.model.fc2.weight)
    assert again.test_accuracy == trained.test_accuracy
    assert not torch.equal(other.model.fc2.weight, trained.model.fc2.weight)


@pytest.fixture(scope="module")
def fully_trained(data, tmp_path_factory):
    """The assignment's recipe trained from scratch (about a minute on two cores)."""
    started = time.perf_counter()
    trained = reference_small_cnn(data, ModelCache(tmp_path_factory.mktemp("cache")), retrain=True)
    print(
        f"\nreference SmallCNN: {trained.test_accuracy:.4f} test accuracy, "
        f"trained in {trained.train_seconds:.0f} s ({time.perf_counter() - started:.0f} s with evaluation)"
    )
    return trained


@pytest.mark.slow
def test_reference_small_cnn_reaches_98_percent_on_the_real_test_set(data, fully_trained):
    test_images, test_labels = mnist_split(data, train=False)
    assert fully_trained.test_accuracy >= 0.98
    assert accuracy(fully_trained.model, test_images, test_labels) == fully_trained.test_accuracy
    losses = fully_trained.epoch_losses
    assert len(losses) == 5 and losses == sorted(losses, reverse=True)


@pytest.mark.slow
def test_counterfactual_runs_record_what_happens(data, fully_trained):
    test_images, test_labels = mnist_split(data, train=False)
    model = fully_trained.model
    before = [p.detach().clone() for p in model.parameters()]
    pairs = run_digit_pairs(model, test_images, test_labels)
    sweep = lambda_sweep(model, test_images, test_labels)
    assert [(run.source, run.target) for run in pairs] == [(3, 8), (1, 7), (4, 9)]
    for run in pairs:
        assert test_labels[run.example_index] == run.source == run.original_prediction
        assert len(run.loss_hist) == 500
        assert run.l1_distance == pytest.approx(float((run.x_cf - run.x_orig).abs().sum()))
        assert run.flipped == (run.counterfactual_prediction == run.target)
    assert [run.lam for run in sweep] == list(LAMBDA_SWEEP)
    assert {run.example_index for run in sweep} == {pairs[0].example_index}
    assert sweep[2].l1_distance == pytest.approx(pairs[0].l1_distance)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
