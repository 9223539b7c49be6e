"""The wire decoder on hostile replies: every malformed reference is a WireError, never a crash or a copy bomb."""

import numpy as np
import pytest
import torch
from PIL import Image

from checks.probe import wire
from checks.probe.wire import Decoder, Encoder, WireError


def round_trip(value, tmp_path):
    """Encode, write and read back as the kernel and the grader do."""
    encoder = Encoder()
    structure = encoder.encode(value)
    encoder.write(structure, tmp_path / "out.json", tmp_path / "out.safetensors")
    decoder = Decoder.read(tmp_path / "out.safetensors")
    return decoder.decode(structure), structure, decoder


def test_honest_values_survive_the_round_trip(tmp_path):
    weights = torch.arange(6, dtype=torch.float32).reshape(2, 3).requires_grad_(True)
    weights.sum().backward()
    value = {
        "weights": weights,
        "array": np.arange(4, dtype=np.int16),
        "scalar": np.array(5.0),
        "pair": (1, 2.5, float("nan")),
        "nested": {"twice": [torch.ones(2), torch.ones(2)]},
        "image": Image.new("RGB", (5, 3), (9, 8, 7)),
    }
    decoded, structure, decoder = round_trip(value, tmp_path)
    assert torch.equal(decoded["weights"], weights.detach()) and decoded["weights"].requires_grad
    assert torch.equal(decoder.grad_of(dict(structure["$dict"])["weights"]), torch.ones(2, 3))
    assert decoded["array"].dtype == np.int16 and decoded["array"].tolist() == [0, 1, 2, 3]
    assert decoded["scalar"].shape == () and decoded["scalar"] == 5.0
    assert decoded["pair"][:2] == (1, 2.5) and np.isnan(decoded["pair"][2])
    assert [t.tolist() for t in decoded["nested"]["twice"]] == [[1.0, 1.0], [1.0, 1.0]]
    assert decoded["image"].shape == (3, 5, 3) and decoded["image"][0, 0].tolist() == [9, 8, 7]


def test_a_tensor_referenced_many_times_is_refused_not_copied():
    tensors = {"t0": torch.zeros(1 << 18)}
    reply = [{"$tensor": "t0", "dtype": "float32", "shape": [1 << 18]} for _ in range(10_000)]
    with pytest.raises(WireError, match="tensor t0 referenced twice"):
        Decoder(tensors).decode(reply)


def test_the_bytes_one_decoder_materialises_are_capped(monkeypatch):
    monkeypatch.setattr(wire, "MAX_PAYLOAD_BYTES", 4 << 20)
    shared = torch.zeros(1 << 20, dtype=torch.uint8)
    decoder = Decoder({f"t{i}": shared for i in range(5)})
    with pytest.raises(WireError, match="4 MiB cap"):
        decoder.decode([{"$tensor": f"t{i}"} for i in range(5)])


HOSTILE = {
    "missing key": {"$tensor": "t9"},
    "non-string key": {"$tensor": ["t0"]},
    "missing ndarray key": {"$ndarray": "t9"},
    "wrong shape": {"$tensor": "t0", "shape": [3, 3], "dtype": "float32"},
    "wrong dtype": {"$tensor": "t0", "shape": [2, 2], "dtype": "int64"},
    "wrong ndarray shape": {"$ndarray": "t0", "shape": [3, 3], "dtype": "float32"},
    "bad ndarray shape": {"$ndarray": "t0", "shape": [2, "2"], "dtype": "float32"},
    "wrong ndarray dtype": {"$ndarray": "t0", "shape": [2, 2], "dtype": "float64"},
    "wrong image size": {"$pil": "t0", "mode": "L", "size": [7, 7]},
    "grad on integers": {"$tensor": "t1", "requires_grad": True},
    "dict items not pairs": {"$dict": [["a", 1, 2]]},
    "dict items not lists": {"$dict": 5},
    "unhashable dict key": {"$dict": [[["a"], 1]]},
    "tuple not a list": {"$tuple": 3},
    "float not a number": {"$float": "many"},
    "too many items": [0] * 10_001,
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_malformed_references_are_wire_errors(kind):
    tensors = {"t0": torch.zeros(2, 2), "t1": torch.zeros(2, dtype=torch.int64)}
    with pytest.raises(WireError):
        Decoder(tensors).decode(HOSTILE[kind])


@pytest.mark.parametrize("key", ["t9", 7, ["t0"]])
def test_grad_of_refuses_keys_it_cannot_resolve(key):
    with pytest.raises(WireError):
        Decoder({"t0": torch.zeros(2)}).grad_of({"$tensor": "t0", "grad": key})


def test_grad_of_without_a_grad_is_none():
    assert Decoder({"t0": torch.zeros(2)}).grad_of({"$tensor": "t0", "grad": None}) is None


def test_an_unreadable_tensor_file_is_a_wire_error(tmp_path):
    path = tmp_path / "out.safetensors"
    path.write_bytes(b"\xff" * 64)
    with pytest.raises(WireError, match="not a readable"):
        Decoder.read(path)


def test_a_function_returning_its_argument_crosses_as_two_copies(tmp_path):
    x = torch.arange(4.0)
    decoded, structure, _ = round_trip({"result": x, "args_after": [x, x[1:]]}, tmp_path)
    assert decoded["result"].tolist() == decoded["args_after"][0].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert decoded["args_after"][1].tolist() == [1.0, 2.0, 3.0]
