"""The CS411 sample class graded once per test session (several minutes), shared by the
end-to-end grading tests and the browser test of the pages it produces."""

import io
import signal
import zipfile
from pathlib import Path

import nbformat
import pytest

from checks.batch.class_grading import grade_class
from checks.engine.sandbox import SandboxLimits
from checks.grading.scheme import load_assignment
from checks.grading.submission import GradeOptions
from tests.grading.forged_notebook import forged_notebook
from tests.grading.later_training_notebook import later_training_notebook
from tests.grading.mutant_notebook import mutant_notebook
from tests.grading.real_style_notebooks import write_class

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "student_submissions" / "cs411-a2"
CORRECT, BUGS, NO_TITLES, CRASH, HANG, HOSTILE = (
    "Asha_Rao_CS2301",
    "Bela_Sen_CS2302",
    "Chen_Li_CS2303",
    "Dev_Patel_CS2304",
    "Esha_Nair_CS2305",
    "Farid_Khan_CS2306",
)


@pytest.fixture(scope="session")
def assignment():
    return load_assignment("cs411-a2")


def grade_samples(folder: Path, assignment, data_root: Path, out: Path, **options):
    """A sample class graded in full mode, two at a time: (output folder, results by student)."""
    settings = GradeOptions(mode="full", data_dir=data_root, jobs=2, limits=SandboxLimits(threads=1), **options)
    results = grade_class([folder], assignment, settings, out)
    return out, {payload["student"]: payload for payload in results}


@pytest.fixture(scope="session")
def graded(assignment, data_root, tmp_path_factory):
    return grade_samples(SAMPLES, assignment, data_root, tmp_path_factory.mktemp("graded"), cell_timeout_s=240)


EE5179_SAMPLES = REPO / "student_submissions" / "ee5179-pa2"
EE_CORRECT, EE_WRONG_NETWORK, EE_TEST_AS_VALIDATION, EE_NO_BATCH_NORM, EE_NO_ATTACKS, EE_COLAB = (
    "Arun_Kumar_EE21B001",
    "Bhavna_Iyer_EE21B002",
    "Chitra_Menon_EE21B003",
    "Deepak_Rao_EE21B004",
    "Esther_Paul_EE21B005",
    "Faisal_Ahmed_EE21B006",
)


@pytest.fixture(scope="session")
def ee5179():
    return load_assignment("ee5179-pa2")


@pytest.fixture(scope="session")
def ee5179_graded(ee5179, data_root, tmp_path_factory):
    """The EE5179 PA2 sample class (each notebook trains two CNNs for an epoch)."""
    return grade_samples(EE5179_SAMPLES, ee5179, data_root, tmp_path_factory.mktemp("ee5179"))


CATSDOGS_SAMPLES = REPO / "student_submissions" / "catsdogs-xai"
CD_CORRECT, CD_KERAS_SUMMARY, CD_GRADCAM, CD_FGSM_SUBTRACTED, CD_TWO_MASKS, CD_TEST_FROM_TRAIN = (
    "Aditi_Sharma_CD001",
    "Bilal_Hassan_CD002",
    "Chandra_Das_CD003",
    "Divya_Menon_CD004",
    "Emil_Novak_CD005",
    "Fatima_Zahra_CD006",
)


@pytest.fixture(scope="session")
def catsdogs():
    return load_assignment("catsdogs-xai")


@pytest.fixture(scope="session")
def catsdogs_graded(catsdogs, data_root, tmp_path_factory):
    """The cats-vs-dogs sample class (each notebook trains a small CNN on 64 px photos)."""
    return grade_samples(CATSDOGS_SAMPLES, catsdogs, data_root, tmp_path_factory.mktemp("catsdogs"))


TML25_SAMPLES = REPO / "student_submissions" / "tml25-a4"
TML25_COMPLETE, TML25_LIVE_OBJECTS, TML25_OWN_FUNCTION, TML25_MISSPELT, TML25_CONSTANT_TARGET = (
    "TML25_A4_01",
    "TML25_A4_02",
    "TML25_A4_03",
    "TML25_A4_04",
    "TML25_A4_05",
)
TML25_UNNORMALISED, TML25_NO_REPORT = "TML25_A4_06", "TML25_A4_07"


@pytest.fixture(scope="session")
def tml25():
    return load_assignment("tml25-a4")


@pytest.fixture(scope="session")
def tml25_graded(tml25, data_root, tmp_path_factory):
    """The TML25 A4 sample class of team repositories; half a minute per cell, which cuts each team's ScoreCAM and
    AblationCAM cell (minutes an image on a CPU) as a grading with a short budget would."""
    return grade_samples(TML25_SAMPLES, tml25, data_root, tmp_path_factory.mktemp("tml25"), cell_timeout_s=30)


@pytest.fixture
def deadline():
    """Today's backtracking takes minutes on these inputs: fail clearly instead of hanging."""

    def expired(signum, frame):
        pytest.fail("over 20 s: a regular expression is backtracking on hostile text")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="session")
def forged_class(assignment, data_root, tmp_path_factory):
    """A notebook that forges the grader's measurements, the mutant that fails every check, a submission
    named like a class file, an archive that cannot be extracted and a correct notebook whose later
    function trains its model, graded as one class."""
    folder = tmp_path_factory.mktemp("forged-class")
    nbformat.write(forged_notebook(), folder / "Forger_R1.ipynb")
    nbformat.write(later_training_notebook(), folder / "Trainer_R4.ipynb")
    nbformat.write(mutant_notebook(), folder / "Mutant_R2.ipynb")
    nbformat.write(mutant_notebook(), folder / "grades.csv.ipynb")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("work", "a file")
        bundle.writestr("work/A2.ipynb", nbformat.writes(mutant_notebook()))
    (folder / "Broken_R3.zip").write_bytes(archive.getvalue())
    out = tmp_path_factory.mktemp("forged-out")
    options = GradeOptions(mode="full", data_dir=data_root, jobs=2, cell_timeout_s=120, limits=SandboxLimits(threads=1))
    results = grade_class([folder], assignment, options, out)
    return out, {payload["student"]: payload for payload in results}


@pytest.fixture(scope="session")
def real_style_class(ee5179, data_root, tmp_path_factory):
    """EE5179 submissions in real students' styles (a training that outlasts its cell, a split submission in
    reverse name order, Colab's packages and removed APIs with an endless attack loop), graded under a budget
    scaled down from the assignment's 900 s a cell and 2,400 s a notebook so that the cuts come in minutes."""
    folder = tmp_path_factory.mktemp("real-style")
    write_class(folder)
    out = tmp_path_factory.mktemp("real-style-out")
    return grade_samples(folder, ee5179, data_root, out, cell_timeout_s=150, notebook_timeout_s=600)
