"""``xaigrader run``: execute one notebook in the sandbox and keep everything it produced."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any, cast

import nbformat
import numpy as np

from checks.data.files import write_json
from checks.engine.exchange_records import FigureRecord
from checks.engine.kernel import KernelSession, RunConfig, RunResult
from checks.engine.notebook import InvalidNotebook, load_notebook


def copy_figures(
    session: KernelSession, figures: list[dict[str, Any]], folder: Path, first_number: int = 1
) -> list[FigureRecord]:
    """One PNG and one JSON record per figure (each record keeps its ``format``, the layout it was
    validated into); image arrays travel with their record when they are plain numeric arrays of
    the shape the record declares. ``figures`` are validated records tagged with their kernel generation;
    they are numbered from ``first_number`` (a repository's notebooks share one folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    copied = []
    taken: set[tuple[int, str]] = set()

    def read_once(generation: int, name: str | None) -> bytes | None:
        """The probe names every file once; a name used again would copy one file many times."""
        if name is None or (generation, name) in taken:
            return None
        taken.add((generation, name))
        return session.figure_bytes(generation, name)

    for number, figure in enumerate(figures, start=first_number):
        stem = f"figure-{number:03d}"
        generation = figure["generation"]
        record = cast(FigureRecord, {key: value for key, value in figure.items() if key != "generation"})
        png = read_once(generation, record["png"])
        record["png"] = f"{stem}.png" if png else None
        if png:
            (folder / f"{stem}.png").write_bytes(png)
        for axes_number, axes in enumerate(record["axes"]):
            for image_number, image in enumerate(axes["images"]):
                array = read_once(generation, image["array"])
                if array is not None and npy_matches(array, image["shape"]):
                    image["array"] = f"{stem}-ax{axes_number}-im{image_number}.npy"
                    (folder / image["array"]).write_bytes(array)
                else:
                    image["array"] = None
        write_json(folder / f"{stem}.json", record)
        copied.append(record)
    return copied


def npy_matches(data: bytes, shape: list[int]) -> bool:
    """A .npy file holding a numeric array of ``shape``, read from its header without unpickling."""
    stream = io.BytesIO(data)
    try:
        read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}[
            np.lib.format.read_magic(stream)
        ]
        declared, _, dtype = read_header(stream)
    except (KeyError, ValueError, OSError, SyntaxError, TypeError):
        return False
    expected = stream.tell() + int(np.prod(declared, dtype=np.int64)) * dtype.itemsize
    return dtype.kind in "biuf" and list(declared) == list(shape) and len(data) == expected


async def run_in_session(notebook_path: Path, out: Path, config: RunConfig) -> RunResult:
    notebook = load_notebook(notebook_path)
    out.mkdir(parents=True, exist_ok=True)
    async with KernelSession(config, submission_dir=None) as session:
        result = await session.run_notebook(notebook)
        result.figures = copy_figures(session, result.figures, out / "figures")
    nbformat.write(notebook, out / "executed.ipynb")
    summary = result.as_dict()
    summary["notebook"] = str(notebook_path)
    write_json(out / "run.json", summary)
    return result


def run_notebook_file(notebook_path: Path, out: Path, config: RunConfig) -> RunResult | None:
    """Run; an unusable notebook is recorded in run.json instead of raising."""
    try:
        return asyncio.run(run_in_session(notebook_path, out, config))
    except InvalidNotebook as error:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "run.json", {"notebook": str(notebook_path), "invalid": str(error)})
        return None
