"""TA overrides: each line of overrides.csv judged on its own, items named as the reports name them,
marks still pending, and ``xaigrader report`` applying what it can and listing what it cannot."""

import csv
import json

import pytest

from checks.cli import main
from checks.grading.results import CheckResult
from checks.grading.scheme import load_assignment
from checks.publish.overrides import Override, OverrideSet, apply_overrides, load_overrides, write_template
from tests.grading.stored_results import write_student

CS411 = load_assignment("cs411-a2")
WRITTEN = {task.id: task.written for task in CS411.tasks if task.written}


def asha_checks():
    return [
        CheckResult("viridis_title", "1.5", "Figure has a title", 2, score=2, status="passed"),
        CheckResult("viridis_saved", "1.5", "saved", 1, score=1, status="passed"),
        CheckResult("viridis_layout", "1.5", "layout", 2, score=2, status="passed"),
        CheckResult("colormaps_title", "1.6", "Figure has a title", 1, score=1, status="passed"),
    ]


def bela_checks():
    return [
        CheckResult("viridis_title", "1.5", "Figure has a title", 2, status="failed", message="no class name"),
        CheckResult("viridis_saved", "1.5", "saved", 1, score=1, status="passed"),
        CheckResult(
            "top5_names",
            "1.3",
            "Top-5 class names",
            4,
            status="unverifiable",
            message="the image was a stand-in, so the class names cannot be judged",
        ),
    ]


@pytest.fixture
def stored(tmp_path):
    """Two students' stored results, not yet rendered."""
    write_student(tmp_path, "Asha_R1", asha_checks())
    write_student(tmp_path, "Bela_R2", bela_checks())
    return tmp_path


def payloads_of(folder):
    return [json.loads((folder / name / "results.json").read_text()) for name in ("Asha_R1", "Bela_R2")]


def write_overrides(folder, *rows):
    path = folder / "overrides.csv"
    path.write_text("student,item,marks,comment\n" + "".join(f"{row}\n" for row in rows))
    return path


def load(folder, *rows):
    return load_overrides(write_overrides(folder, *rows), payloads_of(folder), CS411)


def decisions(overrides: OverrideSet):
    return [(o.student, o.item, o.marks, o.line) for o in overrides.valid]


def test_a_mixed_file_applies_its_valid_lines_and_names_each_invalid_one(stored):
    overrides = load(
        stored,
        "Asha_R1,1.6,1.5,clear but brief",
        "Zed_R9,1.6,1,",
        "Bela_R2,viridis_title,2,suptitle names the class",
        "Asha_R1,1.7,two,",
        "Asha_R1,2.8,6,",
        "Asha_R1,1.1,1,",
        "Asha_R1,smooth_grad,1,",
        "Asha_R1,1.6,2,",
        "Bela_R2,viridis_title,-1,",
        "Asha_R1,1.7,nan,",
        "Asha_R1,2.7,,comment only: no marks yet",
    )
    assert decisions(overrides) == [("Asha_R1", "1.6", 1.5, 2), ("Bela_R2", "viridis_title", 2.0, 4)]
    assert overrides.problems == [
        "line 3: no graded student 'Zed_R9'",
        "line 5: marks 'two' is not a number",
        "line 6: 6 marks for 2.8 is outside 0-5",
        "line 7: task 1.1 has no written answer; name one of its checks instead",
        "line 8: 'smooth_grad' is neither a task id nor a check of Asha_R1",
        "line 9: Asha_R1 1.6 already set on line 2",
        "line 10: -1 marks for viridis_title is outside 0-2",
        "line 11: marks 'nan' is not a number",
    ]


def test_a_file_of_valid_lines_has_no_problems(stored):
    overrides = load(stored, "Asha_R1,1.6,2,", " Bela_R2 , 2.8 , 5 , thorough ")
    assert overrides.problems == []
    assert decisions(overrides) == [("Asha_R1", "1.6", 2.0, 2), ("Bela_R2", "2.8", 5.0, 3)]
    assert overrides.valid[1].comment == "thorough"


@pytest.mark.parametrize(
    "item, name",
    [
        ("viridis_saved", "viridis_saved"),
        ("layout", "viridis_layout"),
        ("1.5 Figure has a title", "viridis_title"),
        ("1.6 Figure has a title", "colormaps_title"),
        ("  1.5 layout  ", "viridis_layout"),
    ],
)
def test_a_check_is_named_by_id_by_unique_title_or_by_task_and_title(stored, item, name):
    overrides = load(stored, f"Asha_R1,{item},1,")
    assert (overrides.problems, [o.item for o in overrides.valid]) == ([], [name])


def test_a_title_two_checks_share_is_refused_with_the_ids_to_use(stored):
    overrides = load(stored, "Asha_R1,Figure has a title,1,", "Bela_R2,Figure has a title,1,")
    assert overrides.problems == [
        "line 2: 'Figure has a title' is the title of 2 checks of Asha_R1; use an id: viridis_title, colormaps_title"
    ]
    assert decisions(overrides) == [("Bela_R2", "viridis_title", 1.0, 3)], "unique among Bela's checks"


def test_a_check_named_twice_in_different_ways_is_a_duplicate(stored):
    overrides = load(stored, "Asha_R1,layout,1,", "Asha_R1,viridis_layout,2,")
    assert overrides.problems == ["line 3: Asha_R1 viridis_layout already set on line 2"]
    assert decisions(overrides) == [("Asha_R1", "viridis_layout", 1.0, 2)]


def test_a_header_without_the_columns_is_the_one_problem_of_the_file(stored):
    path = stored / "overrides.csv"
    path.write_text("name,score\nAsha_R1,2\n")
    overrides = load_overrides(path, payloads_of(stored), CS411)
    assert overrides.valid == [] and len(overrides.problems) == 1
    assert "missing student, item, marks, comment" in overrides.problems[0]


def test_an_unreadable_file_is_one_problem_and_a_missing_or_empty_one_none(stored):
    path = stored / "overrides.csv"
    path.write_bytes(b"student,item,marks,comment\nAsha_R1,1.6,1,caf\xe9\n")
    overrides = load_overrides(path, payloads_of(stored), CS411)
    assert overrides.valid == [] and "not UTF-8 text" in overrides.problems[0]
    path.write_text("")
    assert load_overrides(path, payloads_of(stored), CS411) == OverrideSet([], [])
    path.unlink()
    assert load_overrides(path, payloads_of(stored), CS411) == OverrideSet([], [])


def test_every_written_answer_is_pending_until_a_ta_marks_it(stored):
    asha = payloads_of(stored)[0]
    before = apply_overrides(asha, CS411, [])
    assert (before["pending"], before["pending_written"], before["final"]) == (sum(WRITTEN.values()), 16, False)
    assert before["tasks"]["1.6"]["pending"] == 2 and before["tasks"]["1.5"]["pending"] == 0
    assert (before["score"], before["automatic_score"], before["ta_marks"]) == (6, 6, 0)
    marks = [
        Override("Asha_R1", task_id, marks - 0.5, "", line) for line, (task_id, marks) in enumerate(WRITTEN.items())
    ]
    after = apply_overrides(asha, CS411, marks)
    assert (after["pending"], after["final"], after["tasks"]["1.6"]["pending"]) == (0, True, 0)
    assert (after["ta_marks"], after["score"], after["automatic_score"]) == (13, 19, 6)
    assert after["tasks"]["1.6"]["ta"] == {"marks": 1.5, "comment": ""} and after["tasks"]["1.6"]["score"] == 2.5


def test_an_unverifiable_check_is_pending_until_overridden_and_then_counts_as_a_correction(stored):
    bela = payloads_of(stored)[1]
    before = apply_overrides(bela, CS411, [])
    assert (before["pending_unverifiable"], before["pending"], before["tasks"]["1.3"]["pending"]) == (4, 20, 4)
    assert before["score"] == 1 and before["checks"][2]["status"] == "unverifiable"
    corrections = [
        Override("Bela_R2", "top5_names", 4, "names checked by hand", 2),
        Override("Bela_R2", "viridis_title", 1, "suptitle half right", 3),
    ]
    after = apply_overrides(bela, CS411, corrections)
    assert (after["pending_unverifiable"], after["pending"], after["tasks"]["1.3"]["pending"]) == (0, 16, 0)
    assert (after["score"], after["corrected_checks"], after["corrected_marks"], after["ta_marks"]) == (6, 2, 5, 0)
    assert [check["status"] for check in after["checks"]] == ["partial", "passed", "passed"]
    assert after["checks"][2]["override"]["automatic_status"] == "unverifiable"
    assert after["overridden"] == ["top5_names", "viridis_title"]
    assert bela["checks"][2]["status"] == "unverifiable", "the stored result is not changed"


def test_a_check_handed_to_a_ta_is_pending_but_a_failed_one_is_decided(tmp_path):
    write_student(
        tmp_path,
        "Chen_R3",
        [
            CheckResult("architecture", "2.2", "Architecture", 2, status="needs_ta", message="read in the kernel"),
            CheckResult("trained_accuracy", "2.2", "Accuracy", 4, status="failed"),
        ],
    )
    final = apply_overrides(json.loads((tmp_path / "Chen_R3" / "results.json").read_text()), CS411, [])
    assert (final["pending_needs_ta"], final["tasks"]["2.2"]["pending"], final["pending"]) == (2, 2, 18)


def test_the_template_lists_written_answers_and_the_checks_an_instructor_must_decide(stored):
    path = stored / "overrides.csv"
    assert write_template(path, payloads_of(stored), CS411)
    rows = list(csv.DictReader(path.open()))
    assert {(row["student"], row["item"]) for row in rows if row["item"] in WRITTEN} == {
        (student, task_id) for student in ("Asha_R1", "Bela_R2") for task_id in WRITTEN
    }
    checks = [row for row in rows if row["item"] not in WRITTEN]
    assert [(row["student"], row["item"], row["max"]) for row in checks] == [("Bela_R2", "top5_names", "4")]
    assert checks[0]["about"] == "Top-5 class names: the image was a stand-in, so the class names cannot be judged"
    assert all(row["marks"] == "" for row in rows)
    assert load_overrides(path, payloads_of(stored), CS411) == OverrideSet([], []), "a blank template applies nothing"
    path.write_text("student,item,marks,comment\nAsha_R1,1.6,2,\n")
    assert not write_template(path, payloads_of(stored), CS411) and "Asha_R1,1.6,2" in path.read_text()


def gradebook(folder):
    return {row["student"]: row for row in csv.DictReader((folder / "grades.csv").open())}


def test_report_applies_the_valid_lines_and_lists_the_others_one_per_line(stored, capsys):
    write_overrides(
        stored,
        "Asha_R1,1.6,1.5,clear but brief",
        "Asha_R1,1.7,3,",
        "Bela_R2,1.3 Top-5 class names,4,checked by hand",
        "Zed_R9,1.6,1,",
    )
    assert main(["report", str(stored)]) == 1
    out, err = capsys.readouterr()
    assert "line 3: 3 marks for 1.7 is outside 0-2\n  line 5: no graded student 'Zed_R9'\n" in err
    assert "1 with written marks from a TA, 1 with corrected checks, 2 with marks still pending" in out
    book = gradebook(stored)
    assert (book["Asha_R1"]["total"], book["Asha_R1"]["ta"], book["Asha_R1"]["pending"]) == ("7.5", "1.5", "14.0")
    assert (book["Bela_R2"]["total"], book["Bela_R2"]["pending"], book["Bela_R2"]["final"]) == ("5.0", "16.0", "no")
    stored_bela = json.loads((stored / "Bela_R2" / "results.json").read_text())
    assert stored_bela["score"] == 1 and "override" not in stored_bela["checks"][2], "stored results stay automatic"


def test_report_with_a_clean_file_succeeds(stored, capsys):
    write_overrides(stored, "Asha_R1,1.6,2,")
    assert main(["report", str(stored)]) == 0
    assert "not applied" not in capsys.readouterr().err
    assert gradebook(stored)["Asha_R1"]["ta"] == "2.0"


def test_report_with_a_broken_header_still_renders_and_says_why(stored, capsys):
    (stored / "overrides.csv").write_text("name,score\nAsha_R1,2\n")
    assert main(["report", str(stored)]) == 1
    assert "missing student, item, marks, comment" in capsys.readouterr().err
    assert gradebook(stored)["Asha_R1"]["ta"] == "0.0"
