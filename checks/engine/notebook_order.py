"""The order a split submission's notebooks must run in, read from the files they write and read.

A student who splits an assignment into a training notebook and a probing notebook saves the
model in one and loads it in the other; name order can run them backwards, and every probing
cell then fails. The code cells are read with ``ast`` (never run) for the files each notebook
writes (``torch.save``, ``np.save``, ``open(p, 'w')``, ``savefig``, ``to_csv`` ...) and reads
(``torch.load``, ``np.load``, ``open(p)``, ``pd.read_csv``, ``Image.open`` ...), with paths given
as literals, f-strings, ``os.path.join``, ``/`` or ``+`` of literals, or names bound to them.
Files are compared by their final name, since a notebook on Colab and one here see different
folders. Everything the student wrote is hostile: cells, source, names, depth, the pieces of a path and
its length are bounded, so no expression makes the grader build a long string.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import nbformat

from checks.engine.cell_code import parsed_cell

MAX_NOTEBOOKS = 32
MAX_CELLS = 2000
MAX_CELL_CHARS = 200_000
MAX_NOTEBOOK_CHARS = 2_000_000
MAX_FILES = 500
MAX_NAME_CHARS = 255
MAX_DEPTH = 24
MAX_PATH_CHARS = 4096
"""The longest path text kept: a longer literal or concatenation is not a path (and never built)."""
MAX_PIECES = 64
"""The most pieces an f-string or ``join`` of a path may have; one with more is not read."""
MAX_NOTES = 20
MAX_LISTED_FILES = 100_000

URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

WRITE_CALLS = {
    "save": 0,
    "savez": 0,
    "savez_compressed": 0,
    "savetxt": 0,
    "savefig": 0,
    "imsave": 0,
    "imwrite": 0,
    "to_csv": 0,
    "to_pickle": 0,
    "to_json": 0,
    "to_parquet": 0,
    "to_excel": 0,
    "save_image": 1,
    "dump": 1,
    "write_text": None,
    "write_bytes": None,
}
"""Function or method name -> the argument holding the path (None: the ``Path(...)`` it is called on)."""
READ_CALLS = {
    "load": 0,
    "loadtxt": 0,
    "genfromtxt": 0,
    "read_csv": 0,
    "read_pickle": 0,
    "read_json": 0,
    "read_parquet": 0,
    "read_excel": 0,
    "imread": 0,
    "read_image": 0,
    "load_model": 0,
    "read_text": None,
    "read_bytes": None,
}
PATH_KEYWORDS = ("f", "file", "fname", "filename", "filepath", "fp", "path", "path_or_buf", "filepath_or_buffer")
TORCH_MODULES = {"torch", "th", "jit"}
NUMPY_MODULES = {"np", "numpy"}
NUMPY_SUFFIXES = {"save": ".npy", "savez": ".npz", "savez_compressed": ".npz"}
OPEN_MODULES = {"io", "codecs", "gzip", "bz2", "lzma"}
IMAGE_MODULES = {"Image", "PIL"}
PATH_CLASSES = {"Path", "PurePath", "PosixPath"}
WRITE_MODE_LETTERS = set("wax+")


@dataclass(frozen=True)
class NotebookFiles:
    """The files one notebook writes, and those it reads before writing them itself (its needs)."""

    name: str
    writes: frozenset[str]
    needs: frozenset[str]


@dataclass(frozen=True)
class RunOrder:
    """Notebook names in the order they run, why, and the files no notebook of the submission provides."""

    names: tuple[str, ...]
    by_files: bool
    provides: dict[str, tuple[str, ...]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def sentence(self) -> str:
        """The flag's words: 'in the order their files require: B.ipynb (writes model.pth) then A.ipynb',
        or 'in name order: A.ipynb then B.ipynb'."""
        if not self.by_files:
            return "in name order: " + " then ".join(self.names)
        parts = [
            f"{name} (writes {', '.join(self.provides[name])})" if self.provides.get(name) else name
            for name in self.names
        ]
        return "in the order their files require: " + " then ".join(parts)


def notebook_files(name: str, notebook: nbformat.NotebookNode) -> NotebookFiles:
    """What one notebook writes and needs, from its code cells in order; unreadable cells are skipped."""
    reader = _FileReader()
    budget = MAX_NOTEBOOK_CHARS
    for cell in notebook.get("cells", [])[:MAX_CELLS]:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        if not isinstance(source, str):
            continue
        budget -= len(source)
        if budget < 0:
            break
        tree = parsed_cell(source) if len(source) <= MAX_CELL_CHARS else None
        if tree is not None:
            reader.read_cell(tree)
    return NotebookFiles(name, frozenset(reader.writes), frozenset(reader.needs))


def order_notebooks(parts: Sequence[tuple[str, nbformat.NotebookNode]], available: Collection[str] = ()) -> RunOrder:
    """Run order for notebooks given in name order: one that needs a file another writes runs after it.

    Notebooks that need each other's files (a cycle) keep name order among themselves. ``available`` are
    file names the notebooks may read without any notebook writing them (shipped files, data files).
    """
    files = [notebook_files(name, notebook) for name, notebook in parts[:MAX_NOTEBOOKS]]
    after = {
        reader: {
            writer for writer in range(len(files)) if writer != reader and files[writer].writes & files[reader].needs
        }
        for reader in range(len(files))
    }
    order, by_files = _ordered(after)
    names = tuple(files[index].name for index in order) + tuple(name for name, _ in parts[MAX_NOTEBOOKS:])
    provides = {}
    for position, writer in enumerate(order):
        later_needs = set().union(*(files[reader].needs for reader in order[position + 1 :]))
        provided = sorted(files[writer].writes & later_needs)
        if provided:
            provides[files[writer].name] = tuple(provided)
    written = set().union(*(entry.writes for entry in files))
    notes = [
        f"{files[index].name} reads {missing}, which no notebook of this submission writes"
        for index in order
        for missing in sorted(files[index].needs - written - set(available))
    ]
    return RunOrder(names, by_files, provides, tuple(notes[:MAX_NOTES]))


def file_names_in(folder: Path) -> frozenset[str]:
    """The final names of the files under ``folder`` (a submission or the data directory), bounded."""
    names: set[str] = set()
    if not folder.is_dir():
        return frozenset()
    for _, _, files in os.walk(folder):
        names.update(files)
        if len(names) >= MAX_LISTED_FILES:
            break
    return frozenset(names)


@lru_cache(maxsize=4)
def data_file_names(root: Path) -> frozenset[str]:
    """Files the grading data directory holds; a notebook may read them though no notebook writes them."""
    return file_names_in(root)


def _ordered(after: dict[int, set[int]]) -> tuple[list[int], bool]:
    """Topological order of the groups of notebooks that need each other, ties by name; and whether
    a dependency between different groups decided anything."""
    reaches = {node: _reachable(node, after) for node in after}
    group_of = {
        node: min(other for other in after if other == node or (other in reaches[node] and node in reaches[other]))
        for node in after
    }
    groups = sorted(set(group_of.values()))
    waits_for = {
        group: {group_of[writer] for node in after if group_of[node] == group for writer in after[node]} - {group}
        for group in groups
    }
    order: list[int] = []
    done: set[int] = set()
    while len(done) < len(groups):
        ready = min(group for group in groups if group not in done and waits_for[group] <= done)
        done.add(ready)
        order.extend(node for node in sorted(after) if group_of[node] == ready)
    return order, any(waits_for.values())


def _reachable(start: int, after: dict[int, set[int]]) -> set[int]:
    """Notebooks ``start`` waits for, directly or through others."""
    seen: set[int] = set()
    stack = list(after[start])
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(after[node])
    return seen


@dataclass(frozen=True)
class _Text:
    """A path expression's known ending; ``whole`` when it is the entire string."""

    text: str
    whole: bool


class _FileReader:
    """Walks a notebook's cells in order, keeping names bound to path strings at the top level."""

    def __init__(self) -> None:
        self.constants: dict[str, _Text] = {}
        self.writes: set[str] = set()
        self.needs: set[str] = set()

    def read_cell(self, tree: ast.Module) -> None:
        for statement in tree.body:
            calls = [node for node in ast.walk(statement) if isinstance(node, ast.Call)]
            for call in sorted(calls, key=lambda node: (node.lineno, node.col_offset)):
                self._read_call(call)
            if isinstance(statement, ast.Assign | ast.AnnAssign) and statement.value is not None:
                targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                self._bind(targets, self._text(statement.value, 0))

    def _bind(self, targets: list[ast.expr], value: _Text | None) -> None:
        """Names bound at the top level to a path string; any other binding forgets the name."""
        for target in targets:
            if not isinstance(target, ast.Name):
                continue
            if value is None or len(self.constants) >= MAX_FILES:
                self.constants.pop(target.id, None)
            else:
                self.constants[target.id] = value

    def _read_call(self, call: ast.Call) -> None:
        name, owner = _called(call.func)
        if name is None:
            return
        if name == "open" and (owner is None or owner in OPEN_MODULES):
            self._opened(_argument(call, 0, ("file",)), _argument(call, 1, ("mode",)))
        elif name == "open" and owner in IMAGE_MODULES:
            self._touch(_argument(call, 0, ("fp",)), write=False)
        elif name == "open" and _path_object(call.func):
            self._opened(_path_object(call.func), _argument(call, 0, ("mode",)))
        elif name in WRITE_CALLS:
            suffix = NUMPY_SUFFIXES.get(name) if owner in NUMPY_MODULES else None
            self._touch(self._path_argument(call, name, WRITE_CALLS[name], owner), write=True, suffix=suffix)
        elif name in READ_CALLS:
            self._touch(self._path_argument(call, name, READ_CALLS[name], owner), write=False)

    def _path_argument(self, call: ast.Call, name: str, position: int | None, owner: str | None) -> ast.expr | None:
        if position is None:
            return _path_object(call.func)
        if name == "save" and owner in TORCH_MODULES:
            position = 1
        return _argument(call, position, PATH_KEYWORDS)

    def _opened(self, path: ast.expr | None, mode: ast.expr | None) -> None:
        if mode is None:
            self._touch(path, write=False)
        elif isinstance(mode, ast.Constant) and isinstance(mode.value, str):
            letters = set(mode.value)
            if "r" in letters or not letters & WRITE_MODE_LETTERS:
                self._touch(path, write=False)
            if letters & WRITE_MODE_LETTERS:
                self._touch(path, write=True)

    def _touch(self, path: ast.expr | None, write: bool, suffix: str | None = None) -> None:
        """Record a file; ``suffix`` is the one NumPy adds to a name that lacks it."""
        final = _final_name(self._text(path, 0)) if path is not None else None
        if final is None or len(self.writes) + len(self.needs) >= MAX_FILES:
            return
        if write:
            self.writes.add(final if suffix is None or final.endswith(suffix) else final + suffix)
        elif final not in self.writes:
            self.needs.add(final)

    def _text(self, node: ast.expr, depth: int) -> _Text | None:
        """The known ending of a string expression, or None when nothing of it is known."""
        if depth > MAX_DEPTH:
            return None
        if isinstance(node, ast.Constant):
            text = node.value
            return _Text(text, True) if isinstance(text, str) and len(text) <= MAX_PATH_CHARS else None
        if isinstance(node, ast.Name):
            return self.constants.get(node.id)
        if isinstance(node, ast.JoinedStr) and len(node.values) <= MAX_PIECES:
            return self._joined(self._piece(value, depth + 1) for value in node.values)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self._joined([self._text(node.left, depth + 1), self._text(node.right, depth + 1)])
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            return self._joined([self._text(node.left, depth + 1), _Text("/", True), self._text(node.right, depth + 1)])
        if isinstance(node, ast.Call):
            name, _ = _called(node.func)
            if name == "join" and 0 < len(node.args) <= MAX_PIECES and not node.keywords:
                pieces = []
                for argument in node.args:
                    pieces += [self._text(argument, depth + 1), _Text("/", True)]
                return self._joined(pieces[:-1])
            if name in PATH_CLASSES and len(node.args) == 1 and not node.keywords:
                return self._text(node.args[0], depth + 1)
        return None

    def _piece(self, value: ast.expr, depth: int) -> _Text | None:
        if isinstance(value, ast.FormattedValue):
            return self._text(value.value, depth) if value.format_spec is None and value.conversion == -1 else None
        return self._text(value, depth)

    @staticmethod
    def _joined(pieces: Iterable[_Text | None]) -> _Text | None:
        """Concatenation: what follows the last unknown piece is known; all of it when nothing is unknown.

        The known text is kept as pieces and joined once; past ``MAX_PATH_CHARS`` it is dropped (until an
        unknown piece starts a new ending), so repeating a long name builds nothing.
        """
        parts: list[str] | None = []  # None: the text so far ends in an unknown piece
        length, whole, too_long = 0, True, False
        for piece in pieces:
            if piece is None:
                parts, length, whole, too_long = None, 0, False, False
                continue
            if parts is None or not piece.whole:
                parts, length, too_long = [], 0, False
                whole = whole and piece.whole
            length += len(piece.text)
            too_long = too_long or length > MAX_PATH_CHARS
            if not too_long:
                parts.append(piece.text)
        if parts is None or too_long:
            return None
        return _Text("".join(parts), whole)


def _final_name(path: _Text | None) -> str | None:
    """The file name a path ends in; None for a folder, a URL or a name not fully known."""
    if path is None or (path.whole and URL_SCHEME.match(path.text)):
        return None
    if not path.whole and "/" not in path.text:
        return None
    final = path.text.rsplit("/", 1)[-1]
    if final in ("", ".", "..") or len(final) > MAX_NAME_CHARS:
        return None
    return final


def _called(func: ast.expr) -> tuple[str | None, str | None]:
    """(function name, the name it is looked up on) for ``f(...)``, ``m.f(...)`` and ``a.m.f(...)``."""
    if isinstance(func, ast.Name):
        return func.id, None
    if isinstance(func, ast.Attribute):
        owner = func.value
        if isinstance(owner, ast.Name):
            return func.attr, owner.id
        if isinstance(owner, ast.Attribute):
            return func.attr, owner.attr
        return func.attr, ""
    return None, None


def _path_object(func: ast.expr) -> ast.expr | None:
    """The path of ``Path(p).open(...)`` / ``Path(p).write_text(...)``."""
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call):
        name, _ = _called(func.value.func)
        if name in PATH_CLASSES and len(func.value.args) == 1:
            return func.value
    return None


def _argument(call: ast.Call, position: int, keywords: Sequence[str]) -> ast.expr | None:
    if len(call.args) > position and not any(isinstance(arg, ast.Starred) for arg in call.args[: position + 1]):
        return call.args[position]
    return next((keyword.value for keyword in call.keywords if keyword.arg in keywords), None)
