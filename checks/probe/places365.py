"""Seeded stand-ins for the Places365 checkpoints that TML25 A4 teams download, in the real files' format.

``resnet18_places365.pth.tar`` (and the ``wideresnet18`` one, whose layers carry the same names) is
``torch.save`` of ``{'epoch', 'arch', 'state_dict', 'best_prec1'}``, its state dict saved from
``nn.DataParallel`` (every key starts with ``module.``) by a torch old enough to keep no
``num_batches_tracked``. Notebooks strip ``module.`` and load the rest into
``torchvision.models.resnet18(num_classes=365)``, so the stand-in must survive exactly that. The real
file is served instead whenever the data directory holds it (``DataIndex`` finds it by name).

Runs inside the kernel, and in the grader when it rebuilds the same weights; torch is imported only
when a stand-in is built.
"""

from __future__ import annotations

import tempfile
import urllib.parse
from pathlib import Path

CHECKPOINT_SEEDS = {"resnet18_places365.pth.tar": 365, "wideresnet18_places365.pth.tar": 366}
"""Seeds distinct from the ImageNet stand-ins' (seed 0), so that a comparison of the ImageNet and the
Places365 ResNet18 does not compare a stand-in with itself."""
CLASSES = 365
EPOCH = 90
CACHE = Path(tempfile.gettempdir()) / "xaigrader-places365"
"""Built once per kernel: a 45 MB checkpoint takes a few seconds, and notebooks load it repeatedly."""


def checkpoint_name(url: str) -> str | None:
    """The Places365 checkpoint a URL (or path) names, whatever its case; None for anything else."""
    name = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name.lower()
    return name if name in CHECKPOINT_SEEDS else None


def stand_in_checkpoint(name: str) -> dict[str, object]:
    """The stand-in checkpoint's contents, as the real file holds them."""
    import torchvision

    from .standin import seeded_stand_in

    model = seeded_stand_in(torchvision.models.resnet18, CHECKPOINT_SEEDS[name], num_classes=CLASSES)
    state = {
        f"module.{key}": value for key, value in model.state_dict().items() if not key.endswith("num_batches_tracked")
    }
    return {"epoch": EPOCH, "arch": "resnet18", "state_dict": state, "best_prec1": 0.0}


def stand_in_path(name: str) -> Path:
    """Where ``stand_in_file`` keeps the stand-in (a shell command may copy it from there)."""
    return CACHE / name


def stand_in_file(name: str) -> Path:
    """The stand-in checkpoint as a file, built on first use, in the real file's (pre-zip) serialization."""
    import torch

    target = stand_in_path(name)
    if not target.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        torch.save(stand_in_checkpoint(name), partial, _use_new_zipfile_serialization=False)
        partial.replace(target)
    return target


def announce(name: str) -> None:
    print(
        f"xaigrader: {name} is not on this machine; using a seeded stand-in checkpoint "
        "(predicted class names are meaningless)"
    )
