"""Helpers that write small notebooks for a test and run them in the sandbox."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest

from checks.engine.kernel import KernelSession, RunConfig
from checks.engine.run import run_notebook_file
from checks.engine.sandbox import GiB, SandboxLimits


def make_notebook(*sources: str, markdown: dict[int, str] | None = None) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    for position, text in sorted((markdown or {}).items()):
        notebook.cells.insert(position, nbformat.v4.new_markdown_cell(text))
    return notebook


def cell_text(notebook: nbformat.NotebookNode, index: int) -> str:
    parts = []
    for output in notebook.cells[index].get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output["text"])
        elif "data" in output:
            parts.append(output["data"].get("text/plain", ""))
        elif output.get("output_type") == "error":
            parts.append(f"{output['ename']}: {output['evalue']}")
    return "".join(parts)


@pytest.fixture
def engine_config(data_root: Path) -> RunConfig:
    return RunConfig(
        data_dir=data_root,
        cell_timeout_s=60,
        notebook_timeout_s=300,
        interrupt_grace_s=3,
        limits=SandboxLimits(memory_bytes=6 * GiB, processes=128),
    )


@pytest.fixture
def run_cells(tmp_path: Path, engine_config: RunConfig):
    """Run a notebook of the given cells; returns (result, executed notebook, out folder)."""

    def run(*sources: str, notebook: nbformat.NotebookNode | None = None, **overrides):
        notebook = notebook or make_notebook(*sources)
        folder = tmp_path / f"run-{len(list(tmp_path.glob('run-*')))}"
        folder.mkdir()
        path = folder / "student.ipynb"
        nbformat.write(notebook, path)
        out = folder / "out"
        result = run_notebook_file(path, out, replace(engine_config, **overrides))
        executed = nbformat.read(out / "executed.ipynb", as_version=4) if result else None
        return result, executed, out

    return run


@pytest.fixture
def live_session(engine_config: RunConfig):
    """Run a notebook, then hand the still-running session to ``probe(session, result)``.

    The job folder outlives the session (in ``run.job_root``) so a test can inspect it; a test
    may set ``run.submission`` to a folder of submitted files.
    """
    job_root = Path(tempfile.mkdtemp(prefix="xaigrader-test-job-"))

    def run(notebook: nbformat.NotebookNode, probe, **overrides):
        async def main():
            async with KernelSession(
                replace(engine_config, **overrides), job_root=job_root, submission_dir=run.submission
            ) as session:
                result = await session.run_notebook(notebook)
                return await probe(session, result)

        return asyncio.run(main())

    run.job_root = job_root
    run.submission = None
    yield run
    shutil.rmtree(job_root, ignore_errors=True)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]
