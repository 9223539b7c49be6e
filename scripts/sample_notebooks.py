"""What the sample-class builders share: a notebook from (kind, source) cells, and the zip a
student hands it in as (fixed timestamps, so rebuilding changes nothing that did not change)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import nbformat


def sample_notebook(heading: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    book = nbformat.v4.new_notebook()
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    book.cells = [nbformat.v4.new_markdown_cell(heading)]
    for kind, source in cells:
        maker = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        book.cells.append(maker(source))
    for index, cell in enumerate(book.cells):
        cell["id"] = f"cell-{index}"
    return book


def write_submission(zip_path: Path, member: str, book: nbformat.NotebookNode,
                     date_time: tuple[int, int, int, int, int, int]) -> None:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr(zipfile.ZipInfo(member, date_time=date_time), nbformat.writes(book))
    print(f"wrote {zip_path.name}")
