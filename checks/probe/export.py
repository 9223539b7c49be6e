"""A student's model as data: its traced graph, the constructor arguments of its layers, and
its weights, so the grader can rebuild and run it outside the kernel.

The grader never runs the student's forward: it rebuilds this description from its own
allow-list (``allowed``). Tracing here is the student's code running in their own kernel;
refusals say why in words a TA can pass on. Imports nothing from the grader.
"""

from __future__ import annotations

import builtins
import inspect
import operator
from typing import Any

import numpy as np
import torch
from torch import fx, nn

from .allowed import DTYPES, FUNCTIONS, LAYERS, MAX_NODES, MAX_STATE_VALUES, METHODS, TENSOR_ATTRIBUTES, resolve

NODE, SLICE, DTYPE, ELLIPSIS = "$node", "$slice", "$dtype", "$ellipsis"
# Checks fx adds for forward arguments fixed to their defaults; not part of the model.
_GUARDS = (operator.eq, torch._assert, fx._symbolic_trace._assert_is_none)


class ExportError(ValueError):
    """The model cannot be described as allow-listed layers and functions; the message says why."""


def _function_names() -> dict[int, str]:
    """Allowed callables by identity: torch wraps some (F.max_pool2d is a boolean_dispatch), so
    their ``__module__``/``__name__`` do not always say which public name they are."""
    return {id(resolve(name)): name for name in FUNCTIONS}


def _qualified_name(function: Any) -> str:
    """A readable name for a function off the list: the public one where torch has it."""
    name = getattr(function, "__name__", None)
    for prefix, namespace in (
        ("torch", torch),
        ("torch.nn.functional", nn.functional),
        ("operator", operator),
        ("builtins", builtins),
    ):
        if name and getattr(namespace, name, None) is function:
            return f"{prefix}.{name}"
    module = getattr(function, "__module__", None) or type(function).__module__
    return f"{module}.{getattr(function, '__qualname__', name or repr(function))}"


def _argument(value: Any, where: str) -> Any:
    if isinstance(value, fx.Node):
        return {NODE: value.name}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (tuple, list)):
        items = [_argument(item, where) for item in value]
        return items if type(value) is list else tuple(items)
    if isinstance(value, slice):
        return {SLICE: [_argument(part, where) for part in (value.start, value.stop, value.step)]}
    if value is Ellipsis:
        return {ELLIPSIS: True}
    if isinstance(value, torch.dtype):
        name = str(value).removeprefix("torch.")
        if name in DTYPES:
            return {DTYPE: name}
    if isinstance(value, dict) and all(isinstance(key, str) and not key.startswith("$") for key in value):
        return {key: _argument(item, where) for key, item in value.items()}
    raise ExportError(
        f"{where} is given a {type(value).__name__} constant ({repr(value)[:80]}), which the grader cannot rebuild"
    )


def _trace(module: nn.Module) -> fx.GraphModule:
    """Trace ``forward`` with any defaulted arguments fixed to their defaults."""
    parameters = list(inspect.signature(module.forward).parameters.values())
    extra = [p for p in parameters[1:] if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if not parameters or any(p.default is p.empty for p in extra):
        raise ExportError("forward must take exactly one input (other arguments need defaults)")
    try:
        traced = fx.symbolic_trace(module, concrete_args={p.name: p.default for p in extra} or None)
    except Exception as error:
        raise ExportError(
            f"the model's forward cannot be traced as a fixed graph ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}); forward must not branch or loop on tensor "
            "values, call .item()/.tolist()/len(), or use non-PyTorch code on the input"
        ) from error
    _drop_fixed_arguments(traced.graph)
    traced.recompile()
    return traced


def _drop_fixed_arguments(graph: fx.Graph) -> None:
    """Remove the placeholders fx keeps for arguments fixed to their defaults, and its guards on them."""
    fixed = [node for node in graph.nodes if node.op == "placeholder"][1:]
    reached, guards = set(fixed), []
    for node in graph.nodes:
        if node not in reached and any(source in reached for source in node.all_input_nodes):
            if node.op != "call_function" or node.target not in _GUARDS:
                raise ExportError("forward uses one of its extra arguments beyond its default value")
            reached.add(node)
            guards.append(node)
    for node in [*reversed(guards), *fixed]:
        graph.erase_node(node)


def _same(expected: Any, found: Any) -> bool:
    if isinstance(expected, torch.Tensor):
        return (
            isinstance(found, torch.Tensor)
            and expected.shape == found.shape
            and torch.allclose(expected.float(), found.float(), rtol=1e-4, atol=1e-5, equal_nan=True)
        )
    if isinstance(expected, (tuple, list)):
        return (
            isinstance(found, (tuple, list))
            and len(expected) == len(found)
            and all(_same(a, b) for a, b in zip(expected, found))
        )
    if isinstance(expected, dict):
        return (
            isinstance(found, dict)
            and expected.keys() == found.keys()
            and all(_same(expected[key], found[key]) for key in expected)
        )
    return expected == found


def _check_trace(module: nn.Module, traced: fx.GraphModule, input_shape: tuple[int, ...]) -> None:
    """The graph must compute what ``forward`` computes: a trace misses e.g. randomness or
    behaviour fixed by a value seen while tracing. A few images of the batch are enough."""
    device = next(iter(module.parameters()), torch.empty(0)).device
    generator = torch.Generator().manual_seed(0)
    sample = torch.randn((min(input_shape[0], 4), *input_shape[1:]), generator=generator).to(device)
    with torch.no_grad():
        try:
            expected = module(sample)
        except Exception as error:
            raise ExportError(
                f"the model fails on a {tuple(sample.shape)} input: {type(error).__name__}: {error}"
            ) from error
        found = traced(sample)
    if not _same(expected, found):
        raise ExportError(
            "the traced graph does not reproduce the model's forward on a test input "
            "(does forward draw random numbers or depend on state outside the model?)"
        )


def _layer(module: nn.Module, path: str) -> dict[str, Any]:
    kind = type(module).__name__
    if kind not in LAYERS or type(module) is not getattr(nn, kind, None):
        raise ExportError(
            f"layer {path!r} is a {type(module).__module__}.{type(module).__qualname__}, "
            f"not one of the layers the grader can rebuild ({', '.join(sorted(LAYERS))})"
        )
    arguments = {}
    for name in LAYERS[kind]:
        value = getattr(module, name)
        arguments[name] = value is not None if name == "bias" else _argument(value, f"layer {path!r}")
    return {"type": kind, "kwargs": arguments}


def _node(node: fx.Node, names: dict[int, str]) -> dict[str, Any]:
    target = node.target
    if node.op == "call_function":
        target = names.get(id(node.target))
        if target is None:
            raise ExportError(
                f"forward calls {_qualified_name(node.target)}, which is not among the functions the grader can rebuild"
            )
        if target == "builtins.getattr" and node.args[1] not in TENSOR_ATTRIBUTES:
            raise ExportError(
                f"forward reads the tensor attribute {node.args[1]!r}; only "
                f"{', '.join(sorted(TENSOR_ATTRIBUTES))} can be rebuilt"
            )
    elif node.op == "call_method" and target not in METHODS:
        raise ExportError(f"forward calls the tensor method .{target}(), which the grader cannot rebuild")
    where = f"{node.op} {target}"
    return {
        "name": node.name,
        "op": node.op,
        "target": str(target),
        "args": [_argument(arg, where) for arg in node.args],
        "kwargs": {key: _argument(value, where) for key, value in node.kwargs.items()},
    }


def _state(
    traced: fx.GraphModule, graph: fx.Graph, weights: dict[str, torch.Tensor] | None
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            for key, value in traced.get_submodule(node.target).state_dict().items():
                tensors[f"{node.target}.{key}"] = value.detach().clone().cpu()
    attributes = {}
    for node in graph.nodes:
        if node.op != "get_attr" or node.target in tensors:
            continue
        value = operator.attrgetter(node.target)(traced)
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise ExportError(
                f"forward reads {node.target!r}, a {type(value).__name__} "
                f"{getattr(value, 'dtype', '')}; only floating-point tensors can be rebuilt"
            )
        tensors[node.target] = value.detach().clone().cpu()
        attributes[node.target] = {"parameter": isinstance(value, nn.Parameter)}
    if weights is not None:
        tensors = {key: _earlier(key, tensor, weights) for key, tensor in tensors.items()}
    values = sum(tensor.numel() for tensor in tensors.values())
    if values > MAX_STATE_VALUES:
        raise ExportError(f"the model holds {values:,} values; the grader rebuilds at most {MAX_STATE_VALUES:,}")
    return tensors, attributes


def _earlier(key: str, current: torch.Tensor, weights: dict[str, torch.Tensor]) -> torch.Tensor:
    """The tensor as an earlier snapshot of the model's state held it (keys are the same paths)."""
    earlier = weights.get(key)
    if earlier is None:
        raise ExportError(f"{key!r} is not in the snapshot the grader asked for; the model changed since")
    if earlier.shape != current.shape or earlier.dtype != current.dtype:
        raise ExportError(f"{key!r} changed shape or type since the snapshot the grader asked for")
    return earlier.clone()


def export_module(
    module: nn.Module, input_shape: tuple[int, ...], weights: dict[str, torch.Tensor] | None = None
) -> dict[str, Any]:
    """``{"graph": ..., "tensors": {path: tensor}}`` for ``checks.engine.exported_model.rebuild``;
    traced in eval mode, each layer's training flag restored afterwards. ``weights`` (a snapshot of
    the module's state_dict, see ``snapshots``) replace the current values of the tensors they name."""
    if not isinstance(module, nn.Module):
        raise ExportError(f"a {type(module).__name__} is not a torch.nn.Module")
    if not input_shape or not all(isinstance(size, int) and 0 < size <= 1 << 16 for size in input_shape):
        raise ExportError(f"input shape {input_shape!r} is not a list of positive sizes")
    modes = {layer: layer.training for layer in module.modules()}
    module.eval()
    try:
        traced = _trace(module)
        _check_trace(module, traced, input_shape)
    finally:
        for layer, training in modes.items():
            layer.training = training
    graph = traced.graph
    if len(graph.nodes) > MAX_NODES:
        raise ExportError(
            f"the traced graph has {len(graph.nodes)} operations; the grader rebuilds at most {MAX_NODES}"
        )
    names = _function_names()
    nodes = [_node(node, names) for node in graph.nodes]
    modules = {
        node.target: _layer(traced.get_submodule(node.target), node.target)
        for node in graph.nodes
        if node.op == "call_module"
    }
    tensors, attributes = _state(traced, graph, weights)
    return {
        "graph": {"type": type(module).__name__, "nodes": nodes, "modules": modules, "attributes": attributes},
        "tensors": tensors,
    }
