"""TML25 A4 Deliverable 4: a team's pickle of LIME explain_instance arguments, read into plain
specs (checks.assignments.tml25_a4.lime_params) and rebuilt as fresh objects
(checks.probe.lime_rebuild), from real pickles of what teams send."""

from __future__ import annotations

import inspect
import io
import json
import os
import pickle
import re
from typing import Any

import numpy as np
import pytest
import scipy.spatial.distance
from lime.lime_image import LimeImageExplainer
from lime.wrappers.scikit_image import SegmentationAlgorithm
from skimage import segmentation
from sklearn import linear_model
from sklearn.metrics import pairwise_distances

from checks.assignments.tml25_a4.lime_params import CAN_BE_SENT, FILE, IMAGES, read_lime_parameters
from checks.probe.lime_rebuild import (
    ARGUMENT_RULES,
    ARGUMENTS,
    DISTANCE_METRICS,
    OBJECT_ARGUMENTS,
    REGRESSOR_PARAMETERS,
    REGRESSORS,
    SEGMENTATION_PARAMETERS,
    explain_kwargs,
)
from tests.engine.test_safe_pickle import Reducer, as_notebook_function

BIND = inspect.signature(LimeImageExplainer.explain_instance).bind
RNG = np.random.default_rng(0)


def fitted(regressor: Any) -> Any:
    return regressor.fit(RNG.random((20, 4)), RNG.random(20))


def my_metric(a: Any, b: Any) -> float:
    """A distance a team defined themselves."""
    return 0.0


def submission() -> dict[str, dict[str, Any]]:
    """Ten images' arguments in the styles real teams used."""
    quickshift = SegmentationAlgorithm("quickshift", kernel_size=4, max_dist=200, ratio=0.2)
    styles = [
        {"num_samples": 1000, "num_features": 100000, "top_labels": 5, "hide_color": 0, "batch_size": 10},
        {"num_samples": 150, "top_labels": 1, "hide_color": None, "segmentation_fn": quickshift, "random_seed": 42},
        {"labels": (1, 2), "top_labels": None, "hide_color": [0, 0, 0], "distance_metric": "euclidean"},
        {"num_samples": 600, "hide_color": (255, 255, 255), "model_regressor": fitted(linear_model.Ridge(alpha=0.5))},
        {"num_samples": 800, "hide_color": np.array([0, 0, 0]), "segmentation_fn": quickshift, "batch_size": 64},
        {"segmentation_fn": SegmentationAlgorithm("slic", n_segments=50, compactness=10, sigma=1, start_label=1)},
        {"segmentation_fn": SegmentationAlgorithm("felzenszwalb", scale=100, sigma=0.5, min_size=50)},
        {"model_regressor": linear_model.Lasso(alpha=0.01), "progress_bar": False, "num_features": 4},
        {"model_regressor": fitted(linear_model.BayesianRidge()), "random_seed": np.int64(7), "batch_size": 8},
        {"num_samples": np.int64(1200), "model_regressor": linear_model.LinearRegression(), "progress_bar": True},
    ]
    return dict(zip(IMAGES, styles))


def read(value: Any, protocol: int = pickle.DEFAULT_PROTOCOL):
    return read_lime_parameters(pickle.dumps(value, protocol=protocol))


def with_argument(name: str, value: Any) -> dict[str, dict[str, Any]]:
    """A valid submission where the kite's arguments also hold name=value."""
    params = submission()
    params["kite"] = {**params["kite"], name: value}
    return params


def problems_of(params: dict[str, Any], key: str = "kite") -> list[str]:
    return read(params).problems.get(key, [])


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_a_complete_submission_is_read_and_rebuilt(protocol):
    result = read(submission(), protocol)
    assert result.valid and result.problems == {}
    assert list(result.specs) == list(IMAGES)
    assert json.loads(json.dumps(result.specs)) == result.specs
    assert result.specs["flamingo"]["hide_color"] == [255, 255, 255]
    assert result.specs["kite"]["hide_color"] == [0, 0, 0]
    assert result.specs["common_iguana"]["random_seed"] == 7
    for spec in result.specs.values():
        BIND(LimeImageExplainer(), np.zeros((8, 8, 3)), lambda images: images, **explain_kwargs(spec))


def test_the_spec_format():
    spec = read(submission()).specs["American_coot"]
    assert spec == {
        "num_samples": 150,
        "top_labels": 1,
        "hide_color": None,
        "segmentation_fn": {"algorithm": "quickshift", "kernel_size": 4, "max_dist": 200, "ratio": 0.2},
        "random_seed": 42,
    }
    ridge = read(submission()).specs["flamingo"]["model_regressor"]
    assert ridge == {"class": "Ridge", **linear_model.Ridge(alpha=0.5).get_params()}


def test_progress_bar_is_ignored_with_a_note():
    result = read(submission())
    assert "ignored: lime 0.2.0.1 has no progress_bar" in result.notes["orange"]
    assert "progress_bar" not in result.specs["orange"]
    assert "progress_bar" not in ARGUMENTS


@pytest.mark.parametrize("name", sorted(REGRESSORS))
def test_a_fitted_regressor_is_rebuilt_fresh(name):
    original = fitted(REGRESSORS[name]())
    result = read(with_argument("model_regressor", original))
    assert result.valid
    (note,) = (note for note in result.notes["kite"] if note.startswith(f"fitted state dropped from the {name} ("))
    assert "coef_" in note and note.endswith("): the server fits a fresh one")
    rebuilt = explain_kwargs(result.specs["kite"])["model_regressor"]
    assert type(rebuilt) is REGRESSORS[name] and rebuilt is not original
    assert rebuilt.get_params() == original.get_params()
    assert not hasattr(rebuilt, "coef_")


@pytest.mark.parametrize(
    "segmenter",
    [
        SegmentationAlgorithm("quickshift", kernel_size=3, max_dist=50, ratio=0.5, sigma=1),
        SegmentationAlgorithm("slic", n_segments=80, compactness=20, max_num_iter=5),
        SegmentationAlgorithm("felzenszwalb", scale=200, min_size=30),
    ],
    ids=lambda segmenter: segmenter.algo_type,
)
def test_a_segmentation_algorithm_is_rebuilt_fresh(segmenter):
    result = read(with_argument("segmentation_fn", segmenter))
    rebuilt = explain_kwargs(result.specs["kite"])["segmentation_fn"]
    assert type(rebuilt) is SegmentationAlgorithm and rebuilt is not segmenter
    assert rebuilt.algo_type == segmenter.algo_type and rebuilt.target_params == segmenter.target_params
    assert rebuilt.target_fn is getattr(segmentation, segmenter.algo_type)


def test_a_bare_scikit_image_function_is_its_algorithm_with_defaults():
    result = read(with_argument("segmentation_fn", segmentation.slic))
    assert result.specs["kite"]["segmentation_fn"] == {"algorithm": "slic"}


def test_rebuilt_arguments_run_lime():
    result = read(with_argument("num_samples", 20))
    kwargs = explain_kwargs(result.specs["kite"])
    image = np.zeros((24, 24, 3))
    image[:12] = 1.0
    explanation = LimeImageExplainer().explain_instance(
        image, lambda images: np.stack([images.mean(axis=(1, 2, 3))] * 2, axis=1), **{**kwargs, "top_labels": 1}
    )
    assert explanation.top_labels


def test_one_dict_shared_by_every_image_gives_separate_specs():
    params = {"num_samples": 500, "segmentation_fn": SegmentationAlgorithm("quickshift", kernel_size=4)}
    result = read(dict.fromkeys(IMAGES, params))
    assert result.valid and len(result.specs) == 10
    result.specs["kite"]["segmentation_fn"]["kernel_size"] = 9
    assert result.specs["orange"]["segmentation_fn"]["kernel_size"] == 4


def test_a_notebook_function_is_refused_with_its_name(monkeypatch):
    result = read(with_argument("segmentation_fn", as_notebook_function(monkeypatch, "my_segmenter")))
    assert not result.valid and result.specs == {}
    assert result.problems == {FILE: [f"refused: __main__.my_segmenter is defined in your notebook; {CAN_BE_SENT}"]}


@pytest.mark.parametrize(
    ("metric", "named"),
    [(my_metric, f"{__name__}.my_metric"), (scipy.spatial.distance.cosine, "scipy.spatial.distance.cosine")],
)
def test_a_callable_distance_metric_is_refused(metric, named):
    assert f"refused: {named} is not on the list" in read(with_argument("distance_metric", metric)).problems[FILE][0]


def test_the_image_names_are_checked_with_suggestions():
    params = submission()
    params["flamingos"] = params.pop("flamingo")
    params["Kite"] = params.pop("kite")
    assert problems_of(params, FILE) == [
        "'flamingos' is not one of the ten image names; did you mean 'flamingo'?",
        "'Kite' is not one of the ten image names; did you mean 'kite'?",
        "'flamingo' is missing",
        "'kite' is missing",
    ]
    assert read(submission()).problems == {}


def test_extra_and_non_string_keys_are_reported():
    params: dict[Any, Any] = {**submission(), 3: {}, "dog": {}}
    assert problems_of(params, FILE) == [
        "3 is not an image name: the keys must be strings",
        "'dog' is not one of the ten image names",
    ]


@pytest.mark.parametrize("value", [[submission()], "params", None])
def test_a_pickle_that_is_not_a_dict_is_refused(value):
    assert "not a dict keyed by the ten image names" in read(value).problems[FILE][0]


def test_an_image_value_that_is_not_a_dict_is_refused():
    params = submission()
    params["kite"] = [500, 5]
    assert problems_of(params) == ["must be a dict of explain_instance arguments, not a list"]


@pytest.mark.parametrize("name", ["positive_only", "hide_rest"])
def test_get_image_and_mask_arguments_are_refused(name):
    assert problems_of(with_argument(name, True)) == [
        f"{name} is an argument of get_image_and_mask, not explain_instance, which rejects it"
    ]


@pytest.mark.parametrize("name", ["image", "classifier_fn"])
def test_image_and_classifier_fn_are_refused(name):
    problems = problems_of(with_argument(name, np.zeros((4, 4, 3)) if name == "image" else None))
    assert problems == [f"{name} must not be sent: the server passes its own image and classifier_fn"]


def test_an_unknown_argument_is_named_with_the_allowed_ones():
    (problem,) = problems_of(with_argument("num_sample", 100))
    assert problem.startswith("unknown argument 'num_sample': explain_instance takes labels, hide_color, top_labels")
    assert problem.endswith("; did you mean 'num_samples'?")


def test_every_problem_is_collected():
    params = with_argument("num_samples", 10**7)
    params["kite"].update(hide_rest=True, batch_size=0)
    params["orange"]["distance_metric"] = "mahalanobis"
    result = read(params)
    assert len(result.problems["kite"]) == 3 and len(result.problems["orange"]) == 1
    assert set(result.specs) == set(IMAGES) - {"kite", "orange"}


@pytest.mark.parametrize(
    ("name", "good", "bad", "reason"),
    [
        ("num_samples", 5000, 10**7, "an integer from 1 to 5000"),
        ("num_samples", 1, 0, "an integer from 1 to 5000"),
        ("num_samples", 500, 500.0, "an integer from 1 to 5000"),
        ("num_features", 100000, 100001, "an integer from 1 to 100000"),
        ("batch_size", 256, 257, "an integer from 1 to 256"),
        ("top_labels", None, 0, "None or an integer from 1 to 1000"),
        ("labels", (0, 999), (1000,), "a list of 1 to 10 class indices from 0 to 999"),
        ("labels", np.array([3, 4]), tuple(range(11)), "a list of 1 to 10 class indices"),
        ("hide_color", (0.0, -1.5, 0.5), "black", "None, a number from -255 to 255 or an RGB triple"),
        ("hide_color", 255, 256, "None, a number from -255 to 255"),
        ("hide_color", [0, 0, 0], [0, 0], "None, a number from -255 to 255"),
        ("distance_metric", "euclidean", "mahalanobis", "one of 'cosine', 'euclidean'"),
        ("random_seed", 2**32 - 1, 2**32, "None or an integer from 0 to 4294967295"),
        ("random_seed", None, -1, "None or an integer from 0 to 4294967295"),
    ],
)
def test_plain_arguments_are_bounded(name, good, bad, reason):
    assert read(with_argument(name, good)).valid
    (problem,) = problems_of(with_argument(name, bad))
    assert problem.startswith(f"{name}=") and f"refused: must be {reason}" in problem


@pytest.mark.parametrize(
    ("good", "bad", "problem"),
    [
        (
            SegmentationAlgorithm("quickshift", kernel_size=20),
            SegmentationAlgorithm("quickshift", kernel_size=50),
            "segmentation_fn: quickshift kernel_size=50 refused: must be a number from 1 to 20",
        ),
        (
            SegmentationAlgorithm("slic", n_segments=2000),
            SegmentationAlgorithm("slic", n_segments=5000),
            "segmentation_fn: slic n_segments=5000 refused: must be an integer from 1 to 2000",
        ),
        (
            SegmentationAlgorithm("felzenszwalb", min_size=10),
            SegmentationAlgorithm("felzenszwalb", min_size=0.5),
            "segmentation_fn: felzenszwalb min_size=0.5 refused: must be an integer from 1 to 100000",
        ),
        (
            SegmentationAlgorithm("slic", start_label=0),
            SegmentationAlgorithm("slic", mask=np.ones((2, 2), dtype=bool)),
            "segmentation_fn refused: a numpy array of shape (2, 2) is not an explain_instance value",
        ),
        (
            linear_model.Ridge(alpha=1e6),
            linear_model.Ridge(alpha=1e7),
            "model_regressor: Ridge alpha=10000000.0 refused: must be a number from 0 to 1e+06",
        ),
        (
            linear_model.Ridge(solver="svd"),
            linear_model.Ridge(solver="magic"),
            "model_regressor: Ridge solver='magic' refused: must be one of 'auto', 'svd'",
        ),
        (
            linear_model.LinearRegression(n_jobs=-1),
            linear_model.LinearRegression(n_jobs=64),
            "model_regressor: LinearRegression n_jobs=64 refused: must be None, -1 or an integer from 1 to 4",
        ),
        (
            SegmentationAlgorithm("quickshift"),
            linear_model.Ridge(),
            "segmentation_fn={'class': 'Ridge'",
        ),
        (  # skimage's quickshift fails on rng=None, inside the kernel, where the team would read "LIME failed"
            SegmentationAlgorithm("quickshift", rng=7),
            SegmentationAlgorithm("quickshift", rng=None),
            "segmentation_fn: quickshift rng=None refused: must be an integer from 0 to",
        ),
        (  # slic divides by its compactness
            SegmentationAlgorithm("slic", compactness=0.5),
            SegmentationAlgorithm("slic", compactness=0),
            "segmentation_fn: slic compactness=0 refused: must be a number above 0, up to 1000",
        ),
    ],
)
def test_object_arguments_are_bounded(good, bad, problem):
    name = "segmentation_fn" if isinstance(good, SegmentationAlgorithm) else "model_regressor"
    assert read(with_argument(name, good)).valid
    (found,) = problems_of(with_argument(name, bad))
    assert found.startswith(problem)


def test_a_regressor_with_an_added_attribute_is_refused():
    ridge = linear_model.Ridge()
    ridge.callback = "anything"
    (problem,) = problems_of(with_argument("model_regressor", ridge))
    assert problem.startswith("model_regressor: Ridge parameter 'callback' is not allowed (allowed: fit_intercept")


def test_an_altered_segmentation_algorithm_is_refused():
    segmenter = SegmentationAlgorithm("quickshift", kernel_size=4)
    segmenter.target_fn = segmentation.slic
    (problem,) = problems_of(with_argument("segmentation_fn", segmenter))
    assert problem == "segmentation_fn refused: the SegmentationAlgorithm('quickshift') was altered after it was made"


def test_a_code_running_reducer_refuses_the_file_and_runs_nothing(tmp_path):
    path = tmp_path / "ran"
    result = read(with_argument("segmentation_fn", Reducer(os.system, f"touch {path}")))
    assert result.problems == {
        FILE: [f"refused: {os.system.__module__}.system can run code or open files on the server; {CAN_BE_SENT}"]
    }
    assert not path.exists() and result.specs == {}


@pytest.mark.parametrize(
    "data",
    [b"", b"garbage", pickle.dumps(submission())[:-10], b"\x80\x04\x8e\x00\x00\x00\x00\x01\x00\x00\x00."],
    ids=["empty", "garbage", "truncated", "declared-4GiB"],
)
def test_unreadable_files_are_refused(data):
    result = read_lime_parameters(data)
    assert not result.valid and result.problems[FILE][0].startswith("not a readable pickle")


def test_a_self_containing_submission_is_refused():
    params: dict[str, Any] = submission()
    params["kite"]["labels"] = params["kite"]
    assert read(params).problems == {FILE: ["refused: a structure that contains itself"]}


def test_a_file_object_is_read():
    assert read_lime_parameters(io.BytesIO(pickle.dumps(submission()))).valid


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"model_regressor": {"class": "SVR"}}, "model_regressor={'class': 'SVR'} refused"),
        ({"model_regressor": {"class": "Ridge", "alpha": "1"}}, "Ridge alpha='1' refused"),
        ({"segmentation_fn": {"algorithm": "watershed"}}, "must be None or one of quickshift, slic, felzenszwalb"),
        ({"segmentation_fn": {"algorithm": "slic", "mask": [[1]]}}, "slic parameter 'mask' is not allowed"),
        ({"segmentation_fn": "quickshift"}, "segmentation_fn='quickshift' refused"),
        ({"progress_bar": True}, "'progress_bar' is not an argument of explain_instance"),
        ({"classifier_fn": None}, "'classifier_fn' is not an argument of explain_instance"),
        ({"distance_metric": "mahalanobis"}, "distance_metric='mahalanobis' refused"),
        ({"num_samples": True}, "num_samples=True refused"),
        ({"labels": (1,)}, "labels=(1,) refused"),
        ([("num_samples", 5)], "the spec must be a dict"),
    ],
)
def test_the_rebuild_refuses_what_is_not_in_its_tables(spec, problem):
    with pytest.raises(ValueError, match=re.escape(problem)):
        explain_kwargs(spec)


def test_the_rebuild_builds_plain_values_as_lime_needs_them():
    kwargs = explain_kwargs({"labels": [3, 4], "hide_color": [0, 0, 0], "num_samples": 10})
    assert kwargs["labels"] == (3, 4) and kwargs["num_samples"] == 10
    assert isinstance(kwargs["hide_color"], np.ndarray) and kwargs["hide_color"].tolist() == [0, 0, 0]


def test_the_tables_match_the_installed_libraries():
    assert set(ARGUMENTS) <= set(ARGUMENT_RULES) | set(OBJECT_ARGUMENTS)
    for name, parameters in SEGMENTATION_PARAMETERS.items():
        assert set(parameters) <= set(inspect.signature(getattr(segmentation, name)).parameters)
    for name, parameters in REGRESSOR_PARAMETERS.items():
        assert set(parameters) <= set(inspect.signature(REGRESSORS[name]).parameters)
    masks = RNG.integers(0, 2, (5, 10))
    for metric in DISTANCE_METRICS:
        assert pairwise_distances(masks, masks[:1], metric=metric).shape == (5, 1)


@pytest.mark.parametrize("where", ["labels", "key"])
def test_a_few_hundred_bytes_of_shared_lists_that_unfold_into_billions_of_values_are_refused_at_once(where):
    shared: Any = [0] if where == "labels" else (0,)
    for _ in range(20):  # 2**20 values, beyond the bound; as a key, the test itself hashes them all once
        shared = [shared, shared] if where == "labels" else (shared, shared)
    pickled = {"kite": {"labels": shared}} if where == "labels" else {shared: {}}
    result = read(pickled)  # without the bound, hashing the key or showing the labels would take hours
    assert result.problems == {FILE: ["refused: more than 100000 values once shared parts are counted"]}
