"""Result folders and intakes as they travel between a cluster worker and the client: what a student's files
can make of an archive never lands outside the folder it is unpacked in."""

import io
import os
import zipfile
from pathlib import Path

import pytest

from checks.batch.folder_transfer import STAGING, TransferRefused, pack_folder, replace_folder, unpack


def archive_of(*entries: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries:
            archive.writestr(name, content)
    return buffer.getvalue()


def tree(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_a_folder_behind_a_link_is_packed_whole_and_links_inside_it_are_left_out(tmp_path: Path):
    real = tmp_path / "real"
    (real / "figures").mkdir(parents=True)
    (real / "results.json").write_text("{}")
    (real / "figures" / "figure-001.png").write_bytes(b"png")
    outside = tmp_path / "secret.txt"
    outside.write_text("host file")
    (real / "figures" / "link.txt").symlink_to(outside)
    (real / "linked-folder").symlink_to(tmp_path, target_is_directory=True)
    behind = tmp_path / "scratch"
    behind.symlink_to(real, target_is_directory=True)
    unpack(pack_folder(behind), tmp_path / "copy")
    assert tree(tmp_path / "copy") == {"results.json": b"{}", "figures/figure-001.png": b"png"}


def test_an_old_file_travels_though_a_zip_cannot_date_it_before_1980(tmp_path: Path):
    folder = tmp_path / "intake"
    folder.mkdir()
    (folder / "old.txt").write_text("from 1970")
    os.utime(folder / "old.txt", (0, 0))
    unpack(pack_folder(folder), tmp_path / "copy")
    assert tree(tmp_path / "copy") == {"old.txt": b"from 1970"}


@pytest.mark.parametrize(
    ("entries", "why"),
    [
        ((("../escaped.txt", b"x"),), "would land outside"),
        ((("/etc/escaped.txt", b"x"),), "would land outside"),
        ((("a/../../escaped.txt", b"x"),), "would land outside"),
        ((("same.txt", b"1"), ("same.txt", b"2")), "could not be written"),
        ((("folder", b"a file"), ("folder/inside.txt", b"x")), "could not be written"),
    ],
)
@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_an_archive_that_would_leave_its_folder_or_overwrite_itself_is_refused(tmp_path: Path, entries, why):
    with pytest.raises(TransferRefused, match=why):
        unpack(archive_of(*entries), tmp_path / "into")
    assert not (tmp_path / "escaped.txt").exists()


def test_an_archive_over_the_cap_or_not_an_archive_is_refused_before_anything_is_written(tmp_path: Path):
    with pytest.raises(TransferRefused, match="more than"):
        unpack(archive_of(("big.bin", b"x" * 4096)), tmp_path / "into", limit=1024)
    with pytest.raises(TransferRefused, match="not an archive"):
        unpack(b"results.json", tmp_path / "into")
    assert not (tmp_path / "into").exists() or not any((tmp_path / "into").iterdir())


def test_a_result_folder_is_replaced_whole_and_a_refused_one_leaves_the_old_folder_as_it_was(tmp_path: Path):
    student = tmp_path / "out" / "Asha_Rao_CS2301"
    student.mkdir(parents=True)
    (student / "results.json").write_text("old")
    (student / "stale.png").write_bytes(b"old figure")
    replace_folder(archive_of(("results.json", b"new")), student)
    assert tree(student) == {"results.json": b"new"}
    with pytest.raises(TransferRefused):
        replace_folder(archive_of(("../Bela_Sen_CS2302/results.json", b"forged")), student)
    assert tree(student) == {"results.json": b"new"}
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["Asha_Rao_CS2301"]
    assert not (tmp_path / "out" / STAGING).exists()


def test_a_swap_that_fails_half_way_puts_the_old_folder_back(tmp_path: Path, monkeypatch):
    student = tmp_path / "out" / "Asha_Rao_CS2301"
    student.mkdir(parents=True)
    (student / "results.json").write_text("old")
    renames, rename = [], Path.rename

    def second_rename_fails(self, target):
        renames.append(self)
        if len(renames) == 2:
            raise OSError(28, "No space left on device")
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", second_rename_fails)
    with pytest.raises(OSError, match="No space"):
        replace_folder(archive_of(("results.json", b"new")), student)
    monkeypatch.undo()
    assert tree(student) == {"results.json": b"old"}
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["Asha_Rao_CS2301"]
