"""The datasets a notebook built, whatever it named them: sizes, which split they come from, and
the indices of subsets (``random_split`` / ``Subset``), so the grader can judge a train /
validation / test split by length and disjointness. Runs inside the kernel.
"""

from __future__ import annotations

from typing import Any


def _root(dataset: Any) -> tuple[Any, Any]:
    """The underlying dataset and, for a (nested) Subset, its indices into that dataset."""
    indices = None
    while hasattr(dataset, "dataset") and hasattr(dataset, "indices"):
        own = list(dataset.indices)
        indices = own if indices is None else [own[i] for i in indices]
        dataset = dataset.dataset
    return dataset, indices


def _describe_dataset(name: str, dataset: Any, via: str | None) -> dict[str, Any]:
    import torch

    base, indices = _root(dataset)
    return {
        "name": name,
        "via": via,
        "type": type(dataset).__name__,
        "length": len(dataset),
        "base_type": type(base).__name__,
        "base_id": id(base),
        "base_length": len(base),
        "base_train": getattr(base, "train", None),
        "indices": torch.tensor(indices, dtype=torch.int64) if indices is not None else None,
    }


def survey(namespace: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Dataset bound to a public name, and every DataLoader's dataset (named after the loader)."""
    from torch.utils.data import DataLoader, Dataset

    found = []
    for name, value in list(namespace.items()):
        if name.startswith("_"):
            continue
        try:
            if isinstance(value, DataLoader):
                found.append(_describe_dataset(name, value.dataset, via="DataLoader"))
            elif isinstance(value, Dataset) and hasattr(value, "__len__"):
                found.append(_describe_dataset(name, value, via=None))
        except Exception:
            continue
    return found
