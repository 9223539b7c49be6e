from dataclasses import replace

import nbformat
import torch
from torch import nn

from checks.cli import _grade_options, build_parser
from checks.data.assets import DataDir
from checks.data.model_cache import MODELS_SUBDIR, ModelCache, recipe_key
from checks.engine.kernel import RunResult
from checks.grading.context import GradingContext


def seeded_linear(seed: int) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(4, 2)


def test_round_trip_is_exact_and_keeps_metadata(tmp_path):
    cache = ModelCache(tmp_path)
    stored = seeded_linear(1)
    cache.store(stored, "tiny", {"epochs": 1}, {"accuracy": 0.5})
    restored = seeded_linear(2)
    hit = cache.load_into(restored, "tiny", {"epochs": 1})
    assert hit is not None and hit.metadata == {"accuracy": 0.5}
    assert torch.equal(restored.weight, stored.weight) and torch.equal(restored.bias, stored.bias)
    assert not list(cache.writable_dir.glob("*.partial"))


def test_another_recipe_misses(tmp_path):
    cache = ModelCache(tmp_path)
    cache.store(seeded_linear(1), "tiny", {"epochs": 1}, {})
    assert cache.load_into(seeded_linear(2), "tiny", {"epochs": 2}) is None
    assert recipe_key({"a": 1, "b": 2}) == recipe_key({"b": 2, "a": 1})


def test_models_shipped_in_the_data_directory_come_first(tmp_path):
    shipped, writable = tmp_path / "data", tmp_path / "cache"
    ModelCache(shipped).store(seeded_linear(1), "tiny", {"epochs": 1}, {"from": "data"})
    ModelCache(writable).store(seeded_linear(2), "tiny", {"epochs": 1}, {"from": "cache"})
    hit = ModelCache(writable, read_only_dirs=(shipped,)).load_into(seeded_linear(3), "tiny", {"epochs": 1})
    assert hit.metadata == {"from": "data"}


def grading_context(tmp_path, cache_dir):
    """A context as a grading builds it, with no kernel: enough to ask for a reference model."""
    return GradingContext(
        mode="full",
        student=None,
        executed=nbformat.v4.new_notebook(),
        run=RunResult(sandbox={}),
        figures=[],
        figure_dir=tmp_path / "figures",
        data=DataDir(tmp_path / "data"),
        cache_dir=cache_dir,
    )


def test_a_graded_context_loads_the_reference_model_from_the_chosen_cache_folder(tmp_path):
    chosen = tmp_path / "chosen"
    ModelCache(chosen).store(seeded_linear(1), "tiny", {"epochs": 1}, {"from": "chosen"})
    context = grading_context(tmp_path, chosen)

    def load_or_train(data, cache):
        model = seeded_linear(2)
        return model, cache.load_into(model, "tiny", {"epochs": 1})

    model, hit = context.reference_model("tiny", load_or_train)
    assert hit is not None and hit.metadata == {"from": "chosen"} and hit.path.parent == chosen / MODELS_SUBDIR
    assert torch.equal(model.weight, seeded_linear(1).weight)
    assert context.reference_model("tiny", lambda data, cache: None)[0] is model, "loaded once per submission"


def test_grade_and_check_take_the_cache_folder_without_it_changing_a_verdict(tmp_path):
    parser = build_parser()
    for argv in (
        ["grade", "class", "--assignment", "cs411_a2", "--out", "out"],
        ["check", "notebook.ipynb", "--assignment", "cs411_a2"],
    ):
        options = _grade_options(parser.parse_args([*argv, "--cache-dir", str(tmp_path)]), "full")
        assert options.cache_dir == tmp_path.resolve()
        assert "cache_dir" not in options.settings()
        assert options.settings() == replace(options, cache_dir=tmp_path / "elsewhere").settings()
