"""When a stored result still stands: a key over everything that decides a grade.

The key covers the submission's bytes, the assignment, the grader's own code (checks,
references, templates), the data directory's manifest and the options that change a
verdict. An unchanged submission reuses its result; a batch that was killed picks up
where it stopped, because each result is written atomically once it is complete.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import checks
import reference
from checks.assets import MANIFEST_NAME, DataDir
from checks.assignment import Assignment
from checks.submissions import Submission

GRADER_SUFFIXES = (".py", ".toml", ".j2")
CHUNK = 1 << 20


def _hash_file(digest: "hashlib._Hash", path: Path) -> None:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)


def _hash_tree(digest: "hashlib._Hash", root: Path, suffixes: tuple[str, ...] | None = None) -> None:
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        if suffixes is None or path.suffix in suffixes:
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            _hash_file(digest, path)


@functools.cache
def grader_digest() -> str:
    """The grader's code: any change to a check, a reference or a template invalidates results."""
    digest = hashlib.sha256()
    for package in (checks, reference):
        _hash_tree(digest, Path(package.__file__).parent, GRADER_SUFFIXES)
    return digest.hexdigest()


def source_digest(path: Path) -> str:
    digest = hashlib.sha256()
    if path.is_dir() and not path.is_symlink():
        _hash_tree(digest, path)
    elif path.is_file():
        _hash_file(digest, path)
    return digest.hexdigest()


def grading_key(submission: Submission, assignment: Assignment, data: DataDir, settings: dict[str, Any]) -> str:
    manifest = data.root / MANIFEST_NAME
    parts = {
        "submission": source_digest(submission.source),
        "student": submission.student_id,
        "assignment": assignment.id,
        "grader": grader_digest(),
        "data": source_digest(manifest) if manifest.is_file() else "no manifest",
        "settings": settings,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def stored_result(student_dir: Path, key: str) -> dict[str, Any] | None:
    """The stored result when it was made under this exact key; None means grade again."""
    try:
        payload = json.loads((student_dir / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return payload if isinstance(payload, dict) and payload.get("grading_key") == key else None
