"""A cats-vs-dogs split judged by the images each part holds: real survey records (torchvision's
ImageFolder over the data directory, Hugging Face datasets of image paths) and hand-built ones.
The kernel-side survey of the real ``load_dataset`` is tested in tests/engine/test_cats_vs_dogs_data.py."""

import datasets
import pytest
import torch
import torchvision
from torch.utils.data import DataLoader, Dataset, Subset, random_split

from checks.engine.exchange_records import datasets_from_survey
from checks.finders.image_split import canonical_indices, judge_image_split
from checks.probe.datasets import MAX_FILES, survey


@pytest.fixture(scope="module")
def canonical(data) -> list[str]:
    return [path for path, _ in data.cats_vs_dogs_files()]


@pytest.fixture(scope="module")
def folder(data_root):
    return torchvision.datasets.ImageFolder(str(data_root / "cats_vs_dogs"))


def surveyed(namespace: dict) -> list[dict]:
    found = datasets_from_survey(survey(namespace))
    assert not found.dropped
    return found.records


def record(name: str, files: list[str] | None, length: int | None = None, via: str | None = None) -> dict:
    return {"name": name, "via": via, "length": len(files) if length is None else length, "files": files}


def paths(canonical: list[str], indices) -> list[str]:
    return [f"/data/{canonical[index]}" for index in indices]


def test_paths_match_the_canonical_images_by_their_last_three_components(canonical):
    dog = canonical.index("cats_vs_dogs/dog/dog.5.jpg")
    files = [
        "/data/cats_vs_dogs/cat/cat.0.jpg",
        "C:\\Users\\me\\Downloads\\cats_vs_dogs\\dog\\dog.5.jpg",
        "/content/PetImages/Cat/0.jpg",
        "cat.0.jpg",
    ]
    assert canonical_indices(files, canonical) == ([0, dog], 2)
    assert canonical_indices([], canonical) == ([], 0)


def test_a_70_15_15_random_split_of_the_image_folder_passes(folder, canonical):
    parts = random_split(folder, [0.7, 0.15, 0.15], generator=torch.Generator().manual_seed(0))
    records = surveyed(
        {
            "folder": folder,
            "train_set": parts[0],
            "val_set": parts[1],
            "test_set": parts[2],
            "train_loader": DataLoader(parts[0], batch_size=32),
        }
    )
    assert canonical_indices(records[0]["files"], canonical) == (list(range(2002)), 0), "rows in canonical order"
    split = judge_image_split(records, canonical)
    assert split.correct, split.problems
    assert split.describe() == (
        "train `train_loader`: 1,402 images; validation `val_set`: 300 images; test `test_set`: 300 images"
    )
    assert split.test.indices == tuple(parts[2].indices) and split.train.name == "train_loader"


def test_a_test_set_drawn_from_the_training_images_fails_with_the_overlap(folder, canonical):
    order = torch.randperm(2002, generator=torch.Generator().manual_seed(0)).tolist()
    records = surveyed(
        {
            "train_ds": Subset(folder, order[:1400]),
            "valid_ds": Subset(folder, order[1400:1700]),
            "test_ds": Subset(folder, order[:300]),
        }
    )
    split = judge_image_split(records, canonical)
    assert not split.correct
    assert split.problems == [
        "the test set (test_ds) shares 300 of its 300 images with the training set (train_ds): "
        "it was drawn from the training images"
    ]


def test_partial_overlaps_of_validation_and_test_are_each_named(canonical):
    records = [
        record("train_ds", paths(canonical, range(0, 1400))),
        record("val_ds", paths(canonical, range(1390, 1700))),
        record("test_ds", paths(canonical, range(1650, 2002))),
    ]
    assert judge_image_split(records, canonical).problems == [
        "the validation set (val_ds) shares 10 of its 310 images with the training set (train_ds): "
        "the two must be disjoint",
        "the test set (test_ds) shares 50 of its 352 images with the validation set (val_ds): the two must be disjoint",
    ]


def test_no_test_set_is_a_problem_and_a_missing_validation_set_is_not(canonical):
    split = judge_image_split(
        [record("train_ds", paths(canonical, range(1600))), record("holdout", paths(canonical, range(1600, 2002)))],
        canonical,
    )
    assert split.problems == ["no test set was found (no dataset or DataLoader named for it, like test_ds)"]
    assert split.describe() == "train `train_ds`: 1,600 images; validation: none found; test: none found"
    with_test = judge_image_split(
        [record("train_ds", paths(canonical, range(1600))), record("test_ds", paths(canonical, range(1600, 2002)))],
        canonical,
    )
    assert with_test.correct and with_test.validation is None


def test_files_that_are_not_the_datasets_images_are_named(canonical):
    records = [
        record("train_ds", [f"/content/PetImages/Cat/{i}.jpg" for i in range(1400)]),
        record("test_ds", [*paths(canonical, range(1700, 2000)), "/content/PetImages/Dog/1.jpg"]),
        record("val_ds", None, length=300),
    ]
    split = judge_image_split(records, canonical)
    assert split.problems == [
        "none of the 1,400 files the training set (train_ds) reads is an image of the dataset "
        "(for example /content/PetImages/Cat/0.jpg)",
        "1 of the 301 files the test set (test_ds) reads are not images of the dataset",
    ]
    assert split.unknown == [
        "which images the validation set (val_ds) holds could not be told: the probe found no image file its items read"
    ], "a part the probe cannot see into is for a TA, not a fault"
    assert split.train.indices is None and len(split.test.indices) == 300
    assert split.describe() == (
        "train `train_ds`: 1,400 images (which ones unknown); validation `val_ds`: 300 images (which ones unknown); "
        "test `test_ds`: 301 images"
    )


def test_roles_come_from_names_and_the_test_set_is_the_largest_with_files(canonical):
    whole = paths(canonical, range(2002))
    records = [
        record("dataset['train']", whole),
        record("split['train']", paths(canonical, range(1700))),
        record("split['test']", paths(canonical, range(1700, 2002))),
        record("train_val['train']", paths(canonical, range(1400))),
        record("train_val['test']", paths(canonical, range(1400, 1700))),
        record("testLoader", None, length=150, via="DataLoader"),
    ]
    split = judge_image_split(records, canonical)
    assert split.correct, split.problems
    assert (split.train.name, split.validation.name, split.test.name) == (
        "train_val['train']",
        "train_val['test']",
        "split['test']",
    ), "a split key of an ambiguous name is the part held out; a test set without files is passed over"
    named = [*records, record("x_test", paths(canonical, range(1800, 2002))), record("test_all", whole)]
    assert judge_image_split(named, canonical).test.name == "x_test", "a name of its own beats a split key"
    plotted = judge_image_split([*named, record("test_sample", paths(canonical, range(1900, 2002)))], canonical)
    assert plotted.test.name == "x_test", "among test sets, the largest that is not the whole data"
    assert plotted.correct, "a few test images kept to plot are part of the test set, not a problem"
    assert judge_image_split(records[:1], canonical).problems == [
        "no test set was found (no dataset or DataLoader named for it, like test_ds)"
    ]


def test_hugging_face_rows_are_traced_through_select_shuffle_filter_and_map(canonical, data_root):
    pets = datasets.Dataset.from_dict(
        {"image": [str(data_root / path) for path in canonical], "labels": ["/dog/" in path for path in canonical]}
    ).cast_column("image", datasets.Image())
    shuffled = pets.shuffle(seed=0)
    shuffled_paths = shuffled.cast_column("image", datasets.Image(decode=False))["image"]
    records = surveyed(
        {
            "train_ds": shuffled.select(range(1400)).with_transform(lambda batch: batch),
            "val_ds": shuffled.select(range(1400, 1700)).filter(lambda row: True),
            "test_ds": shuffled.select(range(1700, 2002)).map(lambda row: {"n": 1}),
            "tensors": pets.map(lambda row: {"pixels": [0.0]}, remove_columns=["image"]),
        }
    )
    split = judge_image_split(records, canonical)
    assert split.correct, split.problems
    assert split.test.indices == tuple(canonical_indices([row["path"] for row in shuffled_paths[1700:]], canonical)[0])
    assert records[3]["files"] is None, "a table without image paths tells no files"


class Folder(Dataset):
    """A DatasetFolder of as many made-up samples as a test needs, without files on disk."""

    def __init__(self, count: int, folder: str = "x") -> None:
        self.samples = [(f"/data/{folder}/{index:09d}.jpg", 0) for index in range(count)]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> int:
        return 0


def test_files_cross_the_wire_in_chunks_and_are_bounded_per_dataset_and_in_all():
    small, chunked, too_many = Folder(10), Folder(25_000), Folder(MAX_FILES + 1)
    raw = survey({"small": small, "chunked": chunked, "too_many": too_many})
    assert [len(chunk) for chunk in raw[1]["files"]] == [10_000, 10_000, 5_000] and raw[2]["files"] is None
    records = datasets_from_survey(raw).records
    assert records[1]["files"] == [path for path, _ in chunked.samples] and records[2]["files"] is None
    long_paths = Folder(150_000, folder="a-folder-name-long-enough-to-fill-the-budget")
    over_budget = survey({"long": long_paths, "after": small})
    assert over_budget[0]["files"] is None and over_budget[1]["files"] == [[path for path, _ in small.samples]]


def test_a_handful_of_test_images_beside_the_test_set_cannot_become_what_the_grader_measures(canonical):
    records = [
        record("train_ds", paths(canonical, range(1400))),
        record("val_ds", paths(canonical, range(1400, 1700))),
        record("test_ds", paths(canonical, range(1700, 2002))),
        record("test_vis", paths(canonical, range(1700, 1708))),
        record("test_easy", paths(canonical, range(1750, 1850))),
    ]
    split = judge_image_split(records, canonical)
    assert split.correct and split.test.name == "test_ds" and len(split.test.indices) == 302


def test_a_test_set_that_repeats_one_image_holds_that_image_once(canonical):
    records = [
        record("train_ds", paths(canonical, range(1400))),
        record("test_ds", [canonical[1500]] * 5000 + paths(canonical, range(1501, 1520))),
    ]
    split = judge_image_split(records, canonical)
    assert split.test.indices == (1500, *range(1501, 1520))
    assert split.problems == [
        "the test set (test_ds) lists 4,999 images again that it already holds; each image counts once, so it holds 20"
    ]


def test_a_loader_over_all_the_data_beside_a_disjoint_looking_train_subset_is_reported(canonical):
    whole = paths(canonical, range(2002))
    records = [
        record("dataset['train']", whole),
        record("train_ds", paths(canonical, range(1700))),
        record("test_ds", paths(canonical, range(1700, 2002))),
        record("train_loader", whole, via="DataLoader"),
    ]
    split = judge_image_split(records, canonical)
    assert split.train.name == "train_ds"
    assert split.problems == [
        "`train_loader`, named for training, holds 302 of the 302 test images (test_ds): "
        "the model may be trained on the test set"
    ], "the hub's whole split under a training name is no training set; a loader over it is"
