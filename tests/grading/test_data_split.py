"""A notebook's train / validation / test split judged by length, origin and disjointness,
on real torchvision MNIST datasets and Hugging Face datasets built the ways notebooks build them."""

import time

import datasets
import pytest
import torch
import torchvision
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset, random_split

from checks.engine.exchange_records import MAX_DATASETS, MAX_FILE_PATH, datasets_from_survey
from checks.finders.data_split import SplitSizes, judge_split
from checks.probe.datasets import MAX_FILES, survey
from checks.probe.wire import MAX_ITEMS


@pytest.fixture(scope="module")
def mnist(data):
    root = str(data.mnist_root)
    return (
        torchvision.datasets.MNIST(root, train=True, download=False),
        torchvision.datasets.MNIST(root, train=False, download=False),
    )


def test_a_random_split_with_loaders_is_found_whatever_the_names(mnist):
    full, test = mnist
    first, second = random_split(full, [50_000, 10_000], generator=torch.Generator().manual_seed(0))
    namespace = {
        "tr": DataLoader(first, batch_size=64),
        "held_out": DataLoader(second),
        "test_loader": DataLoader(test),
        "_private": first,
    }
    finding = judge_split(survey(namespace))
    assert finding.correct, finding.problems
    assert finding.train == "tr (DataLoader): 50,000 images"
    assert finding.validation == "held_out (DataLoader): 10,000 images"
    assert finding.test == "test_loader (DataLoader): 10,000 images"


def test_nested_subsets_resolve_to_indices_into_the_training_images(mnist):
    full, test = mnist
    shuffled = Subset(full, list(range(59_999, -1, -1)))
    entries = survey(
        {
            "train_set": Subset(shuffled, range(50_000)),
            "val_set": Subset(shuffled, range(50_000, 60_000)),
            "test_set": test,
        }
    )
    assert entries[1]["indices"][:3].tolist() == [9_999, 9_998, 9_997]
    assert judge_split(entries).correct


def test_validating_on_the_test_set_is_named(mnist):
    full, test = mnist
    finding = judge_split(survey({"train_loader": DataLoader(full), "val_loader": DataLoader(test)}))
    assert finding.problems == [
        "the validation data (val_loader (DataLoader): 10,000 images) is the test set: "
        "split the 60,000 training images 50,000 / 10,000"
    ]


def test_overlapping_subsets_are_refused_with_the_overlap(mnist):
    full, test = mnist
    finding = judge_split(
        survey({"a": Subset(full, range(50_000)), "b": Subset(full, range(45_000, 55_000)), "t": test})
    )
    assert finding.problems == ["a and b share 5,000 images; the training and validation sets must be disjoint"]


def test_no_split_and_no_test_set_say_what_was_seen(mnist):
    full, _ = mnist
    finding = judge_split(survey({"everything": full}))
    assert finding.problems == [
        "no disjoint 50,000 / 10,000 split of the 60,000 training images was found (found everything: 60,000 images)",
        "no 10,000-image test set (MNIST train=False) was found",
    ]


CATS_AND_DOGS = SplitSizes(
    train=700,
    validation=100,
    test=200,
    test_in_pool=True,
    test_source="split off the same data, disjoint from training and validation",
)


@pytest.fixture(scope="module")
def pets():
    """A Hugging Face dataset that ships one split, as cats_vs_dogs does."""
    return datasets.Dataset.from_dict({"label": [i % 2 for i in range(1_000)]}, split=datasets.NamedSplit("train"))


def test_a_hugging_face_dataset_split_three_ways_is_traced_to_its_rows(pets):
    first = pets.train_test_split(test_size=200, seed=0)
    second = first["train"].train_test_split(test_size=100, seed=0)
    entries = survey(
        {
            "parts": first,
            "train_ds": second["train"],
            "val_ds": second["test"],
            "val_loader": DataLoader(second["test"], batch_size=32),
        }
    )
    assert [entry["name"] for entry in entries] == [
        "parts['train']",
        "parts['test']",
        "train_ds",
        "val_ds",
        "val_loader",
    ]
    assert {entry["base_part"] for entry in entries} == {"train"} and len({entry["base_id"] for entry in entries}) == 1
    assert set(entries[2]["indices"].tolist()) <= set(entries[0]["indices"].tolist()), "indices into the table's rows"
    finding = judge_split(entries, CATS_AND_DOGS)
    assert finding.correct, finding.problems
    assert (finding.train, finding.validation, finding.test) == (
        "train_ds: 700 images",
        "val_ds: 100 images",
        "parts['test']: 200 images",
    )


def test_a_hugging_face_test_set_that_overlaps_the_training_rows_is_not_taken(pets):
    shuffled = pets.shuffle(seed=0)
    entries = survey(
        {
            "train_ds": shuffled.select(range(700)),
            "val_ds": shuffled.select(range(700, 800)),
            "test_ds": shuffled.select(range(600, 800)),
        }
    )
    assert judge_split(entries[:2], CATS_AND_DOGS).validation == "val_ds: 100 images"
    assert judge_split(entries, CATS_AND_DOGS).problems == [
        "no 200-image test set (split off the same data, disjoint from training and validation) was found"
    ]


def test_a_test_set_is_known_by_its_split_or_else_by_its_size_where_the_assignment_allows(mnist):
    full, _ = mnist
    first, second = random_split(full, [50_000, 10_000], generator=torch.Generator().manual_seed(0))
    hugging_face_test = datasets.Dataset.from_dict({"label": [0] * 10_000}, split=datasets.NamedSplit("test"))
    tensors = TensorDataset(torch.zeros(10_000, 1, 28, 28))
    by_size = SplitSizes(unnamed_test=True)
    for test, sizes in ((hugging_face_test, SplitSizes()), (hugging_face_test, by_size), (tensors, by_size)):
        finding = judge_split(survey({"train_set": first, "val_set": second, "test_set": test}), sizes)
        assert finding.correct and finding.test == "test_set: 10,000 images", finding.problems
    unnamed = judge_split(survey({"train_set": first, "val_set": second, "test_set": tensors}))
    assert not unnamed.correct, "by default only data that says it is the test part counts"
    unnamed_training_part = datasets.Dataset.from_dict({"label": [0] * 10_000}, split=datasets.NamedSplit("train"))
    assert not judge_split(survey({"train_set": first, "val_set": second, "test_set": unnamed_training_part})).correct


class Decoy(Dataset):
    """A dataset that says whatever length it likes."""

    def __init__(self, length: int) -> None:
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> int:
        return 0


class LyingSubset(Decoy):
    """A subset whose length disagrees with its indices."""

    def __init__(self, dataset: Dataset, indices: list[int], length: int) -> None:
        super().__init__(length)
        self.dataset, self.indices = dataset, indices


def test_subsets_whose_indices_disagree_with_their_length_or_their_dataset_are_no_split():
    base = Decoy(60_000)
    lying = {"tr": LyingSubset(base, [0], 50_000), "va": LyingSubset(base, [10**9], 10_000), "te": Decoy(10_000)}
    found = datasets_from_survey(survey(lying))
    assert [entry["name"] for entry in found.records] == ["te"]
    assert found.dropped == ["2 malformed dataset entries written by the kernel were ignored"]
    assert not judge_split(found.records).correct
    repeated = datasets_from_survey(survey({"tr": Subset(base, [3] * 50_000)}))
    assert repeated.records == [] and repeated.dropped


def test_a_malformed_survey_is_dropped_not_raised():
    assert datasets_from_survey("x").dropped == ["the dataset survey the kernel returned is not a list; it was ignored"]
    forged = ["x", {"name": 1}, {"name": "a", "length": "5", "base_length": 5, "base_id": 1, "base_type": "T"}]
    assert datasets_from_survey(forged).dropped == ["3 malformed dataset entries written by the kernel were ignored"]


def test_files_must_be_one_bounded_path_per_item_in_chunks_the_wire_carries():
    entry = {"name": "a", "length": 2, "base_length": 2, "base_id": 1, "base_type": "ImageFolder"}
    longest = "/data/" + "x" * (MAX_FILE_PATH - 6)
    kept = datasets_from_survey(
        [{**entry, "files": [["/data/a.jpg", longest]]}, {**entry, "files": [["/a.jpg"], ["/b.jpg"]]}, entry]
    )
    assert [record["files"] for record in kept.records] == [["/data/a.jpg", longest], ["/a.jpg", "/b.jpg"], None]
    assert not kept.dropped
    many = {**entry, "length": MAX_ITEMS + 1, "base_length": MAX_ITEMS + 1}
    forged = [
        {**entry, "files": ["/data/a.jpg", "/data/b.jpg"]},
        {**entry, "files": [["/data/a.jpg"]]},
        {**entry, "files": [["/data/a.jpg", 7]]},
        {**entry, "files": [["/data/a.jpg", longest + "x"]]},
        {**entry, "files": "/data/a.jpg\n/data/b.jpg"},
        {**many, "files": [["/p.jpg"] * (MAX_ITEMS + 1)]},
        {**entry, "length": MAX_FILES + 1, "base_length": MAX_FILES + 1, "files": [[]]},
    ]
    assert datasets_from_survey(forged).dropped == [
        f"{len(forged)} malformed dataset entries written by the kernel were ignored"
    ]


def test_a_flood_of_subsets_is_capped_and_judged_quickly():
    base = Decoy(60_000)
    order = torch.randperm(60_000, generator=torch.Generator().manual_seed(0)).tolist()
    flood = {f"s{i}": Subset(base, order[i * 100 : i * 100 + 50_000] if i % 2 else order[:10_000]) for i in range(200)}
    found = datasets_from_survey(survey(flood))
    assert len(found.records) == MAX_DATASETS
    assert found.dropped == [f"{200 - MAX_DATASETS} dataset entries past the first {MAX_DATASETS} were ignored"]
    started = time.monotonic()
    judge_split(found.records)
    assert time.monotonic() - started < 10, "each entry's index set is built once, not once per pair"
