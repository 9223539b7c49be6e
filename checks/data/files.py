"""Result files are written whole or not at all: a killed grader never leaves half a file behind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from checks.data.class_folder import PARTIAL_SUFFIX


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """Write beside, then rename, so a killed run never leaves half a file behind."""
    temporary = path.with_name(path.name + PARTIAL_SUFFIX)
    temporary.write_bytes(data)
    temporary.replace(path)


def write_text_atomically(path: Path, text: str) -> None:
    """As UTF-8; a lone surrogate (a hostile file name read from disk) becomes "?" rather than stopping the write of
    a page or export that carries it, and with it the class's."""
    write_bytes_atomically(path, text.encode("utf-8", "replace"))


def write_json(path: Path, data: Any) -> None:
    write_text_atomically(path, json.dumps(data, indent=2, default=str))
