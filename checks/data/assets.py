"""The offline data directory: MNIST, pretrained weights, sample images, all verified.

Grading machines are often offline, so every asset the grader or a student notebook
needs is looked up here and never downloaded. The directory is chosen by an explicit
option, else ``$XAIGRADER_DATA``, else a per-user cache folder.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch
import torchvision
from torch import nn

from checks.probe.standin import seeded_stand_in

DATA_ENV_VAR = "XAIGRADER_DATA"
MANIFEST_NAME = "SHA256SUMS"
CHECKPOINTS_SUBDIR = Path("hub") / "checkpoints"
MNIST_RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
STAND_IN_NOTE = "stand-in weights: predicted class names are meaningless"
# torchvision names checkpoints `<arch>-<first hex digits of sha256>.pth`.
CATS_VS_DOGS = "cats_vs_dogs"
CATS_VS_DOGS_CLASSES = ("cat", "dog")  # label 0 and 1, as the Hugging Face dataset numbers them
CHECKPOINT_HASH_PATTERN = re.compile(r"-([a-f0-9]{6,})\.")


class MissingAssetError(FileNotFoundError):
    """An asset the grader needs is absent from the data directory."""


class DataIntegrityError(ValueError):
    """A file in the data directory does not match its recorded checksum."""


def user_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "xaigrader"


def resolve_folder(explicit: str | os.PathLike[str] | None, env_var: str, default: Path) -> Path:
    """Option first, then the environment variable, then the default."""
    chosen = explicit or os.environ.get(env_var)
    return Path(chosen).expanduser().resolve() if chosen else default


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    return resolve_folder(explicit, DATA_ENV_VAR, user_cache_dir() / "data")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class SampleImage:
    """One of the ImageNet sample images, with its class in torchvision's index order."""

    path: Path
    wnid: str
    class_name: str
    class_index: int


@dataclass(frozen=True)
class PretrainedModel:
    """A model with the category names it predicts and whether its weights are real."""

    model: nn.Module
    categories: list[str]
    weights_name: str
    stand_in: bool

    @property
    def note(self) -> str:
        if self.stand_in:
            return f"{self.weights_name}: {STAND_IN_NOTE}"
        return f"{self.weights_name}: real pretrained weights"


class DataDir:
    """Read-only view of one data directory."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = resolve_data_dir(root)
        self._verified: set[str] = set()

    def __repr__(self) -> str:
        return f"DataDir({str(self.root)!r})"

    def path(self, relative: str | os.PathLike[str]) -> Path:
        candidate = self.root / relative
        if not candidate.exists():
            raise MissingAssetError(
                f"{relative} is missing from the data directory {self.root}; "
                f"pass --data-dir or set {DATA_ENV_VAR} to a folder that holds it"
            )
        return candidate

    @cached_property
    def manifest(self) -> dict[str, str]:
        """Relative path -> sha256, from the directory's SHA256SUMS (empty if none)."""
        manifest_file = self.root / MANIFEST_NAME
        if not manifest_file.is_file():
            return {}
        entries: dict[str, str] = {}
        for line in manifest_file.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            digest, _, name = line.partition("  ")
            entries[os.path.normpath(name.lstrip("*"))] = digest.strip()
        return entries

    def verify(self, relatives: list[str] | None = None) -> list[str]:
        """Problems found, one sentence each; an empty list means every file checked out."""
        names = relatives if relatives is not None else sorted(self.manifest)
        problems = []
        for name in names:
            key = os.path.normpath(name)
            expected = self.manifest.get(key)
            target = self.root / key
            if not target.is_file():
                problems.append(f"{key}: missing")
            elif expected is None:
                problems.append(f"{key}: not listed in {MANIFEST_NAME}")
            elif sha256_of(target) != expected:
                problems.append(f"{key}: sha256 differs from {MANIFEST_NAME}")
        return problems

    def require_verified(self, relatives: list[str]) -> None:
        """Raise unless every named file matches the manifest; each file is hashed once."""
        pending = [name for name in relatives if name not in self._verified]
        if not pending or not self.manifest:
            return
        problems = self.verify(pending)
        if problems:
            raise DataIntegrityError(f"data directory {self.root} failed verification: " + "; ".join(problems))
        self._verified.update(pending)

    @property
    def torch_home(self) -> Path:
        """Value for ``TORCH_HOME`` so torchvision finds ``hub/checkpoints`` here."""
        return self.root

    @property
    def mnist_root(self) -> Path:
        """The ``root`` that ``torchvision.datasets.MNIST`` expects (it holds ``MNIST/raw``)."""
        self.require_verified([f"MNIST/raw/{name}" for name in MNIST_RAW_FILES])
        return self.root

    def mnist_arrays(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw MNIST as (N, 28, 28) uint8 images and (N,) int64 labels."""
        dataset = torchvision.datasets.MNIST(str(self.mnist_root), train=train, download=False)
        return dataset.data.clone(), dataset.targets.clone()

    def cats_vs_dogs_files(self) -> list[tuple[str, int]]:
        """Every cats-vs-dogs image as (path relative to the data directory, label), in the order both
        Hugging Face's image-folder loader and torchvision's ``ImageFolder`` give rows: by path."""
        folder = self.path(CATS_VS_DOGS)
        files = []
        for label, name in enumerate(CATS_VS_DOGS_CLASSES):
            files.extend(
                (path.relative_to(self.root).as_posix(), label) for path in (folder / name).iterdir() if path.is_file()
            )
        return sorted(files)

    def imagenet_categories(self) -> list[str]:
        weights = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1
        return list(weights.meta["categories"])

    def imagenet_samples(self) -> list[SampleImage]:
        """The sample images, named `<wnid>_<class name with underscores>.JPEG`."""
        folder = self.path("imagenet-samples")
        categories = self.imagenet_categories()
        samples = []
        for image in sorted(folder.iterdir()):
            wnid, _, rest = image.stem.partition("_")
            class_name = rest.replace("_", " ")
            if class_name not in categories:
                raise MissingAssetError(f"{image.name}: class {class_name!r} is not an ImageNet category")
            samples.append(SampleImage(image, wnid, class_name, categories.index(class_name)))
        return samples

    def checkpoint_path(self, file_name: str) -> Path:
        return self.root / CHECKPOINTS_SUBDIR / file_name

    def load_pretrained(self, arch: str, weights_name: str, seed: int = 0) -> PretrainedModel:
        """A torchvision model with real weights when present, else a seeded stand-in.

        ``weights_name`` is the enum member, e.g. ``IMAGENET1K_V1``.
        """
        builder = torchvision.models.get_model_builder(arch)
        weights = torchvision.models.get_model_weights(builder)[weights_name]
        categories = list(weights.meta["categories"])
        label = f"{arch} {weights_name}"
        checkpoint = self.checkpoint_path(Path(weights.url).name)
        if checkpoint.is_file():
            model = builder(weights=None, num_classes=len(categories))
            model.load_state_dict(load_checkpoint(checkpoint))
            stand_in = False
        else:
            model = seeded_stand_in(builder, seed, num_classes=len(categories))
            stand_in = True
        model.eval()
        return PretrainedModel(model, categories, label, stand_in)


def load_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """A state dict, refused when its sha256 contradicts the prefix in its file name."""
    match = CHECKPOINT_HASH_PATTERN.search(path.name)
    if match and not sha256_of(path).startswith(match.group(1)):
        raise DataIntegrityError(f"{path} is corrupt: its sha256 does not start with {match.group(1)} as its name says")
    return torch.load(path, map_location="cpu", weights_only=True)
