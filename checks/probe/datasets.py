"""The datasets a notebook built, whatever it named them: sizes, which part of their data they are,
and the indices of subsets (``random_split`` / ``Subset``, or a Hugging Face dataset's ``select`` /
``train_test_split``), so the grader can judge a train / validation / test split by length and
disjointness; and, for datasets whose rows read image files, which file each row reads, so a split
can be judged by the images it holds whatever the sizes. Runs inside the kernel.
"""

from __future__ import annotations

import json
import re
from itertools import islice
from typing import Any

from .wire import MAX_ITEMS

PARTS = (
    ("train", re.compile(r"^train", re.IGNORECASE)),
    ("validation", re.compile(r"^(val|dev)", re.IGNORECASE)),
    ("test", re.compile(r"^test", re.IGNORECASE)),
)
MAX_SPLITS = 16
"""The items of a dictionary looked at for datasets, at most."""
MAX_FILES = 200_000
"""Paths read per dataset, at most: beyond, which files it holds is not told."""
MAX_FILES_JSON = 8 << 20
"""The paths of all datasets together, as JSON, at most: the whole reply must stay under the wire's 16 MiB."""


def _is_hugging_face(value: Any) -> bool:
    """A Hugging Face ``datasets.Dataset`` (not a torch Dataset), told by its type, without importing it."""
    return type(value).__module__.startswith("datasets.") and hasattr(value, "num_rows") and hasattr(value, "_data")


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


def _rows(dataset: Any) -> tuple[Any, int, int, list[int] | None]:
    """The data a dataset reads in the end (through Subsets and a Hugging Face table's mapping), its
    identity and length, and the indices into it of the dataset's items (None: all, in order)."""
    base, indices = _root(dataset)
    if _is_hugging_face(base):
        return base, *_hugging_face_rows(base, indices)
    return base, id(base), len(base), indices


def _table_files(dataset: Any) -> list[str] | None:
    """The file each row of a Hugging Face dataset's table reads: the path its image column stores
    beside the bytes (read from Arrow, no image decoded). None when a row holds bytes alone, as
    images a ``map`` made do."""
    import pyarrow as pa
    import pyarrow.compute as pc

    images = [name for name, feature in dataset.features.items() if type(feature).__name__ == "Image"]
    column = "image" if "image" in images else next(iter(images), None)
    table = dataset._data.table
    if column is None or column not in table.column_names or table.num_rows > MAX_FILES:
        return None
    values = table.column(column)
    if not pa.types.is_struct(values.type) or values.type.get_field_index("path") < 0:
        return None
    paths = pc.struct_field(values, "path").to_pylist()
    return paths if all(isinstance(path, str) for path in paths) else None


def _folder_files(dataset: Any) -> list[str] | None:
    """The file each item of a torchvision ``DatasetFolder`` (``ImageFolder``) reads: its ``samples``."""
    samples = getattr(dataset, "samples", None)
    if not isinstance(samples, list) or len(samples) > MAX_FILES or len(samples) != len(dataset):
        return None
    paths = [sample[0] if isinstance(sample, tuple) and sample else None for sample in samples]
    return paths if all(isinstance(path, str) for path in paths) else None


def _wrapped(dataset: Any) -> Any:
    """The one image dataset a notebook's own Dataset class holds, of its own length (a Hugging Face
    dataset, an ImageFolder or a Subset of one), taken to be read item for item; else None."""
    length = len(dataset)
    held = [
        value
        for value in vars(dataset).values()
        if value is not dataset
        and (_is_hugging_face(value) or hasattr(value, "samples") or hasattr(value, "indices"))
        and hasattr(value, "__len__")
        and len(value) == length
    ]
    return held[0] if len(held) == 1 else None


def _wrapped_files(dataset: Any) -> list[str] | None:
    inner = _wrapped(dataset)
    if inner is None:
        return None
    base, _, _, indices = _rows(inner)
    return _files(base, indices, wrapped=False)


def _files(base: Any, indices: list[int] | None, wrapped: bool = True) -> list[str] | None:
    """The file each item reads: ``base``'s files (a Hugging Face table's rows, an ImageFolder's
    samples, or those of what a notebook's own class wraps), picked by ``indices``; None when it
    cannot be told or there are more than ``MAX_FILES``."""
    if (len(base) if indices is None else len(indices)) > MAX_FILES:
        return None
    files = _table_files(base) if _is_hugging_face(base) else _folder_files(base)
    if files is None and wrapped and not _is_hugging_face(base):
        files = _wrapped_files(base)
    if files is None or indices is None:
        return files
    if not all(0 <= index < len(files) for index in indices):
        return None
    return [files[index] for index in indices]


def _describe_dataset(name: str, dataset: Any, via: str | None) -> dict[str, Any]:
    import torch

    base, base_id, base_length, indices = _rows(dataset)
    try:
        files = _files(base, indices)
    except Exception:
        files = None
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
        "files": files,
    }


def _files_for_the_wire(entries: list[dict[str, Any]]) -> None:
    """Each entry's files in chunks of at most ``MAX_ITEMS`` paths (the wire's longest list); past
    ``MAX_FILES_JSON`` of paths in all, an entry's files are not told."""
    spent = 0
    for entry in entries:
        files = entry["files"]
        if files is None:
            continue
        size = len(json.dumps(files))
        if spent + size > MAX_FILES_JSON:
            entry["files"] = None
            continue
        spent += size
        entry["files"] = [files[start : start + MAX_ITEMS] for start in range(0, len(files), MAX_ITEMS)]


def _entries(name: str, value: Any, nested: bool = False) -> list[dict[str, Any]]:
    """The entries a value bound to ``name`` makes: a Dataset's or DataLoader's own, and one for each
    dataset or loader of a dictionary (a ``DatasetDict``'s splits, ``{'train': train_loader, ...}``)."""
    from torch.utils.data import DataLoader, Dataset

    try:
        if isinstance(value, DataLoader):
            return [_describe_dataset(name, value.dataset, via="DataLoader")]
        if (isinstance(value, Dataset) and hasattr(value, "__len__")) or _is_hugging_face(value):
            return [_describe_dataset(name, value, via=None)]
        if isinstance(value, dict) and not nested:
            return [
                entry
                for key, item in islice(value.items(), MAX_SPLITS)
                if isinstance(key, str)
                for entry in _entries(f"{name}[{key!r}]", item, nested=True)
            ]
    except Exception:
        pass
    return []


def survey(namespace: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Dataset bound to a public name (a Hugging Face one too), every DataLoader's dataset
    (named after the loader), and those of a dictionary as ``name['key']`` (each split of a
    ``DatasetDict``). An entry's ``files`` travel in chunks (``_files_for_the_wire``)."""
    found = [
        entry for name, value in list(namespace.items()) if not name.startswith("_") for entry in _entries(name, value)
    ]
    _files_for_the_wire(found)
    return found
