"""Judge a train / validation / test split of an image dataset by the images each part holds, for
assignments that fix no sizes (cats vs dogs): the probe's survey tells the file each item reads
(``files``), and each file is matched to the grader's canonical list of the dataset's images.

Roles come from the names notebooks give (``train_ds``, ``val_loader``, ``split['test']``); the
verdict rests on the images, so a test set drawn from the training images is caught whatever its size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

ROLES = ("train", "validation", "test")
ROLE_WORDS = {"train": ("train",), "validation": ("val", "dev", "eval"), "test": ("test",)}
"""A name's word starting with one of these names its role (``trainloader``, ``validation``, ``testset``)."""
ROLE_TEXT = {"train": "training set", "validation": "validation set", "test": "test set"}
SPLIT_KEY = re.compile(r"^(?P<variable>[^\[]*)\[(?P<key>.*)\]$")
WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


def _key(path: str) -> str:
    """What identifies an image wherever its folder was mounted: its last three path components."""
    return "/".join(path.replace("\\", "/").split("/")[-3:])


def canonical_indices(files: list[str], canonical: list[str]) -> tuple[list[int], int]:
    """Each path's index in the canonical list (matched by its last three components, so
    ``/data/cats_vs_dogs/cat/cat.0.jpg`` and ``C:\\data\\cats_vs_dogs\\cat\\cat.0.jpg`` are both
    ``cats_vs_dogs/cat/cat.0.jpg``), in the files' order, and how many paths matched nothing."""
    index = {_key(path): position for position, path in enumerate(canonical)}
    found = [index.get(_key(path)) for path in files]
    matched = [position for position in found if position is not None]
    return matched, len(found) - len(matched)


def _roles(text: str) -> set[str]:
    words = [word.lower() for word in WORD.findall(text)]
    return {role for role, starts in ROLE_WORDS.items() for word in words if word.startswith(starts)}


def _role(name: str) -> tuple[str | None, bool]:
    """The role a record's name gives it, and whether its own variable says so (strong) rather than
    a split key of a dictionary (``parts['test']``). A key that names no role of an ambiguous
    variable is the part held out of it: ``train_val['test']`` and ``test_valid['train']`` are
    validation sets."""
    split = SPLIT_KEY.match(name)
    variable = _roles(split["variable"] if split else name)
    if not split:
        return (next(iter(variable)), True) if len(variable) == 1 else (None, False)
    key = _roles(split["key"])
    if len(key) != 1:
        return (next(iter(variable)), False) if len(variable) == 1 else (None, False)
    (role,) = key
    if role not in variable and "validation" in variable:
        return "validation", False
    return role, False


@dataclass(frozen=True)
class SplitPart:
    """The record that plays a role: its name, its length, and the canonical indices of the images
    it holds in its own order (None when its files are unknown or none of them matched)."""

    name: str
    length: int
    indices: tuple[int, ...] | None

    def describe(self, role: str) -> str:
        unknown = "" if self.indices is not None else " (which ones unknown)"
        return f"{role} `{self.name}`: {self.length:,} images{unknown}"


@dataclass(frozen=True)
class ImageSplit:
    """The parts a notebook's split makes and what is wrong with it, in sentences for a report."""

    train: SplitPart | None = None
    validation: SplitPart | None = None
    test: SplitPart | None = None
    problems: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # parts whose images could not be told: for a TA, not wrong

    @property
    def correct(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        """One line for a report: each role's record and size."""
        parts = [(role, getattr(self, role)) for role in ROLES]
        return "; ".join(part.describe(role) if part else f"{role}: none found" for role, part in parts)


def _images(record: dict[str, Any], canonical: list[str]) -> frozenset[int]:
    files = record.get("files")
    return frozenset(canonical_indices(files, canonical)[0]) if files is not None else frozenset()


def _preference(record: dict[str, Any], strong: bool, whole: int, shares: bool) -> tuple:
    """Sort key, best first: a record with files, named by its own variable, not the whole data,
    sharing no image with the other roles' records (a training set that still holds its validation
    part is not the one trained on; a test set that holds the validation set is the pool both were
    split from), the largest (a handful of test images kept to plot is not the test set), then a
    DataLoader (what trains or evaluates)."""
    length = record["length"]
    return (
        record.get("files") is None,
        not strong,
        length >= whole,
        shares,
        -length,
        record.get("via") != "DataLoader",
    )


def _best(
    candidates: list[tuple[int, bool, dict[str, Any]]], canonical: list[str], held_out: list[frozenset[int]]
) -> dict[str, Any]:
    def key(candidate: tuple[int, bool, dict[str, Any]]) -> tuple:
        position, strong, record = candidate
        shares = bool(held_out) and any(_images(record, canonical) & images for images in held_out)
        return (*_preference(record, strong, len(canonical), shares), position)

    return min(candidates, key=key)[2]


def _choose(records: list[dict[str, Any]], canonical: list[str]) -> dict[str, dict[str, Any]]:
    """The record for each role: the test set first, then validation, then the training set."""
    named: dict[str, list[tuple[int, bool, dict[str, Any]]]] = {role: [] for role in ROLES}
    for position, record in enumerate(records):
        role, strong = _role(record["name"])
        if role is not None:
            named[role].append((position, strong, record))
    chosen: dict[str, dict[str, Any]] = {}
    for role in ("test", "validation", "train"):
        if role == "train":
            held_out = [_images(chosen[other], canonical) for other in chosen]
        else:
            held_out = [_images(record, canonical) for other in ROLES if other != role for _, _, record in named[other]]
        if named[role]:
            chosen[role] = _best(named[role], canonical, held_out)
    return {role: chosen[role] for role in ROLES if role in chosen}


def _part(
    role: str, record: dict[str, Any], canonical: list[str], problems: list[str], unknown: list[str]
) -> SplitPart:
    """The role's record with its images matched, noting in ``problems`` what could not be matched
    and in ``unknown`` a part whose items read no file the probe could see."""
    what = f"the {ROLE_TEXT[role]} ({record['name']})"
    files = record.get("files")
    if files is None:
        unknown.append(f"which images {what} holds could not be told: the probe found no image file its items read")
        return SplitPart(record["name"], record["length"], None)
    matched, unmatched = canonical_indices(files, canonical)
    indices = list(dict.fromkeys(matched))
    if len(indices) < len(matched) and role == "test":
        problems.append(
            f"{what} lists {len(matched) - len(indices):,} images again that it already holds; "
            f"each image counts once, so it holds {len(indices):,}"
        )
    if unmatched == len(files) and files:
        problems.append(
            f"none of the {len(files):,} files {what} reads is an image of the dataset (for example {files[0]})"
        )
    elif unmatched:
        problems.append(f"{unmatched:,} of the {len(files):,} files {what} reads are not images of the dataset")
    return SplitPart(record["name"], record["length"], tuple(indices) if indices else None)


def _overlap(part: SplitPart, part_role: str, other: SplitPart, other_role: str) -> str | None:
    """A sentence for the images ``part`` shares with ``other``, or None when they share none."""
    if part.indices is None or other.indices is None:
        return None
    own = set(part.indices)
    shared = len(own & set(other.indices))
    if not shared:
        return None
    how = (
        f"it was drawn from the {ROLE_TEXT[other_role].removesuffix(' set')} images"
        if shared == len(own)
        else "the two must be disjoint"
    )
    return (
        f"the {ROLE_TEXT[part_role]} ({part.name}) shares {shared:,} of its {len(own):,} images "
        f"with the {ROLE_TEXT[other_role]} ({other.name}): {how}"
    )


def judge_image_split(records: list[dict[str, Any]], canonical: list[str]) -> ImageSplit:
    """The split the notebook's datasets make, roles chosen by name (``_choose``), judged by the
    images each holds: a test set, disjoint from the training and validation sets, and a
    validation set (where there is one) disjoint from the training set."""
    problems: list[str] = []
    unknown: list[str] = []
    chosen = _choose(records, canonical)
    parts = {role: _part(role, record, canonical, problems, unknown) for role, record in chosen.items()}
    for role in ("train", "test"):
        if role not in parts:
            problems.append(f"no {ROLE_TEXT[role]} was found (no dataset or DataLoader named for it, like {role}_ds)")
    for part_role, other_role in (("test", "train"), ("validation", "train"), ("test", "validation")):
        if part_role in parts and other_role in parts:
            sentence = _overlap(parts[part_role], part_role, parts[other_role], other_role)
            if sentence:
                problems.append(sentence)
    problems.extend(_other_training_overlaps(records, chosen, parts, canonical))
    return ImageSplit(parts.get("train"), parts.get("validation"), parts.get("test"), problems, unknown)


def _other_training_overlaps(
    records: list[dict[str, Any]], chosen: dict[str, dict[str, Any]], parts: dict[str, SplitPart], canonical: list[str]
) -> list[str]:
    """A sentence for each record named for training, other than the training set chosen, that holds
    test images: a loader over all the data trains on the test set whatever subset is named train_ds.
    The whole data kept under a training name (``dataset['train']``, the hub's one split) is no
    training set unless a DataLoader reads it; another name for the chosen training set's images
    (its loader) says nothing new."""
    test = parts.get("test")
    if test is None or test.indices is None:
        return []
    held_out = set(test.indices)
    trained = _images(chosen["train"], canonical) if "train" in chosen else frozenset()
    sentences = []
    for record in records:
        if _role(record["name"])[0] != "train" or record is chosen.get("train"):
            continue
        images = _images(record, canonical)
        if images == trained:
            continue
        if len(images) >= len(canonical) and record.get("via") != "DataLoader":
            continue
        shared = len(images & held_out)
        if shared:
            sentences.append(
                f"`{record['name']}`, named for training, holds {shared:,} of the {len(held_out):,} test images "
                f"({test.name}): the model may be trained on the test set"
            )
    return sentences
