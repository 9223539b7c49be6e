"""Figures go under the task whose check judged them, else under the task heading above them."""

import nbformat

from checks.engine.exchange_records import FigureRecord, figure
from checks.grading.figure_placement import place_figures, task_cells, task_headings
from checks.grading.results import CheckResult

TASKS = ["1.1", "1.5", "1.6", "2.1"]


def record(png: str | None, cell: int, **fields) -> FigureRecord:
    """A figure record as the grader holds it once copied: validated, every field present."""
    return {**figure({"figure": 1, "cell": cell, "png": png or "", **fields}), "png": png}


def notebook():
    cells = [
        nbformat.v4.new_markdown_cell("# CS411 A2"),
        nbformat.v4.new_code_cell("plt.imshow(img)"),
        nbformat.v4.new_markdown_cell("## 1.5 Visualise the saliency map\nUse viridis, as in 1.6's hint."),
        nbformat.v4.new_code_cell("plt.imshow(saliency)"),
        nbformat.v4.new_markdown_cell("**Task 2.1** Load MNIST.\n\nSee 10.5 for details."),
        nbformat.v4.new_code_cell("plt.plot(losses)"),
        nbformat.v4.new_markdown_cell("Version 1.55 of the notes; 1.5 is mentioned but not as a heading"),
    ]
    return nbformat.v4.new_notebook(cells=cells)


def test_headings_name_tasks_and_ordinary_text_does_not():
    assert task_headings(notebook(), TASKS) == [(2, "1.5"), (4, "2.1")]


def test_a_judged_figure_follows_its_check_and_others_follow_the_heading_above():
    figures = [
        record("figure-001.png", 1, suptitle="a cat"),
        record("figure-002.png", 3, axes=[{"title": "viridis"}]),
        record("figure-003.png", 5),
        record("figure-004.png", 5),
        record(None, 5),
    ]
    checks = [
        CheckResult("shown", "1.1", "image shown", 2, figures=["figure-001.png"]),
        CheckResult("labelled", "all", "titles", 0, figures=["figure-003.png"]),
        CheckResult("digits", "2.1", "digits", 1, figures=["figure-004.png"]),
    ]
    placed = {
        f["png"]: (f["task"], f["placed_by"], f["title"]) for f in place_figures(figures, checks, notebook(), TASKS)
    }
    assert placed == {
        "figure-001.png": ("1.1", "judged by a check", "a cat"),
        "figure-002.png": ("1.5", "under the heading in cell 3", "viridis"),
        "figure-003.png": ("2.1", "under the heading in cell 5", ""),
        "figure-004.png": ("2.1", "judged by a check", ""),
    }


def test_a_figure_above_every_heading_stays_unplaced():
    placed = place_figures([record("figure-001.png", 1)], [], notebook(), TASKS)
    assert placed[0]["task"] is None


def commented_notebook():
    cells = [
        nbformat.v4.new_markdown_cell("# CS411 A2"),
        nbformat.v4.new_code_cell("# 1.5 Image and saliency side by side\nplt.imshow(saliency)"),
        nbformat.v4.new_code_cell("plt.plot(losses)"),
        nbformat.v4.new_code_cell("x = 1  # 2.1 is not named on the first line\nplt.plot(x)"),
        nbformat.v4.new_code_cell("\n# Task 2.1: digits\nplt.imshow(digit)"),
        nbformat.v4.new_code_cell("#1.55 is no task\nplt.plot(y)"),
    ]
    return nbformat.v4.new_notebook(cells=cells)


def test_a_leading_comment_naming_a_task_starts_it_and_later_mentions_do_not():
    assert task_cells(commented_notebook(), TASKS) == {"1.5": [1, 2, 3], "2.1": [4, 5]}
    placed = {
        f["png"]: (f["task"], f["placed_by"])
        for f in place_figures(
            [record("figure-001.png", 1), record("figure-002.png", 2), record("figure-003.png", 4)],
            [],
            commented_notebook(),
            TASKS,
        )
    }
    assert placed == {
        "figure-001.png": ("1.5", "by the comment naming the task in its cell"),
        "figure-002.png": ("1.5", "under the comment in cell 2"),
        "figure-003.png": ("2.1", "by the comment naming the task in its cell"),
    }


def test_a_figure_checks_rejected_says_why_and_one_judged_elsewhere_does_not():
    checks = [
        CheckResult(
            "grid", "2.1", "a 2 x 5 grid", 1, considered=[{"png": "figure-001.png", "why": "a 1 x 10 grid, not 2 x 5"}]
        ),
        CheckResult("digits", "1.5", "digits", 1, figures=["figure-002.png"]),
        CheckResult("other", "2.1", "other", 1, considered=[{"png": "figure-002.png", "why": "no legend"}]),
    ]
    placed = {
        f["png"]: f
        for f in place_figures([record("figure-001.png", 1), record("figure-002.png", 1)], checks, notebook(), TASKS)
    }
    assert (
        placed["figure-001.png"]["task"] == "2.1" and placed["figure-001.png"]["placed_by"] == "considered by a check"
    )
    assert placed["figure-001.png"]["considered"] == [{"check": "a 2 x 5 grid", "why": "a 1 x 10 grid, not 2 x 5"}]
    assert placed["figure-002.png"]["task"] == "1.5" and placed["figure-002.png"]["considered"] == []
