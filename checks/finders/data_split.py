"""Judge a notebook's train / validation / test split from the datasets it holds
(``checks.probe.datasets.survey``), by length, origin and disjointness rather than by name."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any



@dataclass(frozen=True)
class SplitSizes:
    train: int = 50_000
    validation: int = 10_000
    test: int = 10_000

    @property
    def pool(self) -> int:
        return self.train + self.validation


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
    return [e for e in entries if e["length"] == length and e["indices"] is not None
            and e["base_length"] == sizes.pool and e["base_train"] is not False]


def judge_split(entries: list[dict[str, Any]], sizes: SplitSizes = SplitSizes()) -> SplitFinding:
    finding = SplitFinding()
    trains = _subsets_of_pool(entries, sizes.train, sizes)
    validations = _subsets_of_pool(entries, sizes.validation, sizes)
    tests = [e for e in entries if e["length"] == sizes.test and e["base_train"] is False]
    finding.test = _label(tests[0]) if tests else None
    pairs = [(t, v) for t in trains for v in validations if t["base_id"] == v["base_id"]]
    disjoint = [(t, v) for t, v in pairs if not set(t["indices"].tolist()) & set(v["indices"].tolist())]
    if disjoint:
        train, validation = disjoint[0]
        finding.train, finding.validation = _label(train), _label(validation)
    elif pairs:
        train, validation = pairs[0]
        shared = len(set(train["indices"].tolist()) & set(validation["indices"].tolist()))
        finding.train, finding.validation = _label(train), _label(validation)
        finding.problems.append(f"{train['name']} and {validation['name']} share {shared:,} images; "
                                "the training and validation sets must be disjoint")
    else:
        if trains:
            finding.train = _label(trains[0])
        named_validation = [e for e in entries if re.search(r"val", e["name"], re.IGNORECASE)]
        on_test = [e for e in named_validation if e["base_train"] is False]
        if on_test:
            finding.problems.append(f"the validation data ({_label(on_test[0])}) is the test set: "
                                    f"split the {sizes.pool:,} training images {sizes.train:,} / {sizes.validation:,}")
        else:
            seen = ", ".join(sorted({_label(e) for e in entries})) or "no datasets"
            finding.problems.append(f"no disjoint {sizes.train:,} / {sizes.validation:,} split of the "
                                    f"{sizes.pool:,} training images was found (found {seen})")
    if not tests:
        finding.problems.append(f"no {sizes.test:,}-image test set (MNIST train=False) was found")
    return finding
