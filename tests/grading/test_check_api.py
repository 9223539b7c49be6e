"""The check API, scoring and the written-answer locator, without a kernel."""

from types import SimpleNamespace

import nbformat

from checks.engine.call_errors import KernelUnavailable, StudentCallError
from checks.grading.check_api import CheckFailed, CheckSuite, NeedsTA, run_check
from checks.grading.results import CheckResult, SubmissionResult, score_tasks
from checks.grading.scheme import load_assignment
from checks.grading.written import Question, count_sentences, locate_answers
from checks.publish.exports import gradescope_results
from checks.publish.overrides import apply_overrides

suite = CheckSuite()


@suite.check("1.2", 4, "passes")
def passes(ctx):
    return "fine"


@suite.check("1.2", 4, "partly")
def partly(ctx):
    raise CheckFailed("half right", expected="a", found="b", cause="starter bug", fraction=0.5)


@suite.check("1.4", 2, "needs a human")
def human(ctx):
    raise NeedsTA("look at the plot")


@suite.check("1.8", 2, "student raised")
def student_raised(ctx):
    raise StudentCallError("smooth_grad", "AttributeError", "'NoneType' object has no attribute 'abs'")


@suite.check("2.2", 4, "full only", needs="full")
def full_only(ctx):
    return None


@suite.check("2.3", 1, "grader bug")
def broken(ctx):
    return {}["missing"]


@suite.check("2.4", 1, "kernel died")
def kernel_gone(ctx):
    raise KernelUnavailable("the kernel died while smooth_grad ran, so no further calls could be made")


@suite.check("2.5", 1, "a finder took a refused call for an absence")
def refused_then_absent(ctx):
    ctx.refused += 1 if ctx.stopped else 0
    raise CheckFailed("no trained classifier is left in the notebook's namespace")


def outcomes(mode: str, stopped: str | None = None) -> dict[str, CheckResult]:
    context = SimpleNamespace(mode=mode, stopped=stopped, refused=0)
    context.kernel_stopped = lambda: (context.stopped, context.refused)
    return {spec.name: run_check(spec, context) for spec in suite.specs}


def test_each_way_a_check_can_end():
    results = outcomes("full")
    assert (results["passes"].status, results["passes"].score, results["passes"].message) == ("passed", 4, "fine")
    assert (results["partly"].status, results["partly"].score) == ("partial", 2.0)
    assert (results["partly"].expected, results["partly"].found, results["partly"].cause) == ("a", "b", "starter bug")
    assert (results["human"].status, results["human"].score, results["human"].message) == (
        "needs_ta",
        0,
        "look at the plot",
    )
    assert results["student_raised"].status == "failed"
    assert "non-leaf" in results["student_raised"].cause
    assert results["full_only"].status == "passed"
    assert results["broken"].status == "failed" and "KeyError" in results["broken"].message


def test_a_check_the_kernel_could_not_answer_is_not_run_with_the_reason_never_failed():
    results = outcomes("full")
    gone = results["kernel_gone"]
    assert (gone.status, gone.score) == ("not_run", 0)
    assert gone.message == "not run: the kernel died while smooth_grad ran, so no further calls could be made"
    reason = "the kernel died while smooth_grad ran, so no further calls could be made"
    after = outcomes("full", stopped=reason)
    refused = after["refused_then_absent"]
    assert (refused.status, refused.message) == ("not_run", f"not run: {reason}"), "the refusal, not an absence"
    assert outcomes("full")["refused_then_absent"].status == "failed"
    assert after["partly"].status == "partial", "a check that judged without the kernel keeps its verdict"
    assert after["passes"].status == "passed" and after["human"].status == "needs_ta"


def test_quick_mode_marks_full_run_checks_as_not_run():
    results = outcomes("quick")
    assert results["full_only"].status == "not_run" and "needs a full run" in results["full_only"].message
    assert results["passes"].status == "passed"


def test_task_marks_scale_check_points_to_the_automatic_share():
    assignment = load_assignment("cs411-a2")
    checks = [
        CheckResult("a", "1.6", "layout", 3, score=3, status="passed"),
        CheckResult("b", "1.2", "shape", 2, score=1, status="partial"),
        CheckResult("c", "1.2", "values", 2, score=2, status="passed"),
    ]
    tasks = score_tasks(assignment, checks)
    assert tasks["1.6"].score == 3 and tasks["1.6"].status == "needs_ta" and tasks["1.6"].max_score == 5
    assert tasks["1.2"].score == 3 and tasks["1.2"].status == "partial"
    assert tasks["2.8"].status == "needs_ta" and tasks["1.1"].status == "not_run"


def test_results_export_to_gradescope_with_a_test_per_check_and_written_answer():
    assignment = load_assignment("cs411-a2")
    result = SubmissionResult(
        "Asha_R1",
        "cs411-a2",
        "full",
        checks=[
            CheckResult("a", "1.2", "shape", 2, score=2, status="passed"),
            CheckResult(
                "b",
                "1.2",
                "values",
                2,
                status="failed",
                message="differs",
                expected="x",
                found="y",
                inputs="hidden image 1",
            ),
        ],
    )
    payload = result.as_json(assignment)
    for key in (
        "score",
        "execution_time",
        "output",
        "student",
        "assignment",
        "mode",
        "sandbox",
        "stand_ins",
        "tasks",
        "written_answers",
        "figures",
    ):
        assert key in payload
    assert payload["score"] == 2.0
    exported = gradescope_results(apply_overrides(payload, assignment, []), assignment)
    assert {"name", "score", "max_score", "status", "output", "output_format", "tags"} <= set(exported["tests"][0])
    assert "Expected: `x`" in exported["tests"][1]["output"] and "Found: `y`" in exported["tests"][1]["output"]
    written = [test for test in exported["tests"] if "written" in test["tags"]]
    assert len(written) == sum(1 for task in assignment.tasks if task.written)
    assert all("score" not in test and "status" not in test for test in written)


def test_sentences_are_counted_without_markdown_noise():
    assert count_sentences("**Answer.** Hot is clearest. It hides the weak gradients well!") == 2
    assert count_sentences("# Heading\n- first point here. Second point is here.") == 2


def test_answers_are_located_by_their_keywords_and_checked_for_length():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Assignment heading with several words"),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_markdown_cell(
            "The hot colormap is clearest. Its dark background hides weak gradients. Gray is the hardest to read."
        ),
        nbformat.v4.new_markdown_cell("SmoothGrad removes the noise of the vanilla map."),
    ]
    questions = [
        Question("1.6", "Which colormap?", ("colormap", "hot"), "2-3", 2),
        Question("1.8", "SmoothGrad?", ("smoothgrad", "noise"), "2-3", 2),
        Question("2.8", "Failure?", ("harder",), "3-5", 5),
    ]
    colormap, smooth, failure = locate_answers(notebook, questions)
    assert (colormap.cell, colormap.sentences, colormap.length_ok) == (2, 3, True)
    assert (smooth.cell, smooth.sentences, smooth.length_ok) == (3, 1, False)
    assert failure.cell is None and failure.text == ""


evidence_suite = CheckSuite()


@evidence_suite.check("1.5", 2, "cites and fails")
def cites_and_fails(ctx):
    ctx.evidence.figures.append("figure-003.png")
    ctx.evidence.references.append({"png": "reference-viridis.png", "caption": "reference"})
    raise CheckFailed("wrong colormap")


@evidence_suite.check("1.6", 2, "cites nothing")
def cites_nothing(ctx):
    return None


def test_each_check_keeps_only_the_figures_it_cited_even_when_it_fails():
    context = SimpleNamespace(mode="full", kernel_stopped=lambda: (None, 0))
    first, second = (run_check(spec, context) for spec in evidence_suite.specs)
    assert first.status == "failed" and first.figures == ["figure-003.png"]
    assert first.references == [{"png": "reference-viridis.png", "caption": "reference"}]
    assert second.figures == [] and second.references == []
