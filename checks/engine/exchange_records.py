"""What the kernel reports (events, figure records), validated field by field on read.

The probe writes these inside the student's kernel, so any of them may be forged or
malformed. Each record is rebuilt here from the fields the grader knows, with their types
and sizes checked; a record that does not fit is dropped and counted, so nothing
malformed reaches a check or a template. A figure record leaves here with every field its
type declares, defaults filled for what the probe left out, so checks read fields directly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypedDict, TypeVar

import torch

from checks.probe.datasets import MAX_FILES
from checks.probe.wire import MAX_ITEMS

MAX_TEXT = 500
MAX_TITLE = 2000
MAX_EVENTS = 2000
MAX_FIGURES = 400
MAX_AXES = 256
MAX_IMAGES_PER_AXES = 128
MAX_LINES_PER_AXES = 64
MAX_LINE_POINTS = 10_000
MAX_SHAPE_RANK = 6
MAX_DATASETS = 64
MAX_DATASET_ITEMS = 10_000_000
MAX_FILE_PATH = 1_024
DATASET_PARTS = ("train", "validation", "test")
SHIM_NAMES = {
    "pip",
    "input",
    "drive.mount",
    "files.download",
    "files.upload",
    "download",
    "weights",
    "dataset",
    "hf_dataset",
    "cuda",
    "drive_folder",
    "compat",
    "shell",  # a shell command refused at once (git clone, a download, a script the repository lacks)
    "path",  # a missing image path read from the data directory's file of that name
}
SHIM_TEXT_FIELDS = (
    "command",
    "prompt",
    "mountpoint",
    "file",
    "url",
    "served",
    "weights",
    "dataset",
    "root",
    "call",
    "note",
    "path",
    "api",
    "outcome",
)
SHIM_LISTS = ("packages", "refused_packages")  # what one `pip install` asked for, and what it could not have
MAX_SHIM_LIST = 32
MAX_PACKAGE_TEXT = 100
SHIM_FLAGS = ("stand_in", "refused")
RECORD_FORMAT = 1
"""The layout of ``FigureRecord`` below; every record carries it into the figures/*.json the grader keeps,
so a tool reading those files later knows which fields to expect."""


class Malformed(ValueError):
    pass


class ImageRecord(TypedDict):
    """One ``imshow`` image of a panel."""

    cmap: str | None
    shape: list[int]
    vmin: float | None
    vmax: float | None
    norm: str  # the class name of its normalisation, "" when unknown
    array: str | None  # the file of its values (the kernel's, then the grader's copy); None when none or refused


class CollectionRecord(TypedDict):
    """One collection of a panel (a ``pcolormesh``, a scatter)."""

    cmap: str | None
    shape: list[int]
    type: str


class LineRecord(TypedDict):
    label: str
    x: list[float | None]
    y: list[float | None]


class AxesRecord(TypedDict):
    """One panel of a figure; texts are "" when the notebook set none."""

    title: str
    title_left: str
    title_right: str
    xlabel: str
    ylabel: str
    xscale: str
    yscale: str
    legend: list[str]
    is_colorbar: bool
    has_colorbar: bool
    visible: bool
    grid: list[int] | None  # rows and columns of the subplot grid it belongs to, None outside one
    images: list[ImageRecord]
    collections: list[CollectionRecord]
    lines: list[LineRecord]


class FigureRecord(TypedDict):
    """One figure the notebook drew, as checks read it (format ``RECORD_FORMAT``)."""

    format: int
    figure: int
    cell: int | str | None  # a code cell's index, or ``call:<target>`` for what a grader call drew
    png: str | None  # the rendered figure's file; None once copied when the kernel's file was unusable
    saved_to: list[str]
    suptitle: str
    size_inches: list[float | None]
    axes: list[AxesRecord]


Record = TypeVar("Record")


@dataclass
class Validated(Generic[Record]):
    """Records that passed, and a note per kind of record that did not."""

    records: list[Record] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def text(value: Any, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise Malformed(f"expected text, found {type(value).__name__}")
    return value[:limit]


def optional_text(value: Any, limit: int = MAX_TEXT) -> str | None:
    return None if value is None else text(value, limit)


def flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Malformed(f"expected true or false, found {type(value).__name__}")
    return value


def number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise Malformed("expected a finite number")
    return float(value)


def count(value: Any, limit: int = 1 << 31) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise Malformed("expected a count")
    return value


def items(value: Any, limit: int, convert: Callable[[Any], Any]) -> list[Any]:
    if not isinstance(value, list) or len(value) > limit:
        raise Malformed(f"expected a list of at most {limit} items")
    return [convert(item) for item in value]


def cell_of(value: Any) -> int | str | None:
    """A notebook cell index, or ``call:<target>`` for what a grader call drew."""
    if value is None:
        return None
    if isinstance(value, str) and value.startswith("call:"):
        return value[:MAX_TEXT]
    return count(value, 100_000)


def event(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise Malformed("an event is not an object")
    kind = raw.get("kind")
    clean: dict[str, Any] = {"kind": kind, "cell": cell_of(raw.get("cell"))}
    if kind == "shim":
        if raw.get("shim") not in SHIM_NAMES:
            raise Malformed("unknown shim")
        clean["shim"] = raw["shim"]
        clean.update({key: text(raw[key]) for key in SHIM_TEXT_FIELDS if key in raw})
        clean.update({key: flag(raw[key]) for key in SHIM_FLAGS if key in raw})
        clean.update(
            {
                key: items(raw[key], MAX_SHIM_LIST, lambda name: text(name, MAX_PACKAGE_TEXT))
                for key in SHIM_LISTS
                if key in raw
            }
        )
    elif kind == "figure_capture_failed":
        clean["error"] = text(raw.get("error"))
    elif kind == "submission_files":
        clean["folder"] = text(raw.get("folder"))
    elif kind == "weights_changed":
        clean["model"] = text(raw.get("model"))
    elif kind == "snapshots_limited":
        clean["read"] = count(raw.get("read"))
    else:
        raise Malformed("unknown kind of event")
    return clean


def image(raw: Any) -> ImageRecord:
    if not isinstance(raw, dict):
        raise Malformed("an image entry is not an object")
    return {
        "cmap": optional_text(raw.get("cmap")),
        "shape": items(raw.get("shape"), MAX_SHAPE_RANK, count),
        "vmin": number(raw.get("vmin")),
        "vmax": number(raw.get("vmax")),
        "norm": text(raw.get("norm", "")),
        "array": optional_text(raw.get("array")),
    }


def collection(raw: Any) -> CollectionRecord:
    if not isinstance(raw, dict):
        raise Malformed("a collection entry is not an object")
    return {
        "cmap": optional_text(raw.get("cmap")),
        "shape": items(raw.get("shape"), MAX_SHAPE_RANK, count),
        "type": text(raw.get("type", "")),
    }


def line(raw: Any) -> LineRecord:
    if not isinstance(raw, dict):
        raise Malformed("a line entry is not an object")
    return {
        "label": text(raw.get("label", ""), MAX_TITLE),
        "x": items(raw.get("x"), MAX_LINE_POINTS, number),
        "y": items(raw.get("y"), MAX_LINE_POINTS, number),
    }


def axes(raw: Any) -> AxesRecord:
    if not isinstance(raw, dict):
        raise Malformed("an axes entry is not an object")
    grid = raw.get("grid")
    return {
        "title": text(raw.get("title", ""), MAX_TITLE),
        "title_left": text(raw.get("title_left", ""), MAX_TITLE),
        "title_right": text(raw.get("title_right", ""), MAX_TITLE),
        "xlabel": text(raw.get("xlabel", ""), MAX_TITLE),
        "ylabel": text(raw.get("ylabel", ""), MAX_TITLE),
        "xscale": text(raw.get("xscale", "linear")),
        "yscale": text(raw.get("yscale", "linear")),
        "legend": items(raw.get("legend", []), MAX_LINES_PER_AXES, lambda label: text(label, MAX_TITLE)),
        "is_colorbar": flag(raw.get("is_colorbar", False)),
        "has_colorbar": flag(raw.get("has_colorbar", False)),
        "visible": flag(raw.get("visible", True)),
        "grid": None if grid is None else items(grid, 2, lambda size: count(size, 1000)),
        "images": items(raw.get("images", []), MAX_IMAGES_PER_AXES, image),
        "collections": items(raw.get("collections", []), MAX_IMAGES_PER_AXES, collection),
        "lines": items(raw.get("lines", []), MAX_LINES_PER_AXES, line),
    }


def figure(raw: Any) -> FigureRecord:
    if not isinstance(raw, dict):
        raise Malformed("a figure record is not an object")
    return {
        "format": RECORD_FORMAT,
        "figure": count(raw.get("figure"), 1 << 20),
        "cell": cell_of(raw.get("cell")),
        "png": text(raw.get("png")),
        "saved_to": items(raw.get("saved_to", []), 16, text),
        "suptitle": text(raw.get("suptitle", ""), MAX_TITLE),
        "size_inches": items(raw.get("size_inches", []), 2, number),
        "axes": items(raw.get("axes", []), MAX_AXES, axes),
    }


def validate(raws: list[Any], convert: Callable[[Any], Record], what: str, limit: int) -> Validated[Record]:
    result: Validated[Record] = Validated()
    rejected = 0
    for raw in raws[:limit]:
        try:
            result.records.append(convert(raw))
        except Malformed:
            rejected += 1
    if rejected:
        result.dropped.append(f"{rejected} malformed {what} written by the kernel were ignored")
    if len(raws) > limit:
        result.dropped.append(f"{len(raws) - limit} {what} past the first {limit} were ignored")
    return result


def events_from_lines(data: bytes) -> Validated[dict[str, Any]]:
    """Events from the kernel's JSON lines; a line that is not JSON counts as malformed."""
    raws: list[Any] = []
    for line_bytes in data.splitlines()[: MAX_EVENTS + 1]:
        try:
            raws.append(json.loads(line_bytes))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            raws.append(None)
    return validate(raws, event, "events", MAX_EVENTS)


def figures_from_index(data: bytes) -> Validated[FigureRecord]:
    try:
        raws = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return Validated(dropped=["the figure index written by the kernel is not JSON; its figures were ignored"])
    if not isinstance(raws, list):
        return Validated(dropped=["the figure index written by the kernel is not a list; its figures were ignored"])
    return validate(raws, figure, "figure records", MAX_FIGURES)


def dataset_files(raw: Any, length: int) -> list[str] | None:
    """The file each item of a dataset reads, one bounded path per item, joined from the chunks the
    probe sends (the wire's lists hold at most ``MAX_ITEMS``); None when the probe could not tell."""
    if raw is None:
        return None
    if (
        length > MAX_FILES
        or not isinstance(raw, list)
        or len(raw) > MAX_FILES // MAX_ITEMS
        or not all(isinstance(chunk, list) and len(chunk) <= MAX_ITEMS for chunk in raw)
    ):
        raise Malformed("a dataset's files are not chunks of paths")
    files = [path for chunk in raw for path in chunk]
    if len(files) != length:
        raise Malformed("a dataset's files are not one path per item")
    if not all(isinstance(path, str) and len(path) <= MAX_FILE_PATH for path in files):
        raise Malformed(f"a dataset's files are not paths of at most {MAX_FILE_PATH:,} characters")
    return files


def dataset(raw: Any) -> dict[str, Any]:
    """One entry of the probe's dataset survey: its sizes typed and bounded, a subset's indices
    one distinct item of its dataset per element, and the files its items read one path per item,
    so what judges a split can trust them."""
    if not isinstance(raw, dict):
        raise Malformed("a dataset entry is not an object")
    length = count(raw.get("length"), MAX_DATASET_ITEMS)
    base_length = count(raw.get("base_length"), MAX_DATASET_ITEMS)
    part = raw.get("base_part")
    if part is not None and part not in DATASET_PARTS:
        raise Malformed("a dataset's part is not train, validation or test")
    base_id = raw.get("base_id")
    if isinstance(base_id, bool) or not isinstance(base_id, int):
        raise Malformed("a dataset's base is not identified by a number")
    indices = raw.get("indices")
    if indices is not None:
        if not (isinstance(indices, torch.Tensor) and indices.dtype == torch.int64 and indices.dim() == 1):
            raise Malformed("subset indices are not one integer per item")
        distinct = torch.unique(indices)
        if (
            len(indices) != length
            or len(distinct) != length
            or (length and not 0 <= distinct[0] <= distinct[-1] < base_length)
        ):
            raise Malformed("subset indices are not distinct items of their dataset, one per item")
    return {
        "name": text(raw.get("name")),
        "via": optional_text(raw.get("via")),
        "length": length,
        "base_type": text(raw.get("base_type")),
        "base_id": base_id,
        "base_length": base_length,
        "base_part": part,
        "indices": indices,
        "files": dataset_files(raw.get("files"), length),
    }


def datasets_from_survey(raws: Any) -> Validated[dict[str, Any]]:
    if not isinstance(raws, list):
        return Validated(dropped=["the dataset survey the kernel returned is not a list; it was ignored"])
    return validate(raws, dataset, "dataset entries", MAX_DATASETS)
