"""Whether the IoUs a notebook prints were computed, read from its code with ``ast`` (comments and strings are
not code): an intersection of two regions somewhere in the notebook, no random draw in the cell that prints
them, and the printed values not written into the code as numbers.

A table of ten numbers is cheap to print and costly to compute; a team that fills it with
``np.random.uniform`` or types it in must not get the marks of one that intersected its masks.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from checks.engine.cell_code import parsed_cell

INTERSECTING_CALLS = {"logical_and", "logical_or", "bitwise_and", "minimum", "intersect1d", "jaccard_score"}
INTERSECTING_NAMES = {"intersection", "inter", "overlap", "union"}
RANDOM_MODULES = {"random", "numpy.random", "torch", "np.random"}
RANDOM_FUNCTIONS = {
    "rand",
    "randn",
    "randint",
    "random",
    "uniform",
    "normal",
    "beta",
    "betavariate",
    "choice",
    "random_sample",
    "gauss",
    "triangular",
    "integers",
    "default_rng",
}
MAX_NODES = 200_000


def _walk(tree: ast.AST) -> Iterable[ast.AST]:
    for count, node in enumerate(ast.walk(tree)):
        if count >= MAX_NODES:
            return
        yield node


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def intersects(trees: Iterable[ast.Module]) -> bool:
    """Whether some code intersects two regions: ``&`` or ``|`` of arrays, ``np.logical_and`` and its kin, or a
    variable named for an intersection or union."""
    for tree in trees:
        for node in _walk(tree):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitAnd | ast.BitOr):
                return True
            if isinstance(node, ast.Call) and _dotted(node.func).rsplit(".", 1)[-1] in INTERSECTING_CALLS:
                return True
            if isinstance(node, ast.Name) and node.id.lower() in INTERSECTING_NAMES:
                return True
    return False


def _random_names(trees: Iterable[ast.Module]) -> set[str]:
    """Names the notebook binds to random modules or their functions (``import random as r``,
    ``from numpy.random import uniform``, ``rng = np.random.default_rng()``)."""
    names = {"random"}
    for tree in trees:
        for node in _walk(tree):
            if isinstance(node, ast.Import):
                names |= {alias.asname or alias.name for alias in node.names if alias.name in RANDOM_MODULES}
            elif isinstance(node, ast.ImportFrom) and node.module in ("random", "numpy.random", "torch"):
                names |= {alias.asname or alias.name for alias in node.names if alias.name in RANDOM_FUNCTIONS}
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and draws(node.value, names):
                names |= {target.id for target in node.targets if isinstance(target, ast.Name)}
    return names


def draws(call: ast.Call, random_names: set[str]) -> bool:
    """Whether a call draws random numbers: ``np.random.x``, ``torch.rand*``, a random module's function or a
    name bound to one."""
    dotted = _dotted(call.func)
    head, _, last = dotted.rpartition(".")
    if last == "seed":
        return False
    return (
        ".random" in f".{head}"
        or (head in random_names and last in RANDOM_FUNCTIONS)
        or dotted in random_names
        or (head == "torch" and last.startswith("rand"))
    )


def cell_trees(sources: Iterable[str]) -> list[ast.Module]:
    return [tree for source in sources if (tree := parsed_cell(source)) is not None]


def random_in(cell: ast.Module, notebook: list[ast.Module]) -> bool:
    """Whether a cell draws random numbers."""
    names = _random_names(notebook)
    return any(isinstance(node, ast.Call) and draws(node, names) for node in _walk(cell))


def typed_in(values: Iterable[float], trees: Iterable[ast.Module]) -> set[float]:
    """The values that the code writes as number literals (other than 0 and 1)."""
    literals = {
        round(float(node.value), 4)
        for tree in trees
        for node in _walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, float) and 0 < node.value < 1
    }
    return {value for value in values if round(value, 4) in literals}
