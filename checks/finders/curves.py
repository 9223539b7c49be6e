"""Training curves a notebook plotted, told apart by what their legend (else their panel's title)
and y label say they are: each assignment names the kinds it asks for as text tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from checks.finders.figures import Axes, Figure, figure_place, missing_labels, plot_axes, survey
from checks.grading.check_api import CheckFailed

CurveKinds = dict[str, Callable[[str], bool]]
"""A kind of curve ("training loss") and the test of a line's lower-case words that says it is one."""


def curve_kinds(figure: Figure, axes: Axes, line: dict, kinds: CurveKinds) -> list[str]:
    """What a plotted line is, by its legend label, else by its panel's title; with the y label. A
    label that names no kind ("Training" in a panel titled "Loss") is read with the title too."""
    if len(line["y"]) < 2:
        return []
    label = line["label"] if line["label"] and not line["label"].startswith("_") else ""
    titles = f"{axes['title']} {figure['suptitle']}"
    for own in (label or titles, f"{label} {titles}"):
        text = f"{own} {axes['ylabel']}".lower()
        found = [kind for kind, matches in kinds.items() if matches(text)]
        if found:
            return found
    return []


@dataclass(frozen=True)
class Curves:
    found: dict[str, tuple[Figure, Axes]]  # each kind's first plot
    missing: list[str]
    unlabelled: list[str]  # kinds plotted on axes without x or y labels

    @property
    def complete(self) -> bool:
        return not self.missing and not self.unlabelled

    @property
    def problems(self) -> list[str]:
        return ([f"no {', no '.join(self.missing)} curve"] if self.missing else []) + (
            [f"unlabelled axes on the {', '.join(self.unlabelled)} plot"] if self.unlabelled else []
        )

    @property
    def fraction(self) -> float:
        """The share of the marks the curves found earn: a quarter less when axes are unlabelled."""
        return len(self.found) / (len(self.found) + len(self.missing)) * (0.75 if self.unlabelled else 1)

    def places(self) -> str:
        return ", ".join(f"{kind} in {figure_place(figure)}" for kind, (figure, _) in self.found.items())

    @property
    def figures(self) -> list[Figure]:
        """The figures the curves were found in, each once."""
        return list({id(figure): figure for figure, _ in self.found.values()}.values())


def find_curves(figures: list[Figure], kinds: CurveKinds) -> Curves:
    found: dict[str, tuple[Figure, Axes]] = {}
    for figure in figures:
        for axes in plot_axes(figure):
            for line in axes["lines"]:
                for kind in curve_kinds(figure, axes, line, kinds):
                    found.setdefault(kind, (figure, axes))
    missing = [kind for kind in kinds if kind not in found]
    unlabelled = sorted({kind for kind, (_, axes) in found.items() if missing_labels(axes, title=False)})
    return Curves(found, missing, unlabelled)


def require_curves(ctx, kinds: CurveKinds, expected: str) -> Curves:
    """The curves of every kind, cited for the report; a check fails with the share of the marks the
    curves found earn when some are missing or unlabelled."""
    curves = find_curves(ctx.figures, kinds)
    ctx.cite(*curves.figures)
    if not curves.complete:
        raise CheckFailed(
            "; ".join(curves.problems),
            expected=expected,
            found=curves.places() or f"no line plots of training; looked at {survey(ctx.figures)}",
            fraction=curves.fraction,
        )
    return curves
