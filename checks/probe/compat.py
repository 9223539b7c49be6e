"""APIs that Colab-era notebooks call and today's libraries removed, provided again inside the kernel.

The whole layer, each entry acting only where the library lacks the API:

- ``np.asfarray`` (removed in NumPy 2): ``np.asarray`` with a floating dtype;
- ``iterator.next()`` on a DataLoader's iterator (Python 2's name): ``next(iterator)``;
- ``torch.cuda.FloatTensor``, ``LongTensor``, ... on a machine without CUDA: the CPU tensor types
  (``devices.install_cpu_tensor_types``);
- ``torch.load`` of a file that only unpickles with ``weights_only=False`` (a whole module the
  notebook saved; torch 2.6 made ``weights_only=True`` the default): loaded again with
  ``weights_only=False``, since the file and the code that wrote it are inside the sandbox; only
  for a path, and only when the notebook did not choose ``weights_only`` itself;
- ``!nvidia-smi``: a line saying there is no GPU while grading.

Each use is recorded as a ``compat`` shim event naming the API, once per cell.
"""

from __future__ import annotations

import functools
import os
import pickle
import re

from .devices import install_cpu_tensor_types
from .events import EventLog
from .imports import when_imported

NVIDIA_SMI = re.compile(r"^\s*nvidia-smi\b")
WEIGHTS_ONLY_REFUSAL = "Weights only load failed"


class CompatUses:
    """Records an entry of the layer the first time each cell (or grader call) uses it."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.seen: set[tuple[object, str]] = set()

    def __call__(self, api: str, note: str) -> None:
        key = (self.log.cell, api)
        if key not in self.seen:
            self.seen.add(key)
            self.log.record("shim", shim="compat", api=api, note=note)


def install_compat(shell, log: EventLog) -> None:
    used = CompatUses(log)

    def patch_torch(torch) -> None:
        install_cpu_tensor_types(torch, used)
        _retry_whole_module_load(torch, used)

    when_imported("numpy", lambda numpy: _provide_asfarray(numpy, used))
    when_imported("torch.utils.data.dataloader", lambda module: _provide_iterator_next(module, used))
    when_imported("torch", patch_torch)
    _answer_nvidia_smi(shell, used)


def _provide_asfarray(numpy, used: CompatUses) -> None:
    if hasattr(numpy, "asfarray"):
        return

    def asfarray(a, dtype=numpy.float64):
        used("np.asfarray", "removed in NumPy 2: np.asarray with a floating dtype")
        if not numpy.issubdtype(dtype, numpy.inexact):
            dtype = numpy.float64
        return numpy.asarray(a, dtype=dtype)

    numpy.asfarray = asfarray


def _provide_iterator_next(dataloader, used: CompatUses) -> None:
    base = dataloader._BaseDataLoaderIter
    if hasattr(base, "next"):
        return

    def next_batch(self):
        used("DataLoader iterator .next()", "Python 2's iterator method: next(iterator)")
        return next(self)

    base.next = next_batch


def _retry_whole_module_load(torch, used: CompatUses) -> None:
    original = torch.load

    @functools.wraps(original)
    def load(f, *args, **kwargs):
        try:
            return original(f, *args, **kwargs)
        except pickle.UnpicklingError as error:
            if (
                "weights_only" in kwargs
                or not isinstance(f, (str, os.PathLike))
                or WEIGHTS_ONLY_REFUSAL not in str(error)
            ):
                raise
        used(
            "torch.load(weights_only=False)",
            f"{str(os.fspath(f))[:200]} holds more than weights; loaded in the sandbox",
        )
        return original(f, *args, weights_only=False, **kwargs)

    torch.load = load


def _answer_nvidia_smi(shell, used: CompatUses) -> None:
    original = shell.system

    def system(command: str):
        if isinstance(command, str) and NVIDIA_SMI.match(command):
            used("nvidia-smi", "no GPU while grading")
            print("xaigrader: no GPU while grading (nvidia-smi is not available; the notebook runs on the CPU)")
            return None
        return original(command)

    shell.system = system
