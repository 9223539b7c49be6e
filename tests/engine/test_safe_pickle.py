"""The safe pickle reader: real pickles of plain data, allowed objects and numpy arrays read
back as inert data, and hostile ones refused before any of their code could run."""

from __future__ import annotations

import builtins
import functools
import io
import os
import pickle
import random
import subprocess
import sys
import types
from typing import Any

import numpy as np
import pytest

from checks.engine.safe_pickle import Allow, Limits, PickledGlobal, PickledObject, UnsafePickle, safe_load

CALLS: list[str] = []  # anything the real Point did while a test read it


class Point:
    """An allowed class whose own code must never run while reading."""

    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __setstate__(self, state: dict[str, Any]) -> None:
        CALLS.append("__setstate__")
        self.__dict__.update(state)


class Keyword:
    """Pickled with NEWOBJ_EX (protocol 2 and up): keyword arguments to __new__."""

    def __new__(cls, *, size: int = 0) -> Keyword:
        CALLS.append("__new__")
        return super().__new__(cls)

    def __getnewargs_ex__(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (), {"size": 3}


class Reducer:
    """A pickle that calls func(*args) when loaded: what a hostile team sends."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


def helper() -> None:
    """An allowed name: it may be referred to, never called."""


ALLOWED = {
    f"{__name__}.Point": Allow.OBJECT,
    f"{__name__}.Keyword": Allow.OBJECT,
    f"{__name__}.helper": Allow.NAME,
}
PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)
DEFAULT_LIMITS = Limits()


def load(value: Any, protocol: int = pickle.DEFAULT_PROTOCOL, limits: Limits = DEFAULT_LIMITS) -> Any:
    return safe_load(pickle.dumps(value, protocol=protocol), ALLOWED, limits)


def refusal(data: bytes | Any, limits: Limits = DEFAULT_LIMITS) -> str:
    with pytest.raises(UnsafePickle) as caught:
        safe_load(data, ALLOWED, limits)
    return str(caught.value)


def as_notebook_function(monkeypatch: pytest.MonkeyPatch, name: str) -> Any:
    """A function that pickles as __main__.<name>, as one defined in a notebook does."""
    function = types.FunctionType(helper.__code__, {}, name)
    function.__module__, function.__qualname__ = "__main__", name
    notebook = types.ModuleType("__main__")
    setattr(notebook, name, function)
    monkeypatch.setitem(sys.modules, "__main__", notebook)
    return function


@pytest.fixture(autouse=True)
def no_calls():
    CALLS.clear()
    yield
    assert CALLS == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_plain_values_read_back(protocol):
    value = {
        "n": 500,
        "big": -(2**70),
        "x": 0.25,
        "s": "quickshift",
        "b": b"\x00\xff",
        "none": None,
        "flags": [True, False],
    }
    value["nested"] = {"t": (1, (2, 3)), "l": [[1], [2, [3]]], "empty": ((), [], {}, b"")}
    assert load(value, protocol) == value


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_allowed_class_is_a_placeholder(protocol):
    loaded = load({"p": Point(1, 2)}, protocol)["p"]
    assert loaded == PickledObject(f"{__name__}.Point", (), {}, {"x": 1, "y": 2})


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_constructor_arguments_are_kept(protocol):
    assert load(Reducer(Point, 3, 4), protocol) == PickledObject(f"{__name__}.Point", (3, 4))


def test_keyword_constructor_arguments_are_kept():
    keyword = Keyword()
    CALLS.clear()
    assert load(keyword, 4) == PickledObject(f"{__name__}.Keyword", (), {"size": 3}, None)


def test_copyreg_helpers_build_placeholders():
    import copyreg

    # Protocols 0 and 1 keep these as calls; later ones turn them into the NEWOBJ opcodes.
    for reducer in (Reducer(copyreg.__newobj__, Point, 5), Reducer(copyreg.__newobj_ex__, Point, (5,), {})):
        assert load(reducer, 1) == PickledObject(f"{__name__}.Point", (5,))
    assert "copyreg.__newobj__ of a class that is not allowed" in refusal(
        pickle.dumps(Reducer(copyreg.__newobj__, helper), protocol=1)
    )


def test_shared_objects_stay_shared():
    point = Point(1, 2)
    loaded = load([point, point, {"again": point}])
    assert loaded[0] is loaded[1] is loaded[2]["again"]


def test_a_name_only_global_is_referred_to_but_never_called():
    assert load({"fn": helper}) == {"fn": PickledGlobal(f"{__name__}.helper")}
    assert f"{__name__}.helper may be named in the pickle but not called" in refusal(pickle.dumps(Reducer(helper)))


def test_state_given_to_a_class_itself_is_refused():
    data = pickle.dumps(Point, protocol=2)[:-1] + b"}b."  # BUILD on the class object, not an instance
    assert "state given to the class" in refusal(data)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_numeric_numpy_arrays_and_scalars_are_real(protocol):
    arrays = [
        np.array([0, 0, 0], dtype=np.uint8),
        np.arange(6.0).reshape(2, 3),
        np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
        np.array([True, False]),
        np.arange(4, dtype=">f4"),
        np.zeros((0, 3)),
    ]
    loaded = load({"arrays": arrays, "scalars": [np.int64(7), np.float32(0.5), np.bool_(True)]}, protocol)
    for before, after in zip(arrays, loaded["arrays"]):
        assert type(after) is np.ndarray and after.dtype == before.dtype
        np.testing.assert_array_equal(after, before)
    assert loaded["scalars"] == [7, 0.5, True]
    assert [type(value) for value in loaded["scalars"]] == [np.int64, np.float32, np.bool_]


def test_numpy_1_names_are_read_too():
    data = pickle.dumps([np.arange(3.0), np.int16(5)], protocol=2).replace(b"numpy._core.", b"numpy.core.")
    assert b"numpy.core.multiarray" in data
    arrays = safe_load(data, ALLOWED)
    np.testing.assert_array_equal(arrays[0], np.arange(3.0))
    assert arrays[1] == 5 and type(arrays[1]) is np.int16


@pytest.mark.parametrize("value", [np.arange(2.0), np.float32(1)])
def test_numpy_methods_are_never_reached_while_reading(value):
    data = pickle.dumps(value, protocol=5)[:-1] + b"}b."  # BUILD on the finished array or scalar
    assert "malformed state" in refusal(data)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_object_dtype_arrays_are_refused(protocol):
    message = refusal(pickle.dumps(np.array([1, "a", None], dtype=object), protocol=protocol))
    assert "dtype object" in message


def test_structured_and_text_arrays_are_refused():
    assert "refused" in refusal(pickle.dumps(np.zeros(2, dtype=[("a", "f4"), ("b", "i4")])))
    assert "only numbers and booleans" in refusal(pickle.dumps(np.array(["a", "b"])))


def test_numpy_arrays_are_capped():
    assert load(np.zeros(10), limits=Limits(max_array_items=10)).shape == (10,)
    assert "more than 10 values" in refusal(pickle.dumps(np.zeros(11)), Limits(max_array_items=10))


@pytest.mark.parametrize(
    ("func", "arguments", "named"),
    [
        (os.system, lambda path: (f"touch {path}",), f"{os.system.__module__}.system"),
        (builtins.eval, lambda path: (f"open({path!r}, 'w').close()",), "builtins.eval"),
        (builtins.exec, lambda path: (f"open({path!r}, 'w').close()",), "builtins.exec"),
        (subprocess.Popen, lambda path: (["touch", path],), "subprocess.Popen"),
        (builtins.open, lambda path: (path, "w"), "io.open"),
    ],
)
def test_code_running_reducers_are_refused_before_running(tmp_path, func, arguments, named):
    path = str(tmp_path / "ran")
    message = refusal(pickle.dumps({"segmentation_fn": Reducer(func, *arguments(path))}))
    assert message == f"refused: {named} can run code or open files on the server"
    assert not os.path.exists(path)


def test_getattr_and_partial_are_refused():
    assert "builtins.getattr" in refusal(pickle.dumps(Reducer(getattr, "text", "upper")))
    assert "functools.partial is not on the list" in refusal(pickle.dumps(functools.partial(print, "x")))


def test_a_notebook_function_is_refused_with_its_name(monkeypatch):
    data = pickle.dumps({"fn": as_notebook_function(monkeypatch, "my_segmenter")})
    assert refusal(data) == "refused: __main__.my_segmenter is defined in your notebook"


def test_a_refusal_names_the_global():
    with pytest.raises(UnsafePickle) as caught:
        safe_load(pickle.dumps(Reducer(os.system, "true")), ALLOWED)
    assert caught.value.global_name == f"{os.system.__module__}.system"


def test_persistent_ids_are_refused():
    class Persistent(pickle.Pickler):
        def persistent_id(self, obj: Any) -> str | None:
            return "outside" if obj == "marker" else None

    buffer = io.BytesIO()
    Persistent(buffer, protocol=2).dump(["marker"])
    assert "persistent ids" in refusal(buffer.getvalue())


@pytest.mark.parametrize(
    "data",
    [
        pickle.dumps({"num_samples": 500, "labels": (1, 2)})[:-3],
        b"",
        b"not a pickle at all",
        b"\x80\x05\x95\xff\xff\xff\xff\xff\xff\xff\x7f",
        pickle.dumps([1, 2]) + b"trailing",
        b"\x80\x04\x8e\x00\x00\x00\x00\x01\x00\x00\x00.",  # a 4 GiB bytes object, declared but absent
    ],
)
def test_truncated_and_garbage_input_is_refused(data):
    assert refusal(data).startswith("not a readable pickle")


def test_a_stream_that_is_not_a_pickle_is_refused():
    assert refusal(io.BytesIO(b"\x00" * 100)).startswith("not a readable pickle")


def test_input_over_the_byte_limit_is_refused():
    data = pickle.dumps(list(range(100)))
    assert load(list(range(100)), limits=Limits(max_bytes=len(data))) == list(range(100))
    assert f"more than the {len(data) - 1} allowed" in refusal(data, Limits(max_bytes=len(data) - 1))


def test_a_1_gib_file_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "huge.pkl"
    with open(path, "wb") as sparse:
        sparse.truncate(1 << 30)
    with open(path, "rb") as huge:
        assert "larger than the 1048576 bytes allowed" in refusal(huge)
        assert huge.tell() == (1 << 20) + 1  # read no further than one byte past the limit


def test_an_endless_stream_is_read_only_up_to_the_limit():
    class Endless(io.RawIOBase):
        """Short reads of zeros forever, counting what was asked for."""

        served = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            size = min(len(buffer), 4096)
            buffer[:size] = b"\x00" * size
            self.served += size
            return size

    stream = Endless()
    assert "larger than" in refusal(stream, Limits(max_bytes=100_000))
    assert stream.served == 100_001


def test_self_containing_structures_are_refused():
    loop: list[Any] = []
    loop.append(loop)
    mapping: dict[str, Any] = {}
    mapping["self"] = mapping
    point = Point(1, 2)
    point.x = point
    for value in (loop, mapping, [1, {"deeper": loop}], point):
        assert "contains itself" in refusal(pickle.dumps(value))


def test_deep_nesting_is_refused_without_recursion():
    deep = b"\x80\x04" + b"]" * 100_000 + b"a" * 99_999 + b"."
    assert "pickle operations" in refusal(deep)
    assert "nested more than 32 levels" in refusal(deep, Limits(max_operations=300_000))
    nested: list[Any] = []
    for _ in range(40):
        nested = [nested]
    assert "nested more than 32 levels" in refusal(pickle.dumps(nested))
    assert load(nested, limits=Limits(max_depth=41)) == nested


def test_deeply_nested_tuples_are_refused_before_the_unpickler_hashes_them():
    """pickle.loads of such a dict key recurses in C until the process crashes."""
    for levels in (33, 1_000_000):
        assert refusal(b"\x80\x02}N" + b"\x85" * levels + b"Ns.") == "refused: nested more than 32 levels deep"
    assert load({((((1,),),),): 1}) == {((((1,),),),): 1}


def test_a_shared_structure_stays_shared_but_counts_as_every_copy_a_reader_would_walk():
    parameters = {"num_samples": 100, "labels": [1, 2]}
    loaded = load({f"image{number}": parameters for number in range(10)})
    assert loaded["image0"] is loaded["image9"] and loaded["image0"] == parameters
    shared: list[Any] = []
    for _ in range(30):
        shared = [shared, shared]  # 31 objects and a few hundred bytes, 2**31 values to walk as a tree
    assert "more than 100000 values once shared parts are counted" in refusal(pickle.dumps(shared))


def test_big_containers_strings_and_numbers_are_refused():
    assert load(list(range(10_000))) == list(range(10_000))
    assert "more than 10000 items" in refusal(pickle.dumps(list(range(10_001))))
    assert "more than 10000 items" in refusal(pickle.dumps({i: i for i in range(10_001)}))
    assert "pickle operations" in refusal(pickle.dumps([0] * 200_000))
    assert "a string of 100001 characters" in refusal(pickle.dumps("a" * 100_001))
    assert "more than 128 bits" in refusal(pickle.dumps(2**200))


def test_huge_memo_indices_are_refused():
    assert "memo index 4294967295" in refusal(b"\x80\x04Nr\xff\xff\xff\xff.")
    assert "never stored" in refusal(b"\x80\x04h\x07.")


def test_mutated_pickles_only_ever_raise_unsafe_pickle():
    value = {"p": Point(1, 2), "a": np.arange(3.0), "t": (1, ("x", b"y")), "fn": helper, "f": 0.5}
    randomness = random.Random(0)
    for protocol in PROTOCOLS:
        original = pickle.dumps(value, protocol=protocol)
        for _ in range(300):
            data = bytearray(original)
            for _ in range(randomness.randint(1, 3)):
                data[randomness.randrange(len(data))] = randomness.randrange(256)
            try:
                safe_load(bytes(data), ALLOWED)
            except UnsafePickle:
                pass
