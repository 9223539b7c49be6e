"""The names of the files grading writes into a class's output folder, shared by the engine
(which keeps student folders from clashing with them), batch grading and publishing."""

from __future__ import annotations

RESULTS_FILE = "results.json"
GRADEBOOK_FILE = "grades.csv"
INDEX_FILE = "index.html"
PARTIAL_SUFFIX = ".partial"
OVERRIDES_FILE = "overrides.csv"
GRADESCOPE_FILE = "gradescope.json"
SUBMITTED_FIGURES = "submitted-figures"
"""In a student's folder: the figures the notebook was submitted with."""
REFERENCE_FIGURES = "reference-figures"
"""The class's reference figures, stored once and shown by every student's report."""
CLASS_FILES = frozenset({INDEX_FILE, GRADEBOOK_FILE, OVERRIDES_FILE, GRADESCOPE_FILE, REFERENCE_FIGURES})
"""What publishing writes beside the student folders (gradescope.json goes inside them, but a
student folder of that name would still confuse an upload), in lower case."""


def is_class_file(name: str) -> bool:
    """Whether a student folder called ``name`` would clash with a class file, its half-written
    ``.partial`` or a dot-folder such as ``.intake``; case-blind, as some disks are."""
    lowered = name.lower()
    return lowered.startswith(".") or lowered.removesuffix(PARTIAL_SUFFIX) in CLASS_FILES
