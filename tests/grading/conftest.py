"""The CS411 sample class graded once per test session (several minutes), shared by the
end-to-end grading tests and the browser test of the pages it produces."""

from pathlib import Path

import pytest

from checks.assignment import load_assignment
from checks.grading import GradeOptions, grade_class
from checks.sandbox import SandboxLimits

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "student_submissions" / "cs411-a2"
CORRECT, BUGS, NO_TITLES, CRASH, HANG, HOSTILE = (
    "Asha_Rao_CS2301", "Bela_Sen_CS2302", "Chen_Li_CS2303", "Dev_Patel_CS2304", "Esha_Nair_CS2305", "Farid_Khan_CS2306")


@pytest.fixture(scope="session")
def assignment():
    return load_assignment("cs411-a2")


@pytest.fixture(scope="session")
def graded(assignment, data_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("graded")
    options = GradeOptions(mode="full", data_dir=data_root, jobs=2,
                           cell_timeout_s=240, limits=SandboxLimits(threads=1))
    results = grade_class([SAMPLES], assignment, options, out)
    return out, {payload["student"]: payload for payload in results}
