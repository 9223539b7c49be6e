"""What an exported model may contain: the layers, functions and methods of student CNNs.

Shared by the probe's exporter (to refuse early, with a reason a TA can read) and the
grader's rebuild (which is the real gate and gives each name its meaning). Only names
live here, plain data: each side resolves them against its own torch.
"""

from __future__ import annotations

import importlib
from typing import Any

CONVOLUTION = {
    "in_channels": "count",
    "out_channels": "count",
    "kernel_size": "window",
    "stride": "window",
    "padding": "conv_padding",
    "dilation": "window",
    "groups": "count",
    "bias": "flag",
    "padding_mode": "padding_mode",
}
MAX_POOL = {
    "kernel_size": "window",
    "stride": "optional_window",
    "padding": "pool_padding",
    "dilation": "window",
    "return_indices": "false",
    "ceil_mode": "flag",
}
# Layer type -> constructor argument -> the rule its value must follow (see checks.engine.exported_model).
LAYERS: dict[str, dict[str, str]] = {
    "Conv1d": CONVOLUTION,
    "Conv2d": CONVOLUTION,
    "Linear": {"in_features": "count", "out_features": "count", "bias": "flag"},
    "BatchNorm1d": {
        "num_features": "count",
        "eps": "epsilon",
        "momentum": "momentum",
        "affine": "flag",
        "track_running_stats": "flag",
    },
    "BatchNorm2d": {
        "num_features": "count",
        "eps": "epsilon",
        "momentum": "momentum",
        "affine": "flag",
        "track_running_stats": "flag",
    },
    "LayerNorm": {"normalized_shape": "shape", "eps": "epsilon", "elementwise_affine": "flag", "bias": "flag"},
    "GroupNorm": {"num_groups": "count", "num_channels": "count", "eps": "epsilon", "affine": "flag"},
    "ReLU": {"inplace": "flag"},
    "ReLU6": {"inplace": "flag"},
    "LeakyReLU": {"negative_slope": "number", "inplace": "flag"},
    "ELU": {"alpha": "number", "inplace": "flag"},
    "SELU": {"inplace": "flag"},
    "GELU": {"approximate": "approximate"},
    "SiLU": {"inplace": "flag"},
    "Mish": {"inplace": "flag"},
    "PReLU": {"num_parameters": "count"},
    "Softplus": {"beta": "number", "threshold": "number"},
    "Sigmoid": {},
    "Tanh": {},
    "Softmax": {"dim": "optional_dim"},
    "LogSoftmax": {"dim": "optional_dim"},
    "MaxPool1d": MAX_POOL,
    "MaxPool2d": MAX_POOL,
    "AvgPool1d": {
        "kernel_size": "window",
        "stride": "optional_window",
        "padding": "pool_padding",
        "ceil_mode": "flag",
        "count_include_pad": "flag",
    },
    "AvgPool2d": {
        "kernel_size": "window",
        "stride": "optional_window",
        "padding": "pool_padding",
        "ceil_mode": "flag",
        "count_include_pad": "flag",
        "divisor_override": "optional_count",
    },
    "AdaptiveAvgPool1d": {"output_size": "output_size"},
    "AdaptiveAvgPool2d": {"output_size": "output_size"},
    "AdaptiveMaxPool2d": {"output_size": "output_size", "return_indices": "false"},
    "Dropout": {"p": "fraction", "inplace": "flag"},
    "Dropout1d": {"p": "fraction", "inplace": "flag"},
    "Dropout2d": {"p": "fraction", "inplace": "flag"},
    "Flatten": {"start_dim": "dim", "end_dim": "dim"},
    "Identity": {},
}

FUNCTIONS: tuple[str, ...] = (
    "torch.relu",
    "torch.sigmoid",
    "torch.tanh",
    "torch.softmax",
    "torch.log_softmax",
    "torch.flatten",
    "torch.cat",
    "torch.stack",
    "torch.add",
    "torch.sub",
    "torch.mul",
    "torch.div",
    "torch.matmul",
    "torch.mean",
    "torch.sum",
    "torch.amax",
    "torch.max",
    "torch.squeeze",
    "torch.unsqueeze",
    "torch.reshape",
    "torch.transpose",
    "torch.permute",
    "torch.clamp",
    "torch.exp",
    "torch.log",
    "torch.sqrt",
    "torch.abs",
    "torch.neg",
    "torch.max_pool1d",
    "torch.max_pool2d",
    "torch.avg_pool1d",
    "torch.adaptive_avg_pool1d",
    "torch.conv1d",
    "torch.conv2d",
    "torch.nn.functional.relu",
    "torch.nn.functional.relu6",
    "torch.nn.functional.leaky_relu",
    "torch.nn.functional.elu",
    "torch.nn.functional.selu",
    "torch.nn.functional.gelu",
    "torch.nn.functional.silu",
    "torch.nn.functional.mish",
    "torch.nn.functional.sigmoid",
    "torch.nn.functional.tanh",
    "torch.nn.functional.softplus",
    "torch.nn.functional.softmax",
    "torch.nn.functional.log_softmax",
    "torch.nn.functional.max_pool1d",
    "torch.nn.functional.max_pool2d",
    "torch.nn.functional.avg_pool1d",
    "torch.nn.functional.avg_pool2d",
    "torch.nn.functional.adaptive_avg_pool1d",
    "torch.nn.functional.adaptive_avg_pool2d",
    "torch.nn.functional.adaptive_max_pool2d",
    "torch.nn.functional.dropout",
    "torch.nn.functional.dropout1d",
    "torch.nn.functional.dropout2d",
    "torch.nn.functional.linear",
    "torch.nn.functional.conv1d",
    "torch.nn.functional.conv2d",
    "torch.nn.functional.normalize",
    "operator.add",
    "operator.sub",
    "operator.mul",
    "operator.truediv",
    "operator.floordiv",
    "operator.neg",
    "operator.matmul",
    "operator.getitem",
    "builtins.getattr",
)

METHODS: frozenset[str] = frozenset(
    {
        "view",
        "reshape",
        "flatten",
        "size",
        "dim",
        "relu",
        "sigmoid",
        "tanh",
        "softmax",
        "log_softmax",
        "squeeze",
        "unsqueeze",
        "contiguous",
        "permute",
        "transpose",
        "t",
        "mean",
        "sum",
        "max",
        "amax",
        "add",
        "sub",
        "mul",
        "div",
        "matmul",
        "exp",
        "log",
        "clamp",
        "abs",
        "neg",
        "float",
        "detach",
        "clone",
        "view_as",
        "reshape_as",
        "expand_as",
        "type_as",
        "chunk",
        "split",
        "unbind",
    }
)

# The tensor attributes a forward may read with ``x.shape`` style access (traced as getattr).
TENSOR_ATTRIBUTES: frozenset[str] = frozenset({"shape", "ndim", "dtype"})

DTYPES: frozenset[str] = frozenset({"float16", "bfloat16", "float32", "float64", "int64", "int32", "bool"})

MAX_STATE_VALUES = 64_000_000
MAX_NODES = 2_000


def resolve(qualified: str) -> Any:
    """The object an allow-listed name stands for, e.g. ``torch.nn.functional.max_pool2d``."""
    module, _, name = qualified.rpartition(".")
    return getattr(importlib.import_module(module), name)
