"""A notebook's train / validation / test split judged by length, origin and disjointness,
on real torchvision MNIST datasets built the ways notebooks build them."""

import pytest
import torch
import torchvision
from torch.utils.data import DataLoader, Subset, random_split

from checks.finders.data_split import judge_split
from checks.probe.datasets import survey


@pytest.fixture(scope="module")
def mnist(data):
    root = str(data.mnist_root)
    return (torchvision.datasets.MNIST(root, train=True, download=False),
            torchvision.datasets.MNIST(root, train=False, download=False))


def test_a_random_split_with_loaders_is_found_whatever_the_names(mnist):
    full, test = mnist
    first, second = random_split(full, [50_000, 10_000], generator=torch.Generator().manual_seed(0))
    namespace = {"tr": DataLoader(first, batch_size=64), "held_out": DataLoader(second), "test_loader": DataLoader(test),
                 "_private": first}
    finding = judge_split(survey(namespace))
    assert finding.correct, finding.problems
    assert finding.train == "tr (DataLoader): 50,000 images"
    assert finding.validation == "held_out (DataLoader): 10,000 images"
    assert finding.test == "test_loader (DataLoader): 10,000 images"


def test_nested_subsets_resolve_to_indices_into_the_training_images(mnist):
    full, test = mnist
    shuffled = Subset(full, list(range(59_999, -1, -1)))
    entries = survey({"train_set": Subset(shuffled, range(50_000)), "val_set": Subset(shuffled, range(50_000, 60_000)),
                      "test_set": test})
    assert entries[1]["indices"][:3].tolist() == [9_999, 9_998, 9_997]
    assert judge_split(entries).correct


def test_validating_on_the_test_set_is_named(mnist):
    full, test = mnist
    finding = judge_split(survey({"train_loader": DataLoader(full), "val_loader": DataLoader(test)}))
    assert finding.problems == ["the validation data (val_loader (DataLoader): 10,000 images) is the test set: "
                                "split the 60,000 training images 50,000 / 10,000"]


def test_overlapping_subsets_are_refused_with_the_overlap(mnist):
    full, test = mnist
    finding = judge_split(survey({"a": Subset(full, range(50_000)), "b": Subset(full, range(45_000, 55_000)),
                                  "t": test}))
    assert finding.problems == ["a and b share 5,000 images; the training and validation sets must be disjoint"]


def test_no_split_and_no_test_set_say_what_was_seen(mnist):
    full, _ = mnist
    finding = judge_split(survey({"everything": full}))
    assert finding.problems == [
        "no disjoint 50,000 / 10,000 split of the 60,000 training images was found "
        "(found everything: 60,000 images)",
        "no 10,000-image test set (MNIST train=False) was found"]
