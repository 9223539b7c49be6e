"""Files a repository's notebook writes reach the notebooks after it, as on the team's machine; what the kernel
packs is hostile, so only plain files with plain names are written, below the grader's own folder."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
from pathlib import Path

from checks.engine.carried_files import MAX_CARRIED_BYTES, plain_name, unpack_carried
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


def test_files_a_kernel_forges_into_its_pack_are_refused_and_nothing_lands_outside(
    tmp_path: Path, engine_config: RunConfig
):
    repository = tmp_path / "team"
    repository.mkdir()
    forger = make_notebook(
        "import io, tarfile, xaigrader_probe, xaigrader_probe.workdir_files as packing\n"
        "def forged(limit):\n"
        "    exchange = xaigrader_probe._state['exchange']\n"
        "    with tarfile.open(exchange / 'carried.tar', 'w') as archive:\n"
        "        for name, kind in (('../../escape.txt', tarfile.REGTYPE), ('link', tarfile.SYMTYPE),"
        " ('fine.txt', tarfile.REGTYPE)):\n"
        "            member = tarfile.TarInfo(name); member.type = kind; member.linkname = '/etc/passwd'\n"
        "            data = b'forged' if kind == tarfile.REGTYPE else b''\n"
        "            member.size = len(data)\n"
        "            archive.addfile(member, io.BytesIO(data))\n"
        "packing.pack = forged",
    )
    reader = make_notebook(
        "import os\nprint(sorted(n for n in os.listdir('.') if n[0] != '.'), open('fine.txt').read())"
    )
    parts = [Part("forger.ipynb", forger), Part("reader.ipynb", reader)]
    program = merged_program(parts)
    run = asyncio.run(run_parts(parts, repository, engine_config, tmp_path / "figures"))
    assert cell_text(program, 3) == "['fine.txt'] forged\n"
    assert any("'../../escape.txt' is not a plain file with a plain name" in note for note in run.dropped)
    assert any("'link' is not a plain file with a plain name" in note for note in run.dropped)
    assert not list(tmp_path.rglob("escape.txt"))


def tar_of(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for member, data in members:
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def test_plain_files_are_unpacked_and_links_devices_and_escapes_are_not(tmp_path: Path):
    folder = tmp_path / "repository"
    (folder / "results").mkdir(parents=True)
    (folder / "results" / "old.txt").write_text("old")
    archive = tar_of(
        (member("results/old.txt"), b"new"),
        (member("results/deep/masks.npy"), b"\x93NUMPY"),
        (member("Task 3 outputs/ü.txt"), b"spaces and accents are a team's own names"),
        (member("/etc/cron.d/x"), b"absolute"),
        (member("results/../../up.txt"), b"up"),
        (member("hard", tarfile.LNKTYPE, "results/old.txt"), b""),
        (member("soft", tarfile.SYMTYPE, "/etc/passwd"), b""),
        (member("pipe", tarfile.FIFOTYPE), b""),
        (member("device", tarfile.CHRTYPE), b""),
    )
    carried = unpack_carried(archive, folder)
    assert carried.written == ["results/old.txt", "results/deep/masks.npy", "Task 3 outputs/ü.txt"]
    assert (folder / "results" / "old.txt").read_text() == "new"
    assert len(carried.problems) == 6
    assert sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*") if path.is_file()) == [
        "repository/Task 3 outputs/ü.txt",
        "repository/results/deep/masks.npy",
        "repository/results/old.txt",
    ]


def test_a_pack_past_the_size_bound_or_not_a_tar_at_all_writes_nothing_more(tmp_path: Path):
    big = tar_of((member("a.bin"), b"x" * 16), (member("b.bin"), b"y" * (MAX_CARRIED_BYTES - 8)))
    carried = unpack_carried(big, tmp_path)
    assert carried.written == ["a.bin"] and "would pass 64 MiB in all" in carried.problems[0]
    assert not (tmp_path / "b.bin").exists()
    garbage = unpack_carried(b"not a tar" * 100, tmp_path / "other")
    assert garbage.written == [] and garbage.problems == ["the packed files could not be read (ReadError)"]


def test_a_file_where_a_folder_is_needed_is_refused_without_touching_it(tmp_path: Path):
    (tmp_path / "results").write_text("a file")
    carried = unpack_carried(tar_of((member("results/x.txt"), b"x")), tmp_path)
    assert carried.written == [] and "results/x.txt could not be written" in carried.problems[0]
    assert (tmp_path / "results").read_text() == "a file"


def test_names_with_empty_dot_or_control_parts_are_not_plain():
    assert plain_name("Task 3/masks.npy") == ["Task 3", "masks.npy"]
    for name in ("", "a//b", "./a", "a/..", "a\x00b", "a\nb", "/abs", "x" * 256, "/".join(["d"] * 33)):
        assert plain_name(name) is None, name
