"""Intake of a class folder: zips, notebooks and folders, including hostile archives."""

import json
import stat
import zipfile
from pathlib import Path

import nbformat
import pytest

from checks.engine.intake import ZipLimits, discover, student_identity
from checks.engine.notebook import InvalidNotebook, load_notebook
from tests.engine.conftest import make_notebook

GOOD_NOTEBOOK = nbformat.writes(make_notebook("print('hello')"))


def write_zip(path: Path, members: dict[str, bytes | str], links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, content in members.items():
            bundle.writestr(name, content)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            bundle.writestr(info, target)
    return path


def test_student_id_comes_from_the_file_name():
    assert student_identity("Asha_Rao_CS2301") == ("Asha_Rao_CS2301", "Asha_Rao", "CS2301")
    assert student_identity("weird name!") == ("weird_name", None, None)
    assert student_identity("CS2301-Asha", r"^(?P<roll>[^-]+)-(?P<name>.+)$")[1:] == ("Asha", "CS2301")


def test_a_class_folder_mixes_zips_notebooks_and_folders(tmp_path):
    class_dir = tmp_path / "class"
    class_dir.mkdir()
    write_zip(
        class_dir / "Asha_R01.zip",
        {
            "work/A2.ipynb": GOOD_NOTEBOOK,
            "__MACOSX/._A2.ipynb": "junk",
            "work/.ipynb_checkpoints/A2-checkpoint.ipynb": GOOD_NOTEBOOK,
        },
    )
    (class_dir / "Bela_R02.ipynb").write_text(GOOD_NOTEBOOK)
    (class_dir / "Chen_R03").mkdir()
    (class_dir / "Chen_R03" / "solution.ipynb").write_text(GOOD_NOTEBOOK)
    (class_dir / "Chen_R03" / "lime_params.pkl").write_bytes(b"data")
    (class_dir / "notes.pdf").write_bytes(b"%PDF")
    (class_dir / ".DS_Store").write_bytes(b"")
    submissions = {s.student_id: s for s in discover([class_dir], tmp_path / "work")}
    assert sorted(submissions) == ["Asha_R01", "Bela_R02", "Chen_R03", "notes"]
    assert submissions["Asha_R01"].valid and submissions["Asha_R01"].notebook.name == "A2.ipynb"
    assert submissions["Asha_R01"].roll == "R01"
    assert submissions["Bela_R02"].valid and submissions["Chen_R03"].valid
    assert "lime_params.pkl" in submissions["Chen_R03"].found
    assert submissions["notes"].problem == "notes.pdf is neither a .zip nor an .ipynb file"


def test_no_notebook_makes_an_invalid_submission_that_lists_what_was_found(tmp_path):
    write_zip(tmp_path / "None_R1.zip", {"report.pdf": "x", "code.py": "print()"})
    (none,) = discover([tmp_path / "None_R1.zip"], tmp_path / "work")
    assert not none.valid and "no notebook" in none.problem and "report.pdf" in none.problem


def test_two_notebooks_are_merged_in_name_order_and_say_so(tmp_path):
    part_two = nbformat.writes(make_notebook("print(x + 1)"))
    part_one = nbformat.writes(make_notebook("x = 41"))
    write_zip(tmp_path / "Two_R2.zip", {"PA2_part2.ipynb": part_two, "PA2_part1.ipynb": part_one})
    (two,) = discover([tmp_path / "Two_R2.zip"], tmp_path / "work")
    assert two.valid and two.merged_from == ["PA2_part1.ipynb", "PA2_part2.ipynb"]
    merged = load_notebook(two.notebook)
    assert [cell.source for cell in merged.cells] == [
        "*xaigrader: the cells below come from PA2_part1.ipynb.*",
        "x = 41",
        "*xaigrader: the cells below come from PA2_part2.ipynb.*",
        "print(x + 1)",
    ]
    assert len({cell["id"] for cell in merged.cells}) == 4
    assert not (tmp_path / "work" / "Two_R2" / "Two_R2.merged.ipynb").exists(), "kept outside the student's files"


def test_a_broken_notebook_among_several_makes_the_submission_invalid(tmp_path):
    write_zip(tmp_path / "Two_R3.zip", {"a.ipynb": GOOD_NOTEBOOK, "b.ipynb": "{truncated"})
    (two,) = discover([tmp_path / "Two_R3.zip"], tmp_path / "work")
    assert not two.valid and two.problem.startswith("2 notebooks found (a.ipynb, b.ipynb) to merge, but b.ipynb")


def test_zip_slip_and_links_never_land_outside(tmp_path):
    archive = write_zip(
        tmp_path / "Eve_R9.zip",
        {"../../escaped.txt": "owned", "/abs/escaped.txt": "owned", "nb.ipynb": GOOD_NOTEBOOK},
        links={"link_to_etc": "/etc/passwd"},
    )
    (submission,) = discover([archive], tmp_path / "work")
    assert submission.valid
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path.parent / "escaped.txt").exists()
    assert not (tmp_path / "work" / "Eve_R9" / "link_to_etc").exists()
    assert any("link" in skipped for skipped in submission.skipped)
    written = [p for p in (tmp_path / "work").rglob("*") if p.is_file()]
    assert all(p.resolve().is_relative_to((tmp_path / "work" / "Eve_R9").resolve()) for p in written)


def test_a_zip_bomb_is_refused_without_unpacking(tmp_path):
    archive = tmp_path / "Bomb_R7.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("nb.ipynb", GOOD_NOTEBOOK)
        bundle.writestr("zeros.bin", b"\0" * (64 << 20))
    (submission,) = discover([archive], tmp_path / "work", limits=ZipLimits(max_total_bytes=32 << 20))
    assert not submission.valid and "MiB" in submission.problem
    (ratio,) = discover([archive], tmp_path / "work2")
    assert not ratio.valid and "zip bomb" in ratio.problem
    assert archive.stat().st_size < 1 << 20


def test_too_many_entries_and_corrupt_zips_are_invalid(tmp_path):
    many = write_zip(tmp_path / "Many_R1.zip", {f"f{i}.txt": "x" for i in range(30)})
    corrupt = tmp_path / "Broken_R2.zip"
    corrupt.write_bytes(b"PK\x03\x04 this is not really a zip")
    first, second = discover([many, corrupt], tmp_path / "work", limits=ZipLimits(max_entries=10))
    assert "30 entries" in first.problem
    assert "not a readable zip" in second.problem


def test_duplicate_student_ids_are_kept_apart(tmp_path):
    first = tmp_path / "a" / "Asha_R01.zip"
    second = tmp_path / "b" / "Asha_R01.zip"
    for path, text in ((first, "first"), (second, "second")):
        path.parent.mkdir()
        write_zip(path, {"nb.ipynb": nbformat.writes(make_notebook(f"print('{text}')"))})
    one, two = discover([first, second], tmp_path / "work")
    assert (one.student_id, two.student_id) == ("Asha_R01", "Asha_R01-2")
    assert "first" in one.notebook.read_text() and "second" in two.notebook.read_text()


MALFORMED = {
    "empty": (b"", "is empty"),
    "non_utf8": (b'{"cells": ["\xff\xfe"]}', "not UTF-8"),
    "truncated": (GOOD_NOTEBOOK[: len(GOOD_NOTEBOOK) // 2].encode(), "not valid JSON"),
    "json_array": (b"[1, 2, 3]", "JSON list, not a notebook"),
    "no_nbformat": (json.dumps({"cells": [], "metadata": {}}).encode(), "no 'nbformat' field"),
    "version_5": (json.dumps({"nbformat": 5, "nbformat_minor": 0, "cells": [], "metadata": {}}).encode(), "version 5"),
    "bad_cell_type": (GOOD_NOTEBOOK.replace('"code"', '"python"').encode(), "cell_type 'python'"),
    "int_source": (
        json.dumps(
            {
                "nbformat": 4,
                "nbformat_minor": 5,
                "metadata": {},
                "cells": [{"cell_type": "code", "source": 7, "metadata": {}, "outputs": [], "execution_count": None}],
            }
        ).encode(),
        "source of type int",
    ),
    "deep_nesting": (b'{"nbformat": 4, "cells": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_notebooks_get_a_clear_reason(tmp_path, kind):
    content, expected = MALFORMED[kind]
    path = tmp_path / f"{kind}.ipynb"
    path.write_bytes(content)
    with pytest.raises(InvalidNotebook, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load_notebook(path)


def test_an_oversized_notebook_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.ipynb"
    with path.open("wb") as handle:
        handle.truncate(600 << 20)
    with pytest.raises(InvalidNotebook, match="over the 50 MiB limit"):
        load_notebook(path)


def test_a_version_3_notebook_is_converted(tmp_path):
    v3 = {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {},
        "worksheets": [
            {
                "cells": [
                    {"cell_type": "code", "input": "print(1 + 1)", "language": "python", "outputs": [], "metadata": {}}
                ],
                "metadata": {},
            }
        ],
    }
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps(v3))
    notebook = load_notebook(path)
    assert notebook.nbformat == 4 and notebook.cells[0].source == "print(1 + 1)"


def _with_counts(counts: list[int | None]) -> nbformat.NotebookNode:
    book = make_notebook(*[f"x{i} = {i}" for i in range(len(counts))])
    for cell, count in zip([c for c in book.cells if c.cell_type == "code"], counts):
        cell.execution_count = count
    return book


def test_cells_last_run_out_of_order_are_noted_and_in_order_ones_are_not():
    from checks.engine.notebook import out_of_order_note

    assert out_of_order_note(_with_counts([1, 2, 5, 9])) is None
    assert out_of_order_note(_with_counts([None, None, None])) is None
    note = out_of_order_note(_with_counts([1, 2, 7, 3, 8]))
    assert note and "cell 4, [3], ran before the cell above it, [7]" in note


def test_execution_counts_restart_in_each_part_of_a_merged_notebook(tmp_path):
    from checks.engine.notebook import merge_notebooks, out_of_order_note

    in_order = [("part1.ipynb", _with_counts([1, 2])), ("part2.ipynb", _with_counts([1, 2]))]
    assert out_of_order_note(merge_notebooks(in_order)) is None
    swapped = [("part1.ipynb", _with_counts([1, 2])), ("part2.ipynb", _with_counts([4, 3]))]
    assert out_of_order_note(merge_notebooks(swapped)) is not None


def test_a_file_and_a_folder_of_one_name_spoil_only_that_submission(tmp_path):
    class_dir = tmp_path / "class"
    class_dir.mkdir()
    write_zip(class_dir / "Clash_R1.zip", {"work": "a file", "work/A2.ipynb": GOOD_NOTEBOOK})
    write_zip(class_dir / "Good_R2.zip", {"work/A2.ipynb": GOOD_NOTEBOOK})
    (class_dir / "Plain_R3.ipynb").write_text(GOOD_NOTEBOOK)
    submissions = {s.student_id: s for s in discover([class_dir], tmp_path / "work")}
    assert sorted(submissions) == ["Clash_R1", "Good_R2", "Plain_R3"]
    clash = submissions["Clash_R1"]
    assert not clash.valid and "work/A2.ipynb could not be extracted" in clash.problem and "same name" in clash.problem
    assert submissions["Good_R2"].valid and submissions["Plain_R3"].valid


def test_a_name_too_long_for_the_file_system_is_skipped(tmp_path):
    long_folder = "a" * 300
    mixed = write_zip(tmp_path / "Long_R1.zip", {f"{long_folder}/A2.ipynb": GOOD_NOTEBOOK, "nb.ipynb": GOOD_NOTEBOOK})
    only = write_zip(tmp_path / "Only_R2.zip", {f"{long_folder}/A2.ipynb": GOOD_NOTEBOOK})
    first, second = discover([mixed, only], tmp_path / "work")
    assert first.valid and first.notebook.name == "nb.ipynb"
    assert any("name too long" in skipped for skipped in first.skipped)
    assert not second.valid and "no notebook" in second.problem


def test_any_error_taking_in_one_submission_spoils_only_that_one(tmp_path, monkeypatch):
    from checks.engine import intake as intake

    extract = intake.safe_extract

    def failing(archive, destination, limits):
        if archive.name.startswith("Odd"):
            raise PermissionError(13, "Permission denied", str(destination))
        return extract(archive, destination, limits)

    monkeypatch.setattr(intake, "safe_extract", failing)
    odd = write_zip(tmp_path / "Odd_R1.zip", {"nb.ipynb": GOOD_NOTEBOOK})
    good = write_zip(tmp_path / "Good_R2.zip", {"nb.ipynb": GOOD_NOTEBOOK})
    first, second = discover([odd, good], tmp_path / "work")
    assert not first.valid and first.problem.startswith("Odd_R1.zip could not be taken in")
    assert "Permission denied" in first.problem
    assert second.valid


def test_names_of_class_files_are_refused_as_student_ids(tmp_path):
    from checks.data.class_folder import CLASS_FILES

    class_dir = tmp_path / "class"
    class_dir.mkdir()
    write_zip(class_dir / "grades.csv.zip", {"nb.ipynb": GOOD_NOTEBOOK})
    (class_dir / "Index.HTML.ipynb").write_text(GOOD_NOTEBOOK)
    (class_dir / "overrides.csv").mkdir()
    (class_dir / "overrides.csv" / "nb.ipynb").write_text(GOOD_NOTEBOOK)
    (class_dir / "gradescope.json.ipynb").write_text(GOOD_NOTEBOOK)
    (class_dir / "index.html.partial.ipynb").write_text(GOOD_NOTEBOOK)
    (class_dir / "Asha_R01.ipynb").write_text(GOOD_NOTEBOOK)
    submissions = {s.student_id: s for s in discover([class_dir], tmp_path / "work")}
    refused = {
        "grades.csv-refused",
        "Index.HTML-refused",
        "overrides.csv-refused",
        "gradescope.json-refused",
        "index.html.partial-refused",
    }
    assert set(submissions) == refused | {"Asha_R01"}
    for student_id in refused:
        assert not submissions[student_id].valid
        assert "collides with the class file" in submissions[student_id].problem
    assert submissions["Asha_R01"].valid
    assert not {student_id.lower() for student_id in submissions} & CLASS_FILES
    assert not (tmp_path / "work" / "grades.csv").exists() and not (tmp_path / "work" / "Index.HTML").exists()


def test_ids_stay_unique_when_a_name_already_ends_with_a_counter_or_differs_in_case(tmp_path):
    paths = []
    for folder, name in (("a", "Asha-2.ipynb"), ("b", "Asha.ipynb"), ("c", "Asha.ipynb"), ("d", "asha.ipynb")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).write_text(nbformat.writes(make_notebook(f"print('{folder}')")))
        paths.append(tmp_path / folder / name)
    submissions = discover(paths, tmp_path / "work")
    ids = [s.student_id for s in submissions]
    assert len({student_id.lower() for student_id in ids}) == 4, ids
    assert all(f"print('{folder}')" in s.notebook.read_text() for folder, s in zip("abcd", submissions))
