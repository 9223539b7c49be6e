"""grades.csv and Gradescope's results.json made from final results: pending marks, partial marks,
advisories and stand-ins, in markdown a student's notebook cannot inject into."""

import csv
import json

import pytest
from markdown_it import MarkdownIt

from checks.grading.results import CheckResult
from checks.grading.scheme import load_assignment
from checks.publish.exports import GRADEBOOK_FIXED, gradescope_results, write_gradebook
from checks.publish.overrides import Override, apply_overrides
from tests.grading.stored_results import write_student

CS411 = load_assignment("cs411-a2")
HOSTILE = "[click me](http://evil.example) <img src=x onerror=alert(1)> ![pic](http://evil.example/p.png) **bold**"
MISSES = "; ".join(f"figure in cell {cell}: no title" for cell in range(1, 48))
RENDER = MarkdownIt("commonmark")  # raw HTML allowed: the most a markdown renderer lets through


def checks():
    return [
        CheckResult("viridis_title", "1.5", "Figure has a title", 2, score=2, status="passed"),
        CheckResult(
            "viridis_layout",
            "1.5",
            "Map beside the image",
            2,
            score=1,
            status="partial",
            message=f"one panel only, titled {HOSTILE}",
            expected="2 panels",
            found="1 panel `x`",
        ),
        CheckResult(
            "viridis_saved",
            "1.5",
            "Saved as png",
            1,
            status="failed",
            message="no file",
            found="a\nb",
            first_cause={
                "label": "cell 16 (In [12])",
                "error": "NameError: name 'fig' is not defined",
                "certain": True,
            },
        ),
        CheckResult("top5_names", "1.3", "Top-5 names", 4, status="unverifiable", message="stand-in image"),
        CheckResult("plots_labelled", "plots", "Every plot has a title", 0, status="needs_ta", message=MISSES),
    ]


@pytest.fixture
def payload(tmp_path):
    write_student(tmp_path, "Asha_R1", checks())
    return json.loads((tmp_path / "Asha_R1" / "results.json").read_text())


def by_name(exported):
    return {test["name"]: test for test in exported["tests"]}


def test_the_gradebook_says_what_is_pending_and_whether_a_mark_is_final(payload, tmp_path):
    def written(student):
        return [Override(student, task.id, task.written, "", 2) for task in CS411.tasks if task.written]

    finals = [
        apply_overrides(payload, CS411, []),
        apply_overrides(payload | {"student": "Bela_R2"}, CS411, written("Bela_R2")),
        apply_overrides(
            payload | {"student": "Chen_R3"}, CS411, [*written("Chen_R3"), Override("Chen_R3", "top5_names", 3, "", 3)]
        ),
    ]
    write_gradebook(finals, CS411, tmp_path / "grades.csv")
    rows = list(csv.DictReader((tmp_path / "grades.csv").open()))
    assert list(rows[0]) == GRADEBOOK_FIXED + [f"task {task.id}" for task in CS411.tasks]
    assert GRADEBOOK_FIXED == ["student", "total", "automatic", "ta", "pending", "final", "max", "mode", "problem"]
    summary = [(r["student"], r["total"], r["automatic"], r["ta"], r["pending"], r["final"]) for r in rows]
    assert summary == [
        ("Asha_R1", "3.0", "3.0", "0.0", "20.0", "no"),
        ("Bela_R2", "19.0", "3.0", "16.0", "4.0", "no"),
        ("Chen_R3", "22.0", "3.0", "16.0", "0.0", "yes"),
    ]
    assert (rows[0]["task 1.5"], rows[0]["task 1.3"], rows[2]["task 1.3"], rows[2]["task 2.8"]) == (
        "3.0",
        "0.0",
        "3.0",
        "5.0",
    )


def test_an_unmarked_written_answer_has_no_score_until_a_ta_marks_it(payload):
    before = by_name(gradescope_results(apply_overrides(payload, CS411, []), CS411))
    pending = before["2.8 written answer (not yet graded)"]
    assert not {"score", "max_score", "status"} & set(pending) and "pending" in pending["tags"]
    assert pending["output"] == "Not yet graded: a TA will mark this answer (5 marks)."
    overrides = [Override("Asha_R1", "2.8", 4, "good, but [see](http://evil.example)", 2)]
    after = by_name(gradescope_results(apply_overrides(payload, CS411, overrides), CS411))
    partial = after["2.8 written answer"]
    assert (partial["score"], partial["max_score"], "status" in partial) == (4, 5, False)
    assert "<a" not in RENDER.render(partial["output"]) and "see" in RENDER.render(partial["output"])


@pytest.mark.parametrize("marks, status", [(5, "passed"), (0, "failed")])
def test_full_or_zero_written_marks_pass_or_fail(payload, marks, status):
    final = apply_overrides(payload, CS411, [Override("Asha_R1", "2.8", marks, "", 2)])
    assert by_name(gradescope_results(final, CS411))["2.8 written answer"]["status"] == status


def test_checks_pass_fail_or_carry_partial_marks_without_a_status(payload):
    exported = gradescope_results(apply_overrides(payload, CS411, []), CS411)
    tests = by_name(exported)
    assert tests["1.5 Figure has a title"]["status"] == "passed"
    assert tests["1.5 Saved as png"]["status"] == "failed"
    assert (
        "Follows from an earlier error in cell 16 \\(In \\[12\\]\\): `NameError: name 'fig' is not defined`"
        in (tests["1.5 Saved as png"]["output"])
    )
    partial = tests["1.5 Map beside the image"]
    assert (partial["score"], partial["max_score"], "status" in partial) == (1, 2, False)
    scored = [test["score"] for test in exported["tests"] if "score" in test]
    assert exported["score"] == sum(scored) == 3


def test_an_unverifiable_check_has_no_score_and_says_why_until_overridden(payload):
    before = by_name(gradescope_results(apply_overrides(payload, CS411, []), CS411))
    waiting = before["1.3 Top-5 names (not yet graded)"]
    assert not {"score", "max_score", "status"} & set(waiting)
    assert waiting["output"].startswith("Not yet graded: the evidence rests on a stand-in asset")
    final = apply_overrides(payload, CS411, [Override("Asha_R1", "top5_names", 4, "checked by hand", 2)])
    decided = by_name(gradescope_results(final, CS411))["1.3 Top-5 names"]
    assert (decided["score"], decided["status"]) == (4, "passed")
    assert decided["output"].endswith("Set by a TA (automatic: 0): checked by hand")


def test_advisories_are_a_bounded_section_of_the_overall_output_not_tests(payload):
    exported = gradescope_results(apply_overrides(payload, CS411, []), CS411)
    assert not [test for test in exported["tests"] if test["name"].startswith("plots")]
    output = exported["output"]
    assert "**Notes on the whole notebook (no marks):**\n\n- Every plot has a title: figure in cell 1" in output
    assert "figure in cell 47" not in output and "more characters)</li>" in RENDER.render(output)


def test_every_output_is_markdown_with_values_as_code_and_student_text_inert(payload):
    exported = gradescope_results(apply_overrides(payload, CS411, []), CS411)
    assert exported["output_format"] == "md" and {test["output_format"] for test in exported["tests"]} == {"md"}
    layout = by_name(exported)["1.5 Map beside the image"]["output"]
    assert "Expected: `2 panels`" in layout and "Found: `` 1 panel `x` ``" in layout
    page = RENDER.render(layout)
    assert "<code>2 panels</code>" in page and "<code>1 panel `x`</code>" in page
    assert not any(tag in page for tag in ("<a", "<img", "<strong")), page
    assert "[click me](http://evil.example) &lt;img src=x onerror=alert(1)&gt;" in page
    saved = RENDER.render(by_name(exported)["1.5 Saved as png"]["output"])
    assert "<pre><code>a\nb\n</code></pre>" in saved


def test_the_overall_output_states_pending_marks_and_stand_ins(payload):
    payload["stand_ins"] = ["mobilenet_v2 IMAGENET1K_V1: stand-in weights <b>x</b>"]
    output = gradescope_results(apply_overrides(payload, CS411, []), CS411)["output"]
    assert "**20 marks await a TA** (written answers: 16; checks resting on stand-in assets: 4)." in output
    page = RENDER.render(output)
    assert "<strong>Graded with stand-in assets:</strong>" in page and "stand-in weights &lt;b&gt;x&lt;/b&gt;" in page
    payload["stand_ins"] = []
    written = [Override("Asha_R1", task.id, task.written, "", 2) for task in CS411.tasks if task.written]
    decided = written + [Override("Asha_R1", "top5_names", 0, "", 3)]
    output = gradescope_results(apply_overrides(payload, CS411, decided), CS411)["output"]
    assert "await a TA" not in output and "stand-in assets" not in output
