"""The neuron labels a team's CLIP-dissect runs wrote, read back for the Network Dissection task.

CLIP-dissect's ``describe_neurons.py`` writes ``descriptions.csv`` (``layer,unit,description,similarity``,
one row per neuron) and ``args.txt`` (its arguments as JSON) into ``results/<target_model>_<time>/``.
Teams commit them as written, renamed, or saved again with a pandas index column or semicolons, so a
file is recognised by its header, not its name. Every file is the team's: files, bytes, rows, layers
and text are all bounded, so a hostile CSV cannot make grading slow or large.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from checks.engine.repository_files import UnreadableFile, read_repository_file, repository_paths

MAX_FILES = 50
"""Tables considered per repository, those named like a dissection first."""
MAX_CSV_BYTES = 20 << 20
"""CLIP-dissect writes some 40 bytes per neuron: a whole ResNet18 is well under 100 kB."""
MAX_ARGS_BYTES = 64 << 10
MAX_ROWS = 100_000
MAX_TOTAL_ROWS = 300_000
"""Rows read from all of a repository's tables together, which bounds the labels kept in memory."""
MAX_LAYERS = 50
MAX_TEXT = 100
"""Characters kept of a description, a layer name or an argument."""
HEADER_BYTES = 4096
TABLE_SUFFIXES = (".csv", ".tsv")
SEPARATORS = (",", ";", "\t")
REQUIRED = ("layer", "unit", "description")
NAMED_LIKE_DISSECTION = re.compile(r"descri|dissect", re.IGNORECASE)
PLACES, IMAGENET, UNKNOWN = "ResNet18 Places365", "ResNet18 ImageNet", "unknown"
CHANNELS = {"conv1": 64, "layer1": 64, "layer2": 128, "layer3": 256, "layer4": 512, "avgpool": 512}
CLASSES = {IMAGENET: 1000, PLACES: 365}
LAYER_NAME = re.compile(r"(?:module\.|model\.)?(conv1|layer[1-4]|avgpool|fc)(?:\.|$)")
BRODEN_SUFFIX = re.compile(r"-[cmopst]$")
"""Broden's raw label names mark their category (red-c, kitchen-s); the cleaned concept set does not."""
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
SHOWN = 10


def _text(value: object) -> str:
    """A value the team wrote, as one short line safe to show."""
    return CONTROL.sub(" ", str(value))[:MAX_TEXT].strip()


def _concept(description: str) -> str:
    """The concept a description names, so 'Red-c', 'red' and ' red ' count together."""
    return BRODEN_SUFFIX.sub("", " ".join(_text(description).split()).lower())


def _model_named(text: str) -> str:
    lowered = text.lower()
    if "places" in lowered:
        return PLACES
    return IMAGENET if "imagenet" in lowered or "resnet18" in lowered else UNKNOWN


def _model_from_path(path: str) -> str:
    """The model a path names, the file name first, then its folders from the nearest up."""
    parts = PurePosixPath(path).parts
    return next((model for part in reversed(parts) if (model := _model_named(part)) != UNKNOWN), UNKNOWN)


def _expected(layer: str, model: str) -> int | None:
    """How many neurons ResNet18 has in ``layer`` (its output classes for ``fc``), when known."""
    match = LAYER_NAME.match(layer.lower())
    if match is None:
        return None
    return CLASSES.get(model) if match[1] == "fc" else CHANNELS[match[1]]


def _listing(counts: list[tuple[str, int]]) -> str:
    return ", ".join(f"{concept} ({count})" for concept, count in counts) or "none"


def _ranked(counts: Counter[str], n: int) -> list[tuple[str, int]]:
    """The ``n`` most counted, ties in name order."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]


@dataclass(frozen=True)
class LayerCount:
    layer: str
    labelled: int  # distinct units with a description
    expected: int | None  # neurons ResNet18 has there; None when the layer or model is not known

    @property
    def note(self) -> str | None:
        """The assignment asks for every neuron of the layers: say when some are missing."""
        if self.expected is not None and self.labelled < self.expected:
            return f"{self.layer}: {self.labelled} of its {self.expected} neurons labelled"
        return None

    def sentence(self) -> str:
        if self.note:
            return self.note
        if self.expected is None:
            return f"{self.layer}: {self.labelled} neurons labelled"
        return f"{self.layer}: all {self.expected} neurons labelled"


@dataclass(frozen=True)
class Dissection:
    """One CLIP-dissect output: its labels counted per layer and concept, its run's arguments, its problems."""

    path: str  # inside the repository
    model: str  # PLACES, IMAGENET or UNKNOWN
    layers: list[LayerCount] = field(default_factory=list)
    counts: dict[str, Counter[str]] = field(default_factory=dict)  # layer -> concept -> neurons
    problems: list[str] = field(default_factory=list)
    args_path: str | None = None
    target_model: str | None = None
    probe_dataset: str | None = None
    concept_set: str | None = None

    @property
    def concepts(self) -> set[str]:
        return {concept for counts in self.counts.values() for concept in counts}

    def concept_counts(self, layer: str | None = None) -> Counter[str]:
        """Neurons per concept in ``layer``, or in every layer read."""
        if layer is not None:
            return Counter(self.counts.get(layer, {}))
        return sum(self.counts.values(), Counter())

    def top_concepts(self, n: int = 10, layer: str | None = None) -> list[tuple[str, int]]:
        """The concepts most neurons learned, in the model or one layer, ties in name order."""
        return _ranked(self.concept_counts(layer), n)

    def sentences(self) -> list[str]:
        if self.args_path:
            run = ", ".join(
                f"{name} {value}"
                for name, value in (
                    ("target model", self.target_model),
                    ("probe data", self.probe_dataset),
                    ("concept set", self.concept_set),
                )
                if value
            )
            source = f"{self.args_path}: {run or 'no arguments read'}"
        else:
            source = "no args.txt beside it, model read from its path"
        said = [f"{self.path} labels neurons of {self.model} ({source})."]
        if self.layers:
            said.append("; ".join(layer.sentence() for layer in self.layers) + ".")
            said.append(f"Concepts most neurons learned: {_listing(self.top_concepts(SHOWN))}.")
        return said + [f"{problem}." for problem in self.problems]


@dataclass(frozen=True)
class Comparison:
    """What two dissected models learned in common and apart, as the assignment asks to compare."""

    first: str
    second: str
    shared: list[tuple[str, int, int]]  # concept, neurons in the first, in the second; most neurons first
    only_first: list[tuple[str, int]]
    only_second: list[tuple[str, int]]
    distinct_first: int
    distinct_second: int

    def sentences(self) -> list[str]:
        shared = ", ".join(f"{concept} ({one} + {other})" for concept, one, other in self.shared[:SHOWN]) or "none"
        return [
            f"{self.first} labels {self.distinct_first} distinct concepts, {self.second} {self.distinct_second};"
            f" {len(self.shared)} are shared.",
            f"Shared concepts by neurons: {shared}.",
            f"Only in {self.first}: {_listing(self.only_first[:SHOWN])}.",
            f"Only in {self.second}: {_listing(self.only_second[:SHOWN])}.",
        ]


def compare(a: Dissection, b: Dissection) -> Comparison:
    """The concepts two dissections share and those only one has, over all their layers."""
    one, other = a.concept_counts(), b.concept_counts()
    shared = sorted(
        ((concept, one[concept], other[concept]) for concept in one.keys() & other.keys()),
        key=lambda item: (-(item[1] + item[2]), item[0]),
    )
    names = (a.model, b.model) if a.model != b.model else (a.path, b.path)
    return Comparison(
        first=names[0],
        second=names[1],
        shared=shared,
        only_first=_ranked(Counter({c: n for c, n in one.items() if c not in other}), len(one)),
        only_second=_ranked(Counter({c: n for c, n in other.items() if c not in one}), len(other)),
        distinct_first=len(one),
        distinct_second=len(other),
    )


@dataclass
class _BadRows:
    """Rows of one kind of fault: how many, and the first line, for the TA to open."""

    count: int = 0
    first_line: int = 0

    def add(self, line: int) -> None:
        self.count += 1
        self.first_line = self.first_line or line

    def problems(self, what: str) -> list[str]:
        return [f"{self.count} row(s) {what} (first: line {self.first_line})"] if self.count else []


@dataclass
class _Tally:
    """What the rows of a descriptions table say, with the rows that could not be read counted."""

    units: dict[str, Counter[int]] = field(default_factory=dict)  # layer -> unit -> rows
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    unreadable: _BadRows = field(default_factory=_BadRows)
    not_numbers: _BadRows = field(default_factory=_BadRows)
    left_out: _BadRows = field(default_factory=_BadRows)  # rows of layers past MAX_LAYERS
    rows: int = 0
    lines: int = 0  # read, blank ones included: what the reading cost
    problems: list[str] = field(default_factory=list)

    def add(self, line: int, row: list[str], columns: dict[str, int]) -> None:
        cell = {name: row[index] if index < len(row) else "" for name, index in columns.items()}
        layer, unit, concept = _text(cell["layer"]), _unit(cell["unit"]), _concept(cell["description"])
        if not layer or unit is None or not concept:
            self.unreadable.add(line)
        elif layer not in self.units and len(self.units) >= MAX_LAYERS:
            self.left_out.add(line)
        else:
            if layer not in self.units:
                self.units[layer], self.counts[layer] = Counter(), Counter()
            self.units[layer][unit] += 1
            self.counts[layer][concept] += 1
            if "similarity" in cell and not _finite(cell["similarity"]):
                self.not_numbers.add(line)


def _unit(text: str) -> int | None:
    """A unit number as pandas writes it: '17', or '17.0' from a column that once held a gap."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if math.isfinite(value) and value.is_integer() else None


def _finite(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _header(data: bytes) -> tuple[str, dict[str, int]] | None:
    """The separator and the columns of a descriptions table, or None when ``data`` is some other table."""
    line = data[:HEADER_BYTES].split(b"\n", 1)[0].decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r")
    for separator in SEPARATORS:
        names = [name.strip().lower() for name in next(csv.reader([line], delimiter=separator), [])]
        if all(name in names for name in REQUIRED):
            return separator, {name: names.index(name) for name in (*REQUIRED, "similarity") if name in names}
    return None


def _tally(data: bytes, separator: str, columns: dict[str, int], limit: int) -> _Tally:
    """The first ``limit`` lines of a descriptions table (blank ones count: they cost as much to read); a row that
    breaks the CSV ends the reading."""
    tally = _Tally()
    reader = csv.reader(io.StringIO(data.decode("utf-8", errors="replace"), newline=""), delimiter=separator)
    try:
        next(reader, None)
        for row in reader:
            if tally.lines >= limit:
                spent = "" if limit == MAX_ROWS else f", as {MAX_TOTAL_ROWS} rows were read from all tables together"
                tally.problems.append(f"rows past its first {limit} were not read{spent}")
                break
            tally.lines += 1
            if not any(cell.strip() for cell in row):
                continue
            tally.rows += 1
            tally.add(reader.line_num, row, columns)
    except csv.Error as error:
        tally.problems.append(f"line {reader.line_num} is not CSV ({_text(error)}), so the rest was not read")
    tally.problems += tally.unreadable.problems("give no layer, unit number and description")
    tally.problems += tally.not_numbers.problems("have a similarity that is not a number")
    tally.problems += tally.left_out.problems(f"of layers past the first {MAX_LAYERS} were not read")
    if "similarity" not in columns:
        tally.problems.append("it has no similarity column")
    return tally


def _layer_problems(layer: str, units: Counter[int], expected: int | None) -> list[str]:
    """Units labelled twice, and more units (or higher numbers) than ResNet18's layer has."""
    found = []
    twice = sorted(unit for unit, rows in units.items() if rows > 1)
    if twice:
        found.append(f"{layer}: {len(twice)} unit(s) labelled more than once (first: unit {twice[0]})")
    if expected is not None and len(units) > expected:
        found.append(f"{layer}: {len(units)} neurons labelled, more than the {expected} ResNet18 has there")
    elif expected is not None and (outside := sorted(unit for unit in units if not 0 <= unit < expected)):
        found.append(f"{layer}: {len(outside)} unit(s) numbered outside 0-{expected - 1} (first: unit {outside[0]})")
    return found


def _args_path(path: str, paths: list[str], alone: bool) -> str | None:
    """The args.txt of this file's run: one named with the file's own tag (descriptions_places.csv,
    args_places.txt), else the folder's args.txt when no other dissection shares the folder."""
    folder, stem = PurePosixPath(path).parent, PurePosixPath(path).stem.lower()
    beside = [
        PurePosixPath(other)
        for other in paths
        if PurePosixPath(other).parent == folder
        and "args" in PurePosixPath(other).stem.lower()
        and PurePosixPath(other).suffix.lower() in (".txt", ".json")
    ]
    tag = re.sub(r"descriptions?|[^a-z0-9]", "", stem)
    tagged = [other for other in beside if tag and tag in re.sub(r"args|[^a-z0-9]", "", other.stem.lower())]
    if len(tagged) == 1:
        return tagged[0].as_posix()
    plain = [other for other in beside if other.name.lower() == "args.txt"]
    return plain[0].as_posix() if alone and plain else None


def _arguments(root: Path, path: str) -> dict[str, str]:
    """The arguments args.txt records that say what was dissected, each as short text."""
    try:
        raw = json.loads(read_repository_file(root, path, MAX_ARGS_BYTES).decode("utf-8", errors="replace"))
    except (UnreadableFile, ValueError, RecursionError) as error:
        raise ValueError(f"{path} could not be read as CLIP-dissect's arguments ({_text(error)})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path} is not a JSON object of CLIP-dissect's arguments")
    found = {name: _text(raw[name]) for name in ("target_model", "d_probe", "concept_set") if name in raw}
    layers = raw.get("target_layers")
    if isinstance(layers, str):
        layers = layers.split(",")
    if isinstance(layers, list):
        found["target_layers"] = ",".join(_text(layer) for layer in layers[:MAX_LAYERS])
    return found


def _dissection(root: Path, path: str, tally: _Tally, paths: list[str], alone: bool) -> Dissection:
    """The dissection a table's rows and its run's args.txt describe."""
    problems: list[str] = []
    arguments: dict[str, str] = {}
    args_path = _args_path(path, paths, alone)
    if args_path:
        try:
            arguments = _arguments(root, args_path)
        except ValueError as error:
            problems.append(str(error))
    named, target = _model_from_path(path), arguments.get("target_model")
    model = _model_named(target) if target else named
    if target and model == UNKNOWN:
        problems.append(f"{args_path} names target model {target}, not a ResNet18 of the assignment")
    elif target and UNKNOWN != named != model:
        problems.append(f"{args_path} names target model {target} but the path says {named}")
    layers = []
    for layer, units in tally.units.items():
        expected = _expected(layer, model)
        layers.append(LayerCount(layer, len(units), expected))
        problems += _layer_problems(layer, units, expected)
    for layer in filter(None, arguments.get("target_layers", "").split(",")):
        if layer not in tally.units:
            problems.append(f"{args_path} names layer {layer} but no neuron of it is labelled")
    return Dissection(
        path=path,
        model=model,
        layers=layers,
        counts=tally.counts,
        problems=tally.problems + problems,
        args_path=args_path,
        target_model=target,
        probe_dataset=arguments.get("d_probe"),
        concept_set=arguments.get("concept_set"),
    )


def _candidates(paths: list[str]) -> list[str]:
    """The tables to look into, those named like a dissection first, at most ``MAX_FILES``."""
    tables = [path for path in paths if PurePosixPath(path).suffix.lower() in TABLE_SUFFIXES]
    return sorted(tables, key=lambda path: not NAMED_LIKE_DISSECTION.search(PurePosixPath(path).name))[:MAX_FILES]


def read_dissections(root: Path) -> list[Dissection]:
    """Every CLIP-dissect output in the repository, in path order.

    A table too large or not safe to read counts only when its name says it is a dissection, and
    then stands with the reason and no labels: it cannot be recognised by a header it was not read for.
    """
    paths = repository_paths(root)
    tallies: dict[str, _Tally] = {}
    refused: list[Dissection] = []
    rows_left = MAX_TOTAL_ROWS
    for path in _candidates(paths):
        try:
            data = read_repository_file(root, path, MAX_CSV_BYTES)
        except UnreadableFile as error:
            if NAMED_LIKE_DISSECTION.search(PurePosixPath(path).name):
                refused.append(Dissection(path, _model_from_path(path), problems=[f"{error}, so it was not read"]))
            continue
        if header := _header(data):
            tallies[path] = _tally(data, *header, min(MAX_ROWS, rows_left))
            rows_left -= tallies[path].lines
    folders = Counter(PurePosixPath(path).parent for path in tallies)
    found = [
        _dissection(root, path, tally, paths, folders[PurePosixPath(path).parent] == 1)
        for path, tally in tallies.items()
    ]
    return sorted(found + refused, key=lambda dissection: dissection.path)
