"""Run a patch right after a module is first imported, without importing it ourselves.

Importing torch or torchvision at probe start-up would cost seconds on every notebook;
the patches they need are applied only if the student imports them.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from collections.abc import Callable

Patch = Callable[[object], None]


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, wrapped: importlib.abc.Loader, patches: list[Patch]) -> None:
        self.wrapped = wrapped
        self.patches = patches

    def create_module(self, spec):
        return self.wrapped.create_module(spec)

    def exec_module(self, module) -> None:
        self.wrapped.exec_module(module)
        for patch in self.patches:
            patch(module)


class _PostImportFinder(importlib.abc.MetaPathFinder):
    def __init__(self) -> None:
        self.patches: dict[str, list[Patch]] = {}
        self._busy: set[str] = set()

    def find_spec(self, name, path, target=None):
        if name not in self.patches or name in self._busy:
            return None
        self._busy.add(name)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._busy.discard(name)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _PatchingLoader(spec.loader, self.patches.pop(name))
        return spec


_finder = _PostImportFinder()


def when_imported(name: str, patch: Patch) -> None:
    """Apply ``patch(module)`` now if ``name`` is loaded, else right after its import (after any
    patch registered for it earlier)."""
    if name in sys.modules:
        patch(sys.modules[name])
        return
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
    _finder.patches.setdefault(name, []).append(patch)
