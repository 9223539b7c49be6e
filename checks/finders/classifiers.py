"""Classifiers a notebook left in its kernel, found by what they compute rather than by name,
and used from the grader as ordinary modules.

A model is a classifier of an assignment's images (``InputSpec``: grey 1 x 28 x 28 digits,
3 x 224 x 224 photos, ...) when a forward pass gives (N, classes) scores, alone or in a tuple
such as ``(logits, softmax)``; its accuracy is measured under the input scaling (``ToTensor``
values, one mean and std, or one per channel) it works with. Each is exported from the kernel
as data and rebuilt here (``checks.engine.exported_model``), so its layers, its accuracy and its
predictions are computed where the student cannot reach: a forward pass that looks the
answer up cannot be exported. A model that cannot be exported is still used through the
kernel (``KernelClassifier``), its accuracy measured on test images with fresh noise the
kernel has never seen, and every reading says which way it was measured.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from checks.engine.call_errors import StudentCallError
from checks.engine.exported_model import ExportRefused, run_batched
from checks.engine.exported_model import describe as describe_rebuilt
from checks.engine.notebook import cell_number
from checks.engine.student import StudentProxy
from checks.finders.architecture import Comparison, PrescribedArchitecture, compare

MEASURED_HERE = "measured by the grader on its own copy of the model"
UNSEEN_NOISE = 0.02  # std of the noise on [0, 1] images that a model which cannot be exported is measured on


@dataclass(frozen=True)
class InputScaling:
    """How a notebook feeds images to its model, from ToTensor's [0, 1] scale: one mean and std for
    every channel, or one per channel (as ``transforms.Normalize`` takes them)."""

    name: str
    mean: float | tuple[float, ...]
    std: float | tuple[float, ...]

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` (N, C, H, W) or (C, H, W) as the model receives them."""
        if isinstance(self.mean, tuple) or isinstance(self.std, tuple):
            mean = torch.as_tensor(self.mean, dtype=images.dtype).reshape(-1, 1, 1)
            std = torch.as_tensor(self.std, dtype=images.dtype).reshape(-1, 1, 1)
            return (images - mean) / std
        return (images - self.mean) / self.std


TO_TENSOR = InputScaling("ToTensor's [0, 1]", 0.0, 1.0)
MNIST_NORMALISED = InputScaling("normalised with mean 0.1307, std 0.3081", 0.1307, 0.3081)
MINUS_ONE_TO_ONE = InputScaling("normalised to [-1, 1]", 0.5, 0.5)
IMAGENET_NORMALISED = InputScaling(
    "normalised with ImageNet's per-channel mean and std", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
)  # what torchvision's pretrained models expect
SCALINGS = (TO_TENSOR, MNIST_NORMALISED, MINUS_ONE_TO_ONE, InputScaling("pixel values 0-255", 0.0, 1 / 255))
"""The ways MNIST notebooks feed their models, the plainest first."""
AS_GIVEN = InputScaling("as given", 0.0, 1.0)
"""For images already scaled as the model takes them (a suite's own normalised set, drawn inputs)."""


@dataclass(frozen=True)
class InputSpec:
    """What an assignment's classifiers take and give: one image's (C, H, W), the number of classes,
    and the input scalings a notebook may use, in the order tried (with ``ScalingChoice``'s margin,
    an earlier one is kept unless a later one is clearly better)."""

    shape: tuple[int, int, int] = (1, 28, 28)
    classes: int = 10
    scalings: tuple[InputScaling, ...] = SCALINGS
    single_score: bool = False  # a two-class model may give one score per image (see ``class_scores``)

    def batch(self, size: int) -> tuple[int, ...]:
        """The shape of a batch of ``size`` images."""
        return (size, *self.shape)

    def gives_scores(self, shape: list[int], batch: int) -> bool:
        """Whether an output of ``shape`` for ``batch`` images holds one score per class (or the one score)."""
        single = self.single_score and self.classes == 2 and shape in ([batch, 1], [batch])
        return shape == [batch, self.classes] or single


MNIST_INPUT = InputSpec()


def measured_in_kernel(refused: str | None) -> str:
    """How a model that could not be exported was measured, for its reading."""
    return (
        f"measured in the notebook's kernel on test images with fresh noise it has never seen, since the "
        f"model could not be exported ({refused})"
    )


@dataclass(frozen=True)
class FoundModel:
    name: str
    type: str
    description: dict[str, Any]
    comparison: Comparison | None  # with the prescribed architecture, when the assignment prescribes one
    rebuilt: nn.Module | None = None
    refused: str | None = None  # why the model could not be exported, when it could not
    spec: InputSpec = MNIST_INPUT  # the inputs it was found to classify
    as_of_cell: int | None = None  # the cell whose snapshot of the weights was measured (None: as left at the end)

    @property
    def where(self) -> str:
        """Where the grader found the model, for a TA to check its reading."""
        return f"`{self.name}` ({self.type}, {self.description['parameters']:,} parameters)"

    @property
    def measured_how(self) -> str:
        if self.rebuilt is None:
            return measured_in_kernel(self.refused)
        if self.as_of_cell is None:
            return MEASURED_HERE
        return f"{MEASURED_HERE}, with the weights it had after {cell_number(self.as_of_cell)}"


def find_classifiers(
    student: StudentProxy,
    spec: InputSpec = MNIST_INPUT,
    prescribed: PrescribedArchitecture | None = None,
    batch: int = 2,
    as_of_cell: int | None = None,
) -> list[FoundModel]:
    """Every module in the namespace that maps a batch of ``spec.shape`` images to ``spec.classes``
    scores (alone or in a tuple such as ``(logits, softmax)``); an object bound to several names is
    reported once, under its first name. Layers are read from the grader's copy of the model, or
    from the kernel when it cannot be exported, and compared with ``prescribed`` when given. With
    ``as_of_cell``, the grader's copy has the weights the model had at the end of that cell, so a
    later cell that changed them does not count against the task that trained it."""
    input_shape = spec.batch(batch)
    found, seen = [], set()
    for item in student.find("torch.nn.Module"):
        if item["identity"] in seen:
            continue
        rebuilt, refused, snapshot = None, None, None
        try:
            rebuilt, snapshot = student.export_as_of(item["name"], input_shape, as_of_cell)
            description = describe_rebuilt(rebuilt, input_shape)
        except ExportRefused as error:
            refused = str(error)
            try:
                description = student.describe(item["name"], input_shape)
            except StudentCallError:
                continue
        if any(spec.gives_scores(shape, batch) for shape in description["outputs"]):
            seen.add(item["identity"])
            comparison = compare(description, prescribed) if prescribed is not None else None
            found.append(
                FoundModel(
                    item["name"],
                    item["type"],
                    description,
                    comparison,
                    rebuilt,
                    refused,
                    spec,
                    snapshot,
                )
            )
    return found


def ends_in_sigmoid(model: nn.Module) -> bool | None:
    """Whether a rebuilt model's output is a sigmoid (its one score a probability); None when the
    model is no graph the grader can read (a model called in the kernel)."""
    if not isinstance(model, torch.fx.GraphModule):
        return None
    modules = dict(model.named_modules())
    output = next(node for node in model.graph.nodes if node.op == "output")
    last = output.args[0]
    while isinstance(last, torch.fx.Node) and _reshapes(last, modules) and last.args:
        last = last.args[0]
    if not isinstance(last, torch.fx.Node):
        return False
    return (
        (last.op == "call_function" and last.target in (torch.sigmoid, torch.nn.functional.sigmoid))
        or (last.op == "call_method" and last.target == "sigmoid")
        or (last.op == "call_module" and isinstance(modules.get(str(last.target)), nn.Sigmoid))
    )


RESHAPES = {"squeeze", "unsqueeze", "view", "reshape", "flatten", "contiguous", "float", "to"}


def _reshapes(node: torch.fx.Node, modules: dict[str, nn.Module]) -> bool:
    """Whether a graph node only reshapes (or indexes) the value it is given, so a sigmoid before it
    still makes the model's output a probability."""
    if node.op == "call_method":
        return node.target in RESHAPES
    if node.op == "call_function":
        name = getattr(node.target, "__name__", "")
        return name in RESHAPES or name == "getitem"
    return node.op == "call_module" and isinstance(modules.get(str(node.target)), (nn.Flatten, nn.Identity))


def _two_class_logits(score: torch.Tensor, probability: bool | None) -> torch.Tensor:
    """One score per image as the logits of two classes: a probability of class 1 when the model
    ends in a sigmoid (``probability``; None: unknown, then when every score of the batch lies in
    [0, 1]), else the logit z of class 1, split as (-z / 2, z / 2) so that softmax gives sigmoid(z)
    and each class's score moves with z (a gradient method explaining class 0 follows -z, as
    pytorch-grad-cam's binary target does)."""
    score = score.to(torch.float32).reshape(-1)
    if probability is None:
        probability = bool(len(score)) and float(score.detach().min()) >= 0 and float(score.detach().max()) <= 1
    if probability:
        probability = score.clamp(1e-12, 1 - 1e-12)
        return torch.stack([(1 - probability).log(), probability.log()], dim=1)
    return torch.stack([-score / 2, score / 2], dim=1)


def class_scores(output: Any, classes: int, probability: bool | None = None) -> torch.Tensor:
    """The scores of ``logits_of``, detached: what measuring accuracy needs."""
    return logits_of(output, classes, probability).detach()


def logits_of(output: Any, classes: int, probability: bool | None = None) -> torch.Tensor:
    """The (N, classes) tensor among what a forward returned, as logits (differentiable): probabilities
    (a softmax at the end of the model) become their logarithms, which softmax maps back. A
    two-class model's single score per image ((N, 1) or (N,)) becomes two logits."""
    candidates = (
        [output] if isinstance(output, torch.Tensor) else list(output.values() if isinstance(output, dict) else output)
    )
    tensors = [item for item in candidates if isinstance(item, torch.Tensor)]
    scores = next((item for item in tensors if item.ndim == 2 and item.shape[1] == classes), None)
    if scores is None:
        single = next(item for item in tensors if classes == 2 and (item.ndim == 1 or item.shape[1:] == (1,)))
        return _two_class_logits(single, probability)
    scores = scores.to(torch.float32)
    values = scores.detach()
    if float(values.min()) >= 0 and torch.allclose(values.sum(dim=1), torch.ones(len(values)), atol=1e-3):
        return scores.clamp_min(1e-12).log()
    return scores


class KernelClassifier(nn.Module):
    """A student's model that could not be exported, called in its kernel (put in eval mode there):
    takes images in ``scaling``'s source values, returns logits."""

    def __init__(
        self, student: StudentProxy, name: str, scaling: InputScaling, classes: int = 10, batch_size: int = 2500
    ) -> None:
        super().__init__()
        self.student, self.model_name, self.scaling = student, name, scaling
        self.classes, self.batch_size = classes, batch_size
        student.run(f"{name}.eval()", label=f"{name}.eval()")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        scores = [
            class_scores(self.student.call(self.model_name, self.scaling.apply(chunk)).result, self.classes)
            for chunk in images.split(self.batch_size)
        ]
        return torch.cat(scores)


class RebuiltClassifier(nn.Module):
    """The grader's copy of a student's model: takes [0, 1] images, returns logits; run in the
    batches its rebuild measured, within the submission's grading time."""

    def __init__(self, student: StudentProxy, model: nn.Module, scaling: InputScaling, classes: int = 10) -> None:
        super().__init__()
        self.student, self.model, self.scaling, self.classes = student, model.eval(), scaling, classes
        self.probability = ends_in_sigmoid(model)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return run_batched(
            self.model,
            self.scaling.apply(images),
            lambda output: class_scores(output, self.classes, self.probability),
            self.student.session.ensure_time,
        )


class DifferentiableClassifier(nn.Module):
    """The grader's copy of a student's model for gradient methods (Grad-CAM, FGSM): takes [0, 1]
    images, returns (N, classes) logits through ``logits_of``, gradients intact. Its layers are the
    rebuilt model's, under ``model``."""

    def __init__(self, model: nn.Module, scaling: InputScaling, classes: int) -> None:
        super().__init__()
        self.model, self.scaling, self.classes = model.eval(), scaling, classes
        self.probability = ends_in_sigmoid(model)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return logits_of(self.model(self.scaling.apply(images)), self.classes, self.probability)


def classifier_of(student: StudentProxy, model: FoundModel, scaling: InputScaling) -> nn.Module:
    """The model as an nn.Module of images in ``scaling``'s source values (ToTensor's [0, 1], or
    as given with ``AS_GIVEN``): the grader's copy when there is one."""
    if model.rebuilt is not None:
        return RebuiltClassifier(student, model.rebuilt, scaling, model.spec.classes)
    return KernelClassifier(student, model.name, scaling, model.spec.classes)


def correct_predictions(classifier: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Which images the classifier gets right, as booleans."""
    with torch.no_grad():
        return classifier(images).argmax(dim=1) == labels


def correct_fraction(classifier: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    return float(correct_predictions(classifier, images, labels).float().mean())


def unseen(images: torch.Tensor) -> torch.Tensor:
    """The images with noise drawn afresh for this grading, so the kernel cannot have stored
    answers for them; a trained classifier barely notices noise of this size."""
    generator = torch.Generator().manual_seed(int.from_bytes(os.urandom(8), "little"))
    return (images + UNSEEN_NOISE * torch.randn(images.shape, generator=generator)).clamp(0, 1)


SCALING_MARGIN = 0.01  # a later scaling must beat an earlier one by this much on the probe
SCALING_SIGNIFICANCE = 3.0  # ... and by this many standard errors of chance (one-sided p about 0.001)
PROBE_IMAGES = 2000


@dataclass(frozen=True)
class ScalingChoice:
    """How the scaling a model works with is chosen: on the first ``probe`` images (None: on all of
    them, and that measurement is the result), a later scaling when it reaches ``enough`` (the best so
    far does not, or no further scaling is tried) or beats the best so far by more than ``margin`` and by
    more than chance."""

    probe: int | None = PROBE_IMAGES
    margin: float = SCALING_MARGIN
    enough: float | None = None
    significance: float = SCALING_SIGNIFICANCE

    def reaches(self, right: torch.Tensor) -> bool:
        return self.enough is not None and float(right.float().mean()) >= self.enough

    def prefers(self, candidate: torch.Tensor, current: torch.Tensor) -> bool:
        """Whether the scaling that gets ``candidate`` right beats the one that gets ``current`` right.
        Chance is judged on the images the two disagree on (McNemar's test): a weak model's
        predictions under a wrong scaling can score a point or two higher on 300 images by luck, and
        every check after would then feed the model what it was never trained on."""
        gained = int((candidate & ~current).sum())
        lost = int((current & ~candidate).sum())
        lead = gained - lost
        return lead > self.margin * len(current) and lead > self.significance * math.sqrt(gained + lost)


def measure_accuracy(
    student: StudentProxy,
    model: FoundModel,
    images: torch.Tensor,
    labels: torch.Tensor,
    choice: ScalingChoice = ScalingChoice(),
) -> tuple[InputScaling, float]:
    """The model's accuracy on ``images`` ([0, 1] scale) under the input scaling of its spec it works
    with (see ``ScalingChoice``); measured in eval mode, on the grader's copy of the model or else on
    unseen images."""
    if model.rebuilt is None:
        images = unseen(images)
    probe = len(labels) if choice.probe is None else choice.probe

    def right_with(scaling: InputScaling, count: int) -> torch.Tensor:
        return correct_predictions(classifier_of(student, model, scaling), images[:count], labels[:count])

    def fraction(right: torch.Tensor) -> float:
        return float(right.float().mean())

    scalings = model.spec.scalings
    chosen, best = scalings[0], right_with(scalings[0], probe)
    for scaling in scalings[1:]:
        if choice.reaches(best):
            break
        right = right_with(scaling, probe)
        if choice.reaches(right) or choice.prefers(right, best):
            chosen, best = scaling, right
    return chosen, fraction(best if choice.probe is None else right_with(chosen, len(labels)))


@dataclass(frozen=True)
class Measured:
    model: FoundModel
    scaling: InputScaling
    accuracy: float

    @property
    def where(self) -> str:
        return f"{self.model.where}, inputs {self.scaling.name}"


def measure_classifiers(
    student: StudentProxy,
    models: list[FoundModel],
    images: torch.Tensor,
    labels: torch.Tensor,
    choice: ScalingChoice = ScalingChoice(),
) -> list[Measured]:
    """Every model's accuracy on ``images`` ([0, 1] scale) under its own scaling, best first (the
    first found among equals)."""
    results = [Measured(model, *measure_accuracy(student, model, images, labels, choice)) for model in models]
    return sorted(results, key=lambda item: -item.accuracy)


def weights_changed_after(events: list[dict[str, Any]], name: str, cell: int) -> list[int]:
    """The notebook cells after ``cell`` that changed the weights of the model named ``name``, as the
    kernel's log says: words for a report, never a measurement."""
    return [
        event["cell"]
        for event in events
        if event["kind"] == "weights_changed"
        and event["model"] == name
        and isinstance(event["cell"], int)
        and event["cell"] > cell
    ]
