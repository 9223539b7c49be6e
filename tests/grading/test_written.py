"""Written answers of hostile size: located and counted quickly, with the counts of normal text."""

import nbformat
import pytest

from checks.engine.pdf_reports import PdfReport
from checks.grading.submission import report_pages
from checks.grading.written import (
    MAX_ANSWER_CHARS,
    Question,
    ReportPage,
    count_sentences,
    locate_answers,
    locate_report_answers,
    locate_repository_answers,
)

ANSWER = "# Answer\n- The hot colormap is clearest. Its dark background hides weak gradients."


pytestmark = pytest.mark.usefixtures("deadline")


@pytest.mark.parametrize("filler", ["\n", " ", "\n \t", "1", "#", "$", "\n1."])
def test_a_huge_answer_of_filler_is_counted_quickly(filler):
    assert count_sentences(filler * (400_000 // len(filler))) == 0
    assert count_sentences(ANSWER + filler * (400_000 // len(filler))) == 2


def test_the_cap_leaves_normal_answers_alone():
    answer = " ".join(f"Sentence number {i} is here." for i in range(1000))
    assert len(answer) < MAX_ANSWER_CHARS and count_sentences(answer) == 1000
    markdown = "\n\n  \n# Heading one\n\n- first point here. Second point is here.\n1. A third one here."
    assert count_sentences(markdown) == 3


def test_a_huge_markdown_cell_does_not_stall_locating_answers():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("colormap " + "\n" * 400_000),
        nbformat.v4.new_markdown_cell(ANSWER),
    ]
    (answer,) = locate_answers(notebook, [Question("1.6", "Which colormap?", ("colormap", "hot"), "2-3", 2)])
    assert (answer.cell, answer.sentences, answer.length_ok) == (1, 2, True)


LIME_PAGE = ReportPage(
    "report.pdf, page 3",
    "# Task 3: LIME\nLIME hides superpixels at random. The superpixels it keeps lie on the object.",
)
COMPARISON_PAGE = ReportPage(
    "report.pdf, page 4",
    "# Task 4\nThe IoU of Grad-CAM and LIME is low. LIME's superpixels and Grad-CAM's blobs agree only in part. "
    "LIME follows colour edges, Grad-CAM the last layer's grid.",
)
LIME_QUESTION = Question("3", "Analyse LIME.", ("lime", "superpixel", "grad-cam"), "1-5", 10)
COMPARISON_QUESTION = Question("5", "Compare the regions (IoU).", ("iou", "lime", "grad-cam", "agree"), "1-5", 10)


def test_report_pages_are_shared_out_so_each_question_gets_the_page_that_fits_it():
    assert _keyword_score_of(COMPARISON_PAGE, LIME_QUESTION) > _keyword_score_of(LIME_PAGE, LIME_QUESTION)
    lime, comparison = locate_report_answers([COMPARISON_PAGE, LIME_PAGE], [LIME_QUESTION, COMPARISON_QUESTION])
    assert (lime.source, lime.cell, lime.text, lime.sentences) == ("report.pdf, page 3", None, LIME_PAGE.text, 2)
    assert (comparison.source, comparison.length_ok) == ("report.pdf, page 4", True)


def test_one_page_answers_every_question_it_discusses_and_a_question_no_page_discusses_is_unanswered():
    concepts = Question("1", "Which concepts do neurons learn?", ("concept", "neuron"), "1-5", 10)
    lime, comparison, unanswered = locate_report_answers(
        [COMPARISON_PAGE], [LIME_QUESTION, COMPARISON_QUESTION, concepts]
    )
    assert lime.source == comparison.source == "report.pdf, page 4"
    assert (unanswered.text, unanswered.source, unanswered.length_ok) == ("", "", False)


def _keyword_score_of(page: ReportPage, question: Question) -> int:
    return sum(page.text.lower().count(keyword) for keyword in question.keywords)


def test_a_question_no_report_page_discusses_takes_the_notebooks_markdown_answer():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("Most neurons learn a concept of colour. The layer4 neurons learn objects.")
    ]
    concepts = Question("1", "Which concepts do neurons learn?", ("concept", "neuron"), "1-5", 10)
    lime, answered_in_markdown = locate_repository_answers(notebook, [LIME_QUESTION, concepts], [LIME_PAGE])
    assert (lime.source, lime.cell) == ("report.pdf, page 3", None)
    assert (answered_in_markdown.source, answered_in_markdown.cell, answered_in_markdown.sentences) == ("", 0, 2)
    (unanswered,) = locate_repository_answers(nbformat.v4.new_notebook(), [concepts], [LIME_PAGE])
    assert (unanswered.text, unanswered.cell, unanswered.source) == ("", None, "")


def test_a_report_page_keeps_its_lines_and_rejoins_words_broken_at_a_line_end():
    (page,) = report_pages(
        [PdfReport("report/\udcff.pdf", pages=1, texts=["Task 3: LIME\nLIME outlines the Grad-\nCAM map."])]
    )
    assert page.source == "report/?.pdf, page 1"
    assert page.text == "Task 3: LIME  \nLIME outlines the Grad-CAM map."
