"""Seeded stand-in models, built identically inside the student kernel and in the grader.

Both sides must produce bit-equal weights so that a check can compare a student's
result on the kernel's model with the reference's result on the grader's copy.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

GLOBAL_RNG = threading.RLock()
"""Held while torch's process-wide generator is seeded and drawn from: the grader judges several
submissions at once in threads, and two seeded builds drawing from it together would each get
weights that differ from the kernel's."""

CALIBRATION_SHAPE = (8, 3, 224, 224)


def calibrate_batch_norm(model: nn.Module, inputs: torch.Tensor) -> None:
    """Set every batch-norm layer's running statistics to those of ``inputs``.

    A fresh init in eval mode keeps statistics of 0 and 1 that do not match its
    activations, which shrinks gradients to ~1e-13 and makes comparisons meaningless.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
    model.train()
    with torch.no_grad():
        model(inputs)
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum


@contextmanager
def seeded_global_rng(seed: int) -> Iterator[None]:
    """Torch's global generator seeded for this block alone (for inits that take no generator),
    restored afterwards and held against other threads meanwhile."""
    with GLOBAL_RNG, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def seeded_stand_in(builder, seed: int = 0, **kwargs) -> nn.Module:
    """The architecture with a deterministic init that leaves the global RNG alone."""
    with seeded_global_rng(seed):
        model = builder(weights=None, **kwargs)
        calibrate_batch_norm(model, torch.randn(CALIBRATION_SHAPE))
    return model.eval()
