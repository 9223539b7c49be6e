"""``xaigrader run``: execute one notebook in the sandbox and keep everything it produced."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import nbformat

from checks.kernel import KernelSession, RunConfig, RunResult
from checks.notebook import InvalidNotebook, load_notebook


def write_text_atomically(path: Path, text: str) -> None:
    """Write beside, then rename, so a killed run never leaves half a file behind."""
    temporary = path.with_name(path.name + ".partial")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def write_json(path: Path, data: Any) -> None:
    write_text_atomically(path, json.dumps(data, indent=2, default=str))


def copy_figures(session: KernelSession, figures: list[dict[str, Any]], folder: Path) -> list[dict[str, Any]]:
    """One PNG and one JSON record per figure; image arrays travel with their record."""
    folder.mkdir(parents=True, exist_ok=True)
    copied = []
    for number, figure in enumerate(figures, start=1):
        stem = f"figure-{number:03d}"
        record = dict(figure)
        png = session.figure_file(str(figure.get("png", "")))
        record["png"] = f"{stem}.png" if png else None
        if png:
            shutil.copyfile(png, folder / f"{stem}.png")
        for axes_number, axes in enumerate(record.get("axes", [])):
            for image_number, image in enumerate(axes.get("images", [])):
                source = session.figure_file(str(image.get("array", "")))
                image["array"] = f"{stem}-ax{axes_number}-im{image_number}.npy" if source else None
                if source:
                    shutil.copyfile(source, folder / image["array"])
        write_json(folder / f"{stem}.json", record)
        copied.append(record)
    return copied


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
