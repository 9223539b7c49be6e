"""Files a repository's notebook writes reach the notebooks after it, as on the team's machine; what the kernel
packs is hostile, so only plain files with plain names are written, below the grader's own folder."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from checks.engine.carried_files import MAX_CARRIED_BYTES, CarryBudget, plain_name, unpack_carried
from checks.engine.exchange import ExchangeRefused
from checks.engine.kernel import RunConfig
from checks.engine.repository_runs import Part, merged_program, run_parts
from tests.engine.conftest import cell_text, make_notebook


def test_a_later_notebook_reads_what_an_earlier_one_wrote(tmp_path: Path, engine_config: RunConfig):
    repository = tmp_path / "team"
    (repository / "data").mkdir(parents=True)
    (repository / "data" / "labels.txt").write_text("committed\n")
    os.mkfifo(repository / "data" / "pipe")  # copying it would wait for a writer forever: it is left out
    writer = make_notebook(
        "import numpy as np, os\nos.makedirs('../results', exist_ok=True)\n"
        "np.save('../results/masks.npy', np.eye(3, dtype=bool))\nopen('../data/labels.txt', 'w').write('rewritten\\n')",
    )
    reader = make_notebook(
        "import numpy as np\nprint(int(np.load('results/masks.npy').sum()), open('data/labels.txt').read().strip())",
    )
    parts = [Part("task3/lime.ipynb", writer), Part("task4.ipynb", reader)]
    program = merged_program(parts)
    run = asyncio.run(run_parts(parts, repository, engine_config, tmp_path / "figures"))
    assert [cell.status for cell in run.cells] == ["ok", "ok"]
    assert cell_text(program, 3) == "3 rewritten\n"
    assert (repository / "data" / "labels.txt").read_text() == "committed\n"  # the submission itself is untouched
    assert not run.dropped


def test_files_a_kernel_forges_into_its_list_are_refused_and_nothing_lands_outside(
    tmp_path: Path, engine_config: RunConfig
):
    repository = tmp_path / "team"
    repository.mkdir()
    forger = make_notebook(
        "import json, os, xaigrader_probe, xaigrader_probe.workdir_files as packing\n"
        "def forged(limit, files):\n"
        "    exchange = xaigrader_probe._state['exchange']\n"
        "    os.makedirs(exchange / 'carried', exist_ok=True)\n"
        "    os.symlink('/etc/passwd', exchange / 'carried' / '1')\n"
        "    (exchange / 'carried' / '0').write_text('forged')\n"
        "    (exchange / 'carried' / '2').write_text('forged')\n"
        "    names = ['../../escape.txt', 'link.txt', 'fine.txt']\n"
        "    (exchange / 'carried.json').write_text(json.dumps({'files': names, 'left_out_count': 0}))\n"
        "packing.pack = forged",
    )
    reader = make_notebook(
        "import os\nprint(sorted(n for n in os.listdir('.') if n[0] != '.'), open('fine.txt').read())"
    )
    parts = [Part("forger.ipynb", forger), Part("reader.ipynb", reader)]
    program = merged_program(parts)
    run = asyncio.run(run_parts(parts, repository, engine_config, tmp_path / "figures"))
    assert cell_text(program, 3) == "['fine.txt'] forged\n"
    assert "forger.ipynb: '../../escape.txt' is not a plain relative file name" in run.dropped
    assert any(note.startswith("forger.ipynb: 'link.txt' was refused (") for note in run.dropped)
    assert not list(tmp_path.rglob("escape.txt"))


def listed(*names: object, left_out: int = 0) -> bytes:
    return json.dumps({"files": list(names), "left_out_count": left_out}).encode()


def reader_of(*contents: bytes):
    def read_file(number: int, limit: int) -> bytes | None:
        return contents[number] if number < len(contents) else None

    return read_file


def test_listed_files_are_written_with_their_plain_names_and_escaping_names_are_not(tmp_path: Path):
    folder = tmp_path / "repository"
    (folder / "results").mkdir(parents=True)
    (folder / "results" / "old.txt").write_text("old")
    names = ("results/old.txt", "results/deep/masks.npy", "Task 3 outputs/ü.txt", "/etc/cron.d/x", "a/../../up.txt")
    contents = (b"new", b"\x93NUMPY", b"a team's own names", b"absolute", b"up")
    carried = unpack_carried(listed(*names), reader_of(*contents), folder, CarryBudget())
    assert carried.written == ["results/old.txt", "results/deep/masks.npy", "Task 3 outputs/ü.txt"]
    assert (folder / "results" / "old.txt").read_text() == "new"
    assert carried.problems == [
        "'/etc/cron.d/x' is not a plain relative file name",
        "'a/../../up.txt' is not a plain relative file name",
    ]
    assert sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*") if path.is_file()) == [
        "repository/Task 3 outputs/ü.txt",
        "repository/results/deep/masks.npy",
        "repository/results/old.txt",
    ]


def test_one_budget_of_bytes_and_entries_holds_for_every_notebook_of_a_repository(tmp_path: Path):
    budget = CarryBudget(bytes_left=10, entries_left=4)
    first = unpack_carried(listed("a/b.bin"), reader_of(b"x" * 6), tmp_path, budget)
    assert first.written == ["a/b.bin"] and (budget.bytes_left, budget.entries_left) == (4, 2)
    second = unpack_carried(listed("c.bin", "d/e/f.bin"), reader_of(b"y" * 3, b"z"), tmp_path, budget)
    assert second.written == ["c.bin"]
    assert second.problems == ["'d/e/f.bin' is past the 2000 files and folders passed on in all"]
    assert not (tmp_path / "d").exists()


def test_a_malformed_list_or_a_file_larger_than_what_is_left_passes_nothing_on(tmp_path: Path):
    for manifest in (b"[" * 60_000, b'{"files": "x"}', b'{"files": [], "left_out_count": 1e400}', b"\xff"):
        carried = unpack_carried(manifest, reader_of(), tmp_path, CarryBudget())
        assert (carried.written, carried.problems) == ([], ["its list of files written was malformed"])

    def refusing(number: int, limit: int) -> bytes:
        raise ExchangeRefused(f"carried/{number} holds {MAX_CARRIED_BYTES + 1} bytes, more than {limit}")

    carried = unpack_carried(listed("big.bin", left_out=3), refusing, tmp_path, CarryBudget())
    assert carried.problems == [
        f"'big.bin' was refused (carried/0 holds {MAX_CARRIED_BYTES + 1} bytes, more than {MAX_CARRIED_BYTES})",
        "3 file(s) past 64 MiB in all were not passed on",
    ]


def test_a_file_where_a_folder_is_needed_is_refused_without_touching_it(tmp_path: Path):
    (tmp_path / "results").write_text("a file")
    (tmp_path / "folder").mkdir()
    carried = unpack_carried(listed("results/x.txt", "folder"), reader_of(b"x", b"y"), tmp_path, CarryBudget())
    assert carried.written == []
    assert carried.problems == [
        "'results/x.txt' would replace a folder or need a file to be a folder",
        "'folder' would replace a folder or need a file to be a folder",
    ]
    assert (tmp_path / "results").read_text() == "a file"


def test_names_with_empty_dot_control_or_undecodable_parts_are_not_plain():
    assert plain_name("Task 3/masks.npy") == ["Task 3", "masks.npy"]
    for name in ("", "a//b", "./a", "a/..", "a\x00b", "a\nb", "/abs", "x" * 256, "/".join(["d"] * 17), "\udcff", 7):
        assert plain_name(name) is None, name
