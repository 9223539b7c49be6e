"""A notebook's Grad-CAM and LIME setup, read from its code with ``ast`` and never run, so that a team's maps
can be recomputed with their own weights, preprocessing, layer and target, and a difference from the reference
explained by what they chose.

What is read, each with the index of the cell it is in (among all cells, from 0; None: in no cell):

- ``weights``: the ResNet50 weights of every ``resnet50(...)``, ``torch.hub.load(..., 'resnet50', ...)`` and
  ``get_model('resnet50', ...)``: ``IMAGENET1K_V1`` (also ``pretrained=True``), ``IMAGENET1K_V2`` (also
  ``DEFAULT``), ``none`` (``weights=None``, ``pretrained=False`` or neither: random weights);
- ``normalised``: True for a ``Normalize`` with ImageNet's mean and std (also on 0-255 pixels, also
  ``transforms.functional.normalize``, ``weights.transforms()`` and ``x - mean`` by hand), False for one with
  other values or ``preprocess_image`` without them. The rule is notebook-wide, not traced to the CAM's input:
  a Normalize anywhere counts, even in a pipeline only LIME uses; only when there is none does a ``Compose``
  pipeline make it False. ``preprocess_cam``: whether pytorch-grad-cam's ``preprocess_image`` is used;
- ``resize`` / ``crop``: the sizes of ``Resize`` / ``CenterCrop`` (and their functional forms), those implied by
  ``weights.transforms()``, and ``cv2.resize`` / PIL's ``.resize`` (given as width, height; kept as (h, w));
- ``methods``: each pytorch-grad-cam class built, with its target layers as paths in the model (``layer4[-1]``,
  ``layer4[-1].conv3``; the model variable and wrappers such as ``module.`` dropped), its other arguments,
  attributes set on it later (``cam.batch_size = 32``) and options of its call (``aug_smooth``);
- ``targets``: per CAM call, ``predicted`` (``targets=None``, or a class from an argmax / topk / max of an
  output), ``constant:<n>`` (one literal class, however it is named, for every image), ``true-class`` (looked
  up in a dict or list of classes, or one index listed per image), or ``unknown``;
- ``lime``: the arguments of each ``explain_instance`` and ``get_image_and_mask`` (literals, else a description
  such as ``function my_segmentation`` or ``code: <source>``);
- ``iou_threshold``: comparisons with a number (``cam > 0.5``), a percentile or quantile, a mean, Otsu's or
  ``cv2.threshold`` in the cells that mention an IoU (IoU, Jaccard, intersection) and the notebook functions
  they call; comparisons that are the test of an ``if``, ``while`` or ``assert`` are control flow and skipped.

Names are read in one flat scope, in cell order, the latest binding winning; ``x = x.to(device)`` sees the
``x`` before it. A loop variable stands for the elements of a literal collection (``for cls in [GradCAM,
ScoreCAM]``, ``dict.items()``, ``enumerate``, ``zip``). A notebook function is read where it is called, its
parameters bound to the call's arguments (a few calls each), and once at the end when nothing calls it.

Everything the student wrote is hostile: cells, characters, calls, bindings, the names followed, the items of a
literal and the code quoted are all bounded, and no expression is evaluated beyond reading literals, so the
reader stays fast and says "unknown" where a bound stops it.
"""

from __future__ import annotations

import ast
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice
from typing import Any

import nbformat

from checks.engine.cell_code import parsed_cell
from checks.engine.notebook import cell_number

MAX_CELLS = 2000
MAX_CELL_COST = 100_000
MAX_NOTEBOOK_COST = 200_000
"""What the code cells read may cost to parse, in characters, each ``{`` counting ``BRACE_COST`` more: a costlier
cell is not read, nor any cell past the notebook's budget. Python parses about 400,000 characters of dense code
a second, but only some 30,000 f-string pieces."""
BRACE_COST = 12
MAX_CALLS = 10_000
"""Calls examined in a notebook; past them the reader stops and says so."""
MAX_STEPS = 300_000
MAX_QUERY_STEPS = 2_000
"""Names followed and literals read in all (and for one call, comparison or binding): a chain of names that
fans out cannot make the reader slow."""
MAX_DEPTH = 24
MAX_NESTING = 24
"""Statements nested deeper are not read (Python allows 100 levels)."""
MAX_RUN_DEPTH = 6
MAX_RUNS = 64
MAX_RUNS_EACH = 8
MAX_RERUN_NODES = 5_000
"""A function read more than once (for each call, up to ``MAX_RUNS_EACH``) must be smaller than this."""
MAX_ITEMS = 64
MAX_ALTERNATIVES = 32
MAX_TEXT = 200
MAX_INT_BITS = 64
MAX_SHOWN = 120
MAX_SHOWN_NODES = 40
MAX_SEARCH = 300
MAX_BINDINGS = 5_000
MAX_FINDINGS = 50
MAX_CANDIDATES = 1_000
MAX_NOTES = 20
UNKNOWN = "unknown"

WEIGHT_VERSIONS = {"IMAGENET1K_V1": "IMAGENET1K_V1", "IMAGENET1K_V2": "IMAGENET1K_V2", "DEFAULT": "IMAGENET1K_V2"}
WEIGHTS_CLASS = "ResNet50_Weights"
TRANSFORM_SIZES = {"IMAGENET1K_V1": (256, 224), "IMAGENET1K_V2": (232, 224)}
"""Resize and CenterCrop of ``ResNet50_Weights.<version>.transforms()`` (torchvision's ImageClassification)."""
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PREPROCESS_DEFAULT = (0.5, 0.5, 0.5)
"""The mean and std of pytorch-grad-cam 1.5.7's ``preprocess_image`` when none are given (not ImageNet's)."""

GRAD_CAM_PACKAGE = "pytorch_grad_cam"
BASE_PARAMETERS = ("model", "target_layers", "reshape_transform")
CAM_PARAMETERS: dict[str, tuple[str, ...] | None] = {
    **dict.fromkeys(
        (
            "GradCAM",
            "ShapleyCAM",
            "HiResCAM",
            "GradCAMElementWise",
            "XGradCAM",
            "GradCAMPlusPlus",
            "ScoreCAM",
            "LayerCAM",
            "EigenCAM",
            "EigenGradCAM",
            "RandomCAM",
            "FullGrad",
            "SegEigenCAM",
        ),
        BASE_PARAMETERS,
    ),
    "AblationCAM": (*BASE_PARAMETERS, "ablation_layer", "batch_size", "ratio_channels_to_ablate"),
    "FEM": (*BASE_PARAMETERS, "k"),
    "KPCA_CAM": (*BASE_PARAMETERS, "kernel", "gamma"),
    "FinerCAM": (*BASE_PARAMETERS, "base_method"),
    "RefineCAM": None,
    "SESS": None,
}
"""The CAM classes of pytorch-grad-cam 1.5.7 and their constructor's parameters (None: it takes ``**kwargs``)."""
NOT_CAMS = {"AblationLayer", "AblationLayerVit", "AblationLayerFasterRCNN", "ActivationsAndGradients"}
NOT_CAMS |= {"GuidedBackpropReLUModel", "DeepFeatureFactorization"}
RESNET50_BLOCKS = {"layer1": 3, "layer2": 4, "layer3": 6, "layer4": 3}
RESNET50_CHILDREN = {"conv1", "bn1", "relu", "maxpool", "avgpool", "fc", *RESNET50_BLOCKS}

EXPLAIN_PARAMETERS = (
    "image",
    "classifier_fn",
    "labels",
    "hide_color",
    "top_labels",
    "num_features",
    "num_samples",
    "batch_size",
    "segmentation_fn",
    "distance_metric",
    "model_regressor",
    "random_seed",
)
"""lime 0.2.0.1's ``LimeImageExplainer.explain_instance``, for arguments given by position."""
TARGET_SUFFIXES = ("Target", "ReST")
"""pytorch-grad-cam's target classes (ClassifierOutputTarget, ClassifierOutputSoftmaxTarget, ClassifierOutputReST)."""
MASK_PARAMETERS = ("label", "positive_only", "negative_only", "hide_rest", "num_features", "min_weight")
NOT_RECORDED = {"image", "classifier_fn"}

PREDICTION_CALLS = {"argmax", "topk", "max", "argsort", "sort"}
PERCENTILES = {"percentile": "percentile", "nanpercentile": "percentile", "quantile": "quantile"}
PERCENTILES["nanquantile"] = "quantile"
VALUE_WRAPPERS = {"array", "asarray", "tensor", "Tensor", "FloatTensor", "as_tensor", "list", "tuple", "int", "float"}
UNWRAPPED_METHODS = {"view", "reshape", "to", "float", "double", "unsqueeze", "cuda", "cpu"}
NUMERIC_MODULES = {"np", "numpy", "torch"}
WIDTH_FIRST_OWNERS = {"cv2"}
FUNCTIONAL_OWNERS = {"F", "TF", "functional", "transform"}
IOU_WORDS = re.compile(r"IoU|IOU|(?<![a-z])iou(?![a-rt-z])|[Jj]accard|[Ii]ntersection")
PREDICTED_NAME = re.compile(r"pred", re.IGNORECASE)
TRUE_NAME = re.compile(r"true|label|truth|(?<![a-z])gt(?![a-z])", re.IGNORECASE)
COMPARISONS: dict[type, str] = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<="}
FLIPPED = {">": "<", ">=": "<=", "<": ">", "<=": ">="}
STATEMENT_LIKE = (ast.stmt, ast.excepthandler, ast.match_case)

VALUE, EACH, PART, FROM, DEF = "value", "each", "part", "from", "def"
ELLIPSIS = "…"
"""Code too long to quote."""
NOT_READ = object()
"""What a literal reads as when the code does not give it plainly (distinct from any value a student wrote)."""


@dataclass(frozen=True)
class Found:
    """One reading of a setting: its value ("unknown" when the code does not say it plainly), the index of the
    cell it was read in (None: no cell says it) and the code or the reason behind it, for the TA."""

    value: Any
    cell: int | None
    detail: str = ""


@dataclass(frozen=True)
class CamMethod:
    """A pytorch-grad-cam class built in the notebook: its target layers as paths in the model ("unknown"
    where not readable), its other arguments, attributes set on it later and options of its call."""

    name: str
    layers: tuple[str, ...]
    cell: int
    options: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class LimeCall:
    """One ``explain_instance`` or ``get_image_and_mask`` call and its arguments (image and classifier left out)."""

    function: str
    cell: int
    arguments: dict[str, Any]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CamSetup:
    """What the notebook's code says about how its CAMs and LIME explanations were made; several readings of
    one setting when the notebook has several (two models, two pipelines, a method per layer)."""

    weights: tuple[Found, ...]
    normalised: tuple[Found, ...]
    preprocess_cam: tuple[Found, ...]
    resize: tuple[Found, ...]
    crop: tuple[Found, ...]
    methods: tuple[CamMethod, ...]
    targets: tuple[Found, ...]
    lime: tuple[LimeCall, ...]
    iou_threshold: tuple[Found, ...]
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Plain data, for a report or JSON."""
        return asdict(self)

    def sentences(self) -> list[str]:
        """The setup in words for a TA, one line per reading, cells counted from 1 as a reader counts them."""
        lines = [_said(f"ResNet50 weights: {found.value}", found) for found in self.weights]
        lines += [_said(_normalised_words(found.value), found) for found in self.normalised]
        lines += [
            _said("pytorch_grad_cam's preprocess_image makes the input", f) for f in self.preprocess_cam if f.value
        ]
        lines += [_said(f"Resize to {found.value}", found) for found in self.resize if found.value is not None]
        lines += [_said(f"Center crop to {found.value}", found) for found in self.crop if found.value is not None]
        lines += [_method_words(method) for method in self.methods] or ["No pytorch-grad-cam method is built."]
        lines += [_said(_target_words(found.value), found) for found in self.targets]
        lines += [_lime_words(call) for call in self.lime]
        lines += [_said(f"IoU threshold: {found.value}", found) for found in self.iou_threshold]
        return lines + list(self.notes)


def read_cam_setup(notebook: nbformat.NotebookNode) -> CamSetup:
    """The CAM and LIME setup a notebook's code cells state, read in order without running them."""
    reader = _Reader()
    budget = MAX_NOTEBOOK_COST
    for index, cell in enumerate(notebook.get("cells", [])[:MAX_CELLS]):
        source = _code(cell)
        if source is None:
            continue
        cost = len(source) + BRACE_COST * source.count("{")
        if cost > MAX_CELL_COST:
            reader.note(f"{cell_number(index)} is not read: longer than the reader reads")
            continue
        budget -= cost
        if budget < 0:
            reader.note(
                f"{cell_number(index)} and later are not read: the notebook's code is longer than the reader reads"
            )
            break
        tree = parsed_cell(source)
        if tree is None:
            reader.note(f"{cell_number(index)} is not read: not Python")
            continue
        reader.read_cell(index, tree)
    return reader.setup()


def _code(cell: Any) -> str | None:
    if not isinstance(cell, dict) or cell.get("cell_type") != "code":
        return None
    source = cell.get("source", "")
    source = "".join(source) if isinstance(source, list) else source
    return source if isinstance(source, str) else None


_Shadow = tuple[tuple[str, "_Bound | None"], ...]


@dataclass(frozen=True)
class _Bound:
    """What a name was last bound to: ``value`` the expression itself, ``each`` an element of the iterable
    ``node`` (``part``: that element's part when unpacked), ``part`` a part of ``node`` unpacked, ``from`` some
    value derived from ``node``, ``def`` the function ``node``. ``previous`` is the binding the expression
    itself sees (``x = x.to(device)``)."""

    node: ast.AST
    kind: str
    part: int | None = None
    previous: _Bound | None = None


@dataclass(frozen=True)
class _Alt:
    """One thing an expression may stand for; not ``exact`` when ``node`` is only where it comes from."""

    node: ast.AST
    shadow: _Shadow
    exact: bool


@dataclass
class _Function:
    node: ast.FunctionDef | ast.AsyncFunctionDef
    cell: int
    depth: int
    size: int
    runs: int = 0


@dataclass
class _MethodBuilder:
    name: str
    layers: tuple[str, ...]
    cell: int
    options: dict[str, Any]
    notes: list[str]

    def frozen(self) -> CamMethod:
        return CamMethod(self.name, self.layers, self.cell, dict(self.options), tuple(dict.fromkeys(self.notes)))


@dataclass(frozen=True)
class _Candidate:
    """A threshold, kept if its cell mentions an IoU or its function is called from one that does."""

    value: str
    cell: int
    scope: int | None
    node: ast.AST
    text: str


class _Reader:
    """Walks the cells in order, keeping the names bound and what the code says about the setup."""

    def __init__(self) -> None:
        self.names: dict[str, _Bound] = {}
        self.imports: dict[str, tuple[str, str]] = {}  # local name -> (module, original name; "" for a module)
        self.cell = 0
        self.scope: int | None = None  # the function being read
        self.found: dict[str, list[Found]] = {key: [] for key in ("weights", "normalised", "preprocess_cam")}
        self.found |= {key: [] for key in ("resize", "crop", "targets", "pipelines")}
        self.found_keys: set[tuple[str, Any, int]] = set()
        self.methods: list[_MethodBuilder] = []
        self.constructions: dict[int, list[_MethodBuilder]] = {}
        self.lime: list[LimeCall] = []
        self.candidates: dict[int, _Candidate] = {}
        self.consumed: set[int] = set()
        self.iou_cells: set[int] = set()
        self.iou_calls: set[tuple[int, int]] = set()  # (calling cell, function)
        self.functions: dict[int, _Function] = {}
        self.returns: dict[int, list[ast.expr]] = {}
        self.running: list[int] = []
        self.runs = 0
        self.calls_left = MAX_CALLS
        self.steps_left = MAX_STEPS
        self.query_left = MAX_QUERY_STEPS
        self.notes: list[str] = []
        self.trees: list[ast.Module] = []  # keeps every node alive: findings are keyed by id(node)

    def note(self, text: str) -> None:
        if len(self.notes) < MAX_NOTES and text not in self.notes:
            self.notes.append(text)

    # Walking the code in order

    def read_cell(self, index: int, tree: ast.Module) -> None:
        self.trees.append(tree)
        self.cell = index
        for statement in tree.body:
            self._statement(statement, 0)

    def _statement(self, node: ast.AST, depth: int) -> None:
        """A statement's own expressions, then the names it binds, then the statements inside it."""
        if depth > MAX_NESTING or self.calls_left <= 0:
            return
        name = getattr(node, "name", None)
        if isinstance(name, str):
            self._mark(name)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            self._expressions([*node.decorator_list, node.args], set())
            self._define(node, depth)
            return
        children = list(ast.iter_child_nodes(node))
        tests = _tests(node.test) if isinstance(node, ast.If | ast.While | ast.Assert) else set()
        self._expressions([child for child in children if not isinstance(child, STATEMENT_LIKE)], tests)
        self.query_left = MAX_QUERY_STEPS
        self._bind_statement(node)
        for child in children:
            if isinstance(child, STATEMENT_LIKE):
                self._statement(child, depth + 1)

    def _expressions(self, roots: list[ast.AST], skip: set[int]) -> None:
        """Calls, comparisons and subtractions in expressions; CAM calls last, once the CAMs they use are built."""
        nodes = [node for root in roots for node in ast.walk(root)]
        for node in nodes:
            if isinstance(node, ast.comprehension):
                self._bind_each(node.target, node.iter)
                skip |= {test for condition in node.ifs for test in _tests(condition)}
            elif isinstance(node, ast.IfExp):
                skip |= _tests(node.test)
        calls = []
        for node in nodes:
            self.query_left = MAX_QUERY_STEPS
            if isinstance(node, ast.Call):
                calls.append(node)
                self._call(node)
            elif isinstance(node, ast.Compare) and id(node) not in skip:
                self._compare(node)
            elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub):
                self._by_hand(node)
            else:
                self._mark_node(node)
        for call in calls:
            self.query_left = MAX_QUERY_STEPS
            if self.calls_left > 0:
                self._cam_call(call)

    def _call(self, call: ast.Call) -> None:
        self.calls_left -= 1
        if self.calls_left == 0:
            self.note(f"only the first {MAX_CALLS} calls are read")
        if self.calls_left < 0:
            return
        handler = HANDLERS.get(self._original(call.func) or "")
        if handler is not None:
            handler(self, call)
        classes = self._cam_classes(call.func)
        if classes or any(keyword.arg == "target_layers" for keyword in call.keywords):
            self._construct(call, classes or [UNKNOWN])
        function = self._function(call.func, ())
        if function is not None:
            self.iou_calls.add((self.cell, id(function.node)))
            self._run(function, call)

    def _define(self, node: ast.FunctionDef | ast.AsyncFunctionDef, depth: int) -> None:
        """A function is read when called (or at the end); here only its name is bound."""
        size = sum(1 for _ in _bounded_walk(node, MAX_RERUN_NODES + 1))
        self.functions.setdefault(id(node), _Function(node, self.cell, depth, size))
        self._set(node.name, _Bound(node, DEF))

    def _run(self, function: _Function, call: ast.Call | None) -> bool:
        """Read a function's body with its parameters bound to the call's arguments; its own names are dropped
        after. False when a bound refuses it."""
        key = id(function.node)
        if key in self.running or len(self.running) >= MAX_RUN_DEPTH or self.runs >= MAX_RUNS:
            return False
        if function.runs >= MAX_RUNS_EACH or (function.runs and function.size > MAX_RERUN_NODES):
            return False
        function.runs += 1
        self.runs += 1
        saved = self.names, self.cell, self.scope
        self.names, self.cell, self.scope = dict(self.names), function.cell, key
        self.running.append(key)
        self._parameters(function.node.args, call)
        for statement in function.node.body:
            self._statement(statement, function.depth + 1)
        self.running.pop()
        self.names, self.cell, self.scope = saved
        return True

    def _parameters(self, arguments: ast.arguments, call: ast.Call | None) -> None:
        """Defaults first, then the call's arguments; a parameter given neither keeps the outer name's binding."""
        positional = [*arguments.posonlyargs, *arguments.args]
        for parameter, default in zip(positional[len(positional) - len(arguments.defaults) :], arguments.defaults):
            self._set(parameter.arg, _Bound(default, VALUE))
        for parameter, default in zip(arguments.kwonlyargs, arguments.kw_defaults):
            if default is not None:
                self._set(parameter.arg, _Bound(default, VALUE))
        if call is None:
            return
        for parameter, argument in zip(positional, call.args):
            if isinstance(argument, ast.Starred):
                break
            self._set(parameter.arg, _Bound(argument, VALUE, previous=self.names.get(parameter.arg)))
        named = {parameter.arg for parameter in (*positional, *arguments.kwonlyargs)}
        for keyword in call.keywords:
            if keyword.arg in named:
                self._set(keyword.arg, _Bound(keyword.value, VALUE, previous=self.names.get(keyword.arg)))

    def setup(self) -> CamSetup:
        """Functions nothing called are read now; then the findings, with what was not found said plainly."""
        progress = True
        while progress:
            progress = False
            for function in list(self.functions.values()):
                progress = (not function.runs and self._run(function, None)) or progress
        if self.steps_left < 0:
            self.note("the reader's budget for following names ran out: later readings may say unknown")
        found = self.found
        return CamSetup(
            weights=_or(found["weights"], Found(UNKNOWN, None, "no ResNet50 is built in the code")),
            normalised=_or(
                found["normalised"] or found["pipelines"],
                Found(UNKNOWN, None, "no Normalize, weights.transforms() or transform pipeline in the code"),
            ),
            preprocess_cam=_or(found["preprocess_cam"], Found(False, None, "preprocess_image is not used")),
            resize=_or(found["resize"], Found(None, None, "no Resize in the code")),
            crop=_or(found["crop"], Found(None, None, "no CenterCrop in the code")),
            methods=_unique(builder.frozen() for builder in self.methods),
            targets=_or(found["targets"], Found(UNKNOWN, None, "no CAM is called in the code")),
            lime=tuple(self.lime),
            iou_threshold=self._thresholds(),
            notes=tuple(self.notes),
        )

    # Names

    def _bind_statement(self, node: ast.AST) -> None:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                self._assign(target, node.value, 0)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            self._assign(node.target, node.value, 0)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            self.names.pop(node.target.id, None)
        elif isinstance(node, ast.For | ast.AsyncFor):
            self._bind_each(node.target, node.iter)
        elif isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                if item.optional_vars is not None:
                    self._assign(item.optional_vars, item.context_expr, 0)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            self._import(node)
        elif isinstance(node, ast.ClassDef):
            self.names.pop(node.name, None)

    def _set(self, name: str, bound: _Bound) -> None:
        if name in self.names or len(self.names) < MAX_BINDINGS:
            self.names[name] = bound

    def _assign(self, target: ast.expr, value: ast.expr, depth: int) -> None:
        if isinstance(target, ast.Name):
            self._set(target.id, _Bound(value, VALUE, previous=self.names.get(target.id)))
        elif isinstance(target, ast.Tuple | ast.List) and depth < MAX_DEPTH:
            same = isinstance(value, ast.Tuple | ast.List) and len(value.elts) == len(target.elts)
            values = value.elts if same else None
            for position, element in enumerate(target.elts):
                if values is not None and not isinstance(element, ast.Starred):
                    self._assign(element, values[position], depth + 1)
                elif isinstance(element, ast.Name):
                    self._set(element.id, _Bound(value, PART, position, self.names.get(element.id)))
                else:
                    self._bind_from(element, value)
        elif isinstance(target, ast.Attribute):
            for builder in self._built(target.value):
                builder.options[target.attr] = self._argument_value(value)

    def _bind_each(self, target: ast.expr, iterable: ast.expr) -> None:
        if isinstance(target, ast.Name):
            self._set(target.id, _Bound(iterable, EACH))
        elif isinstance(target, ast.Tuple | ast.List):
            for position, element in enumerate(target.elts[:MAX_ITEMS]):
                if isinstance(element, ast.Name):
                    self._set(element.id, _Bound(iterable, EACH, position))
                else:
                    self._bind_from(element, iterable)

    def _bind_from(self, target: ast.AST, source: ast.expr) -> None:
        for node in _bounded_walk(target, MAX_ITEMS):
            if isinstance(node, ast.Name):
                self._set(node.id, _Bound(source, FROM))

    def _import(self, node: ast.Import | ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name == "*":
                continue
            if isinstance(node, ast.ImportFrom):
                local, origin = alias.asname or alias.name, (node.module or "", alias.name)
            else:
                local = alias.asname or alias.name.split(".")[0]
                origin = (alias.name if alias.asname else local, "")
            self.imports[local] = origin
            self.names.pop(local, None)

    def _original(self, node: ast.AST) -> str | None:
        """The name a function is called by, through ``from m import X as Y``: ``X`` for ``Y(...)`` and ``m.X(...)``."""
        if isinstance(node, ast.Name):
            return self.imports.get(node.id, ("", node.id))[1] or node.id
        if isinstance(node, ast.Attribute):
            return node.attr
        return None

    def _step(self) -> bool:
        self.steps_left -= 1
        self.query_left -= 1
        return self.steps_left >= 0 and self.query_left >= 0

    def _lookup(self, name: str, shadow: _Shadow) -> _Bound | None:
        for shadowed, bound in reversed(shadow):
            if shadowed == name:
                return bound
        return self.names.get(name)

    def _denote(self, node: ast.AST, shadow: _Shadow = (), depth: int = 0) -> list[_Alt]:
        """What an expression may stand for, following the names bound to it; itself when it is no name."""
        if depth > MAX_DEPTH or not self._step():
            return []
        if isinstance(node, ast.Name):
            bound = self._lookup(node.id, shadow)
            if bound is not None:
                return self._bound(bound, (*shadow, (node.id, bound.previous)), depth + 1)
        elif isinstance(node, ast.Subscript):
            chosen = self._subscripted(node, shadow, depth + 1)
            if chosen is not None:
                return chosen
        return [_Alt(node, shadow, True)]

    def _bound(self, bound: _Bound, shadow: _Shadow, depth: int) -> list[_Alt]:
        if bound.kind == VALUE:
            return self._denote(bound.node, shadow, depth)
        if bound.kind == EACH:
            return self._each(bound.node, bound.part, shadow, depth)
        if bound.kind == PART and bound.part is not None:
            wholes = self._denote(bound.node, shadow, depth)
            return [alt for whole in wholes for alt in self._part(whole, bound.part, depth)][:MAX_ALTERNATIVES]
        return [_Alt(bound.node, shadow, bound.kind == DEF)]

    def _each(self, iterable: ast.AST, part: int | None, shadow: _Shadow, depth: int) -> list[_Alt]:
        elements = self._elements(iterable, shadow, depth)
        if elements is None:
            return [_Alt(iterable, shadow, False)]
        alts: list[_Alt] = []
        for element in elements:
            if part is None:
                alts += self._denote(element.node, element.shadow, depth + 1)
            else:
                alts += self._part(element, part, depth)
            if len(alts) >= MAX_ALTERNATIVES:
                break
        return alts[:MAX_ALTERNATIVES]

    def _part(self, whole: _Alt, part: int, depth: int) -> list[_Alt]:
        node = whole.node
        if isinstance(node, ast.Tuple | ast.List) and part < len(node.elts):
            if not any(isinstance(element, ast.Starred) for element in node.elts):
                return self._denote(node.elts[part], whole.shadow, depth + 1)
        return [_Alt(node, whole.shadow, False)]

    def _single(self, node: ast.AST, shadow: _Shadow = (), depth: int = 0) -> _Alt | None:
        """The one thing an expression stands for, when the code says which."""
        alts = self._denote(node, shadow, depth)
        return alts[0] if len(alts) == 1 and alts[0].exact else None

    def _elements(self, node: ast.AST, shadow: _Shadow, depth: int) -> list[_Alt] | None:
        """The elements of a literal collection (through ``items()``, ``enumerate``, ``zip`` ...), or None."""
        alt = self._single(node, shadow, depth + 1)
        if alt is None:
            return None
        node, shadow = alt.node, alt.shadow
        items: list[ast.expr | None]
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            items = list(node.elts)
        elif isinstance(node, ast.Dict):
            items = list(node.keys)
        elif isinstance(node, ast.Call):
            return self._call_elements(node, shadow, depth + 1)
        else:
            return None
        if len(items) > MAX_ALTERNATIVES or any(item is None or isinstance(item, ast.Starred) for item in items):
            return None
        return [_Alt(item, shadow, True) for item in items if item is not None]

    def _call_elements(self, call: ast.Call, shadow: _Shadow, depth: int) -> list[_Alt] | None:
        name = self._original(call.func)
        if isinstance(call.func, ast.Attribute) and not call.args and name in ("keys", "values", "items"):
            return self._dict_elements(call.func.value, name, shadow, depth)
        if len(call.args) == 1 and name in ("list", "tuple", "sorted", "reversed", "set"):
            return self._elements(call.args[0], shadow, depth)
        if name in ("enumerate", "zip") and call.args and not call.keywords:
            columns = [self._elements(argument, shadow, depth) for argument in call.args[:MAX_ITEMS]]
            if any(column is None for column in columns):
                return None
            if name == "enumerate":
                columns = [[_Alt(ast.Constant(index), shadow, True) for index in range(len(columns[0]))], columns[0]]
            rows = zip(*columns)
            return [_Alt(ast.Tuple([alt.node for alt in row], ast.Load()), shadow, True) for row in rows]
        return None

    def _dict_elements(self, node: ast.expr, view: str, shadow: _Shadow, depth: int) -> list[_Alt] | None:
        alt = self._single(node, shadow, depth + 1)
        if alt is None or not isinstance(alt.node, ast.Dict) or len(alt.node.keys) > MAX_ALTERNATIVES:
            return None
        pairs = list(zip(alt.node.keys, alt.node.values))
        if any(key is None for key, _ in pairs):
            return None
        if view == "items":
            return [_Alt(ast.Tuple([key, value], ast.Load()), alt.shadow, True) for key, value in pairs]
        return [_Alt(key if view == "keys" else value, alt.shadow, True) for key, value in pairs]

    def _subscripted(self, node: ast.Subscript, shadow: _Shadow, depth: int) -> list[_Alt] | None:
        """``d[k]`` of a literal dict or list: the entry for a literal key, else any of them."""
        container = self._single(node.value, shadow, depth)
        if container is None or not isinstance(container.node, ast.Dict | ast.List | ast.Tuple):
            return None
        literal = container.node
        key = self._value(node.slice, shadow, depth)
        if isinstance(literal, ast.Dict):
            entries = [value for item, value in zip(literal.keys, literal.values) if item is not None]
            matches = [
                value
                for item, value in zip(literal.keys, literal.values)
                if isinstance(item, ast.Constant) and key is not NOT_READ and item.value == key
            ]
        else:
            entries = list(literal.elts)
            inside = isinstance(key, int) and not isinstance(key, bool) and -len(entries) <= key < len(entries)
            matches = [entries[key]] if inside else []
        chosen = matches[:1] or entries
        if not chosen or len(chosen) > MAX_ALTERNATIVES or any(isinstance(item, ast.Starred) for item in chosen):
            return None
        return [alt for item in chosen for alt in self._denote(item, container.shadow, depth + 1)][:MAX_ALTERNATIVES]

    def _function(self, func: ast.AST, shadow: _Shadow) -> _Function | None:
        if not isinstance(func, ast.Name):
            return None
        bound = self._lookup(func.id, shadow)
        return self.functions.get(id(bound.node)) if bound is not None and bound.kind == DEF else None

    # Literals

    def _value(self, node: ast.AST, shadow: _Shadow = (), depth: int = 0) -> Any:
        """A literal the expression plainly is (through names, ``np.array``, ``torch.tensor``, ``int``), else
        NOT_READ; numbers, short strings, None, booleans and short tuples of them."""
        if depth > MAX_DEPTH or not self._step():
            return NOT_READ
        if isinstance(node, ast.Constant):
            return _constant(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            number = self._value(node.operand, shadow, depth + 1)
            if not _is_number(number):
                return NOT_READ
            return -number if isinstance(node.op, ast.USub) else number
        if isinstance(node, ast.List | ast.Tuple):
            return self._sequence(node.elts, shadow, depth)
        if isinstance(node, ast.Name | ast.Subscript):
            return self._named_value(node, shadow, depth)
        if isinstance(node, ast.Call) and len(node.args) == 1 and self._original(node.func) in VALUE_WRAPPERS:
            return _converted(self._original(node.func), self._value(node.args[0], shadow, depth + 1))
        return NOT_READ

    def _sequence(self, elements: list[ast.expr], shadow: _Shadow, depth: int) -> Any:
        if len(elements) > MAX_ITEMS:
            return NOT_READ
        values = []
        for element in elements:
            value = self._value(element, shadow, depth + 1)
            if value is NOT_READ:
                return NOT_READ
            values.append(value)
        return tuple(values)

    def _named_value(self, node: ast.Name | ast.Subscript, shadow: _Shadow, depth: int) -> Any:
        """The one value every binding the name may have agrees on (a loop over ``[1, 1]`` is 1)."""
        values = []
        for alt in self._denote(node, shadow, depth + 1):
            if not alt.exact or alt.node is node:
                return NOT_READ
            values.append(self._value(alt.node, alt.shadow, depth + 1))
        if not values or values[0] is NOT_READ or any(value != values[0] for value in values):
            return NOT_READ
        return values[0]

    def _number(self, node: ast.AST) -> float | int | None:
        value = self._value(node)
        return value if _is_number(value) else None

    def _numbers(self, node: ast.AST) -> tuple[float, ...] | None:
        """Numbers given as a literal list, tuple, array or tensor, through ``.view(3, 1, 1)`` and ``[:, None]``."""
        for _ in range(MAX_DEPTH):
            alt = self._single(node)
            if alt is None:
                return None
            inner = alt.node
            if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute):
                if inner.func.attr in UNWRAPPED_METHODS:
                    node = inner.func.value
                    continue
            if isinstance(inner, ast.Subscript):
                node = inner.value
                continue
            value = self._value(inner, alt.shadow)
            if _is_number(value):
                return (float(value),)
            if isinstance(value, tuple) and value and all(_is_number(item) for item in value):
                return tuple(float(item) for item in value)
            return None
        return None

    def _argument_value(self, node: ast.AST) -> Any:
        value = self._value(node)
        return value if value is not NOT_READ else self._describe(node)

    def _describe(self, node: ast.AST) -> str:
        """What a non-literal argument is: ``function f``, ``SegmentationAlgorithm('quickshift', ...)``, or
        ``code: <its source>`` when short, else "unknown"."""
        alt = self._single(node)
        target = alt.node if alt is not None else node
        if isinstance(target, ast.FunctionDef | ast.AsyncFunctionDef):
            return f"function {target.name}"
        if isinstance(target, ast.Call) and self._original(target.func) == "SegmentationAlgorithm":
            return self._algorithm(target)
        text = _shown(target)
        return f"code: {text}" if text != ELLIPSIS else UNKNOWN

    def _algorithm(self, call: ast.Call) -> str:
        parts = [_brief(self._value(argument)) for argument in call.args[:MAX_ITEMS]]
        parts += [f"{keyword.arg}={_brief(self._value(keyword.value))}" for keyword in call.keywords[:MAX_ITEMS]]
        return _clipped(f"SegmentationAlgorithm({', '.join(parts)})")

    # Model and preprocessing

    def _model(self, call: ast.Call) -> None:
        self._weights(call, call.args[:1])

    def _hub(self, call: ast.Call) -> None:
        """``torch.hub.load('pytorch/vision', 'resnet50', ...)`` and ``get_model('resnet50', ...)``."""
        if self._original(call.func) == "load":
            if _owner(call.func) != "hub":
                return
            name, legacy = _argument(call, 1, "model"), call.args[2:3]
        else:
            name, legacy = _argument(call, 0, "name"), []
        model = self._value(name) if name is not None else NOT_READ
        if isinstance(model, str) and model.lower() == "resnet50":
            self._weights(call, legacy)

    def _weights(self, call: ast.Call, legacy: list[ast.expr]) -> None:
        value, reason = self._weights_of(call, legacy)
        self._add("weights", value, call, f"; {reason}" if reason else "")

    def _weights_of(self, call: ast.Call, legacy: list[ast.expr]) -> tuple[str, str]:
        keywords = {keyword.arg: keyword.value for keyword in call.keywords}
        if "weights" in keywords:
            return self._weights_version(keywords["weights"])
        pretrained = keywords.get("pretrained", legacy[0] if legacy else None)
        if pretrained is not None:
            flag = self._value(pretrained)
            if isinstance(flag, int | float):
                return ("IMAGENET1K_V1", "pretrained=True loads IMAGENET1K_V1") if flag else ("none", "random weights")
            return UNKNOWN, "pretrained is not a literal"
        if None in keywords:
            return UNKNOWN, "the weights may come from **kwargs"
        return "none", "no weights given: random initialisation"

    def _weights_version(self, node: ast.AST) -> tuple[str, str]:
        """The canonical version a ``weights=`` expression names, and why when it is not plain."""
        members = {self._member(alt) if alt.exact else UNKNOWN for alt in self._denote(node)}
        member = members.pop() if len(members) == 1 else UNKNOWN
        reasons = {UNKNOWN: "the weights are not read", "none": "random weights", "DEFAULT": "DEFAULT is IMAGENET1K_V2"}
        return WEIGHT_VERSIONS.get(member, member), reasons.get(member, "")

    def _member(self, alt: _Alt) -> str:
        """The ResNet50_Weights member (``DEFAULT`` as written) or "none" for ``weights=None``."""
        node = alt.node
        if isinstance(node, ast.Constant):
            if node.value is None:
                return "none"
            value = _constant(node.value)
            text = value.removeprefix(f"{WEIGHTS_CLASS}.") if isinstance(value, str) else ""
            return text if text in WEIGHT_VERSIONS else UNKNOWN
        if isinstance(node, ast.Attribute) and self._original(node.value) == WEIGHTS_CLASS:
            return node.attr if node.attr in WEIGHT_VERSIONS else UNKNOWN
        if isinstance(node, ast.Subscript) and self._original(node.value) == WEIGHTS_CLASS:
            key = self._value(node.slice, alt.shadow)
            return key if isinstance(key, str) and key in WEIGHT_VERSIONS else UNKNOWN
        if isinstance(node, ast.Call) and self._original(node.func) in ("get_weight", "verify") and node.args:
            members = {self._member(inner) if inner.exact else UNKNOWN for inner in self._denote(node.args[0])}
            return members.pop() if len(members) == 1 else UNKNOWN
        return UNKNOWN

    def _normalize(self, call: ast.Call) -> None:
        """``Normalize(mean, std)``, or ``normalize(tensor, mean, std)`` of torchvision's functional API (the
        L2 ``torch.nn.functional.normalize`` has no mean and std)."""
        offset = 1 if self._original(call.func) == "normalize" else 0
        mean, std = _argument(call, offset, "mean"), _argument(call, offset + 1, "std")
        if offset and (mean is None or std is None):
            return
        numbers = [self._numbers(node) if node is not None else None for node in (mean, std)]
        value, reason = _normalisation(numbers[0], numbers[1])
        self._add("normalised", value, call, f": {reason}")

    def _weight_transforms(self, call: ast.Call) -> None:
        """``weights.transforms()``: ImageNet's mean and std, and the version's resize and crop."""
        if not isinstance(call.func, ast.Attribute) or call.args:
            return
        version, _ = self._weights_version(call.func.value)
        if version not in TRANSFORM_SIZES and "weight" not in _shown(call.func.value).lower():
            return
        self._add("normalised", True, call, ": normalises with ImageNet's mean and std")
        if version in TRANSFORM_SIZES:
            resize, crop = TRANSFORM_SIZES[version]
            self._add("resize", resize, call, f" of {version}")
            self._add("crop", crop, call, f" of {version}")

    def _preprocess_image(self, call: ast.Call) -> None:
        mean, std = _argument(call, 1, "mean"), _argument(call, 2, "std")
        given = [self._numbers(node) if node is not None else PREPROCESS_DEFAULT for node in (mean, std)]
        default = " (1.5.7's default mean=std=0.5)" if mean is None or std is None else ""
        value, reason = _normalisation(given[0], given[1])
        self._add("preprocess_cam", True, call, f"{default}: {reason}")
        self._add("normalised", value, call, f"{default}: {reason}")

    def _resize(self, call: ast.Call) -> None:
        """``Resize(size)``; ``cv2.resize(img, (w, h))`` and PIL's ``img.resize((w, h))`` read as (h, w)."""
        owner = _owner(call.func)
        if self._original(call.func) == "Resize":
            size, width_first = _argument(call, 0, "size"), False
        elif owner in WIDTH_FIRST_OWNERS:
            size, width_first = _argument(call, 1, "dsize"), True
        elif owner in FUNCTIONAL_OWNERS or isinstance(call.func, ast.Name):
            size, width_first = _argument(call, 1, "size"), False
        elif owner not in NUMERIC_MODULES:
            size, width_first = _argument(call, 0, "size"), True
        else:
            return
        value = self._value(size) if size is not None else NOT_READ
        if width_first and not (isinstance(value, tuple) and len(value) == 2):
            return
        self._add("resize", _size(value, width_first), call, "; given as (width, height)" if width_first else "")

    def _crop(self, call: ast.Call) -> None:
        functional = self._original(call.func) == "center_crop"
        size = _argument(call, 1, "output_size") if functional else _argument(call, 0, "size")
        self._add("crop", _size(self._value(size) if size is not None else NOT_READ, False), call)

    def _compose(self, call: ast.Call) -> None:
        self._add("pipelines", False, call, ": a transform pipeline without Normalize")

    def _by_hand(self, node: ast.BinOp) -> None:
        """``x - mean`` with ImageNet's mean: normalisation written out."""
        numbers = self._numbers(node.right) if isinstance(node.right, ast.Name | ast.Call | ast.List) else None
        if numbers is not None and len(numbers) == 3 and _imagenet(numbers, IMAGENET_MEAN):
            self._add("normalised", True, node, ": ImageNet's mean subtracted by hand")

    # CAMs

    def _cam_classes(self, func: ast.AST) -> list[str]:
        names = [self._cam_class(alt.node) for alt in self._denote(func)]
        return list(dict.fromkeys(name for name in names if name is not None))

    def _cam_class(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            module, original = self.imports.get(node.id, ("", node.id))
        elif isinstance(node, ast.Attribute):
            module, original = self.imports.get(_owner(node) or "", ("", ""))[0], node.attr
        else:
            return None
        if original in CAM_PARAMETERS:
            return original
        from_package = module.split(".")[0] == GRAD_CAM_PACKAGE and ".utils" not in module and ".metrics" not in module
        return original if from_package and original[:1].isupper() and original not in NOT_CAMS else None

    def _construct(self, call: ast.Call, classes: list[str]) -> None:
        layers_node = _argument(call, 1, "target_layers")
        if layers_node is None:
            layers, notes = (UNKNOWN,), ["no target_layers given"]
        else:
            layers, notes = self._layers(layers_node)
        builders = [self._builder(name, call, layers, notes) for name in classes]
        self.constructions[id(call)] = builders
        self.methods += builders

    def _builder(self, name: str, call: ast.Call, layers: tuple[str, ...], notes: list[str]) -> _MethodBuilder:
        parameters = CAM_PARAMETERS.get(name)
        positions = parameters or BASE_PARAMETERS
        options: dict[str, Any] = {}
        notes = list(notes)
        for position, argument in enumerate(call.args[2:MAX_ITEMS], start=2):
            options[positions[position] if position < len(positions) else f"argument {position + 1}"] = (
                self._argument_value(argument)
            )
        for keyword in call.keywords[:MAX_ITEMS]:
            if keyword.arg is None:
                notes.append(f"**{_shown(keyword.value)} is not read")
            elif keyword.arg not in ("model", "target_layers"):
                options[keyword.arg] = self._argument_value(keyword.value)
                if parameters is not None and keyword.arg not in parameters:
                    notes.append(_not_a_parameter(name, keyword.arg))
        if isinstance(options.get("reshape_transform"), bool):
            notes.append("reshape_transform is a boolean: the third argument was use_cuda before 1.5")
        return _MethodBuilder(name, layers, self.cell, options, notes)

    def _layers(self, node: ast.AST) -> tuple[tuple[str, ...], list[str]]:
        alt = self._single(node)
        if alt is None:
            return (UNKNOWN,), [f"target_layers not read: {_shown(node)}"]
        notes: list[str] = []
        if isinstance(alt.node, ast.List | ast.Tuple) and len(alt.node.elts) <= MAX_ITEMS:
            paths = [self._layer(element, alt.shadow) for element in alt.node.elts]
        elif isinstance(alt.node, ast.Attribute | ast.Subscript):
            paths = [self._layer(alt.node, alt.shadow)]
            notes.append("target_layers is not a list: the library loops over it (a Sequential gives its blocks)")
        else:
            return (UNKNOWN,), [f"target_layers not read: {_shown(node)}"]
        for path in paths:
            notes += _layer_notes(path)
        return tuple(paths) or (UNKNOWN,), notes

    def _layer(self, node: ast.AST, shadow: _Shadow) -> str:
        """``model.layer4[-1]`` as ``layer4[-1]``: the attributes and indices from the model down."""
        parts: list[str] = []
        for _ in range(MAX_DEPTH):
            if isinstance(node, ast.Attribute):
                parts.append(f".{node.attr}")
                node = node.value
            elif isinstance(node, ast.Subscript):
                index = self._value(node.slice, shadow)
                if not isinstance(index, int) or isinstance(index, bool):
                    return UNKNOWN
                parts.append(f"[{index}]")
                node = node.value
            elif isinstance(node, ast.Name):
                alt = self._single(node, shadow)
                if (
                    alt is None
                    or alt.node is node
                    or not isinstance(alt.node, ast.Name | ast.Attribute | ast.Subscript)
                ):
                    break
                node, shadow = alt.node, alt.shadow
            else:
                return UNKNOWN
        parts.reverse()
        start = next((index for index, part in enumerate(parts) if part[1:] in RESNET50_CHILDREN), 0)
        return "".join(parts[start:]).lstrip(".") or UNKNOWN

    def _built(self, func: ast.AST) -> list[_MethodBuilder]:
        alts = self._denote(func)
        return [builder for alt in alts for builder in self.constructions.get(id(alt.node), ())]

    def _cam_call(self, call: ast.Call) -> None:
        """``cam(input_tensor=..., targets=...)``: how its target classes are chosen, and its call options."""
        builders = self._built(call.func)
        if not builders and not {keyword.arg for keyword in call.keywords} & {"input_tensor", "targets"}:
            return
        names = ", ".join(dict.fromkeys(builder.name for builder in builders))
        targets = _argument(call, 1, "targets")
        for position, option in ((2, "aug_smooth"), (3, "eigen_smooth")):
            given = _argument(call, position, option)
            for builder in builders if given is not None else ():
                builder.options[option] = self._argument_value(given)
        if targets is None:
            self._add("targets", UNKNOWN, call, ": targets not passed, which 1.5.7's call needs (TypeError)")
            return
        for value, reason in self._targets(targets):
            self._add("targets", value, call, f"; {reason}" + (f" ({names})" if names else ""))

    def _targets(self, node: ast.AST) -> list[tuple[str, str]]:
        kinds: list[tuple[str, str]] = []
        for alt in self._denote(node):
            target = alt.node
            if alt.exact and isinstance(target, ast.Constant) and target.value is None:
                kinds.append(("predicted", "targets=None: the library explains each image's argmax class"))
            elif alt.exact and isinstance(target, ast.List | ast.Tuple):
                kinds += [self._target(element, alt.shadow) for element in target.elts[:MAX_ITEMS]]
            elif isinstance(target, ast.ListComp):
                kinds.append(self._target(target.elt, alt.shadow))
            else:
                kinds.append((UNKNOWN, "the targets are not a readable list"))
        return list(dict.fromkeys(kinds)) or [(UNKNOWN, "the targets are not read")]

    def _target(self, node: ast.AST, shadow: _Shadow) -> tuple[str, str]:
        alt = self._single(node, shadow)
        call = alt.node if alt is not None else None
        name = self._original(call.func) if isinstance(call, ast.Call) else None
        if not isinstance(call, ast.Call) or not (name or "").endswith(TARGET_SUFFIXES):
            return UNKNOWN, "not a ClassifierOutputTarget"
        category = _argument(call, 0, "category")
        return self._category(category, alt.shadow) if category is not None and alt else (UNKNOWN, "no class")

    def _category(self, node: ast.AST, shadow: _Shadow) -> tuple[str, str]:
        value = self._value(node, shadow)
        if isinstance(value, int) and not isinstance(value, bool):
            return f"constant:{value}", "the same class for every image"
        facts = self._origin(node, shadow)
        for fact, kind, reason in (
            ("predicted", "predicted", "from the model's output (argmax, topk or max)"),
            ("table", "true-class", "looked up in a table of classes"),
            ("listed", "true-class", "one class index listed per image"),
            ("name:predicted", "predicted", "by the name it is given"),
            ("name:true", "true-class", "by the name it is given"),
        ):
            if fact in facts:
                return kind, reason
        return UNKNOWN, "where the class comes from is not read"

    def _origin(self, start: ast.AST, shadow: _Shadow) -> set[str]:
        """Where a class index comes from: the model's output (``predicted``), a table (``table``), literal
        indices per image (``listed``), or only a name that suggests one of them."""
        facts: set[str] = set()
        queue: deque[tuple[ast.AST, _Shadow]] = deque([(start, shadow)])
        seen: dict[int, ast.AST] = {}  # holds the nodes too: a row made up for zip() must keep its id
        while queue and len(seen) < MAX_SEARCH:
            node, shadow = queue.popleft()
            if id(node) in seen:
                continue
            seen[id(node)] = node
            if isinstance(node, ast.Name):
                queue.extend(self._name_origin(node, shadow, facts))
                continue
            if isinstance(node, ast.Call):
                facts |= self._call_origin(node, shadow, queue)
            elif isinstance(node, ast.Subscript) and self._is_table(node.value, shadow):
                facts.add("table")
            queue.extend((child, shadow) for child in islice(ast.iter_child_nodes(node), MAX_ITEMS))
        return facts

    def _name_origin(self, node: ast.Name, shadow: _Shadow, facts: set[str]) -> list[tuple[ast.AST, _Shadow]]:
        alts = self._denote(node, shadow)
        if len(alts) == 1 and alts[0].node is node:
            facts |= {"name:predicted"} if PREDICTED_NAME.search(node.id) else set()
            facts |= {"name:true"} if TRUE_NAME.search(node.id) else set()
            return []
        values = {self._value(alt.node, alt.shadow) if alt.exact else NOT_READ for alt in alts}
        if len(values) > 1 and all(isinstance(value, int) and not isinstance(value, bool) for value in values):
            facts.add("listed")
        return [(alt.node, alt.shadow) for alt in alts]

    def _call_origin(self, call: ast.Call, shadow: _Shadow, queue: deque[tuple[ast.AST, _Shadow]]) -> set[str]:
        name = self._original(call.func)
        function = self._function(call.func, shadow)
        if function is not None:
            queue.extend((value, shadow) for value in self._returned(function.node))
        if name in PREDICTION_CALLS:
            return {"predicted"}
        return {"table"} if name == "index" or (name in ("load", "loads") and _owner(call.func) == "json") else set()

    def _returned(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.expr]:
        if id(node) not in self.returns:
            returns = [part.value for part in _bounded_walk(node, MAX_RERUN_NODES) if isinstance(part, ast.Return)]
            self.returns[id(node)] = [value for value in returns if value is not None][:MAX_ITEMS]
        return self.returns[id(node)]

    def _is_table(self, node: ast.AST, shadow: _Shadow) -> bool:
        alt = self._single(node, shadow)
        if alt is None:
            return False
        table = alt.node
        if isinstance(table, ast.Call) and self._original(table.func) in ("load", "loads"):
            return _owner(table.func) == "json"
        return isinstance(table, ast.Dict | ast.DictComp) or isinstance(self._value(table, alt.shadow), tuple)

    # LIME

    def _lime(self, call: ast.Call) -> None:
        if len(self.lime) >= MAX_FINDINGS:
            return
        function = self._original(call.func) or ""
        parameters = EXPLAIN_PARAMETERS if function == "explain_instance" else MASK_PARAMETERS
        given: dict[str, ast.AST] = {}
        notes = []
        for position, argument in enumerate(call.args[:MAX_ITEMS]):
            if isinstance(argument, ast.Starred):
                notes.append(f"*{_shown(argument.value)} is not read")
                break
            given[parameters[position] if position < len(parameters) else f"argument {position + 1}"] = argument
        for keyword in call.keywords[:MAX_ITEMS]:
            if keyword.arg is not None:
                given[keyword.arg] = keyword.value
                continue
            spread = self._spread(keyword.value)
            if spread is None:
                notes.append(f"**{_shown(keyword.value)} is not read")
            given |= spread or {}
        arguments = {key: self._argument_value(node) for key, node in given.items() if key not in NOT_RECORDED}
        self.lime.append(LimeCall(function, self.cell, arguments, tuple(notes)))

    def _spread(self, node: ast.AST) -> dict[str, ast.AST] | None:
        """The entries of a literal dict or ``dict(k=v, ...)`` passed as ``**params``."""
        alt = self._single(node)
        literal = alt.node if alt is not None else None
        if isinstance(literal, ast.Call) and self._original(literal.func) == "dict" and not literal.args:
            pairs = [(keyword.arg, keyword.value) for keyword in literal.keywords[: MAX_ITEMS + 1]]
        elif isinstance(literal, ast.Dict):
            keys = [key.value if isinstance(key, ast.Constant) else None for key in literal.keys[: MAX_ITEMS + 1]]
            pairs = list(zip(keys, literal.values))
        else:
            return None
        if len(pairs) > MAX_ITEMS or not all(isinstance(key, str) for key, _ in pairs):
            return None
        return dict(pairs)

    # IoU thresholds

    def _mark_node(self, node: ast.AST) -> None:
        if isinstance(node, ast.Name):
            self._mark(node.id)
        elif isinstance(node, ast.Attribute):
            self._mark(node.attr)
        elif isinstance(node, ast.arg):
            self._mark(node.arg)
        elif isinstance(node, ast.keyword) and node.arg is not None:
            self._mark(node.arg)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            self._mark(node.value)

    def _mark(self, text: str) -> None:
        """A cell that names an IoU (IoU, Jaccard, intersection) is where thresholds are looked for."""
        if self.cell not in self.iou_cells and len(text) <= MAX_TEXT and IOU_WORDS.search(text):
            self.iou_cells.add(self.cell)

    def _compare(self, node: ast.Compare) -> None:
        """``cam > 0.5``, ``0.5 < cam``, ``cam >= np.percentile(cam, 80)``."""
        symbol = COMPARISONS.get(type(node.ops[0])) if len(node.ops) == 1 else None
        if symbol is None:
            return
        left, right = self._number(node.left), self._number(node.comparators[0])
        if right is not None and left is None:
            value = f"{symbol} {right}"
        elif left is not None and right is None:
            value = f"{FLIPPED[symbol]} {left}"
        elif left is None:
            described = self._threshold_of(node.comparators[0])
            if described is None and not isinstance(node.comparators[0], ast.Name):
                return
            value = f"{symbol} {described}" if described is not None else UNKNOWN
        else:
            return
        self._candidate(node, value)

    def _threshold_of(self, node: ast.AST) -> str | None:
        alt = self._single(node)
        if alt is None:
            return None
        target = alt.node
        if isinstance(target, ast.Call):
            name = self._original(target.func)
            if name in PERCENTILES:
                self.consumed.add(id(target))
                return self._percentile(target)
            return name if name in ("mean", "median", "threshold_otsu") else None
        if isinstance(target, ast.BinOp) and isinstance(target.op, ast.Mult):
            factor, scaled = self._number(target.left), self._threshold_of(target.right)
            return f"{factor} × {scaled}" if factor is not None and scaled is not None else None
        return None

    def _percentile(self, call: ast.Call) -> str:
        name = self._original(call.func) or ""
        method = isinstance(call.func, ast.Attribute) and _owner(call.func) not in NUMERIC_MODULES
        level = _argument(call, 0 if method else 1, "q")
        number = self._number(level) if level is not None else None
        return f"{PERCENTILES[name]} {number if number is not None else UNKNOWN}"

    def _threshold_call(self, call: ast.Call) -> None:
        """A percentile, quantile, Otsu or ``cv2.threshold`` not already part of a comparison."""
        name = self._original(call.func)
        if name in PERCENTILES:
            self._candidate(call, self._percentile(call))
        elif name == "threshold_otsu":
            self._candidate(call, "otsu")
        elif name == "threshold" and _owner(call.func) == "cv2":
            level = self._number(call.args[1]) if len(call.args) > 1 else None
            self._candidate(call, f"> {level if level is not None else UNKNOWN}", " (THRESH_BINARY)")

    def _candidate(self, node: ast.AST, value: str, text: str = "") -> None:
        if len(self.candidates) < MAX_CANDIDATES:
            self.candidates.setdefault(id(node), _Candidate(value, self.cell, self.scope, node, text))

    def _thresholds(self) -> tuple[Found, ...]:
        functions = {function for cell, function in self.iou_calls if cell in self.iou_cells}
        chosen = [
            Found(candidate.value, candidate.cell, _shown(candidate.node) + candidate.text)
            for key, candidate in self.candidates.items()
            if key not in self.consumed and (candidate.cell in self.iou_cells or candidate.scope in functions)
        ][:MAX_FINDINGS]
        if not self.iou_cells:
            return _or(chosen, Found(UNKNOWN, None, "no IoU in the code"))
        return _or(chosen, Found(UNKNOWN, min(self.iou_cells), "an IoU is computed without a threshold read"))

    def _add(self, key: str, value: Any, node: ast.AST, text: str = "") -> None:
        """A reading, once per value and cell; its detail (the code quoted, then ``text``) is made only then."""
        findings = self.found[key]
        seen = (key, value, self.cell)
        if len(findings) < MAX_FINDINGS and seen not in self.found_keys:
            self.found_keys.add(seen)
            findings.append(Found(value, self.cell, _shown(node) + text))


HANDLERS: dict[str, Callable[[_Reader, ast.Call], None]] = {
    "resnet50": _Reader._model,
    "load": _Reader._hub,
    "get_model": _Reader._hub,
    "Normalize": _Reader._normalize,
    "normalize": _Reader._normalize,
    "transforms": _Reader._weight_transforms,
    "preprocess_image": _Reader._preprocess_image,
    "Resize": _Reader._resize,
    "resize": _Reader._resize,
    "CenterCrop": _Reader._crop,
    "center_crop": _Reader._crop,
    "Compose": _Reader._compose,
    "explain_instance": _Reader._lime,
    "get_image_and_mask": _Reader._lime,
    "threshold_otsu": _Reader._threshold_call,
    "threshold": _Reader._threshold_call,
    **dict.fromkeys(PERCENTILES, _Reader._threshold_call),
}
"""What a call by each name (its last attribute, or its original imported name) says about the setup."""


def _tests(test: ast.AST) -> set[int]:
    """The comparisons that decide an ``if``: control flow, not a mask's threshold."""
    tests: set[int] = set()
    stack = [test]
    while stack and len(tests) < MAX_ITEMS:
        node = stack.pop()
        if isinstance(node, ast.Compare):
            tests.add(id(node))
        elif isinstance(node, ast.BoolOp):
            stack.extend(node.values[:MAX_ITEMS])
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            stack.append(node.operand)
    return tests


def _bounded_walk(node: ast.AST, limit: int) -> Iterator[ast.AST]:
    """At most ``limit`` nodes under ``node``, never listing more children than it yields (a literal with
    100,000 elements costs what it shows)."""
    stack = [iter([node])]
    count = 0
    while stack and count < limit:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
            continue
        count += 1
        yield child
        stack.append(ast.iter_child_nodes(child))


def _shown(node: ast.AST) -> str:
    """The node's source when it is short (40 nodes, no long literal), else "…": quoting never builds a long
    string from a long literal, a huge int or a 100,000-piece f-string."""
    for count, part in enumerate(_bounded_walk(node, MAX_SHOWN_NODES + 1), start=1):
        if count > MAX_SHOWN_NODES or (isinstance(part, ast.Constant) and not _short(part.value)):
            return ELLIPSIS
    return _clipped(ast.unparse(node))


def _short(value: Any) -> bool:
    if isinstance(value, str | bytes):
        return len(value) <= MAX_TEXT
    if isinstance(value, int):
        return value.bit_length() <= MAX_INT_BITS
    return True


def _clipped(text: str) -> str:
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + ELLIPSIS


def _brief(value: Any) -> str:
    return "?" if value is NOT_READ else _clipped(repr(value))


def _constant(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else NOT_READ
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= MAX_INT_BITS else NOT_READ
    return NOT_READ


def _converted(wrapper: str | None, value: Any) -> Any:
    if wrapper in ("int", "float"):
        return (int(value) if wrapper == "int" else float(value)) if _is_number(value) else NOT_READ
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _imagenet(numbers: tuple[float, ...], reference: tuple[float, ...]) -> bool:
    """ImageNet's values on [0, 1] pixels, or times 255 on 0-255 pixels (rounded as students round them)."""
    return len(numbers) == 3 and any(
        all(abs(number - scale * expected) <= 0.002 * scale for number, expected in zip(numbers, reference))
        for scale in (1, 255)
    )


def _normalisation(mean: tuple[float, ...] | None, std: tuple[float, ...] | None) -> tuple[Any, str]:
    if mean is None or std is None:
        return UNKNOWN, "mean or std not read"
    if _imagenet(mean, IMAGENET_MEAN) and _imagenet(std, IMAGENET_STD):
        return True, "ImageNet's mean and std"
    return False, f"mean={_brief(mean)}, std={_brief(std)}, not ImageNet's"


def _size(value: Any, width_first: bool) -> Any:
    """A Resize or crop size: an int, or (h, w)."""
    if _is_number(value):
        return value
    if isinstance(value, tuple) and all(_is_number(item) for item in value) and 0 < len(value) <= 2:
        return value[::-1] if width_first else value
    return UNKNOWN


def _layer_notes(path: str) -> list[str]:
    match = re.match(r"(layer\d)(?:\[(-?\d+)\])?", path)
    if match is None or match[1] not in RESNET50_BLOCKS:
        return []
    blocks = RESNET50_BLOCKS[match[1]]
    if match[2] is None:
        return [f"{match[1]} as a whole has the same output as {match[1]}[-1]"] if path == match[1] else []
    index = int(match[2])
    if not -blocks <= index < blocks:
        return [f"ResNet50's {match[1]} has {blocks} blocks: {match[1]}[{index}] raises IndexError"]
    if index == blocks - 1:
        return [f"{match[1]}[{index}] is {match[1]}[-1] in ResNet50"]
    return []


def _not_a_parameter(name: str, keyword: str) -> str:
    if keyword == "use_cuda":
        return f"use_cuda was removed in pytorch-grad-cam 1.5: {name}(..., use_cuda=...) raises TypeError in 1.5.7"
    return f"{keyword} is not a parameter of {name} in pytorch-grad-cam 1.5.7 (TypeError)"


def _owner(func: ast.AST) -> str | None:
    """The name a function is looked up on: ``cv2`` for ``cv2.resize``, ``hub`` for ``torch.hub.load``."""
    if isinstance(func, ast.Attribute):
        if isinstance(func.value, ast.Name):
            return func.value.id
        if isinstance(func.value, ast.Attribute):
            return func.value.attr
    return None


def _argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    if len(call.args) > position and not any(isinstance(arg, ast.Starred) for arg in call.args[: position + 1]):
        return call.args[position]
    return next((item.value for item in call.keywords if item.arg == keyword), None)


def _unique(methods: Iterable[CamMethod]) -> tuple[CamMethod, ...]:
    """Each method once: a function read for several calls builds the same method again."""
    kept: dict[str, CamMethod] = {}
    for method in methods:
        kept.setdefault(repr(method), method)
    return tuple(kept.values())[:MAX_FINDINGS]


def _or(findings: list[Found], missing: Found) -> tuple[Found, ...]:
    return tuple(findings) if findings else (missing,)


def _said(text: str, found: Found) -> str:
    if found.cell is None:
        return f"{text} ({found.detail})." if found.detail else f"{text}."
    return f"{text} ({cell_number(found.cell)}{': ' + found.detail if found.detail else ''})."


def _normalised_words(value: Any) -> str:
    if value is True:
        return "The input is normalised with ImageNet's mean and std"
    if value is False:
        return "The input is not normalised with ImageNet's mean and std"
    return "Whether the input is normalised is unknown"


def _target_words(value: str) -> str:
    if value.startswith("constant:"):
        return f"CAM target: class {value.partition(':')[2]} for every image"
    return {"predicted": "CAM target: the predicted class", "true-class": "CAM target: the true class"}.get(
        value, "CAM target: unknown"
    )


def _method_words(method: CamMethod) -> str:
    options = ", ".join(f"{key}={_brief(value)}" for key, value in method.options.items())
    text = f"{method.name} on {', '.join(method.layers)} ({cell_number(method.cell)}"
    text += f"; {options}" if options else ""
    return text + ")" + "".join(f"; {note}" for note in method.notes) + "."


def _lime_words(call: LimeCall) -> str:
    arguments = ", ".join(f"{key}={_brief(value)}" for key, value in call.arguments.items())
    notes = "".join(f"; {note}" for note in call.notes)
    return f"LIME {call.function}({arguments}) ({cell_number(call.cell)}){notes}."
