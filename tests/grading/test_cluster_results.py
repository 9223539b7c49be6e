"""What the client takes from a cluster worker: only this student's result for this batch, whatever the
worker sent back."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from checks.batch.cluster_grading import ClusterBatch, ClusterLost
from checks.cli import main
from checks.engine.intake import Submission
from checks.grading.submission import GradeOptions

KEY = "a" * 64


@pytest.fixture
def batch(assignment, tmp_path: Path) -> ClusterBatch:
    return ClusterBatch("tcp://127.0.0.1:1", assignment, GradeOptions(mode="quick"), {"Asha_Rao_CS2301": KEY}, tmp_path)


ASHA = Submission("Asha_Rao_CS2301", Path("Asha_Rao_CS2301.zip"))
RIGHT = {"student": "Asha_Rao_CS2301", "assignment": "cs411-a2", "mode": "quick", "grading_key": KEY}


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ({**RIGHT, "student": "../../etc"}, "student '../../etc'"),
        ({**RIGHT, "student": "Bela_Sen_CS2302"}, "student 'Bela_Sen_CS2302'"),
        ({**RIGHT, "assignment": "ee5179-pa2"}, "assignment 'ee5179-pa2'"),
        ({**RIGHT, "mode": "full"}, "mode 'full'"),
        ({**RIGHT, "grading_key": "b" * 64}, "another grading key"),
        (["not", "a", "result"], "returned list"),
    ],
)
def test_a_result_that_is_not_this_students_for_this_batch_is_refused(batch, payload, why):
    assert why in batch._mismatch(payload, ASHA)


def test_this_students_result_is_taken_with_its_key_or_as_a_failure_without_one(batch):
    assert batch._mismatch(RIGHT, ASHA) is None
    assert batch._mismatch({**RIGHT, "grading_key": None}, ASHA) is None


@pytest.mark.parametrize("local_option", [["--jobs", "2"], ["--cache-dir", "models"]])
def test_options_of_this_machine_are_refused_beside_a_scheduler(tmp_path: Path, local_option, capsys):
    command = ["grade", str(tmp_path), "--assignment", "cs411-a2", "--out", str(tmp_path / "out")]
    assert main([*command, "--scheduler", "tcp://127.0.0.1:1", *local_option]) == 2
    assert "a cluster's workers" in capsys.readouterr().err


class FailingTask:
    """A finished task whose worker raised: the student's notebook filled the worker's disk."""

    def result(self):
        raise OSError(28, "No space left on device")


def test_a_task_that_failed_on_its_worker_fails_its_student_alone_while_the_scheduler_is_there(batch):
    payload = batch._collect(FailingTask(), ASHA, SimpleNamespace(status="running"))
    assert payload["student"] == ASHA.student_id and "No space left on device" in payload["problem"]
    assert payload["grading_key"] is None
    with pytest.raises(ClusterLost, match="went away"):
        batch._collect(FailingTask(), ASHA, SimpleNamespace(status="closed"))
