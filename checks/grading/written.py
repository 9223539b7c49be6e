"""Free-text answers: find the markdown cell that answers a question, for a TA to grade.

The grader never marks prose; it locates the answer, counts its sentences against what
the assignment asks ("2-3 sentences"), and carries the text verbatim into the results.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import nbformat

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


def locate_answers(notebook: nbformat.NotebookNode, questions: list[Question]) -> list[WrittenAnswer]:
    """Each question gets the markdown cell that mentions its keywords most (a cell answers once)."""
    markdown = [(index, cell.source) for index, cell in enumerate(notebook.cells) if cell.cell_type == "markdown"]
    used: set[int] = set()
    answers = []
    for question in questions:
        best, best_score = None, 0
        for index, text in markdown:
            if index in used:
                continue
            lowered = text[:MAX_ANSWER_CHARS].lower()
            score = sum(lowered.count(keyword.lower()) for keyword in question.keywords)
            if score > best_score and count_sentences(text) >= 1:
                best, best_score = (index, text), score
        low, high = _bounds(question.sentences)
        if best is None:
            answers.append(
                WrittenAnswer(
                    question.task, question.prompt, question.max_score, None, "", 0, question.sentences, False
                )
            )
            continue
        used.add(best[0])
        sentences = count_sentences(best[1])
        answers.append(
            WrittenAnswer(
                question.task,
                question.prompt,
                question.max_score,
                best[0],
                best[1].strip(),
                sentences,
                question.sentences,
                low <= sentences <= high,
            )
        )
    return answers
