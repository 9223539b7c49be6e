"""Scoring a team's LIME parameters: the same pickle gets the same IoU every time, the cut-off stops a
slow one, and a hostile pickle is refused with nothing of it run."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from checks.assignments.tml25_a4.lime_scoring import ScoringOptions, read_pickle_file, score_lime_pickle
from checks.data.assets import DataDir
from checks.engine.sandbox import GiB, SandboxLimits
from reference.tml25_a4.images import IMAGE_KEYS

LIMITS = SandboxLimits(memory_bytes=6 * GiB, processes=128)


def parameters(**values) -> bytes:
    """The ten keys in another order than the assignment's, one dict object shared by all, as teams send it."""
    shared = dict(values)
    return pickle.dumps({key: shared for key in reversed(IMAGE_KEYS)})


@pytest.fixture(scope="module")
def quick_score(data: DataDir):
    """A cheap but complete scoring (20 samples an image), run twice."""
    pickled = parameters(num_samples=20, batch_size=20, top_labels=1, num_features=10, random_seed=3)
    options = ScoringOptions(cut_off_s=300, repeats=2, limits=LIMITS)
    return score_lime_pickle(pickled, data, options), score_lime_pickle(pickled, data, options)


def test_a_valid_pickle_is_scored_on_all_ten_images_with_times_from_the_median_of_repeats(quick_score):
    first, _ = quick_score
    assert first.complete, first.message()
    assert sorted(first.iou) == sorted(IMAGE_KEYS) and sorted(first.seconds) == sorted(IMAGE_KEYS)
    assert all(0.0 <= value <= 1.0 for value in first.iou.values())
    assert any(value > 0 for value in first.iou.values())
    assert all(0 < seconds < 300 for seconds in first.seconds.values())
    assert first.avg_iou == pytest.approx(np.mean(list(first.iou.values())))
    assert "Grad-CAM" in first.ground_truth or "instructor" in first.ground_truth
    assert first.message().startswith("avg_iou ")


def test_the_same_pickle_gets_the_same_iou_every_time(quick_score):
    first, second = quick_score
    assert first.iou == second.iou
    assert first.as_dict()["avg_iou"] == second.as_dict()["avg_iou"]


def test_parameters_that_pass_the_cut_off_get_no_score_and_the_kernel_is_stopped(data: DataDir):
    pickled = parameters(num_samples=1000, batch_size=10)  # minutes an image here
    result = score_lime_pickle(pickled, data, ScoringOptions(cut_off_s=8, repeats=1, limits=LIMITS))
    assert not result.complete and result.avg_iou is None and result.avg_time is None
    assert result.stopped is not None and "passed the cut-off of 8 s" in result.stopped


class Reducer:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_a_hostile_pickle_is_refused_with_a_message_and_none_of_it_runs(tmp_path: Path, data: DataDir):
    witness = tmp_path / "ran"
    pickled = pickle.dumps({key: {"segmentation_fn": Reducer(str(witness))} for key in IMAGE_KEYS})
    result = score_lime_pickle(pickled, data, ScoringOptions(limits=LIMITS))
    assert not witness.exists()
    assert result.ground_truth == "" and not result.seconds  # refused before any kernel started
    assert not result.complete and result.problems
    assert "os.system" in result.message() or "posix.system" in result.message()
    assert result.message().startswith("the pickle was refused; nothing of it ran:")


def test_a_pickle_file_larger_than_any_parameters_is_refused_unread(tmp_path: Path):
    huge = tmp_path / "params.pkl"
    with huge.open("wb") as handle:
        handle.truncate(1 << 30)  # a sparse 1 GiB file: nothing is allocated to make or refuse it
    with pytest.raises(OSError, match="a pickle of LIME parameters is under"):
        read_pickle_file(huge)
