"""Shared fixtures: the offline data directory (../shared/data unless XAIGRADER_DATA says
otherwise) and the models the reference tests run on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from checks.data.assets import DATA_ENV_VAR, DataDir, PretrainedModel

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEST_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = Path(os.environ.get(DATA_ENV_VAR) or DEFAULT_TEST_DATA)
    if not (root / "MNIST").is_dir():
        pytest.fail(f"test data not found at {root}: set {DATA_ENV_VAR} to the shared data folder")
    return root


@pytest.fixture(scope="session")
def data(data_root: Path) -> DataDir:
    return DataDir(data_root)


@pytest.fixture(scope="session")
def mobilenet(data: DataDir) -> PretrainedModel:
    from reference.cs411_a2 import load_model

    return load_model(data)


@pytest.fixture(scope="session")
def sample_images(data: DataDir) -> list[Image.Image]:
    return [Image.open(sample.path).convert("RGB") for sample in data.imagenet_samples()[:3]]
