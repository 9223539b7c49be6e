"""A student's model rebuilt by the grader from the data the probe exported
(``checks.probe.export``), so its accuracy and layers are measured outside the kernel.

Everything in the export comes from a kernel the student controls: a model that reads
the test labels inside its forward could otherwise report any accuracy. The rebuild
trusts no code and no name it did not list itself: layers are constructed from
``allowed.LAYERS`` with checked arguments, calls resolve through the grader's own table,
every weight must have the shape its layer needs, and sizes are capped before anything
is allocated.
"""

from __future__ import annotations

import inspect
import keyword
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import fx, nn

from checks.probe import structure
from checks.probe.allowed import (
    DTYPES,
    FUNCTIONS,
    LAYERS,
    MAX_NODES,
    MAX_STATE_VALUES,
    METHODS,
    TENSOR_ATTRIBUTES,
    resolve,
)
from checks.probe.export import DTYPE, ELLIPSIS, NODE, SLICE

MAX_NAME_LENGTH = 200
MAX_CONSTANT_ITEMS = 1_000
MAX_CONSTANT_DEPTH = 6
MAX_INT = 1 << 40
MAX_WINDOW = 256
MAX_PADDING = 64
MAX_OUTPUT_SIZE = 256
MAX_COUNT = 1 << 20
MAX_VALUES_PER_SAMPLE = 1 << 25  # per node output, checked on the declared input shape
MAX_BATCH = 64  # images per forward pass of a rebuilt model in the grader
MAX_VALUES_PER_BATCH = 1 << 26  # per node output in one such pass (256 MiB of float32)
MAX_WORK_PER_BATCH = 10_000_000_000  # multiply-adds in one such pass: seconds, not hours
MAX_LIVE_VALUES_PER_BATCH = 1 << 28  # values alive at once in one such pass (1 GiB of float32)
OPS = ("placeholder", "get_attr", "call_module", "call_function", "call_method", "output")
NODE_KEYS = {"name", "op", "target", "args", "kwargs"}
GRAPH_KEYS = {"type", "nodes", "modules", "attributes"}
RESERVED = frozenset(dir(fx.GraphModule(nn.Module(), fx.Graph())))  # names a layer path may not shadow


class ExportRefused(ValueError):
    """The model could not be exported or rebuilt; the message is the reason, for the TA."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _ints(value: Any, low: int, high: int, lengths: tuple[int, ...] = (1, 2, 3)) -> bool:
    items = value if isinstance(value, (list, tuple)) else [value]
    if isinstance(value, (list, tuple)) and len(value) not in lengths:
        return False
    return all(_is_int(item) and low <= item <= high for item in items)


def _number(value: Any, low: float, high: float) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high


RULES: dict[str, Callable[[Any], bool]] = {
    "count": lambda v: _is_int(v) and 1 <= v <= MAX_COUNT,
    "optional_count": lambda v: v is None or (_is_int(v) and 1 <= v <= MAX_COUNT),
    "window": lambda v: _ints(v, 1, MAX_WINDOW),
    "optional_window": lambda v: v is None or _ints(v, 1, MAX_WINDOW),
    "pool_padding": lambda v: _ints(v, 0, MAX_PADDING),
    "conv_padding": lambda v: v in ("same", "valid") or _ints(v, 0, MAX_PADDING),
    "output_size": lambda v: all(
        item is None or (_is_int(item) and 1 <= item <= MAX_OUTPUT_SIZE)
        for item in (v if isinstance(v, (list, tuple)) and len(v) in (1, 2) else [v])
    ),
    "shape": lambda v: _ints(v, 1, MAX_COUNT, (1, 2, 3, 4)),
    "flag": lambda v: isinstance(v, bool),
    "false": lambda v: v is False,
    "epsilon": lambda v: _number(v, 1e-12, 1.0) and v > 0,
    "momentum": lambda v: v is None or _number(v, 0.0, 1.0),
    "fraction": lambda v: _number(v, 0.0, 1.0),
    "number": lambda v: _number(v, -1e6, 1e6),
    "dim": lambda v: _is_int(v) and -8 <= v <= 8,
    "optional_dim": lambda v: v is None or (_is_int(v) and -8 <= v <= 8),
    "padding_mode": lambda v: v in ("zeros", "reflect", "replicate", "circular"),
    "approximate": lambda v: v in ("none", "tanh"),
}


def _forced(function: Callable, **fixed: Any) -> Callable:
    """``function`` with e.g. ``training=False`` however it is called: dropout stays off and
    nothing overwrites the grader's input in place. Not ``functools.wraps``: fx would then
    emit the torch name and skip the wrapper."""
    signature = inspect.signature(function)

    def call(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.arguments.update(fixed)
        return function(*bound.args, **bound.kwargs)

    call.__name__ = f"forced_{function.__name__}"
    return call


def _arithmetic(function: Callable) -> Callable:
    """An operator on tensors and numbers only: ``size() * 10**9`` must not build a huge tuple."""

    def call(*operands: Any) -> Any:
        if not all(isinstance(item, (torch.Tensor, int, float)) for item in operands):
            raise TypeError(f"{function.__name__} takes tensors and numbers only")
        return function(*operands)

    call.__name__ = f"checked_{function.__name__}"
    return call


def _tensor_attribute(value: Any, name: str) -> Any:
    if not isinstance(value, torch.Tensor) or name not in TENSOR_ATTRIBUTES:
        raise TypeError(f"reading {name!r} of a {type(value).__name__} is not allowed")
    return getattr(value, name)


def _implementation(name: str) -> Callable:
    """What the grader calls for an allow-listed name (only its own names are ever resolved)."""
    if name == "builtins.getattr":
        return _tensor_attribute
    function = resolve(name)
    if name.startswith("operator.") and name != "operator.getitem":
        return _arithmetic(function)
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return function
    fixed = {key: False for key in ("training", "inplace") if key in parameters}
    return _forced(function, **fixed) if fixed else function


CALLABLES: dict[str, Callable] = {name: _implementation(name) for name in FUNCTIONS}


def _refuse_unless(condition: bool, reason: str) -> None:
    if not condition:
        raise ExportRefused(reason)


def _check_path(path: Any, what: str) -> str:
    _refuse_unless(isinstance(path, str) and 0 < len(path) <= MAX_NAME_LENGTH, f"{what} has no valid path")
    for part in path.split("."):
        plain = part.isdigit() or (part.isidentifier() and not keyword.iskeyword(part))
        _refuse_unless(
            plain and not part.startswith("__") and part not in RESERVED,
            f"{what} {path!r} is not a plain attribute path",
        )
    return path


def _constant(value: Any, nodes: dict[str, fx.Node], depth: int = 0) -> Any:
    """A wire value as an fx argument: node references resolve to earlier nodes only."""
    _refuse_unless(depth <= MAX_CONSTANT_DEPTH, "an argument is nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        _refuse_unless(not isinstance(value, str) or len(value) <= MAX_NAME_LENGTH, "a string argument is too long")
        return value
    if _is_int(value):
        _refuse_unless(abs(value) <= MAX_INT, f"the integer {value} is out of range")
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, (list, tuple)):
        _refuse_unless(len(value) <= MAX_CONSTANT_ITEMS, "an argument list is too long")
        items = [_constant(item, nodes, depth + 1) for item in value]
        return items if isinstance(value, list) else tuple(items)
    _refuse_unless(
        isinstance(value, dict) and all(isinstance(key, str) for key in value),
        f"an argument of type {type(value).__name__} cannot be rebuilt",
    )
    if NODE in value:
        _refuse_unless(
            len(value) == 1 and value[NODE] in nodes,
            f"an argument refers to {value.get(NODE)!r}, which is no earlier node",
        )
        return nodes[value[NODE]]
    if SLICE in value:
        parts = value[SLICE]
        _refuse_unless(len(value) == 1 and isinstance(parts, list) and len(parts) == 3, "a malformed slice")
        return slice(*(_constant(part, nodes, depth + 1) for part in parts))
    if ELLIPSIS in value:
        _refuse_unless(value == {ELLIPSIS: True}, "a malformed ellipsis")
        return Ellipsis
    if DTYPE in value:
        _refuse_unless(len(value) == 1 and value[DTYPE] in DTYPES, f"the dtype {value.get(DTYPE)!r} is not allowed")
        return getattr(torch, value[DTYPE])
    _refuse_unless(
        len(value) <= MAX_CONSTANT_ITEMS and not any(key.startswith("$") for key in value), "a malformed dict argument"
    )
    return {key: _constant(item, nodes, depth + 1) for key, item in value.items()}


def _layer(path: str, spec: Any) -> nn.Module:
    """The layer built on the meta device: shapes without memory, whatever sizes it declares."""
    _refuse_unless(isinstance(spec, dict) and set(spec) == {"type", "kwargs"}, f"layer {path!r} is malformed")
    kind, arguments = spec["type"], spec["kwargs"]
    _refuse_unless(kind in LAYERS, f"layer {path!r} is a {kind!r}, which is not an allowed layer type")
    rules = LAYERS[kind]
    _refuse_unless(
        isinstance(arguments, dict) and set(arguments) == set(rules),
        f"layer {path!r} ({kind}) must give exactly {sorted(rules)}",
    )
    for name, rule in rules.items():
        value = arguments[name]
        _refuse_unless(RULES[rule](value), f"layer {path!r} ({kind}) has {name}={value!r}, which is not allowed")
    arguments = {name: tuple(value) if isinstance(value, list) else value for name, value in arguments.items()}
    if "inplace" in arguments:
        arguments["inplace"] = False
    try:
        with torch.device("meta"):
            return getattr(nn, kind)(**arguments)
    except Exception as error:
        raise ExportRefused(f"layer {path!r} ({kind}) cannot be built: {error}") from error


def _check_graph_keys(graph: Any) -> None:
    _refuse_unless(isinstance(graph, dict) and set(graph) == GRAPH_KEYS, "the export is malformed")
    _refuse_unless(
        isinstance(graph["type"], str) and graph["type"].isidentifier() and len(graph["type"]) <= MAX_NAME_LENGTH,
        "the model's class name is not an identifier",
    )
    _refuse_unless(
        isinstance(graph["nodes"], list) and 0 < len(graph["nodes"]) <= MAX_NODES,
        f"the graph must have between 1 and {MAX_NODES} nodes",
    )
    _refuse_unless(
        isinstance(graph["modules"], dict) and isinstance(graph["attributes"], dict), "the export is malformed"
    )


def _build_graph(nodes: list[Any], modules: dict[str, nn.Module], attributes: set[str]) -> fx.Graph:
    graph = fx.Graph()
    built: dict[str, fx.Node] = {}
    for position, node in enumerate(nodes):
        _refuse_unless(isinstance(node, dict) and set(node) == NODE_KEYS, f"node {position} is malformed")
        name, op, target = node["name"], node["op"], node["target"]
        _refuse_unless(isinstance(target, str) and len(target) <= MAX_NAME_LENGTH, f"node {position} has no target")
        _refuse_unless(
            isinstance(name, str)
            and name.isidentifier()
            and not keyword.iskeyword(name)
            and len(name) <= MAX_NAME_LENGTH,
            f"node {position} has no identifier for a name",
        )
        _refuse_unless(name not in built, f"node name {name!r} is used twice")
        _refuse_unless(op in OPS, f"node {name!r} has the unknown kind {op!r}")
        _refuse_unless(
            isinstance(node["args"], (list, tuple)) and isinstance(node["kwargs"], dict),
            f"node {name!r} has malformed arguments",
        )
        args = tuple(_constant(list(node["args"]), built))
        kwargs = _constant(node["kwargs"], built)
        _refuse_unless("out" not in kwargs, f"node {name!r} writes its result into another value (out=)")
        _refuse_unless(
            (op == "placeholder") == (position == 0), "the graph must start with its one input, and only then"
        )
        _refuse_unless((op == "output") == (position == len(nodes) - 1), "the graph must end with its one output")
        if op == "placeholder":
            _refuse_unless(not args and not kwargs, "the input may not have a default")
            built[name] = graph.placeholder("x")
            continue
        if op == "output":
            _refuse_unless(len(args) == 1 and not kwargs, "the output is malformed")
            built[name] = graph.output(args[0])
            continue
        if op == "get_attr":
            _refuse_unless(
                target in attributes and not args and not kwargs,
                f"node {name!r} reads {target!r}, which the export does not declare",
            )
        elif op == "call_module":
            _refuse_unless(target in modules, f"node {name!r} calls {target!r}, which the export does not declare")
        elif op == "call_function":
            _refuse_unless(target in CALLABLES, f"node {name!r} calls {target!r}, which is not an allowed function")
            if target == "builtins.getattr":
                _refuse_unless(
                    len(args) == 2 and isinstance(args[0], fx.Node) and args[1] in TENSOR_ATTRIBUTES and not kwargs,
                    f"node {name!r} reads an attribute that is not allowed",
                )
        else:
            _refuse_unless(target in METHODS, f"node {name!r} calls the method {target!r}, which is not allowed")
            _refuse_unless(
                bool(args) and isinstance(args[0], fx.Node),
                f"node {name!r} calls .{target}() on a constant, not on a result of the graph",
            )
        function = CALLABLES[target] if op == "call_function" else target
        built[name] = graph.create_node(op, function, args, kwargs)
    return graph


def _state_shapes(modules: dict[str, nn.Module]) -> dict[str, torch.Tensor]:
    return {f"{path}.{key}": value for path, module in modules.items() for key, value in module.state_dict().items()}


def _check_tensors(tensors: Any, expected: dict[str, torch.Tensor], attributes: dict[str, Any]) -> None:
    _refuse_unless(
        isinstance(tensors, dict) and all(isinstance(value, torch.Tensor) for value in tensors.values()),
        "the weights are malformed",
    )
    declared = sum(value.numel() for value in expected.values())
    _refuse_unless(
        declared <= MAX_STATE_VALUES,
        f"the layers declare {declared:,} weights; the grader rebuilds at most {MAX_STATE_VALUES:,}",
    )
    shipped = sum(value.numel() for value in tensors.values())
    _refuse_unless(
        shipped <= MAX_STATE_VALUES,
        f"the export holds {shipped:,} values; the grader rebuilds at most {MAX_STATE_VALUES:,}",
    )
    wanted = set(expected) | set(attributes)
    missing, extra = sorted(wanted - set(tensors)), sorted(set(tensors) - wanted)
    _refuse_unless(
        not missing and not extra,
        f"the weights do not match the layers (missing {missing[:5]}, unexpected {extra[:5]})",
    )
    for key, value in tensors.items():
        _refuse_unless(not value.requires_grad, f"{key} is shipped with requires_grad")
        reference = expected.get(key)
        if reference is None:
            _refuse_unless(value.is_floating_point(), f"{key} is not a floating-point tensor")
            continue
        _refuse_unless(
            value.shape == reference.shape,
            f"{key} has shape {list(value.shape)}, but its layer needs {list(reference.shape)}",
        )
        _refuse_unless(
            value.is_floating_point() == reference.is_floating_point()
            and value.dtype != torch.bool
            and not value.is_complex(),
            f"{key} has dtype {value.dtype}, unlike its layer's {reference.dtype}",
        )


def _attribute_tensor(path: str, spec: Any, tensor: torch.Tensor) -> torch.Tensor:
    _refuse_unless(
        isinstance(spec, dict) and set(spec) == {"parameter"} and isinstance(spec["parameter"], bool),
        f"the attribute {path!r} is malformed",
    )
    meta = torch.empty(tensor.shape, dtype=torch.float32, device="meta")
    return nn.Parameter(meta, requires_grad=False) if spec["parameter"] else meta


def _check_paths(modules: dict[str, Any], attributes: dict[str, Any]) -> None:
    """Layers and attributes each own their path: none inside another, so none replaces a
    layer's weights or attaches to a layer it does not belong to."""
    paths = [_check_path(path, "the layer") for path in modules] + [
        _check_path(path, "the attribute") for path in attributes
    ]
    every = set(paths)
    _refuse_unless(len(every) == len(paths), "a path is both a layer and an attribute")
    for path in paths:
        parts = path.split(".")
        inside = [".".join(parts[:end]) for end in range(1, len(parts)) if ".".join(parts[:end]) in every]
        _refuse_unless(not inside, f"{path!r} sits inside {inside[:1]}")


def _contraction(node: fx.Node, args: tuple[Any, ...], owner: nn.Module | None) -> int:
    """Multiply-adds per output value of a node: the length of what it sums over (1 for the rest)."""
    if isinstance(owner, (nn.Conv1d, nn.Conv2d)):
        return math.prod(owner.weight.shape[1:])
    if isinstance(owner, nn.Linear):
        return owner.in_features
    name = getattr(node.target, "__name__", node.target)
    tensors = [arg for arg in args if isinstance(arg, torch.Tensor)]
    if name in ("conv1d", "conv2d") and len(tensors) > 1:
        return math.prod(tensors[1].shape[1:])
    if name == "linear" and len(tensors) > 1:
        return tensors[1].shape[-1]
    if name == "matmul" and tensors and tensors[0].ndim:
        return tensors[0].shape[-1]
    return 1


class _SizeCheck(fx.Interpreter):
    """Runs the graph on meta tensors: every output size, and the work it takes, are known
    without allocating anything."""

    def __init__(self, module: fx.GraphModule, limit: int) -> None:
        super().__init__(module)
        self.limit = limit
        self.largest = 0
        self.work = 0
        self.peak = 0  # values held at once by results a later node still needs
        self._live: dict[fx.Node, int] = {}
        self._waiting = {node: len(node.users) for node in module.graph.nodes}
        self.extra_traceback = False

    def run_node(self, node: fx.Node) -> Any:
        result = super().run_node(node)
        args, _ = self.fetch_args_kwargs_from_env(node)
        owner = self.fetch_attr(node.target) if node.op == "call_module" else None
        produced = 0
        for tensor in structure.output_tensors(result):
            if tensor.numel() > self.limit:
                raise ExportRefused(
                    f"{node.name} produces {tensor.numel():,} values for this input; at most {self.limit:,} are allowed"
                )
            self.largest = max(self.largest, tensor.numel())
            self.work += tensor.numel() * _contraction(node, args, owner)
            produced += tensor.numel()
        if node.op != "get_attr":
            self._live[node] = produced
        self.peak = max(self.peak, sum(self._live.values()))
        for used in node.all_input_nodes:
            self._waiting[used] -= 1
            if self._waiting[used] == 0:
                self._live.pop(used, None)
        return result


def _measure_run(module: fx.GraphModule, input_shape: tuple[int, ...], limit: int) -> _SizeCheck:
    check = _SizeCheck(module, limit)
    try:
        output = check.run(torch.empty(input_shape, device="meta"))
    except ExportRefused:
        raise
    except Exception as error:
        raise ExportRefused(
            f"the rebuilt model fails on a {tuple(input_shape)} input: {type(error).__name__}: {error}"
        ) from error
    _refuse_unless(bool(structure.output_tensors(output)), "the model returns no tensor")
    return check


def _check_runs(module: fx.GraphModule, input_shape: tuple[int, ...]) -> int:
    """Refuse a model that will not run on ``input_shape``; returns the batch size the grader runs
    it at, always padded to exactly that size, so the sizes and work checked here are those of
    every later run: no node over ``MAX_VALUES_PER_BATCH`` values, no batch over ``MAX_WORK_PER_BATCH``
    multiply-adds or ``MAX_LIVE_VALUES_PER_BATCH`` values alive at once (a graph whose sizes grow
    faster than its batch is caught at that size)."""
    _refuse_unless(
        bool(input_shape)
        and all(_is_int(size) and size > 0 for size in input_shape)
        and math.prod(input_shape[1:]) <= MAX_VALUES_PER_SAMPLE,
        f"bad input shape {input_shape!r}",
    )
    _measure_run(module, input_shape, MAX_VALUES_PER_SAMPLE * input_shape[0])
    one = _measure_run(module, (1, *input_shape[1:]), MAX_VALUES_PER_BATCH)
    batch = max(
        1,
        min(
            MAX_BATCH,
            MAX_VALUES_PER_BATCH // max(1, one.largest),
            MAX_WORK_PER_BATCH // max(1, one.work),
            MAX_LIVE_VALUES_PER_BATCH // max(1, one.peak),
        ),
    )
    for size, run in ((1, one), (batch, _measure_run(module, (batch, *input_shape[1:]), MAX_VALUES_PER_BATCH))):
        _refuse_unless(
            run.work <= MAX_WORK_PER_BATCH,
            f"running {size} image(s) takes {run.work:,} multiply-adds; at most {MAX_WORK_PER_BATCH:,} are allowed",
        )
        _refuse_unless(
            run.peak <= MAX_LIVE_VALUES_PER_BATCH,
            f"running {size} image(s) needs {run.peak:,} values "
            f"held at once; at most {MAX_LIVE_VALUES_PER_BATCH:,} are allowed",
        )
    return batch


def rebuild(
    graph: dict[str, Any], tensors: dict[str, torch.Tensor], input_shape: tuple[int, ...] | None = None
) -> fx.GraphModule:
    """The exported model as a GraphModule in eval mode, weights loaded, gradients off.

    With ``input_shape`` the graph is also run on meta tensors of that shape first, so a
    model that would not run, or whose activations or work are absurdly large, is refused
    before any weights are allocated; ``grader_batch`` on the result is then the batch size
    ``run_batched`` runs it at.
    """
    _check_graph_keys(graph)
    _check_paths(graph["modules"], graph["attributes"])
    modules = {path: _layer(path, spec) for path, spec in graph["modules"].items()}
    expected = _state_shapes(modules)
    attributes = graph["attributes"]
    _check_tensors(tensors, expected, attributes)
    fx_graph = _build_graph(graph["nodes"], modules, set(attributes) | set(expected))
    root: dict[str, Any] = dict(modules)
    for key in expected:
        owner, _, name = key.rpartition(".")
        root[key] = getattr(modules[owner], name)
    for path, spec in attributes.items():
        root[path] = _attribute_tensor(path, spec, tensors[path])
    try:
        module = fx.GraphModule(root, fx_graph, class_name=graph["type"])
    except Exception as error:
        raise ExportRefused(f"the graph cannot be assembled: {error}") from error
    module.eval()
    if input_shape is not None:
        module.grader_batch = _check_runs(module, tuple(input_shape))
    module.to_empty(device="cpu")
    try:
        module.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        raise ExportRefused(f"the weights do not fit the layers: {error}") from error
    return module.requires_grad_(False)


def run_batched(
    module: fx.GraphModule,
    images: torch.Tensor,
    reduce: Callable[[Any], torch.Tensor],
    before_batch: Callable[[], None],
) -> torch.Tensor:
    """``reduce`` of the module's output on ``images``, one batch of exactly ``grader_batch`` at a
    time (the last one padded with zeros), so every pass is one the rebuild measured;
    ``before_batch`` may stop the run (the submission's time is up)."""
    batch = module.grader_batch
    results = []
    with torch.no_grad():
        for start in range(0, len(images), batch):
            before_batch()
            chunk = images[start : start + batch]
            padding = chunk.new_zeros((batch - len(chunk), *chunk.shape[1:]))
            results.append(reduce(module(torch.cat([chunk, padding])))[: len(chunk)])
    return torch.cat(results)


def describe(module: nn.Module, input_shape: tuple[int, ...]) -> dict[str, Any]:
    """The layer description ``checks.finders.architecture`` compares, taken by the grader's own hooks
    on the rebuilt module (same format as the probe's)."""
    return structure.describe(module, input_shape)
