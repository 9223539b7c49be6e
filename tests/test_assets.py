import hashlib
from pathlib import Path

import pytest
import torch
import torchvision

import checks.data.assets as assets
from checks.data.assets import (
    STAND_IN_NOTE,
    DataDir,
    DataIntegrityError,
    MissingAssetError,
    load_checkpoint,
    resolve_data_dir,
)
from checks.probe.standin import seeded_stand_in

MOBILENET_FILE = "mobilenet_v2-b0353104.pth"


def write_manifest(root: Path, files: dict[str, bytes]) -> None:
    lines = []
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        lines.append(f"{hashlib.sha256(content).hexdigest()}  ./{name}")
    (root / "SHA256SUMS").write_text("\n".join(lines) + "\n")


def test_data_dir_option_beats_environment_beats_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XAIGRADER_DATA", str(tmp_path / "from-env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert resolve_data_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert resolve_data_dir() == tmp_path / "from-env"
    monkeypatch.delenv("XAIGRADER_DATA")
    assert resolve_data_dir() == tmp_path / "cache" / "xaigrader" / "data"


def test_missing_asset_names_the_way_to_fix_it(tmp_path):
    with pytest.raises(MissingAssetError, match="--data-dir"):
        DataDir(tmp_path).path("imagenet-samples")


def test_verify_reports_tampered_missing_and_unlisted_files(tmp_path):
    write_manifest(tmp_path, {"a.txt": b"alpha", "sub/b.txt": b"beta", "c.txt": b"gamma"})
    (tmp_path / "sub" / "b.txt").write_bytes(b"BETA")
    (tmp_path / "c.txt").unlink()
    (tmp_path / "d.txt").write_bytes(b"delta")
    data = DataDir(tmp_path)
    assert data.verify(["a.txt"]) == []
    problems = data.verify(["a.txt", "sub/b.txt", "c.txt", "d.txt"])
    assert problems == [
        "sub/b.txt: sha256 differs from SHA256SUMS",
        "c.txt: missing",
        "d.txt: not listed in SHA256SUMS",
    ]
    with pytest.raises(DataIntegrityError, match="sub/b.txt"):
        data.require_verified(["sub/b.txt"])


def test_shared_mnist_files_match_their_manifest(data):
    assert data.verify([f"MNIST/raw/{name}" for name in assets.MNIST_RAW_FILES]) == []


def test_mnist_arrays_have_the_standard_sizes(data):
    train_images, train_labels = data.mnist_arrays(train=True)
    test_images, test_labels = data.mnist_arrays(train=False)
    assert train_images.shape == (60000, 28, 28) and train_images.dtype == torch.uint8
    assert test_images.shape == (10000, 28, 28)
    assert train_labels.bincount().tolist()[:2] == [5923, 6742]
    assert test_labels[:5].tolist() == [7, 2, 1, 0, 4]


def test_imagenet_samples_map_to_torchvision_indices(data):
    samples = {sample.class_name: sample for sample in data.imagenet_samples()}
    assert len(samples) == 10
    assert samples["goldfish"].class_index == 1
    assert samples["West Highland white terrier"].class_index == 203
    assert samples["orange"].wnid == "n07747607"


def test_missing_weights_give_a_labelled_deterministic_stand_in(tmp_path):
    data = DataDir(tmp_path)
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = data.load_pretrained("mobilenet_v2", "IMAGENET1K_V1")
    assert torch.rand(1) == expected_next, "building a stand-in must not consume the global RNG"
    second = data.load_pretrained("mobilenet_v2", "IMAGENET1K_V1")
    assert first.stand_in and STAND_IN_NOTE in first.note
    assert len(first.categories) == 1000 and first.categories[1] == "goldfish"
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a, b)
    assert not first.model.training


def test_real_weights_are_loaded_when_the_data_directory_has_them(tmp_path, monkeypatch):
    donor = seeded_stand_in(torchvision.models.mobilenet_v2, seed=99)
    checkpoint = tmp_path / "hub" / "checkpoints" / MOBILENET_FILE
    checkpoint.parent.mkdir(parents=True)
    torch.save(donor.state_dict(), checkpoint)
    real_sha256 = assets.sha256_of
    monkeypatch.setattr(
        assets,
        "sha256_of",
        lambda path: "b0353104" + real_sha256(path)[8:] if path == checkpoint else real_sha256(path),
    )
    loaded = DataDir(tmp_path).load_pretrained("mobilenet_v2", "IMAGENET1K_V1")
    assert not loaded.stand_in and "real pretrained weights" in loaded.note
    assert torch.equal(loaded.model.features[0][0].weight, donor.features[0][0].weight)


def test_a_corrupt_weights_file_is_refused(tmp_path):
    checkpoint = tmp_path / "hub" / "checkpoints" / MOBILENET_FILE
    checkpoint.parent.mkdir(parents=True)
    torch.save({"not": torch.zeros(1)}, checkpoint)
    with pytest.raises(DataIntegrityError, match="b0353104"):
        DataDir(tmp_path).load_pretrained("mobilenet_v2", "IMAGENET1K_V1")


def test_checkpoint_whose_name_matches_its_hash_loads(tmp_path):
    staging = tmp_path / "staging.pth"
    torch.save({"w": torch.arange(3.0)}, staging)
    named = tmp_path / f"tiny-{assets.sha256_of(staging)[:8]}.pth"
    staging.rename(named)
    assert torch.equal(load_checkpoint(named)["w"], torch.arange(3.0))
