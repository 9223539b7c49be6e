"""FGSM in a cats-vs-dogs notebook: the epsilons it printed an accuracy for, each recomputed by the
grader with the reference FGSM on the student's model and test images; when a number disagrees,
the mistakes students make (the sign subtracted, no clamping, the model left in training mode,
epsilon applied to normalised pixels) are recomputed too and the one that gives the number named;
and the adversarial images it showed for each epsilon."""

from __future__ import annotations

import re
from dataclasses import dataclass

from checks.finders.classifiers import AS_GIVEN, DifferentiableClassifier
from checks.finders.figures import Figure, plot_axes, plot_title
from reference.catsdogs_xai import fgsm_accuracy

from .findings import (
    MAX_RECOMPUTED,
    PrintedLine,
    accuracy_in,
    axes_arrays,
    best_model,
    grader_batch,
    gradient_model,
    printed_lines,
    test_images,
    within_time,
)

EPSILON_WORDS = re.compile(r"eps|ε|fgsm|adversar", re.IGNORECASE)
EPSILON = re.compile(
    r"(?<![a-z])(?:eps(?:ilon)?|ε)\s*[=:]?\s*(?:(\d+)\s*/\s*(\d+)(?![\d.])|(\d*\.?\d+(?:e-?\d+)?))", re.IGNORECASE
)
TOLERANCE = 0.005  # eval mode is deterministic and the images are the notebook's own: only rounding differs
EPSILONS_ASKED = 3


@dataclass(frozen=True)
class StatedAttack:
    line: PrintedLine
    epsilon: float
    accuracy: float


def _epsilon(text: str) -> float | None:
    """The epsilon a line or title states: a number, or a fraction such as 8/255."""
    match = EPSILON.search(text)
    if match is None:
        return None
    numerator, denominator, number = match.groups()
    try:
        return int(numerator) / int(denominator) if denominator and int(denominator) else float(number)
    except (TypeError, ValueError):
        return None


def stated_attacks(ctx) -> list[StatedAttack]:
    """The last accuracy printed for each epsilon above zero (zero is the clean accuracy)."""

    def read() -> dict[float, StatedAttack]:
        attacks: dict[float, StatedAttack] = {}
        for line in printed_lines(ctx, EPSILON_WORDS):
            epsilon, accuracy = _epsilon(line.text), accuracy_in(line.text)
            if epsilon and accuracy is not None:
                attacks[epsilon] = StatedAttack(line, epsilon, accuracy)
        return attacks

    return sorted(ctx.remember("stated_attacks", read).values(), key=lambda attack: attack.epsilon)


@dataclass(frozen=True)
class Recomputed:
    attack: StatedAttack
    accuracy: float  # the reference FGSM's, on [0, 1] pixels, clamped, model in eval mode
    mistake: str | None = None  # the variant that gives the stated number, when the reference does not
    mistaken_accuracy: float | None = None

    @property
    def agrees(self) -> bool:
        return abs(self.accuracy - self.attack.accuracy) <= TOLERANCE


def _mistakes(ctx, epsilon: float) -> list[tuple[str, float]]:
    model = gradient_model(ctx)
    test = test_images(ctx)
    found = [
        ("the sign subtracted (x - eps * sign(grad)): a step that lowers the loss", {"subtract": True}),
        ("no clamping to the valid pixel range [0, 1]", {"bounds": None}),
        ("the model left in training mode (dropout or batch norm active)", {"train_mode": True}),
    ]
    readings = []
    for name, options in found:
        within_time(ctx)
        readings.append(
            (name, fgsm_accuracy(model, test.images, test.labels, epsilon, batch_size=grader_batch(ctx), **options))
        )
    scaling = best_model(ctx).scaling
    if scaling.mean != 0.0 or scaling.std != 1.0:
        normalised = DifferentiableClassifier(model.model, AS_GIVEN, model.classes)
        inputs = scaling.apply(test.images)
        readings.append(
            (
                f"epsilon applied to the normalised pixels ({scaling.name}), not to [0, 1] pixels",
                fgsm_accuracy(normalised, inputs, test.labels, epsilon, bounds=None, batch_size=grader_batch(ctx)),
            )
        )
    return readings


def recompute(ctx, attack: StatedAttack) -> Recomputed:
    model = gradient_model(ctx)
    test = test_images(ctx)
    within_time(ctx)
    reading = Recomputed(
        attack, fgsm_accuracy(model, test.images, test.labels, attack.epsilon, batch_size=grader_batch(ctx))
    )
    if reading.agrees:
        return reading
    mistake, accuracy = min(_mistakes(ctx, attack.epsilon), key=lambda item: abs(item[1] - attack.accuracy))
    if abs(accuracy - attack.accuracy) <= TOLERANCE:
        return Recomputed(attack, reading.accuracy, mistake, accuracy)
    return reading


def unread_lines(ctx) -> list[PrintedLine]:
    """Lines about FGSM that state no epsilon with an accuracy the grader could read."""
    return [line for line in printed_lines(ctx, EPSILON_WORDS) if not (_epsilon(line.text) and accuracy_in(line.text))]


def recomputed(ctx) -> list[Recomputed]:
    return ctx.remember(
        "attacks_recomputed", lambda: [recompute(ctx, attack) for attack in stated_attacks(ctx)[:MAX_RECOMPUTED]]
    )


def shown_epsilons(ctx) -> dict[float, Figure]:
    """The epsilons named in the titles of panels that show colour images, each with its figure."""
    shown: dict[float, Figure] = {}
    for figure in ctx.figures:
        for axes in plot_axes(figure):
            title = " ".join(part for part in (plot_title(axes, figure), figure["suptitle"]) if part)
            epsilon = _epsilon(title)
            if epsilon and any(array.ndim == 3 for array in axes_arrays(ctx, axes)):
                shown.setdefault(epsilon, figure)
    return shown
