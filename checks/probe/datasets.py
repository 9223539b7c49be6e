"""The datasets a notebook built, whatever it named them: sizes, which part of their data they are,
and the indices of subsets (``random_split`` / ``Subset``, or a Hugging Face dataset's ``select`` /
``train_test_split``), so the grader can judge a train / validation / test split by length and
disjointness. Runs inside the kernel.
"""

from __future__ import annotations

import re
from typing import Any

PARTS = (
    ("train", re.compile(r"^train", re.IGNORECASE)),
    ("validation", re.compile(r"^(val|dev)", re.IGNORECASE)),
    ("test", re.compile(r"^test", re.IGNORECASE)),
)


def _is_hugging_face(value: Any) -> bool:
    """A Hugging Face ``datasets.Dataset`` (not a torch Dataset), told by its type, without importing it."""
    return type(value).__module__.startswith("datasets.") and hasattr(value, "num_rows") and hasattr(value, "_data")


def _is_hugging_face_dict(value: Any) -> bool:
    return type(value).__module__.startswith("datasets.") and isinstance(value, dict)


def _part_named(name: Any) -> str | None:
    """'train', 'validation' or 'test' when ``name`` (a split such as "train[:80%]", a folder) says so."""
    text = str(name).replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return next((part for part, pattern in PARTS if pattern.match(text)), None)


def _part(base: Any) -> str | None:
    """Which part of its data a dataset is, by its own evidence: torchvision's ``train`` flag, a
    ``split`` (Hugging Face, SVHN, ...), or an image folder's directory name; None when it says nothing."""
    train = getattr(base, "train", None)
    if isinstance(train, bool):
        return "train" if train else "test"
    split = getattr(base, "split", None)
    if split is not None:
        return _part_named(split)
    root = getattr(base, "root", None)
    return _part_named(root) if isinstance(root, str) and hasattr(base, "samples") else None


def _root(dataset: Any) -> tuple[Any, Any]:
    """The underlying dataset and, for a (nested) Subset, its indices into that dataset."""
    indices = None
    while hasattr(dataset, "dataset") and hasattr(dataset, "indices"):
        own = list(dataset.indices)
        indices = own if indices is None else [own[i] for i in indices]
        dataset = dataset.dataset
    return dataset, indices


def _hugging_face_rows(dataset: Any, indices: list[int] | None) -> tuple[int, int, list[int] | None]:
    """The identity and length of the table a Hugging Face dataset reads, and ``indices`` (into the
    dataset) as indices into that table: ``select``, ``shuffle`` and ``train_test_split`` keep the
    parent's table, whose memory identifies it, and add a mapping (a contiguous ``select(range(a, b))``
    slices the table instead, and reads as data of its own)."""
    table = dataset._data.table
    try:
        identity = next(buffer.address for buffer in table.column(0).chunk(0).buffers() if buffer is not None)
    except Exception:
        identity = id(table)
    if dataset._indices is not None:
        mapping = dataset._indices.column("indices").to_pylist()
        indices = mapping if indices is None else [mapping[i] for i in indices]
    return identity, table.num_rows, indices


def _describe_dataset(name: str, dataset: Any, via: str | None) -> dict[str, Any]:
    import torch

    base, indices = _root(dataset)
    base_id, base_length = id(base), len(base)
    if _is_hugging_face(base):
        base_id, base_length, indices = _hugging_face_rows(base, indices)
    return {
        "name": name,
        "via": via,
        "type": type(dataset).__name__,
        "length": len(dataset),
        "base_type": type(base).__name__,
        "base_id": base_id,
        "base_length": base_length,
        "base_part": _part(base),
        "indices": torch.tensor(indices, dtype=torch.int64) if indices is not None else None,
    }


def survey(namespace: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Dataset bound to a public name (a Hugging Face one too, and each split of a
    ``DatasetDict`` as ``name['split']``), and every DataLoader's dataset (named after the loader)."""
    from torch.utils.data import DataLoader, Dataset

    found = []
    for name, value in list(namespace.items()):
        if name.startswith("_"):
            continue
        try:
            if isinstance(value, DataLoader):
                found.append(_describe_dataset(name, value.dataset, via="DataLoader"))
            elif (isinstance(value, Dataset) and hasattr(value, "__len__")) or _is_hugging_face(value):
                found.append(_describe_dataset(name, value, via=None))
            elif _is_hugging_face_dict(value):
                found.extend(
                    _describe_dataset(f"{name}[{key!r}]", split, via=None)
                    for key, split in value.items()
                    if _is_hugging_face(split)
                )
        except Exception:
            continue
    return found
