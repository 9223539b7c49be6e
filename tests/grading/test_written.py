"""Written answers of hostile size: located and counted quickly, with the counts of normal text."""

import nbformat
import pytest

from checks.grading.written import MAX_ANSWER_CHARS, Question, count_sentences, locate_answers

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
