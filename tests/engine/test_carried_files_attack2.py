"""Second round of attacks on the files a team's notebook passes on (``carried.json``, ``carried/<n>`` and the
reply to the packing code). Everything the kernel writes or sends is hostile: it must become a bounded problem
note, never an exception that stops the repository's grading, nor work or notes out of proportion to the budget."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from checks.engine.carried_files import (
    MANIFEST_BYTES,
    MAX_CARRIED_BYTES,
    MAX_CARRIED_ENTRIES,
    MAX_DEPTH,
    MAX_NAME_BYTES,
    CarryBudget,
    unpack_carried,
)
from checks.engine.exchange import ExchangeRefused
from checks.engine.kernel import RunConfig
from checks.engine.repository_runs import Part, merged_program, run_parts
from tests.engine.conftest import cell_text, make_notebook

# Sixteen parts of 255 bytes each pass ``plain_name`` but name a path of 4,095 bytes before the staging folder's
# own: past PATH_MAX, so ``Path.is_dir`` raises ENAMETOOLONG, which pathlib does not swallow.
LONG_NAME = "/".join(["d" * MAX_NAME_BYTES] * (MAX_DEPTH - 1) + ["f" * MAX_NAME_BYTES])


def listed(*names: object, left_out: int = 0) -> bytes:
    return json.dumps({"files": list(names), "left_out_count": left_out}).encode()


def small_files(number: int, limit: int) -> bytes:
    return b"x"


def forging_notebook(body: str):
    """A notebook whose last act replaces the probe's packing code by ``body`` (the body of ``forged``)."""
    return make_notebook(
        "import json, os, xaigrader_probe, xaigrader_probe.workdir_files as packing\n"
        "def forged(limit, files):\n"
        "    exchange = xaigrader_probe._state['exchange']\n"
        "    os.makedirs(exchange / 'carried', exist_ok=True)\n"
        + "".join(f"    {line}\n" for line in body.splitlines())
        + "packing.pack = forged",
    )


def reader():
    return make_notebook("print('the next notebook ran')")


# ---------------------------------------------------------------------------------------------------------------
# (a) An exception out of ``unpack_carried``: a plain name too long for a path stops the whole repository's run.


def test_a_name_longer_than_a_path_may_be_is_a_problem_note_not_an_exception(tmp_path: Path):
    assert len(LONG_NAME.encode()) > 4000
    carried = unpack_carried(listed(LONG_NAME, "fine.txt"), small_files, tmp_path, CarryBudget())
    assert carried.written == ["fine.txt"]
    assert len(carried.problems) == 1


def test_a_forged_name_too_long_for_a_path_does_not_stop_the_repositorys_run(tmp_path: Path, engine_config: RunConfig):
    repository = tmp_path / "team"
    repository.mkdir()
    forger = forging_notebook(
        "(exchange / 'carried' / '0').write_text('x')\n"
        f"names = [{LONG_NAME!r}]\n"
        "(exchange / 'carried.json').write_text(json.dumps({'files': names, 'left_out_count': 0}))"
    )
    parts = [Part("task3.ipynb", forger), Part("task4.ipynb", reader())]
    program = merged_program(parts)
    run = asyncio.run(run_parts(parts, repository, engine_config, tmp_path / "figures"))
    assert cell_text(program, 3) == "the next notebook ran\n"
    assert any(note.startswith("task3.ipynb: ") for note in run.dropped)


# ---------------------------------------------------------------------------------------------------------------
# (b) A forged reply: the kernel answers the packing code itself, and its reply's content need not be a dict.


def test_a_forged_reply_to_the_packing_code_does_not_stop_the_repositorys_run(tmp_path: Path, engine_config: RunConfig):
    """The packing code's kernel rewrites its own execute_reply: ``reply['content']`` arrives as a list."""
    repository = tmp_path / "team"
    repository.mkdir()
    forger = forging_notebook(
        "kernel = get_ipython().kernel\n"
        "send = kernel.session.send\n"
        "def lying(stream, kind, content=None, *args, **kwargs):\n"
        "    return send(stream, kind, b'[]' if kind == 'execute_reply' else content, *args, **kwargs)\n"
        "kernel.session.send = lying"
    )
    parts = [Part("task3.ipynb", forger), Part("task4.ipynb", reader())]
    program = merged_program(parts)
    run = asyncio.run(run_parts(parts, repository, engine_config, tmp_path / "figures"))
    assert cell_text(program, 3) == "the next notebook ran\n"
    assert any(note.startswith("task3.ipynb: ") for note in run.dropped)


# ---------------------------------------------------------------------------------------------------------------
# (c) Work and notes out of proportion: what is refused costs nothing from the budget, so a 1 MiB list may name
# hundreds of thousands of entries, each a note in the results (and each a read of up to 64 MiB).


def test_a_list_of_refused_names_does_not_flood_the_results_with_notes(tmp_path: Path):
    names = [""] * ((MANIFEST_BYTES - 5000) // 3)  # '"",' is three bytes: ~350,000 names in a list the host reads
    manifest = json.dumps({"files": names, "left_out_count": int("9" * 4000)}, separators=(",", ":")).encode()
    assert len(manifest) <= MANIFEST_BYTES
    carried = unpack_carried(manifest, small_files, tmp_path, CarryBudget())
    assert len(carried.problems) <= MAX_CARRIED_ENTRIES
    assert sum(len(note) for note in carried.problems) <= 1 << 20


def test_files_refused_after_reading_do_not_make_the_host_read_without_bound(tmp_path: Path):
    """A file that grows while the host reads it (a kernel child appending to every ``carried/<n>``) is read to
    the bound left and refused, and the budget stays whole: a list of 5,000 such files reads 5,000 x 64 MiB."""
    read = []

    def growing(number: int, limit: int) -> bytes:
        read.append(limit + 1)  # what ``_read_at_most`` reads before it sees the growth
        raise ExchangeRefused(f"carried/{number} grew past {limit} bytes while being read")

    unpack_carried(listed(*(f"f{number}" for number in range(5000))), growing, tmp_path, CarryBudget())
    assert sum(read) <= 4 * MAX_CARRIED_BYTES


# ---------------------------------------------------------------------------------------------------------------
# What held: each kind of file the kernel can put at ``carried/<n>`` in place of a plain file is refused.


def test_a_fifo_a_folder_and_a_hard_link_in_place_of_carried_files_are_refused(
    tmp_path: Path, engine_config: RunConfig
):
    repository = tmp_path / "team"
    repository.mkdir()
    forger = forging_notebook(
        "carried = exchange / 'carried'\n"
        "os.mkfifo(carried / '0')\n"
        "os.mkdir(carried / '1')\n"
        "(carried / '1' / 'inner').write_text('x')\n"
        "(exchange / 'elsewhere').write_text('linked')\n"
        "os.link(exchange / 'elsewhere', carried / '2')\n"
        "(carried / '3').write_text('fine')\n"
        "names = ['fifo.txt', 'folder.txt', 'hard.txt', 'fine.txt']\n"
        "(exchange / 'carried.json').write_text(json.dumps({'files': names, 'left_out_count': 0}))"
    )
    check = make_notebook("import os\nprint(sorted(n for n in os.listdir('.') if n.endswith('.txt')))")
    parts = [Part("task3.ipynb", forger), Part("task4.ipynb", check)]
    program = merged_program(parts)
    run = asyncio.run(run_parts(parts, repository, engine_config, tmp_path / "figures"))
    assert cell_text(program, 3) == "['fine.txt']\n"
    for name in ("fifo.txt", "folder.txt", "hard.txt"):
        assert any(note.startswith(f"task3.ipynb: '{name}' was refused (") for note in run.dropped), name
