"""Compare a model's layers (``checks.probe.structure.describe``) with a prescribed CNN, and say
exactly how it differs: filters, kernels, strides, padding, a missing pooling, layer sizes.

Pooling and activations written with torch.nn.functional have no module, so pooling is
judged from the spatial size each layer receives, which is what it changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ConvSpec:
    out_channels: int
    kernel: int
    stride: int
    padding: int
    input_size: int


@dataclass(frozen=True)
class PrescribedArchitecture:
    convs: tuple[ConvSpec, ...]
    hidden: tuple[int, ...]
    classes: int

    @property
    def flattened(self) -> int:
        """Features entering the first fully connected layer (channels x pooled size squared)."""
        last = self.convs[-1]
        return last.out_channels * (last.input_size // 2) ** 2


@dataclass
class Comparison:
    differences: list[str] = field(default_factory=list)
    batch_norm: bool = False
    layers: list[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return not self.differences


def _single(value: Any) -> int:
    return int(value[0]) if isinstance(value, list) else int(value)


def _spatial(shape: list[int] | None) -> int | None:
    return shape[-1] if shape and len(shape) == 4 else None


def describe_layer(layer: dict[str, Any]) -> str:
    kind = layer["type"]
    if kind == "Conv2d":
        text = (
            f"conv {layer['out_channels']} {_single(layer['kernel_size'])}x{_single(layer['kernel_size'])} "
            f"stride {_single(layer['stride'])} pad {_single(layer['padding'])}"
        )
    elif kind == "Linear":
        text = f"fc {layer['in_features']}->{layer['out_features']}"
    elif kind in ("MaxPool2d", "AvgPool2d"):
        text = f"{kind[:3].lower()}pool {_single(layer['kernel_size'])}x{_single(layer['kernel_size'])}"
    else:
        text = kind
    shape = layer.get("output")
    return f"{text} -> {tuple(shape[1:])}" if shape else text


def compare(description: dict[str, Any], prescribed: PrescribedArchitecture) -> Comparison:
    layers = description["layers"]
    convs = [layer for layer in layers if layer["type"] == "Conv2d"]
    linears = [layer for layer in layers if layer["type"] == "Linear"]
    result = Comparison(
        batch_norm=any(layer["type"].startswith("BatchNorm") for layer in layers),
        layers=[describe_layer(layer) for layer in layers],
    )
    problems = result.differences
    if len(convs) != len(prescribed.convs):
        problems.append(f"{len(convs)} convolution layer(s) instead of {len(prescribed.convs)}")
    for number, (layer, expected) in enumerate(zip(convs, prescribed.convs), start=1):
        found = ConvSpec(
            layer["out_channels"],
            _single(layer["kernel_size"]),
            _single(layer["stride"]),
            _single(layer["padding"]),
            _spatial(layer["input"]) or 0,
        )
        name = f"conv{number}"
        if found.out_channels != expected.out_channels:
            problems.append(f"{name} has {found.out_channels} filters instead of {expected.out_channels}")
        if found.kernel != expected.kernel:
            problems.append(
                f"{name} uses {found.kernel}x{found.kernel} kernels instead of {expected.kernel}x{expected.kernel}"
            )
        if found.stride != expected.stride:
            problems.append(f"{name} has stride {found.stride} instead of {expected.stride}")
        if found.padding != expected.padding:
            problems.append(f"{name} has padding {found.padding} instead of {expected.padding}")
        if found.input_size != expected.input_size and number > 1:
            problems.append(
                f"{name} receives {found.input_size}x{found.input_size} maps instead of "
                f"{expected.input_size}x{expected.input_size}: the 2x2 pooling before it is missing or different"
            )
    expected_linear = list(zip((prescribed.flattened, *prescribed.hidden), (*prescribed.hidden, prescribed.classes)))
    if len(linears) != len(expected_linear):
        problems.append(f"{len(linears)} fully connected layer(s) instead of {len(expected_linear)}")
    for number, (layer, (inputs, outputs)) in enumerate(zip(linears, expected_linear), start=1):
        name = f"fc{number}"
        if layer["in_features"] != inputs:
            reason = ""
            if number == 1 and convs:
                last = convs[-1]
                size = _spatial(last["output"]) or 0
                if layer["in_features"] == last["out_channels"] * size * size:
                    reason = ": the 2x2 pooling after the last convolution is missing"
            problems.append(f"{name} takes {layer['in_features']} inputs instead of {inputs}{reason}")
        if layer["out_features"] != outputs:
            problems.append(f"{name} has {layer['out_features']} outputs instead of {outputs}")
    outputs = description.get("outputs") or []
    if not any(shape and shape[-1] == prescribed.classes for shape in outputs):
        problems.append(f"the model's output has shape {outputs} rather than (N, {prescribed.classes})")
    return result
