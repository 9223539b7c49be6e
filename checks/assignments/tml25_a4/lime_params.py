"""Deliverable 4 of TML25 A4: the pickle of LIME ``explain_instance`` arguments a team submits,
one dict per image, read safely and checked before the server runs anything with it.

The pickle is read by ``checks.engine.safe_pickle``: nothing in it is imported or called. The
only objects it may hold are a ``lime.wrappers.scikit_image.SegmentationAlgorithm`` (and the
scikit-image function in its state) and the scikit-learn linear regressors of
``checks.probe.lime_rebuild.REGRESSORS``; they arrive as inert placeholders, from which only
their constructor parameters are kept. A notebook function, ``functools.partial``, a scipy
metric, ``os.system`` and everything else refuse the whole file, naming the global.

Each image becomes a spec: a JSON-able dict of explain_instance arguments, without image and
classifier_fn, that ``checks.probe.lime_rebuild.explain_kwargs`` turns back into arguments
inside the kernel. Plain values stay plain (tuples and small numpy arrays become lists, numpy
scalars Python numbers); the two object arguments become a dict that names the object:

    {"num_samples": 500, "num_features": 5, "top_labels": 1, "labels": [1], "hide_color": [0, 0, 0],
     "distance_metric": "cosine", "random_seed": 42, "batch_size": 10,
     "segmentation_fn": {"algorithm": "quickshift", "kernel_size": 4, "max_dist": 200, "ratio": 0.2},
     "model_regressor": {"class": "Ridge", "alpha": 1.0, "fit_intercept": true}}

The bounds are the tables of ``checks.probe.lime_rebuild``, shared with the rebuild so both
sides enforce the same ones (num_samples 1-5000, num_features 1-100000, batch_size 1-256,
top_labels None or 1-1000, labels 1-10 class indices 0-999, hide_color None, a number in
[-255, 255] or an RGB triple of them, distance_metric a listed sklearn metric name, random_seed
None or 0..2**32-1, each segmentation and regressor parameter listed with its own range).
A fitted regressor's learnt attributes (``coef_``, ...) are dropped with a note; an argument
the assignment shows but the installed lime lacks (``progress_bar`` in lime 0.2.0.1) is ignored
with a note.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any, BinaryIO

import numpy as np
from lime.wrappers import scikit_image

from checks.engine.safe_pickle import Allow, Limits, PickledGlobal, PickledObject, UnsafePickle, safe_load
from checks.probe.lime_rebuild import (
    ARGUMENT_RULES,
    ARGUMENTS,
    OBJECT_ARGUMENTS,
    REGRESSORS,
    SEGMENTATION_PARAMETERS,
    check_argument,
    show,
)
from reference.tml25_a4.images import IMAGE_KEYS

IMAGES = IMAGE_KEYS  # the assignment's names and order
FILE = "file"  # the problems key for the pickle as a whole
CAN_BE_SENT = "only plain values, SegmentationAlgorithm and scikit-learn linear regressors can be sent"
LIME_VERSION = version("lime")
MASK_ARGUMENTS = ("positive_only", "negative_only", "hide_rest", "min_weight")  # get_image_and_mask's
NOT_SENT = ("image", "classifier_fn")
# Shown in the assignment's explain_instance but missing from the installed lime's.
IGNORED = tuple(name for name in (*ARGUMENT_RULES, *OBJECT_ARGUMENTS) if name not in ARGUMENTS)
MAX_ARRAY_VALUES = 10  # a numpy array is read as a list (hide_color, labels) up to this size
# Attributes a regressor's own constructor sets that are not its parameters, with the value it sets.
CONSTRUCTOR_SET = {"Lasso": {"l1_ratio": 1.0}}


def _qualified(thing: Any) -> str:
    return f"{thing.__module__}.{thing.__qualname__}"


SEGMENTATION_CLASS = _qualified(scikit_image.SegmentationAlgorithm)
SEGMENTATION_FUNCTIONS = {_qualified(getattr(scikit_image, name)): name for name in SEGMENTATION_PARAMETERS}
REGRESSOR_CLASSES = {_qualified(cls): name for name, cls in REGRESSORS.items()}
ALLOWED: dict[str, Allow] = {
    SEGMENTATION_CLASS: Allow.OBJECT,
    **dict.fromkeys(REGRESSOR_CLASSES, Allow.OBJECT),
    **dict.fromkeys(SEGMENTATION_FUNCTIONS, Allow.NAME),
}
LIMITS = Limits()


@dataclass
class LimeParameters:
    """A submission read: a spec per image that passed, and every problem found, by image or FILE."""

    specs: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)  # what was dropped or ignored, not refused

    @property
    def valid(self) -> bool:
        return not self.problems

    def add_problem(self, key: str, message: str) -> None:
        self.problems.setdefault(key, []).append(message)


class _NotPlain(ValueError):
    """A value that has no plain spec form; the message says what it was."""


def read_lime_parameters(data: bytes | BinaryIO) -> LimeParameters:
    """Read a team's pickle of explain_instance arguments without running any of it."""
    result = LimeParameters()
    try:
        loaded = safe_load(data, ALLOWED, LIMITS)
    except UnsafePickle as refusal:
        hint = f"; {CAN_BE_SENT}" if refusal.global_name else ""
        result.add_problem(FILE, f"{refusal}{hint}")
        return result
    if not isinstance(loaded, dict):
        result.add_problem(FILE, f"the pickle holds a {type(loaded).__name__}, not a dict keyed by the ten image names")
        return result
    _check_names(loaded, result)
    for image in IMAGES:
        if image in loaded:
            _read_image(image, loaded[image], result)
    return result


def _check_names(loaded: dict[Any, Any], result: LimeParameters) -> None:
    missing = [image for image in IMAGES if image not in loaded]
    for key in loaded:
        if not isinstance(key, str):
            result.add_problem(FILE, f"{show(key)} is not an image name: the keys must be strings")
        elif key not in IMAGES:
            suggestion = _suggestion(key, missing or IMAGES)
            result.add_problem(FILE, f"{show(key)} is not one of the ten image names{suggestion}")
    for image in missing:
        result.add_problem(FILE, f"{image!r} is missing")


def _suggestion(name: str, candidates: list[str] | tuple[str, ...]) -> str:
    """'; did you mean ...?' for the closest candidate, ignoring case, or nothing."""
    lowered = {candidate.lower(): candidate for candidate in candidates}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1)
    return f"; did you mean {lowered[close[0]]!r}?" if close else ""


def _read_image(image: str, arguments: Any, result: LimeParameters) -> None:
    if not isinstance(arguments, dict):
        result.add_problem(image, f"must be a dict of explain_instance arguments, not a {type(arguments).__name__}")
        return
    spec: dict[str, Any] = {}
    notes: list[str] = []
    problems: list[str] = []
    for name, value in arguments.items():
        problems += _read_argument(name, value, spec, notes)
    if notes:
        result.notes[image] = notes
    if problems:
        result.problems[image] = problems
    else:
        result.specs[image] = spec


def _read_argument(name: Any, value: Any, spec: dict[str, Any], notes: list[str]) -> list[str]:
    """Add one argument to the spec, or return why it cannot be sent."""
    if not isinstance(name, str):
        return [f"{show(name)} is not an argument name: the keys must be strings"]
    if name in NOT_SENT:
        return [f"{name} must not be sent: the server passes its own image and classifier_fn"]
    if name in MASK_ARGUMENTS:
        return [f"{name} is an argument of get_image_and_mask, not explain_instance, which rejects it"]
    if name in IGNORED:
        notes.append(f"ignored: lime {LIME_VERSION} has no {name}")
        return []
    if name not in ARGUMENTS:
        takes = ", ".join(ARGUMENTS)
        return [f"unknown argument {show(name)}: explain_instance takes {takes}{_suggestion(name, ARGUMENTS)}"]
    try:
        plain = _plain(value, notes)
    except _NotPlain as reason:
        return [f"{name} refused: {reason}"]
    problems = check_argument(name, plain)
    if not problems:
        spec[name] = plain
    return problems


def _plain(value: Any, notes: list[str]) -> Any:
    """The spec form of a value read from the pickle: new containers each time, so specs share nothing."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return value.item()
    if isinstance(value, np.ndarray) and value.ndim <= 1 and value.size <= MAX_ARRAY_VALUES:
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(item, notes) for item in value]
    if isinstance(value, PickledGlobal) and value.name in SEGMENTATION_FUNCTIONS:
        return {"algorithm": SEGMENTATION_FUNCTIONS[value.name]}
    if isinstance(value, PickledObject):
        return _plain_object(value, notes)
    if isinstance(value, np.ndarray):
        raise _NotPlain(f"a numpy array of shape {value.shape} is not an explain_instance value")
    raise _NotPlain(f"a {type(value).__name__} is not an explain_instance value")


def _plain_object(value: PickledObject, notes: list[str]) -> dict[str, Any]:
    state = value.state
    if value.args or value.kwargs:
        raise _NotPlain(f"{value.name} was pickled with constructor arguments, which it never has")
    if not isinstance(state, dict) or not all(isinstance(key, str) for key in state):
        raise _NotPlain(f"{value.name} was pickled with a state that it never has")
    if value.name == SEGMENTATION_CLASS:
        return _plain_segmentation(state, notes)
    return _plain_regressor(REGRESSOR_CLASSES[value.name], state, notes)


def _plain_segmentation(state: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """SegmentationAlgorithm keeps algo_type, target_fn (the scikit-image function) and target_params."""
    algorithm = state.get("algo_type")
    if not isinstance(algorithm, str) or algorithm not in SEGMENTATION_PARAMETERS:
        raise _NotPlain(f"SegmentationAlgorithm {show(algorithm)} is not one of {', '.join(SEGMENTATION_PARAMETERS)}")
    unexpected = set(state) - {"algo_type", "target_fn", "target_params"}
    target = state.get("target_fn")
    if unexpected or not isinstance(target, PickledGlobal) or SEGMENTATION_FUNCTIONS.get(target.name) != algorithm:
        raise _NotPlain(f"the SegmentationAlgorithm({algorithm!r}) was altered after it was made")
    parameters = state.get("target_params")
    if not isinstance(parameters, dict) or "algorithm" in parameters:
        raise _NotPlain(f"the SegmentationAlgorithm({algorithm!r}) has malformed parameters")
    return {"algorithm": algorithm, **{name: _plain(setting, notes) for name, setting in parameters.items()}}


def _plain_regressor(name: str, state: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """A regressor's state holds its constructor parameters, then what fitting learnt (ending in '_')
    and private bookkeeping (starting with '_'); only the parameters are kept."""
    fitted = sorted(key for key in state if key.endswith("_") and not key.startswith("_"))
    if fitted:
        notes.append(f"fitted state dropped from the {name} ({', '.join(fitted)}): the server fits a fresh one")
    parameters = {key: setting for key, setting in state.items() if not key.startswith("_") and not key.endswith("_")}
    for key, setting in CONSTRUCTOR_SET.get(name, {}).items():
        found = parameters.pop(key, setting)
        if type(found) is not type(setting) or found != setting:
            raise _NotPlain(f"the {name} was altered after it was made ({key} is not its parameter)")
    if "class" in parameters:
        raise _NotPlain(f"the {name} has malformed parameters")
    return {"class": name, **{key: _plain(setting, notes) for key, setting in parameters.items()}}
