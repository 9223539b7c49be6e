"""Each model's weights as they were at the end of every cell that changed them.

A notebook's later code can change a model that an earlier task trained and measured (an
optimiser over the model's parameters in a later function, say). The grader measures a
task's model as that task left it, so a later bug costs the later task only; the changes
themselves are logged, so a report can name the cell or call that made them. A change is
seen in a tensor's storage, version counter or sum, so an unchanged model costs one pass
over its weights and no copy.
"""

from __future__ import annotations

import sys
import weakref
from dataclasses import dataclass
from typing import Any

from .allowed import MAX_STATE_VALUES
from .events import EventLog

MAX_VALUES_READ = 200_000_000
"""Weights read after one cell or call, over all models: a namespace of many large models costs at most
this much time per cell, and the models past it go unrecorded (the grader then measures them as they are)."""
MAX_SNAPSHOT_BYTES = 256 << 20
"""What all snapshots may hold together; past it the oldest are dropped, each leaving a gap that
the grader is told about rather than an older state standing in for it."""


@dataclass
class Snapshot:
    label: int | str  # a notebook cell index, or "call:<function>" for a grader's call
    fingerprint: tuple
    state: dict[str, Any] | None  # None: dropped for the budget, the state from then on is unknown
    size: int  # bytes


def torch_tensor() -> type:
    return sys.modules["torch"].Tensor


def _fingerprint(state: dict[str, Any]) -> tuple:
    """Storage, version counter and a content sum per tensor: updates through ``.data`` or a NumPy view
    advance no version counter, so the content is read too (one pass over the weights). The sum is
    compared as text, so a NaN weight equals itself."""
    import torch

    with torch.no_grad():
        return tuple(
            (key, tensor.data_ptr(), tensor._version, tuple(tensor.shape), repr(tensor.sum(dtype=torch.float64).item()))
            if tensor.is_floating_point()
            else (key, tensor.data_ptr(), tensor._version, tuple(tensor.shape), repr(tensor.flatten()[:8].tolist()))
            for key, tensor in state.items()
        )


class ModelSnapshots:
    def __init__(self, log: EventLog, budget: int = MAX_SNAPSHOT_BYTES) -> None:
        self.log, self.budget = log, budget
        self.history: dict[int, list[Snapshot]] = {}

    def capture(self, namespace: dict[str, Any], label: int | str | None) -> None:
        """Record every model of the namespace whose weights changed since its last snapshot."""
        nn = sys.modules.get("torch.nn")
        if label is None or nn is None:  # no model can exist before torch is imported, and importing it takes seconds
            return
        seen: set[int] = set()
        read = 0
        for name, value in list(namespace.items()):
            try:  # the student's objects: any of them may raise on isinstance (a __class__ property) or on copy
                if name.startswith("_") or not isinstance(value, nn.Module) or id(value) in seen:
                    continue
                seen.add(id(value))
                read += self._capture_one(name, value, label, MAX_VALUES_READ - read)
            except Exception:
                continue
            if read >= MAX_VALUES_READ:
                self.log.record("snapshots_limited", read=read)
                break
        self._keep_within_budget()

    def _capture_one(self, name: str, module: Any, label: int | str, allowed: int) -> int:
        """Snapshot one model if its weights changed; returns how many values were read."""
        state = module.state_dict(keep_vars=False)
        if not all(isinstance(tensor, torch_tensor()) for tensor in state.values()):
            return 0
        values = sum(tensor.numel() for tensor in state.values())
        if values > min(MAX_STATE_VALUES, allowed):
            return 0
        fingerprint = _fingerprint(state)
        past = self.history.get(id(module))
        if past is None:
            past = self.history[id(module)] = []
            # The history goes with the model, so a deleted model frees its memory and its id is not confused.
            weakref.finalize(module, self.history.pop, id(module), None)
        if past and past[-1].fingerprint == fingerprint:
            return values
        copied = {key: tensor.detach().to("cpu", copy=True) for key, tensor in state.items()}
        size = sum(tensor.numel() * tensor.element_size() for tensor in copied.values())
        past.append(Snapshot(label, fingerprint, copied, size))
        if len(past) > 1:
            self.log.record("weights_changed", model=name[:200])
        return values

    def _keep_within_budget(self) -> None:
        """Drop the oldest snapshots until the budget holds, each leaving a gap."""
        held = [snapshot for past in self.history.values() for snapshot in past if snapshot.state is not None]
        total = sum(snapshot.size for snapshot in held)
        for snapshot in sorted(held, key=lambda snapshot: _order(snapshot.label)):
            if total <= self.budget:
                return
            total -= snapshot.size
            snapshot.state, snapshot.size = None, 0

    def state_at(self, module: Any, cell: int) -> Snapshot | None:
        """The snapshot holding the module's weights as the end of notebook cell ``cell`` left them (None: not
        known, as the model did not exist then or its snapshot was dropped)."""
        earlier = [s for s in self.history.get(id(module), []) if isinstance(s.label, int) and s.label <= cell]
        return earlier[-1] if earlier and earlier[-1].state is not None else None


RECORDER: ModelSnapshots | None = None
"""The kernel's recorder, set by ``install``; the export request reads it."""


def weights_at(module: Any, cell: int | None) -> Snapshot | None:
    if cell is None or RECORDER is None:
        return None
    return RECORDER.state_at(module, cell)


def _order(label: int | str) -> float:
    return label if isinstance(label, int) else float("inf")
