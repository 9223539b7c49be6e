"""When a stored result still stands: a key over everything that decides a grade, and nothing else.

The key covers the submission's bytes, the code that decides its marks (the probe, data,
engine, grading and finder layers, this assignment's suite and its reference package with
the shared reference code), the data directory's manifest and the options that change a
verdict. Publishing code, templates and other assignments are left out: a change there
re-renders the pages from stored results without running a notebook. A batch that was
killed picks up where it stopped, because each result is written atomically once complete.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

from checks.data.assets import MANIFEST_NAME, DataDir
from checks.data.class_folder import RESULTS_FILE
from checks.engine.intake import Submission
from checks.grading.scheme import Assignment

GRADER_SUFFIXES = (".py", ".toml")
CHECKS_ROOT = Path(__file__).resolve().parent.parent
GRADING_LAYERS = ("probe", "data", "engine", "grading", "finders")
"""The layers under ``checks`` whose code can change a verdict; ``publish``, ``batch`` and the
command line only arrange and show verdicts."""
SHARED_REFERENCE = ("__init__.py", "torch_tools.py", "methods")
"""What every assignment's reference may use, beside its own package."""
CHUNK = 1 << 20


def _hash_file(digest: hashlib._Hash, path: Path) -> None:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)


def _hash_tree(digest: hashlib._Hash, root: Path, suffixes: tuple[str, ...] | None = None) -> None:
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        if suffixes is None or path.suffix in suffixes:
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            _hash_file(digest, path)


def installed_reference_root() -> Path:
    """Where ``reference`` lives, found without importing (and so running) any of it."""
    spec = importlib.util.find_spec("reference")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the reference package is not installed beside checks")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def graded_code(
    assignment: Assignment, checks_root: Path = CHECKS_ROOT, reference_root: Path | None = None
) -> list[Path]:
    """The files and folders of code that decide this assignment's marks."""
    reference_root = reference_root or installed_reference_root()
    own_reference = assignment.reference.removeprefix("reference.").replace(".", "/")
    return (
        [checks_root / layer for layer in GRADING_LAYERS]
        + [checks_root / "__init__.py", checks_root / "assignments" / "__init__.py", assignment.folder]
        + [reference_root / part for part in SHARED_REFERENCE]
        + [reference_root / own_reference]
    )


@functools.cache
def grader_digest(paths: tuple[Path, ...]) -> str:
    """A change to any of this code invalidates the results graded with it."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0")
        if path.is_dir():
            _hash_tree(digest, path, GRADER_SUFFIXES)
        elif path.is_file():
            _hash_file(digest, path)
    return digest.hexdigest()


def source_digest(path: Path) -> str:
    digest = hashlib.sha256()
    if path.is_dir() and not path.is_symlink():
        _hash_tree(digest, path)
    elif path.is_file():
        _hash_file(digest, path)
    return digest.hexdigest()


def data_digest(data: DataDir) -> str:
    """The data as the grading key sees it: the digest of its checksums file, or that there is none."""
    manifest = data.root / MANIFEST_NAME
    return source_digest(manifest) if manifest.is_file() else "no manifest"


def grading_key(submission: Submission, assignment: Assignment, data: DataDir, settings: dict[str, Any]) -> str:
    return content_grading_key(source_digest(submission.source), submission.student_id, assignment, data, settings)


def content_grading_key(
    content_digest: str, student_id: str, assignment: Assignment, data: DataDir, settings: dict[str, Any]
) -> str:
    """The key from the submission's ``source_digest``, for a caller that holds the bytes but no file (a single
    file's digest is the SHA-256 of its bytes)."""
    parts = {
        "submission": content_digest,
        "student": student_id,
        "assignment": assignment.id,
        "grader": grader_digest(tuple(graded_code(assignment))),
        "data": data_digest(data),
        "settings": settings,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def stored_result(student_dir: Path, key: str) -> dict[str, Any] | None:
    """The stored result when it was made under this exact key; None means grade again."""
    try:
        payload = json.loads((student_dir / RESULTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return payload if isinstance(payload, dict) and payload.get("grading_key") == key else None
