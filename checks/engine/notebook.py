"""Loading student notebooks safely, and the quick-mode extraction of their definitions.

Every way a notebook can be malformed becomes an ``InvalidNotebook`` with a sentence a
student can act on; nothing here lets a bad file raise anything else.
"""

from __future__ import annotations

import ast
import builtins
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from IPython.core.inputtransformer2 import TransformerManager

from checks.engine.cell_code import parse_python

MAX_NOTEBOOK_BYTES = 50 << 20
SUPPORTED_MAJOR_VERSIONS = (3, 4)
VALID_CELL_TYPES = {"code", "markdown", "raw"}
PART_MARKER = "xaigrader_part"  # metadata of the cell that starts each part of a merged notebook
PYTHON2_KERNEL = re.compile(r"python ?2(\.\d{1,2})?", re.IGNORECASE)  # a kernelspec name: python2, Python 2.7


class InvalidNotebook(ValueError):
    """A file that cannot be graded as a notebook; the message says why."""


def cell_number(index: int | str | None) -> str:
    """A cell as a reader counts it: from 1, markdown cells included (a grader call's label as it is)."""
    return f"cell {index + 1}" if isinstance(index, int) else str(index or "an unknown cell")


def load_notebook(path: Path, max_bytes: int = MAX_NOTEBOOK_BYTES) -> nbformat.NotebookNode:
    """A validated nbformat-4 notebook (version 3 is converted)."""
    size = path.stat().st_size
    if size == 0:
        raise InvalidNotebook(f"{path.name} is empty")
    if size > max_bytes:
        raise InvalidNotebook(f"{path.name} is {size >> 20} MiB, over the {max_bytes >> 20} MiB limit")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidNotebook(f"{path.name} is not UTF-8 text (byte {error.start})") from None
    return parse_notebook(text, path.name)


def merge_notebooks(named_parts: list[tuple[str, nbformat.NotebookNode]]) -> nbformat.NotebookNode:
    """One notebook from several loaded ones, in the order given, each part headed by a cell naming its file.

    Colab users split a long assignment (part 1, part 2); the later part relies on what the
    earlier one defined, so they run as one kernel session. Cell ids are renumbered so they
    stay unique; the parts' cells are taken, not copied.
    """
    merged = nbformat.v4.new_notebook(metadata=named_parts[0][1].metadata)
    for name, part in named_parts:
        merged.cells.append(
            nbformat.v4.new_markdown_cell(
                f"*xaigrader: the cells below come from {name}.*", metadata={PART_MARKER: name}
            )
        )
        merged.cells.extend(part.cells)
    for index, cell in enumerate(merged.cells):
        cell["id"] = f"merged-{index}"
    return merged


def out_of_order_note(notebook: nbformat.NotebookNode) -> str | None:
    """A sentence when the saved execution counts show cells were last run out of document order.

    The grader always runs top to bottom, so such a notebook may fail here while it worked
    for its author; the note tells a TA (and the student) why.
    """
    before = 0
    for index, cell in enumerate(notebook.cells):
        if PART_MARKER in cell.get("metadata", {}):
            before = 0
        count = cell.get("execution_count") if cell.cell_type == "code" else None
        if count and count < before:
            return (
                f"the notebook was saved after running its cells out of order ({cell_number(index)}, [{count}], ran "
                f"before the cell above it, [{before}]); the grader runs cells top to bottom"
            )
        before = count or before
    return None


def python2_note(notebook: nbformat.NotebookNode) -> str | None:
    """A sentence when the notebook was saved with a Python 2 kernel (its kernelspec's name or its
    language_info's version says so): it runs here under Python 3, so a TA needs to know why it fails."""
    metadata = notebook.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    spec, info = metadata.get("kernelspec"), metadata.get("language_info")
    name = spec.get("name") if isinstance(spec, dict) else None
    version = info.get("version") if isinstance(info, dict) else None
    if isinstance(name, str) and PYTHON2_KERNEL.fullmatch(name.strip()):
        label = name.strip()
    elif isinstance(version, str) and version.strip().startswith("2."):
        label = f"Python {version.strip()[:16]}"
    else:
        return None
    return (
        f"saved with a Python 2 kernel ({label}); it runs here under Python 3, so print statements and other "
        "Python 2 syntax fail; its saved outputs are shown for a TA"
    )


def parse_notebook(text: str, name: str = "notebook") -> nbformat.NotebookNode:
    try:
        raw = json.loads(text)
    except RecursionError:
        raise InvalidNotebook(f"{name} is nested too deeply to be a notebook") from None
    except json.JSONDecodeError as error:
        raise InvalidNotebook(
            f"{name} is not valid JSON ({error.msg} at line {error.lineno}); was it saved completely?"
        ) from None
    if not isinstance(raw, dict):
        raise InvalidNotebook(f"{name} holds a JSON {type(raw).__name__}, not a notebook object")
    version = raw.get("nbformat")
    if version is None:
        raise InvalidNotebook(f"{name} has no 'nbformat' field, so it is not a Jupyter notebook")
    if version not in SUPPORTED_MAJOR_VERSIONS:
        raise InvalidNotebook(f"{name} is nbformat version {version!r}; versions 3 and 4 are supported")
    _check_cells(raw, name)
    try:
        notebook = nbformat.reads(text, as_version=4)
        nbformat.validate(notebook)
    except RecursionError:
        raise InvalidNotebook(f"{name} is nested too deeply to be a notebook") from None
    except nbformat.ValidationError as error:
        raise InvalidNotebook(f"{name} does not follow the notebook format: {error.message}") from None
    except Exception as error:
        raise InvalidNotebook(f"{name} could not be read as a notebook: {type(error).__name__}: {error}") from None
    return notebook


def _check_cells(raw: dict, name: str) -> None:
    """Explicit messages for the mistakes nbformat reports obscurely or not at all."""
    cells = raw.get("cells")
    if cells is None and raw.get("nbformat") == 3:
        cells = [
            cell for sheet in raw.get("worksheets", []) if isinstance(sheet, dict) for cell in sheet.get("cells", [])
        ]
    if not isinstance(cells, list):
        raise InvalidNotebook(f"{name} has no list of cells")
    for number, cell in enumerate(cells):
        if not isinstance(cell, dict):
            raise InvalidNotebook(f"{name}: {cell_number(number)} is a {type(cell).__name__}, not a cell object")
        kind = cell.get("cell_type")
        if kind not in VALID_CELL_TYPES and not (raw.get("nbformat") == 3 and kind == "heading"):
            raise InvalidNotebook(
                f"{name}: {cell_number(number)} has cell_type {kind!r}; expected code, markdown or raw"
            )
        source = cell.get("source", cell.get("input", ""))
        if not isinstance(source, str) and not (isinstance(source, list) and all(isinstance(s, str) for s in source)):
            raise InvalidNotebook(
                f"{name}: {cell_number(number)} has a source of type {type(source).__name__}, not text"
            )


# ---- quick extraction ---------------------------------------------------------------

SAFE_CALLS = {
    "torch.device",
    "torch.tensor",
    "torch.float32",
    "np.array",
    "numpy.array",
    "transforms.Compose",
    "transforms.Resize",
    "transforms.ToTensor",
    "transforms.Normalize",
    "transforms.CenterCrop",
    "transforms.Grayscale",
    "torchvision.transforms.Compose",
    "torchvision.transforms.Resize",
    "torchvision.transforms.ToTensor",
    "torchvision.transforms.Normalize",
    "T.Compose",
    "T.Resize",
    "T.ToTensor",
    "T.Normalize",
    "dict",
    "list",
    "tuple",
    "set",
    "range",
}
DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
SOURCE_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
"""A line as the parser counts lines (``\r\n``, ``\r`` or ``\n`` ends one; a form feed does not), with its end."""


@dataclass
class SkippedStatement:
    cell: int
    line: int
    text: str
    assigns: list[str]


@dataclass
class Extraction:
    """The quick-mode program: kept statements per cell, and what could not be kept."""

    cells: list[tuple[int, str]] = field(default_factory=list)
    skipped: list[SkippedStatement] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    syntax_errors: list[str] = field(default_factory=list)

    def as_notebook(self) -> nbformat.NotebookNode:
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [
            nbformat.v4.new_code_cell(source, metadata={"source_cell": index}) for index, source in self.cells
        ]
        return notebook


class _CellSource:
    """A cell's lines as UTF-8 (ast's column offsets count bytes), split once: ``ast.get_source_segment``
    splits the whole cell again on every call, quadratic in a cell of thousands of definitions."""

    def __init__(self, source: str) -> None:
        self.lines = [line.encode() for line in SOURCE_LINE.findall(source)]

    def segment(self, node: ast.stmt) -> str:
        """The statement's text as ``ast.get_source_segment`` gives it (from ``def``, not its decorators)."""
        first, last = node.lineno - 1, node.end_lineno - 1
        if first == last:
            return self.lines[first][node.col_offset : node.end_col_offset].decode()
        middle = self.lines[first + 1 : last]
        return b"".join(
            [self.lines[first][node.col_offset :], *middle, self.lines[last][: node.end_col_offset]]
        ).decode()


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _is_constant(node: ast.AST, known: set[str]) -> bool:
    """Literals, names already kept, attributes of them, and a few side-effect-free calls."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return all(_is_constant(item, known) for item in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _is_constant(k, known) for k in node.keys) and all(
            _is_constant(v, known) for v in node.values
        )
    if isinstance(node, (ast.Name, ast.Attribute)):
        dotted = _dotted(node)
        return dotted is not None and dotted.split(".")[0] in known
    if isinstance(node, ast.UnaryOp):
        return _is_constant(node.operand, known)
    if isinstance(node, ast.BinOp):
        return _is_constant(node.left, known) and _is_constant(node.right, known)
    if isinstance(node, ast.Call):
        name = _dotted(node.func)
        return (
            name in SAFE_CALLS
            and all(_is_constant(arg, known) for arg in node.args)
            and all(_is_constant(kw.value, known) for kw in node.keywords)
        )
    return False


def _bound_names(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(alias.asname or alias.name).split(".")[0] for alias in node.names]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    names = []
    for target in targets:
        if target is None:
            continue
        names += [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
    return names


def _globals_used(node: ast.stmt) -> set[str]:
    """Names a definition reads that it does not bind itself (an over-approximation of globals)."""
    loaded, bound = set(), set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            (loaded if isinstance(child.ctx, ast.Load) else bound).add(child.id)
        elif isinstance(child, ast.arg):
            bound.add(child.arg)
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and child is not node:
            bound.add(child.name)
        elif isinstance(child, (ast.Import, ast.ImportFrom)):
            bound.update(_bound_names(child))
    return loaded - bound - set(dir(builtins))


def extract_definitions(notebook: nbformat.NotebookNode) -> Extraction:
    """Imports, functions, classes and simple constants, in cell order; nothing else runs."""
    transformer = TransformerManager()
    extraction = Extraction()
    known: set[str] = set()
    kept_definitions: list[tuple[int, ast.stmt]] = []
    skipped_names: dict[str, SkippedStatement] = {}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        source = transformer.transform_cell(cell.source)
        try:
            tree = parse_python(source)
        except SyntaxError as error:
            extraction.syntax_errors.append(f"{cell_number(index)}, line {error.lineno}: {error.msg}")
            continue
        kept = []
        lines = _CellSource(source)
        for statement in tree.body:
            keep = isinstance(statement, DEFINITIONS) or (
                isinstance(statement, (ast.Assign, ast.AnnAssign))
                and statement.value is not None
                and _is_constant(statement.value, known)
            )
            names = (
                _bound_names(statement)
                if isinstance(statement, (*DEFINITIONS, ast.Assign, ast.AnnAssign, ast.AugAssign))
                else []
            )
            if keep:
                kept.append(lines.segment(statement))
                known.update(names)
                if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    kept_definitions.append((index, statement))
                for name in names:
                    skipped_names.pop(name, None)
            else:
                text = lines.segment(statement).splitlines()[0][:120]
                skipped = SkippedStatement(index, statement.lineno, text, names)
                extraction.skipped.append(skipped)
                for name in names:
                    if name not in known:
                        skipped_names[name] = skipped
        if kept:
            extraction.cells.append((index, "\n".join(kept)))
    for index, definition in kept_definitions:
        for name in sorted(_globals_used(definition)):
            if name in skipped_names and name not in known:
                origin = skipped_names[name]
                extraction.unresolved.append(
                    f"{definition.name} ({cell_number(index)}) uses {name}, which is set by a skipped statement "
                    f"in {cell_number(origin.cell)}: {origin.text}"
                )
    return extraction
