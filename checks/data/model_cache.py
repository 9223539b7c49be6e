"""Trained reference models stored as safetensors, keyed by a hash of their recipe.

Training a reference takes minutes, so it happens once; any change to the recipe
changes the key, so a stale model is never served for a new recipe.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from checks.data.assets import resolve_folder, user_cache_dir

CACHE_ENV_VAR = "XAIGRADER_CACHE"
MODELS_SUBDIR = "reference-models"


def resolve_cache_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    return resolve_folder(explicit, CACHE_ENV_VAR, user_cache_dir())


def recipe_key(recipe: Mapping[str, Any]) -> str:
    canonical = json.dumps(recipe, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CachedModel:
    path: Path
    metadata: dict[str, Any]


class ModelCache:
    """Reads from the data directory's shipped models first, then the writable cache."""

    def __init__(self, writable_dir: Path, read_only_dirs: tuple[Path, ...] = ()) -> None:
        self.writable_dir = writable_dir / MODELS_SUBDIR
        self.search_dirs = tuple(d / MODELS_SUBDIR for d in read_only_dirs) + (self.writable_dir,)

    def file_name(self, name: str, recipe: Mapping[str, Any]) -> str:
        return f"{name}-{recipe_key(recipe)}.safetensors"

    def load_into(self, model: nn.Module, name: str, recipe: Mapping[str, Any]) -> CachedModel | None:
        """Fill ``model`` from the cache; None when no model for this exact recipe exists."""
        file_name = self.file_name(name, recipe)
        for folder in self.search_dirs:
            candidate = folder / file_name
            if candidate.is_file():
                model.load_state_dict(load_file(str(candidate)))
                return CachedModel(candidate, self._read_metadata(candidate))
        return None

    def store(self, model: nn.Module, name: str, recipe: Mapping[str, Any], metadata: Mapping[str, Any]) -> CachedModel:
        """Write atomically, so a killed run never leaves a half-written model behind."""
        self.writable_dir.mkdir(parents=True, exist_ok=True)
        target = self.writable_dir / self.file_name(name, recipe)
        tensors = {key: value.detach().contiguous() for key, value in model.state_dict().items()}
        header = {"recipe": json.dumps(recipe, sort_keys=True), "metadata": json.dumps(dict(metadata))}
        handle, temporary = tempfile.mkstemp(dir=self.writable_dir, suffix=".partial")
        os.close(handle)
        try:
            save_file(tensors, temporary, metadata=header)
            os.replace(temporary, target)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
        return CachedModel(target, dict(metadata))

    @staticmethod
    def _read_metadata(path: Path) -> dict[str, Any]:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
        return json.loads(header.get("metadata", "{}"))
