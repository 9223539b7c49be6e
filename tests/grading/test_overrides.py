"""TA overrides applied by ``xaigrader report``: written marks, corrected checks, exports, bad files."""

import csv
import json

import pytest

from checks.cli import main
from checks.grading.results import CheckResult
from tests.grading.stored_results import write_student


@pytest.fixture
def graded(tmp_path):
    write_student(
        tmp_path,
        "Asha_R1",
        [
            CheckResult("viridis_title", "1.5", "title", 2, score=2, status="passed"),
            CheckResult("viridis_saved", "1.5", "saved", 1, score=1, status="passed"),
            CheckResult("viridis_layout", "1.5", "layout", 2, score=2, status="passed"),
        ],
    )
    write_student(
        tmp_path,
        "Bela_R2",
        [
            CheckResult(
                "viridis_title", "1.5", "title", 2, status="failed", message="the title does not name the class"
            ),
            CheckResult("viridis_saved", "1.5", "saved", 1, score=1, status="passed"),
            CheckResult("viridis_layout", "1.5", "layout", 2, score=2, status="passed"),
        ],
    )
    assert main(["report", str(tmp_path)]) == 0
    return tmp_path


def gradebook(folder):
    return {row["student"]: row for row in csv.DictReader((folder / "grades.csv").open())}


def write_overrides(folder, *rows):
    (folder / "overrides.csv").write_text("student,item,marks,comment\n" + "".join(f"{row}\n" for row in rows))


def test_the_first_rendering_writes_a_template_listing_every_written_answer(graded):
    rows = list(csv.DictReader((graded / "overrides.csv").open()))
    assert {(row["student"], row["item"]) for row in rows} >= {("Asha_R1", "1.6"), ("Bela_R2", "2.8")}
    assert all(row["marks"] == "" for row in rows) and rows[0]["about"]
    assert gradebook(graded)["Asha_R1"]["ta"] == "0"


def test_written_marks_and_a_corrected_check_reach_every_page_and_export(graded):
    write_overrides(graded, "Asha_R1,1.6,1.5,clear but brief", "Bela_R2,viridis_title,2,suptitle names the class")
    assert main(["report", str(graded)]) == 0
    book = gradebook(graded)
    assert (book["Asha_R1"]["total"], book["Asha_R1"]["automatic"], book["Asha_R1"]["ta"]) == ("6.5", "5.0", "1.5")
    assert (book["Asha_R1"]["task 1.6"], book["Bela_R2"]["task 1.5"], book["Bela_R2"]["total"]) == ("1.5", "5.0", "5.0")
    asha = (graded / "Asha_R1" / "report.html").read_text()
    assert "TA: 1.5 / 2 — clear but brief" in asha and "(TA 1.5)" in asha
    bela = (graded / "Bela_R2" / "report.html").read_text()
    assert "Set by a TA (automatic: 0): suptitle names the class" in bela
    scope = json.loads((graded / "Asha_R1" / "gradescope.json").read_text())
    assert scope["score"] == 6.5 and set(scope) == {
        "score",
        "execution_time",
        "output",
        "visibility",
        "stdout_visibility",
        "tests",
    }
    written = next(test for test in scope["tests"] if test["name"] == "1.6 written answer")
    assert (written["score"], written["max_score"], written["output"]) == (1.5, 2, "clear but brief")
    assert sum(test["score"] for test in scope["tests"]) == scope["score"]
    stored = json.loads((graded / "Bela_R2" / "results.json").read_text())
    assert stored["score"] == 3 and "override" not in stored["checks"][0], "stored results stay automatic"
    assert "2 of 2 with TA marks or corrections" in (graded / "index.html").read_text()


@pytest.mark.parametrize(
    "rows, message",
    [
        (["Zed_R9,1.6,1,"], "line 2: no graded student 'Zed_R9'"),
        (["Asha_R1,1.6,3,"], "line 2: 3 marks for 1.6 is outside 0-2"),
        (["Asha_R1,1.6,two,"], "line 2: marks 'two' is not a number"),
        (["Asha_R1,1.1,1,"], "line 2: task 1.1 has no written answer"),
        (["Asha_R1,smooth_grad,1,"], "line 2: 'smooth_grad' is neither a task id nor a check of Asha_R1"),
        (["Asha_R1,1.6,1,", "Asha_R1,1.6,2,"], "line 3: Asha_R1 1.6 already set on line 2"),
        (["Asha_R1,viridis_title,-1,"], "line 2: -1 marks for viridis_title is outside 0-2"),
    ],
)
def test_a_wrong_overrides_file_is_refused_with_its_line_and_nothing_is_rewritten(graded, capsys, rows, message):
    before = (graded / "grades.csv").read_text()
    write_overrides(graded, *rows)
    assert main(["report", str(graded)]) == 2
    assert message in capsys.readouterr().err
    assert (graded / "grades.csv").read_text() == before


def test_an_overrides_file_without_the_columns_says_which_are_missing(graded, capsys):
    (graded / "overrides.csv").write_text("name,score\nAsha_R1,2\n")
    assert main(["report", str(graded)]) == 2
    assert "missing student, item, marks, comment" in capsys.readouterr().err
