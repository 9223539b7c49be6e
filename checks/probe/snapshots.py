"""Each model's weights as they were at the end of every cell that changed them.

A notebook's later code can change a model that an earlier task trained and measured (an
optimiser over the model's parameters in a later function, say). The grader measures a
task's model as that task left it, so a later bug costs the later task only; the changes
themselves are logged, so a report can name the cell or call that made them. Tensors are
told apart by storage and version counter, which every in-place update (optimiser steps,
``load_state_dict``, ``copy_``) advances, so an unchanged model costs no copy.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from .allowed import MAX_STATE_VALUES
from .events import EventLog

MAX_SNAPSHOT_VALUES = 48_000_000
"""Values all snapshots may hold together (about 190 MB as float32); the oldest go first."""


@dataclass
class Snapshot:
    label: int | str  # a notebook cell index, or "call:<function>" for a grader's call
    fingerprint: tuple
    state: dict[str, Any]
    values: int


def _fingerprint(state: dict[str, Any]) -> tuple:
    return tuple((key, tensor.data_ptr(), tensor._version, tuple(tensor.shape)) for key, tensor in state.items())


class ModelSnapshots:
    def __init__(self, log: EventLog, budget: int = MAX_SNAPSHOT_VALUES) -> None:
        self.log, self.budget = log, budget
        self.history: dict[int, list[Snapshot]] = {}
        self._modules: dict[int, Any] = {}  # keeps each recorded module alive, so its id is not reused

    def capture(self, namespace: dict[str, Any], label: int | str | None) -> None:
        """Record every model of the namespace whose weights changed since its last snapshot."""
        nn = sys.modules.get("torch.nn")
        if label is None or nn is None:  # no model can exist before torch is imported, and importing it takes seconds
            return
        seen: set[int] = set()
        for name, value in list(namespace.items()):
            if name.startswith("_") or not isinstance(value, nn.Module) or id(value) in seen:
                continue
            seen.add(id(value))
            self._capture_one(name, value, label)
        self._keep_within_budget()

    def _capture_one(self, name: str, module: Any, label: int | str) -> None:
        try:
            state = module.state_dict(keep_vars=False)
        except Exception:
            return
        values = sum(tensor.numel() for tensor in state.values() if hasattr(tensor, "numel"))
        if values > MAX_STATE_VALUES or not all(hasattr(tensor, "data_ptr") for tensor in state.values()):
            return
        fingerprint = _fingerprint(state)
        past = self.history.setdefault(id(module), [])
        if past and past[-1].fingerprint == fingerprint:
            return
        self._modules[id(module)] = module
        copied = {key: tensor.detach().clone().cpu() for key, tensor in state.items()}
        past.append(Snapshot(label, fingerprint, copied, values))
        if len(past) > 1:
            self.log.record("weights_changed", model=name, values=values)

    def _keep_within_budget(self) -> None:
        """Drop the oldest snapshots that are not a model's latest until the budget holds."""
        held = sum(snapshot.values for past in self.history.values() for snapshot in past)
        while held > self.budget:
            candidates = [past for past in self.history.values() if len(past) > 1]
            if not candidates:
                return
            oldest = min(candidates, key=lambda past: _order(past[0].label))
            held -= oldest.pop(0).values

    def state_at(self, module: Any, cell: int) -> dict[str, Any] | None:
        """The module's weights as the end of notebook cell ``cell`` left them (None: no snapshot then)."""
        earlier = [s for s in self.history.get(id(module), []) if isinstance(s.label, int) and s.label <= cell]
        return earlier[-1].state if earlier else None


RECORDER: ModelSnapshots | None = None
"""The kernel's recorder, set by ``install``; the export request reads it."""


def weights_at(module: Any, cell: int | None) -> dict[str, Any] | None:
    if cell is None or RECORDER is None:
        return None
    return RECORDER.state_at(module, cell)


def _order(label: int | str) -> float:
    return label if isinstance(label, int) else float("inf")
