"""Batch grading costs: --jobs 1 against --jobs 2, an unchanged regrade, re-rendering 100
stored results, and one notebook's grading time against its bare nbclient execution.

Run: .venv/bin/python benchmarks/batch.py [--data-dir ../shared/data] [--skip-jobs-1]
(about 30 minutes on two cores: the sample class is graded twice in full mode).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from checks.publish.publisher import publish

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "student_submissions" / "cs411-a2"
CORRECT = SAMPLES / "Asha_Rao_CS2301.zip"
RENDERED = 100


def grade(paths: list[Path], out: Path, data_dir: Path, jobs: int) -> float:
    command = [
        sys.executable,
        "-m",
        "checks.cli",
        "grade",
        *map(str, paths),
        "--assignment",
        "cs411-a2",
        "--out",
        str(out),
        "--data-dir",
        str(data_dir),
        "--jobs",
        str(jobs),
        "--cell-timeout",
        "240",
    ]
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def rerender_copies(graded: Path, work: Path) -> float:
    """Copy the graded students until there are RENDERED results, then time one publish()."""
    students = sorted(path.parent for path in graded.glob("*/results.json"))
    for number in range(RENDERED):
        source = students[number % len(students)]
        target = work / f"{source.name}-{number:03d}"
        shutil.copytree(source, target)
        payload = json.loads((target / "results.json").read_text())
        payload["student"] = target.name
        (target / "results.json").write_text(json.dumps(payload))
    started = time.perf_counter()
    publish(work)
    return time.perf_counter() - started


def bare_nbclient(notebook_path: Path, data_dir: Path, work: Path) -> tuple[float, int]:
    """The notebook under plain nbclient, no sandbox and no checks; the offline shims are
    installed by a first cell because the notebook cannot run offline without them."""
    library = work / "lib"
    library.mkdir()
    (library / "xaigrader_probe").symlink_to(REPO / "checks" / "probe")
    config = work / "probe.json"
    for folder in ("exchange", "inbox", "run"):
        (work / folder).mkdir(exist_ok=True)
    config.write_text(
        json.dumps(
            {
                "exchange": str(work / "exchange"),
                "inbox": str(work / "inbox"),
                "data": str(data_dir),
                "workdir": str(work / "run"),
                "submission": None,
            }
        )
    )
    notebook = nbformat.read(notebook_path, as_version=4)
    notebook.cells.insert(
        0,
        nbformat.v4.new_code_cell(
            f"import sys; sys.path.insert(0, {str(library)!r})\nimport xaigrader_probe; xaigrader_probe.install({str(config)!r})"
        ),
    )
    client = NotebookClient(
        notebook, kernel_name="python3", timeout=600, allow_errors=True, resources={"metadata": {"path": str(work)}}
    )
    started = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - started
    errors = sum(output.get("output_type") == "error" for cell in notebook.cells for output in cell.get("outputs", []))
    return seconds, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--skip-jobs-1", action="store_true", help="leave out the 15-minute --jobs 1 run")
    args = parser.parse_args()
    data_dir = Path(args.data_dir).resolve()
    with tempfile.TemporaryDirectory(prefix="xaigrader-bench-") as temporary:
        work = Path(temporary)
        one_job = None if args.skip_jobs_1 else grade([SAMPLES], work / "jobs1", data_dir, 1)
        two_jobs = grade([SAMPLES], work / "jobs2", data_dir, 2)
        cached = grade([SAMPLES], work / "jobs2", data_dir, 2)
        render = rerender_copies(work / "jobs2", work / "render")
        single = grade([CORRECT], work / "single", data_dir, 1)
        with zipfile.ZipFile(CORRECT) as archive:
            name = next(n for n in archive.namelist() if n.endswith(".ipynb"))
            archive.extract(name, work / "bare-source")
        (work / "bare").mkdir()
        bare, bare_errors = bare_nbclient(work / "bare-source" / name, data_dir, work / "bare")
    samples = len(list(SAMPLES.glob("*.zip")))
    if one_job is not None:
        print(f"sample class ({samples} notebooks, full mode) --jobs 1: {one_job:.1f} s")
    print(
        f"sample class --jobs 2: {two_jobs:.1f} s"
        + (f"; throughput ratio jobs2/jobs1 = {one_job / two_jobs:.2f}" if one_job else "")
    )
    print(f"unchanged regrade (every result reused): {cached:.2f} s")
    print(f"re-render {RENDERED} stored results (reports, gradescope.json, grades.csv, index): {render:.2f} s")
    print(
        f"one correct notebook: graded {single:.1f} s, bare nbclient {bare:.1f} s ({bare_errors} cell errors), "
        f"ratio {single / bare:.2f}"
    )


if __name__ == "__main__":
    main()
