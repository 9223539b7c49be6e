"""The numbers an assignment asks a student to state about their network (layer sizes, parameter
and neuron counts), read from a network's forward pass (``checks.probe.structure.describe``), so
that a student whose network differs from the prescribed one is judged on their own network."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

CONV = ("Conv2d",)
POOLING = ("MaxPool2d", "AvgPool2d")


@dataclass(frozen=True)
class NetworkNumbers:
    """What a notebook should state, and about which network (``basis``, for the messages)."""

    basis: str
    sizes: list[tuple[int, ...]]
    parameters: dict[str, int]  # "convolutional", "fully connected", "total"
    neurons: dict[str, dict[str, int]]  # per definition of a neuron: the same three counts


def own_numbers(description: dict[str, Any], basis: str, classes: int, definitions: tuple[str, str]) -> NetworkNumbers:
    """The numbers of the network ``description`` describes. Sizes are each convolution's input after
    the first and each convolution's or pooling's output (C, H, W), and each fully connected layer's
    width, the ``classes`` scores left out; neurons are counted under the two ``definitions``: one
    per convolution and fully connected output value, and the same with pooling outputs added."""
    layers = description["layers"]
    sizes: list[tuple[int, ...]] = []
    for position, layer in enumerate(layers):
        if layer["type"] in CONV and position and layer.get("input"):
            sizes.append(tuple(layer["input"][1:]))
        if layer["type"] in CONV + POOLING and layer.get("output"):
            sizes.append(tuple(layer["output"][1:]))
        if layer["type"] == "Linear":
            sizes.append((layer["out_features"],))
    distinct = {
        layer["name"] + str(layer["output"]): layer for layer in layers
    }.values()  # each layer once per output shape
    by_name = {layer["name"]: layer for layer in layers}.values()  # its parameters, once

    def total(kinds: tuple[str, ...], measure: Callable[[dict[str, Any]], int], among=distinct) -> int:
        return sum(measure(layer) for layer in among if layer["type"] in kinds)

    def values(layer: dict[str, Any]) -> int:
        return int(np.prod(layer["output"][1:]))

    conv = total(CONV, values)
    pooled = conv + total(POOLING, values)
    fc = total(("Linear",), lambda layer: layer["out_features"])
    outputs, with_pooling = definitions
    return NetworkNumbers(
        basis,
        [size for size in dict.fromkeys(sizes) if size != (classes,)],
        {
            "convolutional": total(CONV, lambda layer: layer["parameters"], by_name),
            "fully connected": total(("Linear",), lambda layer: layer["parameters"], by_name),
            "total": description["parameters"],
        },
        {
            outputs: {"convolutional": conv, "fully connected": fc, "total": conv + fc},
            with_pooling: {"convolutional": pooled, "fully connected": fc, "total": pooled + fc},
        },
    )
