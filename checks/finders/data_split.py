"""Judge a notebook's train / validation / test split from the datasets it holds
(``checks.probe.datasets.survey``), by length, origin and disjointness rather than by name.

A dataset's origin is the part of its data it says it is (``base_part``: torchvision's ``train``
flag, a Hugging Face ``split``, an image folder's name), and, where it says nothing and the
assignment allows it, its length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SplitSizes:
    """The split an assignment asks for. Train and validation are disjoint subsets of one dataset
    (the pool); the test set is the test part of the data, or, with ``test_in_pool`` (data that
    ships one split, such as Hugging Face's cats_vs_dogs), a third disjoint subset of the pool.
    ``test_source`` says in messages where the test set should come from. ``unnamed_test`` lets a
    whole dataset of the test set's size that names no part stand for the test set, for data whose
    test part carries no name; off, only data that says it is the test part counts."""

    train: int = 50_000
    validation: int = 10_000
    test: int = 10_000
    test_in_pool: bool = False
    test_source: str = "MNIST train=False"
    unnamed_test: bool = False

    @property
    def pool(self) -> int:
        return self.train + self.validation + (self.test if self.test_in_pool else 0)


@dataclass
class SplitFinding:
    train: str | None = None
    validation: str | None = None
    test: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def correct(self) -> bool:
        return not self.problems


def _label(entry: dict[str, Any]) -> str:
    via = f" ({entry['via']})" if entry.get("via") else ""
    return f"{entry['name']}{via}: {entry['length']:,} images"


def _subsets_of_pool(entries: list[dict[str, Any]], length: int, sizes: SplitSizes) -> list[dict[str, Any]]:
    return [
        e
        for e in entries
        if e["length"] == length
        and e["indices"] is not None
        and e["base_length"] == sizes.pool
        and e["base_part"] != "test"
    ]


def _is_test_set(entry: dict[str, Any], sizes: SplitSizes) -> bool:
    """The test part of its data, or (when the sizes allow it) a whole dataset of the test set's
    size that names no part."""
    if entry["length"] != sizes.test:
        return False
    return entry["base_part"] == "test" or (
        sizes.unnamed_test
        and entry["base_part"] is None
        and entry["indices"] is None
        and entry["base_length"] == sizes.test
    )


def _indices(entry: dict[str, Any]) -> frozenset[int]:
    """A subset's indices as a set, built once per entry: pairs of entries compare them many times."""
    if "index_set" not in entry:
        entry["index_set"] = frozenset(entry["indices"].tolist())
    return entry["index_set"]


def _tests_in_pool(entries: list[dict[str, Any]], sizes: SplitSizes, *taken: dict[str, Any]) -> list[dict[str, Any]]:
    """Subsets of the test set's size of the pool ``taken`` come from, disjoint from them."""
    used = set().union(*(_indices(entry) for entry in taken))
    return [
        e
        for e in _subsets_of_pool(entries, sizes.test, sizes)
        if e["base_id"] == taken[0]["base_id"] and all(e is not entry for entry in taken) and not _indices(e) & used
    ]


def judge_split(entries: list[dict[str, Any]], sizes: SplitSizes = SplitSizes()) -> SplitFinding:
    finding = SplitFinding()
    trains = _subsets_of_pool(entries, sizes.train, sizes)
    validations = _subsets_of_pool(entries, sizes.validation, sizes)
    tests = [] if sizes.test_in_pool else [e for e in entries if _is_test_set(e, sizes)]
    pairs = [(t, v) for t in trains for v in validations if t["base_id"] == v["base_id"] and t is not v]
    disjoint = [(t, v) for t, v in pairs if not _indices(t) & _indices(v)]
    if disjoint:
        train, validation = disjoint[0]
        finding.train, finding.validation = _label(train), _label(validation)
        if sizes.test_in_pool:
            tests = _tests_in_pool(entries, sizes, train, validation)
    elif pairs:
        train, validation = pairs[0]
        shared = len(_indices(train) & _indices(validation))
        finding.train, finding.validation = _label(train), _label(validation)
        finding.problems.append(
            f"{train['name']} and {validation['name']} share {shared:,} images; "
            "the training and validation sets must be disjoint"
        )
    else:
        if trains:
            finding.train = _label(trains[0])
        named_validation = [e for e in entries if re.search(r"val", e["name"], re.IGNORECASE)]
        on_test = [e for e in named_validation if e["base_part"] == "test"]
        if on_test:
            finding.problems.append(
                f"the validation data ({_label(on_test[0])}) is the test set: "
                f"split the {sizes.pool:,} training images {sizes.train:,} / {sizes.validation:,}"
            )
        else:
            seen = ", ".join(sorted({_label(e) for e in entries})) or "no datasets"
            finding.problems.append(
                f"no disjoint {sizes.train:,} / {sizes.validation:,} split of the "
                f"{sizes.pool:,} training images was found (found {seen})"
            )
    finding.test = _label(tests[0]) if tests else None
    if not tests:
        finding.problems.append(f"no {sizes.test:,}-image test set ({sizes.test_source}) was found")
    return finding
