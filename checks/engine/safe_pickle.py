"""Reading a pickle that a student sent, without running any of its code.

A pickle is a program: every global it names is imported and every REDUCE calls it, so
``pickle.loads`` on a student's file hands them the grader. Here nothing is imported:
``find_class`` answers every global from the caller's allow-list or refuses it, and an
allowed class is never instantiated. It becomes a :class:`PickledObject` that records the
constructor arguments and the state that BUILD gave it, as plain data; an allowed function
becomes a :class:`PickledGlobal` that cannot be called. numpy arrays of numbers and booleans
are rebuilt from their bytes by this module, never by numpy's unpickling code.

Reading happens in three passes, each bounded before it allocates: the raw bytes are capped;
``pickletools.genops`` walks the opcodes first (no object is built) to cap their number,
string sizes, memo indices and the nesting of tuples, which the C unpickler would otherwise
hash recursively until it crashes; then the C unpickler builds the inert graph, and an
iterative walk refuses cycles, over-deep nesting and oversized containers while it swaps
the numpy stand-ins for real arrays.
"""

from __future__ import annotations

import io
import math
import pickle
import pickletools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, BinaryIO

import numpy as np


class UnsafePickle(ValueError):
    """The pickle was refused; the message says why, for the student and the TA."""

    def __init__(self, message: str, global_name: str | None = None) -> None:
        super().__init__(message)
        self.global_name = global_name


class Allow(Enum):
    """What an allowed global may be used for."""

    OBJECT = "object"  # a class that may be constructed: read as a PickledObject
    NAME = "name"  # anything that may only be referred to (a function in an object's state): a PickledGlobal


@dataclass(frozen=True)
class Limits:
    """Bounds on what one pickle may make the reader allocate or walk."""

    max_bytes: int = 1 << 20
    max_operations: int = 100_000  # opcodes; each builds at most one object
    max_items: int = 10_000  # per list, tuple, dict, set or constructor call
    max_depth: int = 32
    max_expanded: int = 100_000  # values in the result unfolded as a tree: shared objects counted each time
    max_string: int = 100_000  # characters or bytes
    max_int_bits: int = 128
    max_array_items: int = 1 << 20


@dataclass
class PickledObject:
    """An allowed class as the pickle described it; never an instance of the real class."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    state: Any = None

    def __setstate__(self, state: Any) -> None:
        """BUILD lands here instead of in the real class's ``__setstate__``."""
        if self.state is not None:
            raise UnsafePickle(f"refused: {self.name} was given its state twice")
        self.state = state


@dataclass(frozen=True)
class PickledGlobal:
    """An allowed global that the pickle only names, such as a function kept in an object's state."""

    name: str

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise UnsafePickle(f"refused: {self.name} may be named in the pickle but not called", self.name)

    def __setstate__(self, state: Any) -> None:
        raise UnsafePickle(f"refused: state given to {self.name}", self.name)


class _ClassStub:
    """Stands for an allowed class while reading: constructing it makes a PickledObject."""

    qualified_name = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return PickledObject(cls.qualified_name, args, dict(kwargs))

    @classmethod
    def __setstate__(cls, state: Any) -> None:
        raise UnsafePickle(f"refused: state given to the class {cls.qualified_name} itself", cls.qualified_name)


_OBJECT = PickledGlobal("builtins.object")
_NDARRAY = PickledGlobal("numpy.ndarray")
_PYTHON2_MODULES = {"copy_reg": "copyreg", "__builtin__": "builtins"}  # names in protocol 0-2 pickles
_CODE_RUNNING_MODULES = frozenset(
    "builtins io os posix nt subprocess sys importlib runpy pty ctypes shutil socket pickle marshal code types".split()
)
_REFUSED_OPCODES = {
    "PERSID": "persistent ids",
    "BINPERSID": "persistent ids",
    "EXT1": "extension codes",
    "EXT2": "extension codes",
    "EXT4": "extension codes",
    "NEXT_BUFFER": "out-of-band buffers",
    "READONLY_BUFFER": "out-of-band buffers",
}
_NESTING_OPCODES = frozenset({"TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "FROZENSET"})
_PASSING_OPCODES = frozenset({"DUP", "BUILD", "APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS"})
_MEMO_GETS = frozenset({"GET", "BINGET", "LONG_BINGET"})
_MEMO_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"})
_NUMERIC_DTYPE = re.compile(r"[biufc]\d{1,2}")
_ATOMS = (type(None), bool, int, float, complex, str, bytes, np.ndarray, np.generic, np.dtype)


def safe_load(data: bytes | bytearray | BinaryIO, allowed: Mapping[str, Allow], limits: Limits = Limits()) -> Any:
    """Read a pickle from bytes or a binary file, building only plain data, numeric numpy
    arrays and inert placeholders for the globals in ``allowed`` ("module.qualname" keys)."""
    raw = _read_bounded(data, limits.max_bytes)
    _scan(raw, limits)
    try:
        loaded = _Unpickler(raw, allowed, limits).load()
    except UnsafePickle:
        raise
    except Exception as error:  # the C unpickler's own errors on malformed input, in many types
        raise UnsafePickle(f"not a readable pickle: {_describe(error)}") from None
    return _settle(loaded, limits)


def _read_bounded(data: bytes | bytearray | BinaryIO, limit: int) -> bytes:
    """Bytes are measured, a file is read in bounded pieces: a huge file is refused after limit + 1 bytes."""
    if isinstance(data, (bytes, bytearray)):
        if len(data) > limit:
            raise UnsafePickle(f"the file has {len(data)} bytes, more than the {limit} allowed")
        return bytes(data)
    chunks: list[bytes] = []
    total = 0
    while total <= limit:
        chunk = data.read(limit + 1 - total)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > limit:
        raise UnsafePickle(f"the file is larger than the {limit} bytes allowed")
    return b"".join(chunks)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:200]


def _scan(raw: bytes, limits: Limits) -> None:
    """Walk the opcodes without building anything, tracking how deeply each stack item nests tuples and how
    many values it holds once shared tuples are unfolded: hashing a dict key or set member walks them all,
    so a key of thirty tuples each holding the next twice would take the unpickler hours."""
    stream = io.BytesIO(raw)
    stack: list[tuple[int, int]] = []  # (tuple nesting depth, unfolded size) of each item
    marks: list[int] = []
    memo: dict[int, tuple[int, int]] = {}
    try:
        for count, (opcode, argument, _) in enumerate(pickletools.genops(stream), 1):
            if count > limits.max_operations:
                raise UnsafePickle(f"refused: more than {limits.max_operations} pickle operations")
            _check_opcode(opcode.name, argument, limits)
            _simulate(opcode, argument, stack, marks, memo, limits)
    except UnsafePickle:
        raise
    except Exception as error:  # genops reports truncation and garbage as ValueError, struct.error, ...
        raise UnsafePickle(f"not a readable pickle: {_describe(error)}") from None
    if stream.tell() != len(raw):
        raise UnsafePickle(f"not a readable pickle: {len(raw) - stream.tell()} bytes after its end")


def _check_opcode(name: str, argument: Any, limits: Limits) -> None:
    if name in _REFUSED_OPCODES:
        raise UnsafePickle(f"refused: {_REFUSED_OPCODES[name]} ({name})")
    if name == "PROTO" and argument > pickle.HIGHEST_PROTOCOL:
        raise UnsafePickle(f"not a readable pickle: unknown protocol {argument}")
    if isinstance(argument, (str, bytes, bytearray)) and len(argument) > limits.max_string:
        raise UnsafePickle(f"refused: a string of {len(argument)} characters, more than {limits.max_string}")
    if isinstance(argument, int) and argument.bit_length() > limits.max_int_bits:
        raise UnsafePickle(f"refused: an integer of more than {limits.max_int_bits} bits")
    if name in _MEMO_PUTS and name != "MEMOIZE" and not 0 <= argument < limits.max_operations:
        raise UnsafePickle(f"refused: memo index {argument}")


def _simulate(
    opcode: pickletools.OpcodeInfo,
    argument: Any,
    stack: list[tuple[int, int]],
    marks: list[int],
    memo: dict[int, tuple[int, int]],
    limits: Limits,
) -> None:
    """Apply one opcode to a stack of (nesting depth, unfolded size), using pickletools' stack effects."""
    name = opcode.name
    if name in _MEMO_GETS:
        if argument not in memo:
            raise UnsafePickle(f"not a readable pickle: memo index {argument} was never stored")
        stack.append(memo[argument])
        return
    if name in _MEMO_PUTS:
        if len(stack) <= _fence(marks):
            raise UnsafePickle("not a readable pickle: memo store with nothing to store")
        memo[len(memo) if name == "MEMOIZE" else argument] = stack[-1]
        return
    below, sliced = _pop(opcode, stack, marks)
    depth, size = 0, 1
    if name in _NESTING_OPCODES:
        depth = 1 + max((part[0] for part in below + sliced), default=0)
        size = 1 + sum(part[1] for part in below + sliced)
    elif name in _PASSING_OPCODES:
        depth, size = below[0]
    if depth > limits.max_depth:
        raise UnsafePickle(f"refused: nested more than {limits.max_depth} levels deep")
    if size > limits.max_expanded:
        raise UnsafePickle(f"refused: more than {limits.max_expanded} values once shared parts are counted")
    for item in opcode.stack_after:
        if item is pickletools.markobject:
            marks.append(len(stack))
        else:
            stack.append((depth, size))


def _fence(marks: list[int]) -> int:
    """Where the C unpickler stops popping: the latest MARK."""
    return marks[-1] if marks else 0


def _pop(
    opcode: pickletools.OpcodeInfo, stack: list[tuple[int, int]], marks: list[int]
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The items an opcode takes, as the C unpickler takes them: those below its mark (or all,
    without one), and those above the mark. POP right after a MARK removes the mark."""
    before = opcode.stack_before
    if opcode.name == "POP" and marks and marks[-1] == len(stack):
        marks.pop()
        return [], []
    sliced: list[tuple[int, int]] = []
    count = len(before)
    if pickletools.markobject in before:
        if not marks:
            raise UnsafePickle(f"not a readable pickle: {opcode.name} without a MARK")
        start = marks.pop()
        sliced = stack[start:]
        del stack[start:]
        count = before.index(pickletools.markobject)
    if len(stack) - count < _fence(marks):
        raise UnsafePickle(f"not a readable pickle: {opcode.name} on a stack too short")
    below = stack[len(stack) - count :]
    del stack[len(stack) - count :]
    return below, sliced


class _Unpickler(pickle.Unpickler):
    """The C unpickler, with every global answered from the allow-list and never imported."""

    def __init__(self, raw: bytes, allowed: Mapping[str, Allow], limits: Limits) -> None:
        super().__init__(io.BytesIO(raw))
        self._allowed = allowed
        self._numpy = _NumpyReader(limits)
        self._stubs: dict[str, type[_ClassStub]] = {}

    def find_class(self, module: str, name: str) -> Any:
        full = f"{_PYTHON2_MODULES.get(module, module)}.{name}"
        helper = _HELPERS.get(full) or self._numpy.helpers.get(full)
        if helper is not None:
            return helper
        kind = self._allowed.get(full)
        if kind is Allow.NAME:
            return PickledGlobal(full)
        if kind is Allow.OBJECT:
            if full not in self._stubs:
                self._stubs[full] = type(full, (_ClassStub,), {"qualified_name": full})
            return self._stubs[full]
        raise UnsafePickle(_refusal(full), full)


def _refusal(full: str) -> str:
    shown = full[:200]
    module = full.split(".", 1)[0]
    if module == "__main__":
        return f"refused: {shown} is defined in your notebook"
    if module in _CODE_RUNNING_MODULES:
        return f"refused: {shown} can run code or open files on the server"
    return f"refused: {shown} is not on the list of what may be pickled"


def _is_stub(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, _ClassStub)


def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """copyreg._reconstructor, as protocols 0 and 1 pickle plain objects."""
    if not _is_stub(cls) or base is not _OBJECT or state is not None:
        raise UnsafePickle("refused: copyreg._reconstructor of anything but an allowed plain object")
    return cls()


def _newobj(cls: Any, *args: Any) -> Any:
    if not _is_stub(cls):
        raise UnsafePickle("refused: copyreg.__newobj__ of a class that is not allowed")
    return cls(*args)


def _newobj_ex(cls: Any, args: Any, kwargs: Any) -> Any:
    if not _is_stub(cls) or not isinstance(args, tuple) or not isinstance(kwargs, dict):
        raise UnsafePickle("refused: copyreg.__newobj_ex__ of a class that is not allowed")
    return cls(*args, **kwargs)


def _encode(text: Any, encoding: Any) -> bytes:
    """_codecs.encode(text, 'latin1'), as protocols 0-2 pickle bytes."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickle("refused: _codecs.encode of anything but text to latin1")
    return text.encode("latin-1")


def _empty_bytes(*args: Any) -> bytes:
    """builtins.bytes(), as protocols 0-2 pickle b''."""
    if args:
        raise UnsafePickle("refused: builtins.bytes with arguments")
    return b""


_HELPERS: dict[str, Any] = {
    "copyreg._reconstructor": _reconstructor,
    "copyreg.__newobj__": _newobj,
    "copyreg.__newobj_ex__": _newobj_ex,
    "_codecs.encode": _encode,
    "builtins.bytes": _empty_bytes,
    "builtins.object": _OBJECT,
    "numpy.ndarray": _NDARRAY,
}


class _Dtype:
    """numpy.dtype(code, align, copy) as pickled; only plain numeric codes get here."""

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype

    def __setstate__(self, state: Any) -> None:
        plain = isinstance(state, tuple) and len(state) >= 5 and state[2:5] == (None, None, None)
        if not plain or state[1] not in ("<", ">", "|", "="):
            raise UnsafePickle("refused: a numpy dtype with fields or sub-arrays")
        if state[1] in ("<", ">"):
            self.dtype = self.dtype.newbyteorder(state[1])


class _ArrayStub:
    """Holds a numpy array or scalar until the load ends, so that no opcode reaches numpy's own
    methods (BUILD, SETITEM) on it. _reconstruct returns it empty and BUILD then fills it."""

    __hash__ = None  # type: ignore[assignment]  # it may not be a dict key: an array could not be one

    def __init__(self, reader: _NumpyReader, array: np.ndarray | np.generic | None = None) -> None:
        self._reader = reader
        self.array = array

    def __setstate__(self, state: Any) -> None:
        if self.array is not None or not isinstance(state, tuple) or len(state) not in (4, 5):
            raise UnsafePickle("refused: a numpy array with malformed state")
        shape, dtype, fortran, data = state[-4:]
        if not isinstance(fortran, bool):
            raise UnsafePickle("refused: a numpy array with an unknown memory order")
        self.array = self._reader.array(data, dtype, shape, "F" if fortran else "C")


class _NumpyReader:
    """numpy's pickling entry points, answered with arrays built here from checked bytes."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        helpers: dict[str, Callable[..., Any]] = {"numpy.dtype": self.dtype}
        for core in ("numpy.core", "numpy._core"):  # numpy 1 and numpy 2 names
            helpers[f"{core}.multiarray._reconstruct"] = self.reconstruct
            helpers[f"{core}.multiarray.scalar"] = self.scalar
            helpers[f"{core}.numeric._frombuffer"] = self.frombuffer
        self.helpers = helpers

    def dtype(self, code: Any, align: Any = False, copy: Any = True) -> _Dtype:
        if isinstance(code, str) and code.startswith("O"):
            raise UnsafePickle("refused: a numpy array of dtype object (it would hold arbitrary Python objects)")
        if not isinstance(code, str) or not _NUMERIC_DTYPE.fullmatch(code):
            raise UnsafePickle(f"refused: numpy dtype {str(code)[:40]!r}; only numbers and booleans are read")
        try:
            return _Dtype(np.dtype(code))
        except TypeError:
            raise UnsafePickle(f"refused: numpy dtype {code!r}") from None

    def reconstruct(self, cls: Any, shape: Any, typecode: Any) -> _ArrayStub:
        if cls is not _NDARRAY or typecode != b"b":
            raise UnsafePickle("refused: numpy _reconstruct of anything but a plain ndarray")
        return _ArrayStub(self)

    def frombuffer(self, data: Any, dtype: Any, shape: Any, order: Any) -> _ArrayStub:
        if order not in ("C", "F"):
            raise UnsafePickle("refused: a numpy array with an unknown memory order")
        return _ArrayStub(self, self.array(data, dtype, shape, order))

    def scalar(self, dtype: Any, data: Any) -> _ArrayStub:
        return _ArrayStub(self, self.array(data, dtype, (), "C")[()])

    def array(self, data: Any, dtype: Any, shape: Any, order: str) -> np.ndarray:
        """A fresh array, once the bytes match a small, well-formed shape and a numeric dtype."""
        limit = self._limits.max_array_items
        if not isinstance(dtype, _Dtype):
            raise UnsafePickle("refused: a numpy array without a plain dtype")
        well_formed = isinstance(shape, tuple) and len(shape) <= 32
        if not well_formed or not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n for n in shape):
            raise UnsafePickle("refused: a numpy array with a malformed shape")
        count = math.prod(shape)
        if count > limit or any(n > limit for n in shape):
            raise UnsafePickle(f"refused: a numpy array of shape {shape}, more than {limit} values")
        if not isinstance(data, (bytes, bytearray)) or len(data) != count * dtype.dtype.itemsize:
            raise UnsafePickle("refused: a numpy array whose bytes do not match its shape")
        flat = np.frombuffer(bytes(data), dtype=dtype.dtype, count=count)
        return flat.reshape(shape, order=order).copy()


def _settle(root: Any, limits: Limits) -> Any:
    """Rebuild the loaded graph bottom-up without recursion: numpy stand-ins become arrays,
    shared objects stay shared, and cycles, deep nesting and big containers are refused. Sharing is
    counted as copies, since whoever reads the result walks it as a tree: a list holding itself twice,
    thirty levels deep, is a few bytes of pickle and a billion values to walk."""
    settled: dict[int, tuple[Any, int, int]] = {}  # id of a loaded object -> (settled value, nesting height, size)
    open_ids: set[int] = set()  # expanded but not yet settled: the ancestors of whatever is being visited
    todo: list[tuple[Any, list[Any] | None]] = [(root, None)]
    while todo:
        value, parts = todo.pop()
        key = id(value)
        if parts is not None:
            height = 1 + max((settled[id(part)][1] for part in parts), default=0)
            if height > limits.max_depth:
                raise UnsafePickle(f"refused: nested more than {limits.max_depth} levels deep")
            size = 1 + sum(settled[id(part)][2] for part in parts)
            if size > limits.max_expanded:
                raise UnsafePickle(f"refused: more than {limits.max_expanded} values once shared parts are counted")
            settled[key] = (_rebuild(value, [settled[id(part)][0] for part in parts]), height, size)
            open_ids.discard(key)
        elif key in open_ids:
            raise UnsafePickle("refused: a structure that contains itself")
        elif key not in settled:
            children = _parts(value)
            if children is None:
                settled[key] = (_leaf(value), 0, 1)
                continue
            if not isinstance(value, PickledObject) and len(value) > limits.max_items:
                raise UnsafePickle(f"refused: a {_kind(value)} of more than {limits.max_items} items")
            open_ids.add(key)
            todo.append((value, children))
            todo.extend((child, None) for child in children)
    return settled[id(root)][0]


def _parts(value: Any) -> list[Any] | None:
    """The objects a container holds (keys then values for a dict), or None for a leaf."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    if isinstance(value, dict):
        return [*value.keys(), *value.values()]
    if isinstance(value, PickledObject):
        return [value.args, value.kwargs, value.state]
    return None


def _rebuild(value: Any, parts: list[Any]) -> Any:
    if isinstance(value, dict):
        half = len(parts) // 2
        return dict(zip(parts[:half], parts[half:]))
    if isinstance(value, PickledObject):
        return PickledObject(value.name, *parts)
    if isinstance(value, tuple):
        return tuple(parts)
    if isinstance(value, frozenset):
        return frozenset(parts)
    return set(parts) if isinstance(value, set) else parts


def _leaf(value: Any) -> Any:
    if isinstance(value, _ATOMS) or isinstance(value, PickledGlobal):
        return value
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, _Dtype):
        return value.dtype
    if isinstance(value, _ArrayStub) and value.array is not None:
        return value.array
    if _is_stub(value):
        return PickledGlobal(value.qualified_name)
    raise UnsafePickle(f"refused: a {_kind(value)} as a value")


def _kind(value: Any) -> str:
    return type(value).__name__
