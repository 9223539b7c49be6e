"""Imports run one way through the layers the README's architecture section draws.

Each layer may import itself and the layers listed for it, nothing else of the grader;
a wrong-way import is reported with its file and line.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

ALLOWED = {
    "checks": set(),
    "checks.probe": set(),
    "checks.data": {"checks.probe"},
    "checks.engine": {"checks.data", "checks.probe"},
    "checks.grading": {"checks.engine", "checks.data", "checks.probe"},
    "checks.finders": {"checks.grading", "checks.engine", "checks.data", "checks.probe"},
    "checks.assignments": {
        "checks.finders",
        "checks.grading",
        "checks.engine",
        "checks.data",
        "checks.probe",
        "reference",
    },
    "checks.publish": {"checks.grading", "checks.data"},
    "checks.batch": {
        "checks.publish",
        "checks.finders",
        "checks.grading",
        "checks.engine",
        "checks.data",
        "checks.probe",
    },
    "checks.server": {
        "checks.batch",
        "checks.publish",
        "checks.assignments",
        "checks.finders",
        "checks.grading",
        "checks.engine",
        "checks.data",
        "checks.probe",
    },
    "checks.cli": {"checks"},
    "reference": {"checks.data", "checks.probe"},
}
"""Layer -> the layers it may import. ``checks`` is the bare package (its ``__init__``) and holds
no module of its own; ``checks.cli`` sits on top and may import any layer."""


APPLICATIONS = {"checks.cli", "checks.server"}


def layer_of(module: str) -> str | None:
    """The longest layer name that ``module`` is, or lies inside."""
    found = [layer for layer in ALLOWED if module == layer or (layer != "checks" and module.startswith(layer + "."))]
    return max(found, key=len, default=None)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(tree: ast.AST, package: str) -> list[tuple[int, str]]:
    """Every module the code imports, relative imports resolved against ``package``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            found.append((node.lineno, ".".join([*base, *([node.module] if node.module else [])])))
    return found


SHARED_REFERENCE = {"reference", "reference.methods", "reference.torch_tools"}


def own_reference(importer: str, root: Path) -> str | None:
    """The reference package an assignment's suite or reference belongs to (None for shared code): the one its
    mark scheme names, or for an assignment still without one, the reference package of its own name."""
    parts = importer.split(".")
    if parts[:2] == ["checks", "assignments"] and len(parts) > 2:
        scheme = root / "checks" / "assignments" / parts[2] / "assignment.toml"
        return tomllib.loads(scheme.read_text())["reference"] if scheme.is_file() else f"reference.{parts[2]}"
    if parts[0] == "reference" and len(parts) > 1 and ".".join(parts[:2]) not in SHARED_REFERENCE:
        return ".".join(parts[:2])
    return None


def crosses_assignments(importer: str, imported: str, root: Path) -> bool:
    """Whether one assignment's code imports another's suite or reference, or shared code imports
    any assignment's: the grading key covers only an assignment's own packages and the shared ones.
    The applications on top (the command line, the server) grade nothing themselves and may."""
    parts = imported.split(".")
    if parts[0] == "reference" and ".".join(parts[:2]) not in SHARED_REFERENCE:
        return ".".join(parts[:2]) != own_reference(importer, root)
    if parts[:2] == ["checks", "assignments"] and len(parts) > 2:
        return importer.split(".")[:3] != parts[:3] and layer_of(importer) not in APPLICATIONS
    return False


def wrong_way_imports(root: Path) -> list[str]:
    """``path:line: importer imports imported (layer may import only ...)`` for each import against
    the layers' direction, in every module of ``checks`` and ``reference`` under ``root``."""
    problems = []
    for package in ("checks", "reference"):
        for path in sorted((root / package).rglob("*.py")):
            importer = module_name(path, root)
            own = layer_of(importer)
            if own is None:
                problems.append(f"{path.relative_to(root)}: {importer} belongs to no layer")
                continue
            package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
            for line, imported in imported_modules(ast.parse(path.read_text(encoding="utf-8")), package):
                if crosses_assignments(importer, imported, root):
                    problems.append(
                        f"{path.relative_to(root)}:{line}: {importer} imports {imported}, another assignment's code"
                    )
                    continue
                target = layer_of(imported)
                if imported.split(".")[0] not in ("checks", "reference") or target == own:
                    continue
                if (
                    target is None
                    or not any(
                        target == allowed or target.startswith(allowed + ".") for allowed in ALLOWED[own] - {"checks"}
                    )
                    and "checks" not in ALLOWED[own]
                ):
                    problems.append(
                        f"{path.relative_to(root)}:{line}: {importer} imports {imported} "
                        f"({own} may import only {', '.join(sorted(ALLOWED[own])) or 'nothing of the grader'})"
                    )
    return problems


def test_every_import_runs_the_layers_way():
    assert wrong_way_imports(REPO_ROOT) == []


def test_a_planted_wrong_way_import_is_named_with_its_file_and_line(tmp_path):
    for package in ("checks", "reference"):
        target = tmp_path / package
        target.mkdir()
        for path in [*(REPO_ROOT / package).rglob("*.py"), *(REPO_ROOT / package).rglob("*.toml")]:
            copy = target / path.relative_to(REPO_ROOT / package)
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "checks" / "engine" / "planted.py").write_text(
        '"""A wrong-way import."""\n\nimport json\nfrom checks.publish.report import render_student\n'
    )
    (tmp_path / "reference" / "planted.py").write_text("import checks.engine.kernel\n")
    (tmp_path / "checks" / "probe" / "planted.py").write_text("from checks.data import assets\n")
    (tmp_path / "checks" / "probe" / "relative.py").write_text("from ..engine import kernel\n")
    (tmp_path / "checks" / "assignments" / "cs411_a2" / "planted.py").write_text(
        "from reference.ee5179_pa2 import PrescribedCNN\nfrom reference.methods import fgsm\n"
    )
    assert wrong_way_imports(tmp_path) == [
        "checks/assignments/cs411_a2/planted.py:1: checks.assignments.cs411_a2.planted imports "
        "reference.ee5179_pa2, another assignment's code",
        "checks/engine/planted.py:4: checks.engine.planted imports checks.publish.report "
        "(checks.engine may import only checks.data, checks.probe)",
        "checks/probe/planted.py:1: checks.probe.planted imports checks.data "
        "(checks.probe may import only nothing of the grader)",
        "checks/probe/relative.py:1: checks.probe.relative imports checks.engine "
        "(checks.probe may import only nothing of the grader)",
        "reference/planted.py:1: reference.planted imports checks.engine.kernel "
        "(reference may import only checks.data, checks.probe)",
    ]


def test_publishing_and_the_check_api_load_neither_the_kernel_client_nor_the_sandbox():
    probe = (
        "import sys, checks.publish.publisher, checks.grading.check_api\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('nbclient', 'jupyter_client', 'zmq')"
        " or m in ('checks.engine.kernel', 'checks.engine.sandbox', 'checks.engine.student')))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert loaded.stdout.strip() == "[]"
