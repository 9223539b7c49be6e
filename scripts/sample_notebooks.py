"""What the sample-class builders share: a notebook from (kind, source) cells, the mutations that turn a
correct notebook into a flawed one (each must match exactly where it is meant to, so an edit to the correct
notebook cannot silently build the wrong student), and the zip a student hands it in as (fixed timestamps,
so rebuilding changes nothing that did not change)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import nbformat

Cell = tuple[str, str]


class MutationError(ValueError):
    """A mutation no longer matches the notebook it changes, so the sample would not be the student it claims."""


def mutate(source: str, mutation: str, *changes: tuple[str, str]) -> str:
    """``source`` with each (old, new) change applied in turn; each old text must occur exactly once."""
    for old, new in changes:
        found = source.count(old)
        if found != 1:
            raise MutationError(f"mutation {mutation!r}: {old!r} occurs {found} times, expected exactly once")
        source = source.replace(old, new)
    return source


def rewrite_every(cells: list[Cell], mutation: str, *changes: tuple[str, str]) -> list[Cell]:
    """Every occurrence in the code cells changed (a habit, such as a Colab user's ``.cuda()``, that has no single
    place); each old text must occur somewhere."""
    for old, new in changes:
        if not any(old in source for kind, source in cells if kind == "code"):
            raise MutationError(f"mutation {mutation!r}: {old!r} occurs in no code cell")
        cells = [(kind, source.replace(old, new) if kind == "code" else source) for kind, source in cells]
    return cells


def cell_index(cells: list[Cell], source: str, mutation: str) -> int:
    """Where the one cell with this source is, for a mutation that replaces, drops or inserts next to it."""
    found = [index for index, (_, text) in enumerate(cells) if text == source]
    if len(found) != 1:
        raise MutationError(
            f"mutation {mutation!r}: the cell {source.splitlines()[0]!r} occurs {len(found)} times, "
            f"expected exactly once"
        )
    return found[0]


def sample_notebook(heading: str, cells: list[Cell]) -> nbformat.NotebookNode:
    book = nbformat.v4.new_notebook()
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    book.cells = [nbformat.v4.new_markdown_cell(heading)]
    for kind, source in cells:
        maker = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        book.cells.append(maker(source))
    for index, cell in enumerate(book.cells):
        cell["id"] = f"cell-{index}"
    return book


def write_submission(
    zip_path: Path, member: str, book: nbformat.NotebookNode, date_time: tuple[int, int, int, int, int, int]
) -> None:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr(zipfile.ZipInfo(member, date_time=date_time), nbformat.writes(book))
    print(f"wrote {zip_path.name}")
