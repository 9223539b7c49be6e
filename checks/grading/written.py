"""Free-text answers: find the markdown cell (or report page) that answers a question, for a TA to grade.

The grader never marks prose; it locates the answer, counts its sentences against what
the assignment asks ("2-3 sentences"), and carries the text verbatim into the results.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import nbformat
import numpy as np
from scipy.optimize import linear_sum_assignment

from checks.grading.results import WrittenAnswer

MAX_ANSWER_CHARS = 64 << 10
"""The part of a markdown cell that is read: answers are a few sentences, and reading more of a
hostile cell would only cost time. Text beyond it is still carried to the TA verbatim."""
SENTENCE_END = re.compile(r"(?<=[.!?])\s++(?=[A-Z0-9(\"'])")
MARKDOWN_NOISE = re.compile(r"(?:^|\n)[^\S\n]*+(?:#++|[-*>]|\d++\.)\s*+")
MATH = re.compile(r"\$[^$]*+\$")


@dataclass(frozen=True)
class Question:
    task: str
    prompt: str
    keywords: tuple[str, ...]
    sentences: str
    max_score: float


def count_sentences(text: str) -> int:
    """Sentences of at least three words, markdown markers and $math$ aside; linear in the text read."""
    plain = MARKDOWN_NOISE.sub(" ", MATH.sub("x", text[:MAX_ANSWER_CHARS])).strip()
    return len([part for part in SENTENCE_END.split(plain) if len(part.split()) >= 3])


def _bounds(spec: str) -> tuple[int, int]:
    low, _, high = spec.partition("-")
    return int(low), int(high or low)


def _keyword_score(text: str, question: Question) -> int:
    lowered = text[:MAX_ANSWER_CHARS].lower()
    return sum(lowered.count(keyword.lower()) for keyword in question.keywords)


def _answer(question: Question, text: str | None, cell: int | None = None, source: str = "") -> WrittenAnswer:
    if text is None:
        return WrittenAnswer(question.task, question.prompt, question.max_score, None, "", 0, question.sentences, False)
    low, high = _bounds(question.sentences)
    sentences = count_sentences(text)
    return WrittenAnswer(
        question.task,
        question.prompt,
        question.max_score,
        cell,
        text.strip(),
        sentences,
        question.sentences,
        low <= sentences <= high,
        source,
    )


def locate_answers(notebook: nbformat.NotebookNode, questions: list[Question]) -> list[WrittenAnswer]:
    """Each question gets the markdown cell that mentions its keywords most (a cell answers once)."""
    markdown = [(index, cell.source) for index, cell in enumerate(notebook.cells) if cell.cell_type == "markdown"]
    used: set[int] = set()
    answers = []
    for question in questions:
        best, best_score = None, 0
        for index, text in markdown:
            score = _keyword_score(text, question) if index not in used else 0
            if score > best_score and count_sentences(text) >= 1:
                best, best_score = (index, text), score
        if best is not None:
            used.add(best[0])
        answers.append(_answer(question, best[1], best[0]) if best else _answer(question, None))
    return answers


@dataclass(frozen=True)
class ReportPage:
    source: str  # where a TA finds it: "report.pdf, page 2"
    text: str


def locate_report_answers(pages: Sequence[ReportPage], questions: list[Question]) -> list[WrittenAnswer]:
    """Each question gets a page of the team's reports. Pages are shared out so that the keywords they match
    add up to the most (a page about LIME and one comparing LIME with Grad-CAM go to the two questions they
    fit, not both to the one asking most about LIME); a question left without a page of its own, when the
    reports have fewer pages than questions, takes the page that fits it best."""
    readable = [page for page in pages if count_sentences(page.text) >= 1]
    scores = np.array([[_keyword_score(page.text, question) for page in readable] for question in questions])
    chosen: dict[int, int] = {}
    if scores.size:
        rows, columns = linear_sum_assignment(scores, maximize=True)
        chosen = {int(row): int(column) for row, column in zip(rows, columns, strict=True) if scores[row, column]}
    answers = []
    for number, question in enumerate(questions):
        page = chosen.get(number)
        if page is None and scores.size and scores[number].max() > 0:
            page = int(scores[number].argmax())
        answers.append(
            _answer(question, readable[page].text, source=readable[page].source)
            if page is not None
            else _answer(question, None)
        )
    return answers


def locate_repository_answers(
    notebook: nbformat.NotebookNode, questions: list[Question], pages: Sequence[ReportPage]
) -> list[WrittenAnswer]:
    """A team's answers: from its report pages, where the assignment asks for them; a question no page
    discusses takes the notebooks' markdown cell that answers it, if any."""
    in_notebooks = locate_answers(notebook, questions)
    if not pages:
        return in_notebooks
    in_reports = locate_report_answers(pages, questions)
    return [report if report.text else cell for report, cell in zip(in_reports, in_notebooks, strict=True)]
