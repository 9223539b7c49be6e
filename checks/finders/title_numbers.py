"""The class labels and confidences a plot's title states. Students write both into one title
(``f"target {t}, conf {p:.2f}"``, ``f"Pred: {t} ({p*100:.1f}%)"``, ``f"Label: {y}, Pred: {p} (0.98)"``),
so a confidence's digits must not be read as a class, and a class is best read after the word
that names it."""

from __future__ import annotations

import re

MAX_TITLE = 2_000  # characters read of a title: a student's text is hostile input
CONFIDENCE = re.compile(r"(?<![\w.])(\d+(?:\.\d*)?|\.\d+)\s*(%)|(?<![\w.])(\d*\.\d+)(?![\d.])")
CLASS_DIGIT = re.compile(r"(?<![\w.])(\d)(?![\w.]|\.\d)")


def _text(title: object) -> str:
    return title[:MAX_TITLE] if isinstance(title, str) else ""


def confidences(title: object) -> list[float]:
    """The probabilities a title states, in [0, 1]: decimals (``0.98``) and percentages (``98.7%``)."""
    found = []
    for match in CONFIDENCE.finditer(_text(title)):
        value = float(match.group(1)) / 100 if match.group(2) else float(match.group(3))
        if 0 <= value <= 1:
            found.append(value)
    return found


def class_digits(title: object) -> list[int]:
    """The single-digit numbers a title states, confidences and longer numbers left out."""
    text = CONFIDENCE.sub(" ", _text(title))
    return [int(digit) for digit in CLASS_DIGIT.findall(text)]


def named_digit(title: object, words: str) -> int | None:
    """The class digit that follows one of ``words`` (a regular-expression alternation such as
    ``"target|goal"``) within a few characters (``Target: 3``, ``target class = 3``); None when none does."""
    text = CONFIDENCE.sub(" ", _text(title))
    pattern = re.compile(rf"(?:{words})[^\d\n|,;]{{0,16}}?(?<![\w.])(\d)(?![\w.])", re.IGNORECASE)
    match = pattern.search(text)
    return int(match.group(1)) if match else None
