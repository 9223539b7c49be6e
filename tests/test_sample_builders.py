"""The committed sample classes are exactly what scripts/ builds, and a mutation that stops matching fails the build."""

import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"
BUILDERS = {
    "catsdogs-xai": "build_catsdogs_samples",
    "cs411-a2": "build_cs411_samples",
    "ee5179-pa2": "build_ee5179_samples",
    "tml25-a4": "build_tml25_samples",
}


@pytest.fixture
def scripts(monkeypatch):
    """The builders import their shared helpers as a top-level module, as when run from scripts/."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    return importlib.import_module


@pytest.mark.parametrize("folder", sorted(BUILDERS))
def test_rebuilding_reproduces_every_committed_zip_byte_for_byte(scripts, tmp_path, folder):
    scripts(BUILDERS[folder]).main(tmp_path)
    committed = REPO / "student_submissions" / folder
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(path.name for path in committed.glob("*.zip"))
    for built in sorted(tmp_path.iterdir()):
        assert built.read_bytes() == (committed / built.name).read_bytes(), f"{folder}/{built.name} differs"


def test_a_mutation_must_match_exactly_once(scripts):
    helpers = scripts("sample_notebooks")
    assert helpers.mutate("a = 1\nb = 2", "demo", ("a = 1", "a = 3"), ("b = 2", "b = 4")) == "a = 3\nb = 4"
    with pytest.raises(helpers.MutationError, match=r"mutation 'demo': 'c = 1' occurs 0 times, expected exactly once"):
        helpers.mutate("a = 1", "demo", ("c = 1", "c = 2"))
    with pytest.raises(helpers.MutationError, match="'a' occurs 2 times"):
        helpers.mutate("a = a", "demo", ("a", "b"))
    with pytest.raises(helpers.MutationError, match="mutation 'demo': the cell 'x = 1' occurs 0 times"):
        helpers.cell_index([("code", "y = 1")], "x = 1", "demo")
    with pytest.raises(helpers.MutationError, match="mutation 'demo': '.to\\(device\\)' occurs in no code cell"):
        helpers.rewrite_every([("code", "x.cuda()"), ("markdown", ".to(device)")], "demo", (".to(device)", ".cuda()"))


def test_a_correct_notebook_edited_under_a_mutation_fails_the_build(scripts, tmp_path, monkeypatch):
    cs411 = scripts("build_cs411_samples")
    monkeypatch.setattr(cs411, "SMALLCNN", cs411.SMALLCNN.replace("nn.Conv2d(1, 16", "nn.Conv2d(1, 8"))
    with pytest.raises(scripts("sample_notebooks").MutationError, match="crash: Conv2D typo"):
        cs411.main(tmp_path / "cs411")
    ee5179 = scripts("build_ee5179_samples")
    monkeypatch.setattr(ee5179, "NON_TARGETED", ee5179.NON_TARGETED.replace("best = model if", "best = bn_model if"))
    with pytest.raises(scripts("sample_notebooks").MutationError, match="no batch norm: attack the plain model"):
        ee5179.main(tmp_path / "ee5179")
    catsdogs = scripts("build_catsdogs_samples")
    monkeypatch.setattr(catsdogs, "FGSM", catsdogs.FGSM.replace("adv = images + epsilon", "adv = images + 2 * epsilon"))
    with pytest.raises(scripts("sample_notebooks").MutationError, match="FGSM subtracts the gradient sign"):
        catsdogs.main(tmp_path / "catsdogs")
    assert not any(tmp_path.rglob("*.zip")), "a failed build writes no sample"
