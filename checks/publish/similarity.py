"""Similar submissions across a class: copied code and identical written answers, for an instructor to look at.

Code is compared with copydetect, a winnowing detector like MOSS: it tokenises Python so that renamed variables,
comments and layout do not hide a copy. What every student may legitimately share is boilerplate and never counts:
the starter code the course hands out (``starter.txt`` beside the assignment's scheme) and any code that most of the
class has in common, which catches a starter the course did not ship. Nothing here judges; a pair is a lead for a
person, with the passages that match.
"""

from __future__ import annotations

import copy
import io
from collections import Counter, defaultdict
from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import combinations
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
from copydetect import CodeFingerprint, compare_files
from copydetect.utils import find_fingerprint_overlap, get_copied_slices, get_token_coverage

from checks.grading.scheme import Assignment

EXECUTED_NOTEBOOK = "executed.ipynb"
STARTER_FILE = "starter.txt"
CODE, WRITTEN = "code", "written"

MAX_NOTEBOOK_BYTES = 128 << 20
"""Larger than any notebook the engine writes (50 MiB in, 32 MiB of outputs); a bigger file is not ours to read."""
MAX_CODE_CHARS = 200_000
"""A notebook's code is cut here so one hostile submission cannot slow the whole class."""
NOISE_TOKENS = 25
"""copydetect's default noise threshold: matches shorter than this many characters of filtered code (names become
``V``, whitespace and comments vanish) are too common to mean anything."""
WINDOW = 4
"""Winnowing window: every match of ``NOISE_TOKENS + WINDOW - 1`` filtered characters is guaranteed to be found,
with a fraction of the fingerprints (and comparison time) of keeping them all."""
MIN_SHARED_TOKENS = 100
"""A code pair must share at least this many characters of filtered code (a few lines), so a student who wrote
almost nothing of their own is not reported at 100% for one idiomatic line."""
SCREEN = 0.5
"""Pairs sharing fewer than this fraction of ``threshold`` of the smaller notebook's fingerprints are not compared in
full: winnowed fingerprints are spread evenly over the code, so that share tracks copydetect's overlap and half the
threshold leaves a wide margin, while a set intersection costs a fraction of its comparison."""
CLASS_SHARE_FLOOR = 3
"""Code counts as the class's when more than half of the students have it, and at least this many: in a class of
two or three, two students sharing code is exactly what this module looks for."""

MAX_PASSAGES = 5
MAX_PASSAGE_CHARS = 1_500

MIN_ANSWER_WORDS = 8
MAX_ANSWER_CHARS = 10_000
MAX_ANSWER_WORDS = 400
NEAR_IDENTICAL = 0.9
"""Word-sequence similarity at which two answers to the same question are the same answer with a word or two
changed; independent answers sharing the prompt's vocabulary stay well below it."""


@dataclass(frozen=True)
class Passage:
    first: str
    second: str


@dataclass(frozen=True)
class SimilarPair:
    first: str
    second: str
    kind: str
    similarity: float
    passages: list[Passage]


def find_similar(
    out: Path, payloads: list[dict[str, Any]], assignment: Assignment, threshold: float = 0.6
) -> list[SimilarPair]:
    """Pairs of students whose code, or whose written answers, are alike; most similar first."""
    students = sorted({payload["student"] for payload in payloads if _is_plain_name(payload.get("student"))})
    codes = {student: code for student in students if (code := notebook_code(out / student / EXECUTED_NOTEBOOK))}
    pairs = code_pairs(codes, starter_code(assignment), threshold) + written_pairs(payloads, threshold)
    return sorted(pairs, key=lambda pair: (-pair.similarity, pair.kind, pair.first, pair.second))


def _is_plain_name(student: Any) -> bool:
    """A student id names a folder inside the class folder, never a path out of it."""
    return isinstance(student, str) and student not in ("", ".", "..") and Path(student).name == student


def notebook_code(path: Path) -> str:
    """The code cells of an executed notebook, joined and cut; empty when there is no readable notebook."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_NOTEBOOK_BYTES:
            return ""
        notebook = nbformat.read(path, as_version=4)
        sources = [
            cell["source"]
            for cell in notebook["cells"]
            if isinstance(cell, dict) and cell.get("cell_type") == "code" and isinstance(cell.get("source"), str)
        ]
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return ""
    return "\n\n".join(sources)[:MAX_CODE_CHARS]


def starter_code(assignment: Assignment) -> str:
    starter = assignment.folder / STARTER_FILE
    return starter.read_text(encoding="utf-8") if starter.is_file() else ""


def _fingerprint(student: str, code: str, window: int, boilerplate: np.ndarray | None = None) -> CodeFingerprint:
    return CodeFingerprint(
        student, NOISE_TOKENS, window, boilerplate=boilerplate, language="python", fp=io.StringIO(code)
    )


def class_fingerprints(codes: dict[str, str], starter: str) -> dict[str, CodeFingerprint]:
    """Each student's winnowed fingerprints, without the starter's k-grams (copydetect's ``boilerplate``, taken from
    every k-gram as it reads boilerplate files) and without those more than half of the class has."""
    shipped = np.array(sorted(_fingerprint(STARTER_FILE, starter, 1).hashes), dtype=np.int64)
    prints = {student: _fingerprint(student, code, WINDOW, shipped) for student, code in codes.items()}
    counts = Counter(h for fingerprint in prints.values() for h in fingerprint.hashes)
    needed = max(len(prints) // 2 + 1, CLASS_SHARE_FLOOR)
    common = {h for h, count in counts.items() if count >= needed}
    return {student: _without(fingerprint, common) for student, fingerprint in prints.items()}


def _without(fingerprint: CodeFingerprint, boilerplate: set[int]) -> CodeFingerprint:
    """The fingerprint as if ``boilerplate`` had been passed to it: copydetect drops boilerplate from the winnowed
    fingerprints after winnowing, so dropping it here is the same, without tokenising the notebook again (the
    tokeniser is most of the cost)."""
    if fingerprint.hashes.isdisjoint(boilerplate):
        return fingerprint
    kept = copy.copy(fingerprint)
    kept.hash_idx = {h: where for h, where in fingerprint.hash_idx.items() if h not in boilerplate}
    kept.hashes = set(kept.hash_idx)
    kept.token_coverage = get_token_coverage(kept.hash_idx, kept.k, len(kept.filtered_code))
    return kept


def code_pairs(codes: dict[str, str], starter: str, threshold: float) -> list[SimilarPair]:
    """Code pairs at or above ``threshold``: the larger of copydetect's two overlap fractions, boilerplate aside."""
    prints = class_fingerprints(codes, starter)
    keys = {student: frozenset(map(int, fingerprint.hashes)) for student, fingerprint in prints.items()}
    pairs = []
    for first, second in combinations(sorted(prints), 2):
        shared = len(keys[first] & keys[second])
        if not shared or shared < SCREEN * threshold * min(len(keys[first]), len(keys[second])):
            continue
        a, b = prints[first], prints[second]
        overlap, similarities, slices = compare_files(a, b)
        similarity = min(1.0, float(max(similarities)))
        if overlap >= MIN_SHARED_TOKENS and similarity >= threshold:
            pairs.append(SimilarPair(first, second, CODE, similarity, matching_passages(a, b, slices)))
    return pairs


def matching_passages(a: CodeFingerprint, b: CodeFingerprint, slices: tuple[np.ndarray, np.ndarray]) -> list[Passage]:
    """Each copied stretch of ``a`` beside the stretch of ``b`` most of its fingerprints come from, longest first.

    copydetect reports each file's copied stretches separately (``slices``, in the raw code); the same calls it
    makes on the filtered code give them in the same order, and the fingerprints they share tell which goes with
    which.
    """
    shared_a, shared_b = find_fingerprint_overlap(a.hashes, b.hashes, a.hash_idx, b.hash_idx)
    starts_a, starts_b = get_copied_slices(shared_a, a.k)[0], get_copied_slices(shared_b, b.k)[0]
    votes: dict[int, Counter[int]] = defaultdict(Counter)
    for h in a.hashes & b.hashes:
        stretch_b = int(np.searchsorted(starts_b, b.hash_idx[h][0], side="right")) - 1
        for stretch_a in np.searchsorted(starts_a, a.hash_idx[h], side="right") - 1:
            votes[int(stretch_a)][stretch_b] += 1
    (from_a, to_a), (from_b, to_b) = (np.asarray(bounds, dtype=np.int64) for bounds in slices)
    matched = [(i, ballot.most_common(1)[0][0]) for i, ballot in votes.items()]
    matched.sort(key=lambda ij: (to_a[ij[0]] - from_a[ij[0]]) + (to_b[ij[1]] - from_b[ij[1]]), reverse=True)
    return [
        Passage(_lines(a.raw_code, from_a[i], to_a[i]), _lines(b.raw_code, from_b[j], to_b[j]))
        for i, j in matched[:MAX_PASSAGES]
    ]


def _lines(code: str, start: int, end: int) -> str:
    """The whole lines a stretch touches: k-grams start and end mid-token, a reader wants lines."""
    first = code.rfind("\n", 0, start) + 1
    last = code.find("\n", max(end - 1, first))
    return _cut(code[first : len(code) if last == -1 else last])


def _cut(text: str) -> str:
    return text.strip()[:MAX_PASSAGE_CHARS]


@dataclass(frozen=True)
class _Answer:
    student: str
    text: str
    words: list[str]


def _answers_by_task(payloads: list[dict[str, Any]]) -> dict[str, list[_Answer]]:
    """Each student's answer per task, case and whitespace normalised into words; answers under 8 words are left
    out, since short answers to the same question coincide honestly."""
    by_task: dict[str, dict[str, _Answer]] = defaultdict(dict)
    for payload in payloads:
        student, answers = payload.get("student"), payload.get("written_answers")
        if not isinstance(student, str) or not isinstance(answers, list):
            continue
        for answer in answers:
            if not isinstance(answer, dict) or not isinstance(answer.get("text"), str):
                continue
            words = answer["text"][:MAX_ANSWER_CHARS].lower().split()[:MAX_ANSWER_WORDS]
            if len(words) >= MIN_ANSWER_WORDS:
                by_task[str(answer.get("task"))].setdefault(student, _Answer(student, answer["text"], words))
    return {task: sorted(answers.values(), key=lambda answer: answer.student) for task, answers in by_task.items()}


def written_pairs(payloads: list[dict[str, Any]], threshold: float) -> list[SimilarPair]:
    """Students whose answers to the same question are identical or nearly so, one pair per two students.

    Answers are compared with difflib's SequenceMatcher on their word sequences rather than with copydetect: a
    few sentences give a winnowing detector only a handful of 25-character fingerprints, one changed word breaks
    most of them, and prose has no names for its tokeniser to neutralise; the ratio of words in common, in order,
    is what "the same answer" means. Its cheap upper bounds skip most pairs before the full ratio.
    """
    cutoff = max(threshold, NEAR_IDENTICAL)
    found: dict[tuple[str, str], list[tuple[float, Passage]]] = defaultdict(list)
    matcher = SequenceMatcher(autojunk=False)
    for answers in _answers_by_task(payloads).values():
        for later_index, later in enumerate(answers):
            matcher.set_seq2(later.words)
            for earlier in answers[:later_index]:
                matcher.set_seq1(earlier.words)
                if matcher.real_quick_ratio() >= cutoff and matcher.quick_ratio() >= cutoff:
                    ratio = matcher.ratio()
                    if ratio >= cutoff:
                        passage = Passage(_cut(earlier.text), _cut(later.text))
                        found[(earlier.student, later.student)].append((ratio, passage))
    return [
        SimilarPair(
            first,
            second,
            WRITTEN,
            max(ratio for ratio, _ in matches),
            [passage for _, passage in sorted(matches, key=_passage_length, reverse=True)[:MAX_PASSAGES]],
        )
        for (first, second), matches in found.items()
    ]


def _passage_length(match: tuple[float, Passage]) -> int:
    return len(match[1].first) + len(match[1].second)
