"""LIME ``explain_instance`` arguments rebuilt inside the kernel from a plain spec that the grader
validated (``checks.assignments.tml25_a4.lime_params``, which documents the spec format).

The spec came from a team's pickle, so it is checked again here, against the same tables that
the grader reads it with: only the arguments, segmentation algorithms, regressor classes and
bounded values listed below are built, each as a fresh object. Imports only the standard
library, numpy, lime and scikit-learn, so the kernel can load it without the grader.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from lime.lime_image import LimeImageExplainer
from lime.wrappers.scikit_image import SegmentationAlgorithm
from sklearn import linear_model

MAX_NUM_SAMPLES = 5_000  # perturbed images per explanation: the server's time limit, not LIME's
MAX_NUM_FEATURES = 100_000  # the assignment's default; LIME caps it at the number of superpixels
MAX_BATCH_SIZE = 256
MAX_LABELS = 10
MAX_CLASS = 999  # ImageNet class indices
MAX_SEED = 2**32 - 1  # numpy's RandomState accepts no more
MAX_COLOUR = 255  # hide_color: pixel values, or normalised ones down to -255
MAX_PENALTY = 1e6  # alpha and the Bayesian priors
MAX_ITERATIONS = 100_000
SERVER_ARGUMENTS = ("self", "image", "classifier_fn")  # passed by the server, never by a team
ARGUMENTS = tuple(
    name for name in inspect.signature(LimeImageExplainer.explain_instance).parameters if name not in SERVER_ARGUMENTS
)


@dataclass(frozen=True)
class Rule:
    """The type and range a plain value must have, with the words that describe it to a team."""

    test: Callable[[Any], bool]
    text: str


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))


def integer(low: int, high: int) -> Rule:
    return Rule(lambda value: _is_int(value) and low <= value <= high, f"an integer from {low} to {high}")


def number(low: float, high: float) -> Rule:
    return Rule(lambda value: _is_number(value) and low <= value <= high, f"a number from {low:g} to {high:g}")


def optional(rule: Rule) -> Rule:
    return Rule(lambda value: value is None or rule.test(value), f"None or {rule.text}")


def choice(*values: str) -> Rule:
    return Rule(lambda value: isinstance(value, str) and value in values, "one of " + ", ".join(map(repr, values)))


FLAG = Rule(lambda value: isinstance(value, bool), "True or False")
FALSE = Rule(lambda value: value is False, "False")
SEED = optional(integer(0, MAX_SEED))
COLOUR = number(-MAX_COLOUR, MAX_COLOUR)
FRACTION = number(0, 1)
TOLERANCE = number(0, 1)
PENALTY = number(0, MAX_PENALTY)
SIGMA = number(0, 20)


LABEL = integer(0, MAX_CLASS)


def _is_labels(value: Any) -> bool:
    return isinstance(value, list) and 1 <= len(value) <= MAX_LABELS and all(map(LABEL.test, value))


def _is_jobs(value: Any) -> bool:
    return value is None or (_is_int(value) and -1 <= value <= 4 and value != 0)


def _is_hide_color(value: Any) -> bool:
    triple = isinstance(value, list) and len(value) == 3 and all(map(COLOUR.test, value))
    return value is None or COLOUR.test(value) or triple


# sklearn.metrics.pairwise_distances metrics that work on LIME's 0/1 superpixel masks.
DISTANCE_METRICS = (
    "cosine",
    "euclidean",
    "sqeuclidean",
    "manhattan",
    "cityblock",
    "l1",
    "l2",
    "chebyshev",
    "minkowski",
    "braycurtis",
    "canberra",
    "correlation",
    "hamming",
)
ARGUMENT_RULES: dict[str, Rule] = {
    "labels": Rule(_is_labels, f"a list of 1 to {MAX_LABELS} class indices from 0 to {MAX_CLASS}"),
    "hide_color": Rule(_is_hide_color, f"None, a number from -{MAX_COLOUR} to {MAX_COLOUR} or an RGB triple of them"),
    "top_labels": optional(integer(1, MAX_CLASS + 1)),
    "num_features": integer(1, MAX_NUM_FEATURES),
    "num_samples": integer(1, MAX_NUM_SAMPLES),
    "batch_size": integer(1, MAX_BATCH_SIZE),
    "distance_metric": choice(*DISTANCE_METRICS),
    "random_seed": SEED,
    "progress_bar": FLAG,
}
# Keyword parameters of the scikit-image functions that SegmentationAlgorithm wraps.
SEGMENTATION_PARAMETERS: dict[str, dict[str, Rule]] = {
    "quickshift": {
        "ratio": FRACTION,
        "kernel_size": number(1, 20),
        "max_dist": number(0, 1000),
        "sigma": SIGMA,
        "convert2lab": FLAG,
        "return_tree": FALSE,  # True returns a tuple, which LIME cannot use
        "rng": integer(0, MAX_SEED),  # skimage's quickshift takes no None here
    },
    "slic": {
        "n_segments": integer(1, 2000),
        "compactness": Rule(lambda value: _is_number(value) and 0 < value <= 1000, "a number above 0, up to 1000"),
        "max_num_iter": integer(1, 100),
        "sigma": SIGMA,
        "convert2lab": optional(FLAG),
        "enforce_connectivity": FLAG,
        "min_size_factor": FRACTION,
        "max_size_factor": number(1, 100),
        "slic_zero": FLAG,
        "start_label": integer(0, 1),
    },
    "felzenszwalb": {"scale": number(0, 10_000), "sigma": SIGMA, "min_size": integer(1, 100_000)},
}
REGRESSORS: dict[str, type] = {
    "Ridge": linear_model.Ridge,
    "Lasso": linear_model.Lasso,
    "ElasticNet": linear_model.ElasticNet,
    "LinearRegression": linear_model.LinearRegression,
    "BayesianRidge": linear_model.BayesianRidge,
    "HuberRegressor": linear_model.HuberRegressor,
}
_LINEAR = {"fit_intercept": FLAG, "copy_X": FLAG, "tol": TOLERANCE}
_COORDINATE_DESCENT = {
    **_LINEAR,
    "alpha": PENALTY,
    "precompute": FLAG,
    "max_iter": integer(1, MAX_ITERATIONS),
    "warm_start": FLAG,
    "positive": FLAG,
    "random_state": SEED,
    "selection": choice("cyclic", "random"),
}
REGRESSOR_PARAMETERS: dict[str, dict[str, Rule]] = {
    "Ridge": {
        **_LINEAR,
        "alpha": PENALTY,
        "max_iter": optional(integer(1, MAX_ITERATIONS)),
        "solver": choice("auto", "svd", "cholesky", "lsqr", "sparse_cg", "sag", "saga", "lbfgs"),
        "positive": FLAG,
        "random_state": SEED,
    },
    "Lasso": _COORDINATE_DESCENT,
    "ElasticNet": {**_COORDINATE_DESCENT, "l1_ratio": FRACTION},
    "LinearRegression": {**_LINEAR, "n_jobs": Rule(_is_jobs, "None, -1 or an integer from 1 to 4"), "positive": FLAG},
    "BayesianRidge": {
        **_LINEAR,
        "max_iter": integer(1, MAX_ITERATIONS),
        "alpha_1": PENALTY,
        "alpha_2": PENALTY,
        "lambda_1": PENALTY,
        "lambda_2": PENALTY,
        "alpha_init": optional(PENALTY),
        "lambda_init": optional(PENALTY),
        "compute_score": FLAG,
        "verbose": FLAG,
    },
    "HuberRegressor": {
        "epsilon": number(1, MAX_PENALTY),
        "max_iter": integer(1, MAX_ITERATIONS),
        "alpha": PENALTY,
        "warm_start": FLAG,
        "fit_intercept": FLAG,
        "tol": TOLERANCE,
    },
}
# An object argument's spec: {kind key: a name from the table, parameter: value, ...}.
OBJECT_ARGUMENTS: dict[str, tuple[str, dict[str, dict[str, Rule]]]] = {
    "segmentation_fn": ("algorithm", SEGMENTATION_PARAMETERS),
    "model_regressor": ("class", REGRESSOR_PARAMETERS),
}


def show(value: Any) -> str:
    """A value as a message quotes it: short, whatever its size."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_spec(spec: Any) -> list[str]:
    """Every problem with one image's spec, as messages; empty when it can be built."""
    if not isinstance(spec, dict):
        return ["the spec must be a dict of explain_instance arguments"]
    problems = []
    for name, value in spec.items():
        if name not in ARGUMENTS:
            problems.append(f"{show(name)} is not an argument of explain_instance ({', '.join(ARGUMENTS)})")
        else:
            problems += check_argument(name, value)
    return problems


def check_argument(name: str, value: Any) -> list[str]:
    """The problems with one plain argument value, as messages."""
    if name in OBJECT_ARGUMENTS:
        return _check_object(name, value)
    rule = ARGUMENT_RULES.get(name)
    if rule is None:
        return [f"{name} is not an argument the grader can check"]
    return [] if rule.test(value) else [f"{name}={show(value)} refused: must be {rule.text}"]


def _check_object(argument: str, value: Any) -> list[str]:
    if value is None:
        return []
    key, table = OBJECT_ARGUMENTS[argument]
    kind = value.get(key) if isinstance(value, dict) else None
    if not isinstance(kind, str) or kind not in table:
        return [f"{argument}={show(value)} refused: must be None or one of {', '.join(table)}"]
    rules = table[kind]
    problems = []
    for parameter, setting in value.items():
        if parameter == key:
            continue
        rule = rules.get(parameter)
        if rule is None:
            allowed = ", ".join(rules)
            problems.append(f"{argument}: {kind} parameter {show(parameter)} is not allowed (allowed: {allowed})")
        elif not rule.test(setting):
            problems.append(f"{argument}: {kind} {parameter}={show(setting)} refused: must be {rule.text}")
    return problems


def explain_kwargs(spec: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments for ``explain_instance``, every object built fresh from the spec;
    ValueError for anything outside the tables above."""
    problems = check_spec(spec)
    if problems:
        raise ValueError("; ".join(problems))
    return {name: _BUILDERS.get(name, _same)(value) for name, value in spec.items()}


def _same(value: Any) -> Any:
    return value


def _labels(value: list[int]) -> tuple[int, ...]:
    return tuple(value)


def _hide_color(value: Any) -> Any:
    return np.array(value) if isinstance(value, list) else value


def _segmentation(value: dict[str, Any] | None) -> SegmentationAlgorithm | None:
    if value is None:
        return None
    parameters = {name: setting for name, setting in value.items() if name != "algorithm"}
    return SegmentationAlgorithm(value["algorithm"], **parameters)


def _regressor(value: dict[str, Any] | None) -> Any:
    if value is None:
        return None
    parameters = {name: setting for name, setting in value.items() if name != "class"}
    return REGRESSORS[value["class"]](**parameters)


_BUILDERS: dict[str, Callable[[Any], Any]] = {
    "labels": _labels,
    "hide_color": _hide_color,
    "segmentation_fn": _segmentation,
    "model_regressor": _regressor,
}
