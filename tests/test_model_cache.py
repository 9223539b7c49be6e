import torch
from torch import nn

from checks.data.model_cache import ModelCache, recipe_key


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
