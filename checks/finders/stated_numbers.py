"""Numbers a notebook states in its outputs or markdown: counts, tensor shapes, accuracy claims.

Students write 799,078 or 799078, (32, 28, 28) or 32x28x28 or torch.Size([1, 32, 28, 28]);
these readers accept each spelling so a check compares values, not formatting.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import nbformat

from checks.finders.printed_output import cell_output_text, notebook_output_text

MAX_SCAN_CHARS = 256 << 10
"""How much printed text each reader scans: beyond it, the start (model summaries) and the end
(final results) are kept, as training logs fill the middle."""
MAX_DIGITS = 30
"""Longer runs of digits are no count or size (and ``int`` refuses runs past 4300 digits)."""
THOUSANDS = re.compile(r"(?<=\d)[,_ ](?=\d{3}(?!\d))")
INTEGER = re.compile(r"(?<![\w.])\d++(?![\w.]\d)")
SEPARATOR = re.compile(r"\s*+(?:,|x|×|\*)\s*+", re.IGNORECASE)
SHAPE = re.compile(rf"(?<!\d)\d++(?:{SEPARATOR.pattern}\d++)+", re.IGNORECASE)
ACCURACY_WORD = re.compile(r"acc", re.IGNORECASE)
TEST_WORD = re.compile(r"test", re.IGNORECASE)
PERCENTAGE_OR_FRACTION = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d+)?)(?!\w|\.\d)\s*(%?)")
MAX_CLAIMS_CHARS = 4 << 20
"""How much of a notebook's outputs and markdown all claims are read from together."""
CLAIM_TOLERANCE = 0.5
"""Percentage points between a stated accuracy and the grader's measurement that still agree."""


def _scanned(text: str) -> str:
    """The text, or its start and end within ``MAX_SCAN_CHARS``, cut between words."""
    if len(text) <= MAX_SCAN_CHARS:
        return text
    half = MAX_SCAN_CHARS // 2
    return text[:half].rsplit(None, 1)[0] + "\n" + text[-half:].split(None, 1)[-1]


def integers(text: str) -> set[int]:
    """Every whole number in the text, thousands separators allowed."""
    return {int(match) for match in INTEGER.findall(THOUSANDS.sub("", _scanned(text))) if len(match) <= MAX_DIGITS}


def shapes(text: str) -> set[tuple[int, ...]]:
    """Every stated shape of two or more sizes, as written (a leading batch size included)."""
    stated = (SEPARATOR.split(match) for match in SHAPE.findall(_scanned(text)))
    return {tuple(int(part) for part in parts) for parts in stated if all(len(part) <= MAX_DIGITS for part in parts)}


def states_shape(stated: set[tuple[int, ...]], shape: tuple[int, ...]) -> bool:
    """Whether ``shape`` is among ``stated``, in any axis order, with or without a batch size of 1 or N."""
    wanted = Counter(shape)
    for candidate in stated:
        for start in range(min(2, len(candidate) - len(shape) + 1)):
            if Counter(candidate[start : start + len(shape)]) == wanted:
                return True
    return False


@dataclass(frozen=True)
class Claim:
    """One stated accuracy in percent, and whether its own words name the test set."""

    percent: float
    on_test: bool
    cell: int | None = None  # the notebook cell that states it


def stated_accuracies(text: str, cell: int | None = None) -> list[Claim]:
    """Accuracies stated as 'accuracy ... 98.3%' or '... 0.983', in percent, in order of appearance.

    Each mention of accuracy claims the first number after it (before the next mention) that
    has a % sign or a decimal point, or its only number: "accuracy on the 10000 test images:
    98.23%" claims 98.23, "accuracy after 5 epochs: 98.1%" claims 98.1. A claim is about the
    test set when "test" stands between the previous claim on its line and its own number.
    """
    claims = []
    for line in _scanned(text).splitlines():
        starts = [match.start() for match in ACCURACY_WORD.finditer(line)]
        said_from = 0
        for start, end in zip(starts, starts[1:] + [len(line)]):
            numbers = list(PERCENTAGE_OR_FRACTION.finditer(line, start, end))
            marked = [m for m in numbers if m.group(2) or "." in m.group(1)] or (numbers if len(numbers) == 1 else [])
            if marked:
                value = float(marked[0].group(1))
                percent = value if marked[0].group(2) or value > 1 else value * 100
                claims.append(Claim(percent, bool(TEST_WORD.search(line, said_from, marked[0].end())), cell))
                said_from = marked[0].end()
    return claims


def accuracy_claims(text: str) -> list[float]:
    """The stated accuracies in percent, in order of appearance (see ``stated_accuracies``)."""
    return [claim.percent for claim in stated_accuracies(text)]


def stated_text(notebook: nbformat.NotebookNode) -> str:
    """What the notebook printed, then what it wrote in markdown: the places a student states a number."""
    markdown = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    return notebook_output_text(notebook) + "\n" + markdown


@dataclass(frozen=True)
class AccuracyClaims:
    """The accuracies a notebook states against the grader's measurements (fractions, one per model).

    A notebook states many (per epoch, training, validation): the one it reports as its result is
    the last that names the test set, or the last of all when none does. It agrees when it lies
    within ``tolerance`` points of any measurement, as a notebook may hold several models."""

    stated: list[Claim]
    measurements: list[float]
    tolerance: float = CLAIM_TOLERANCE

    @property
    def claims(self) -> list[float]:
        return [claim.percent for claim in self.stated]

    @property
    def reported_claim(self) -> Claim | None:
        return ([claim for claim in self.stated if claim.on_test] or self.stated or [None])[-1]

    @property
    def reported(self) -> float | None:
        claim = self.reported_claim
        return claim.percent if claim else None

    @property
    def agree(self) -> bool:
        reported = self.reported
        return reported is not None and any(
            abs(reported - value * 100) <= self.tolerance for value in self.measurements
        )


def stated_claims(notebook: nbformat.NotebookNode) -> list[Claim]:
    """The accuracies the notebook states in its outputs and markdown, in cell order, each with its cell.
    Cells are read from the last back within ``MAX_CLAIMS_CHARS`` in all, so the results a notebook
    ends with are kept when a long training log fills the middle."""
    claims: list[Claim] = []
    budget = MAX_CLAIMS_CHARS
    for index in range(len(notebook.cells) - 1, -1, -1):
        cell = notebook.cells[index]
        text = cell_output_text(cell) if cell.cell_type == "code" else str(cell.source)
        scanned = _scanned(text)[:budget]
        budget -= len(scanned)
        claims[:0] = stated_accuracies(scanned, index)
        if budget <= 0:
            break
    return claims


def judge_accuracy_claims(
    notebook: nbformat.NotebookNode, measurements: list[float], tolerance: float = CLAIM_TOLERANCE
) -> AccuracyClaims:
    """The accuracies stated in the notebook's outputs and markdown, judged against ``measurements``."""
    return AccuracyClaims(stated_claims(notebook), measurements, tolerance)
