"""Element structures: nested dicts / tuples / namedtuples of numpy leaves, flattened and rebuilt.

An element of a :class:`~torchestimator.data.Dataset` is a *structure*: a leaf (a numpy value) or a
``dict`` / ``tuple`` / ``namedtuple`` of structures (lists are values, not structures, as in TF). A
structure flattens into its leaves plus a hashable *tree* describing the containers::

    ({"age": a, "sex": s}, y)  ->  leaves [a, s, y],
                                   tree ("tuple", None, (("dict", ("age", "sex"), ("leaf", "leaf")), "leaf"))

Leaves are converted the way ``tf.convert_to_tensor`` converts Python values: ``int`` -> int32 (int64 if
it does not fit), ``float`` -> float32, ``bool`` -> bool, ``str`` / ``bytes`` -> an object array (strings
stay the Python type they were given). numpy arrays keep their dtype; pandas columns become their numpy
values; torch tensors become numpy arrays.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from torchestimator.errors import InvalidArgumentError
from torchestimator.parsing import Ragged

__all__ = ["LEAF", "TensorSpec", "flatten", "spec_of", "to_array", "unflatten"]

LEAF = "leaf"
Tree = Any  # LEAF, or ("dict" | "tuple" | "namedtuple", keys | None | class, children)


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def flatten(structure: Any) -> tuple[list[Any], Tree]:
    """Leaves of ``structure`` (depth first, dict keys in insertion order) and its tree."""
    leaves: list[Any] = []
    tree = _flatten_into(structure, leaves)
    return leaves, tree


_PLAIN_LEAF = (np.ndarray, np.generic, str, bytes)


def _flatten_into(x: Any, leaves: list[Any]) -> Tree:
    if isinstance(x, _PLAIN_LEAF):  # the common case first: isinstance(x, Mapping) is an ABC check
        leaves.append(x)
        return LEAF
    if type(x) is tuple:
        return ("tuple", None, tuple(_flatten_into(v, leaves) for v in x))
    if type(x) is dict or isinstance(x, Mapping):
        keys = tuple(x.keys())
        return ("dict", keys, tuple(_flatten_into(x[k], leaves) for k in keys))
    if _is_namedtuple(x):
        return ("namedtuple", type(x), tuple(_flatten_into(v, leaves) for v in x))
    if isinstance(x, tuple):
        return ("tuple", None, tuple(_flatten_into(v, leaves) for v in x))
    leaves.append(x)
    return LEAF


def unflatten(tree: Tree, leaves: list[Any]) -> Any:
    """Rebuild the structure ``tree`` from ``leaves`` (the inverse of :func:`flatten`)."""
    it = iter(leaves)
    return _build(tree, it)


def _build(tree: Tree, it: Any) -> Any:
    if tree == LEAF:
        return next(it)
    kind, meta, children = tree
    if kind == "dict":
        return {k: _build(c, it) for k, c in zip(meta, children)}
    values = [_build(c, it) for c in children]
    return meta(*values) if kind == "namedtuple" else tuple(values)


def _python_scalar_array(value: Any) -> np.ndarray | None:
    """TF's conversion of Python scalars / (nested) lists; ``None`` when ``value`` is not one."""
    if isinstance(value, bool):
        return np.asarray(value)
    if isinstance(value, int):
        return np.asarray(value, dtype=np.int32 if -(2**31) <= value < 2**31 else np.int64)
    if isinstance(value, float):
        return np.asarray(value, dtype=np.float32)
    if isinstance(value, (str, bytes)):
        out = np.empty((), dtype=object)
        out[()] = value
        return out
    if isinstance(value, (list, tuple)):
        arr = np.asarray(value)
        if arr.dtype.kind in "US":
            return arr.astype(object)
        if arr.dtype.kind == "O":
            first = arr.reshape(-1)[0] if arr.size else None
            if not isinstance(first, (str, bytes)):
                raise InvalidArgumentError(
                    "a list in a dataset must be rectangular numbers or strings (TF converts it to one "
                    f"tensor); received {str(value)[:80]}. Use a numpy array or a dict of columns."
                )
            return arr
        if arr.dtype == np.int64 and arr.size and np.abs(arr).max() < 2**31:
            return arr.astype(np.int32)
        if arr.dtype == np.int64 and not arr.size:
            return arr.astype(np.float32)  # TF: an empty list is float32
        if arr.dtype == np.float64:
            return arr.astype(np.float32)
        return arr
    return None


def to_array(value: Any) -> Any:
    """One leaf as TF would convert it (see the module docstring); numpy values pass through."""
    if isinstance(value, (np.ndarray, np.generic, Ragged)):
        if isinstance(value, np.ndarray) and value.dtype.kind in "US":
            return value.astype(object)
        return value
    converted = _python_scalar_array(value)
    if converted is not None:
        return converted
    if hasattr(value, "to_numpy") and hasattr(value, "dtype"):  # pandas Series / Index
        arr = value.to_numpy()
        return arr.astype(object) if arr.dtype.kind in "US" else arr
    if type(value).__module__.startswith("torch"):
        return value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.dtype.kind == "O" and arr.ndim == 0:
        raise InvalidArgumentError(
            f"Cannot use a {type(value).__name__} as a dataset value; give numbers, strings, numpy arrays, "
            "pandas columns or tensors (in a dict or tuple)."
        )
    return arr.astype(object) if arr.dtype.kind in "US" else arr


def leaf_element(value: Any) -> Any:
    """A leaf as an element value: 0-d arrays become numpy scalars (or the Python str / bytes)."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value[()]
    return value


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """The shape and dtype of one element component (``tf.TensorSpec``); ``None`` marks an unknown dim.

    ``dtype`` is a numpy dtype name, ``"string"`` for str / bytes values.
    """

    shape: tuple[int | None, ...]
    dtype: str
    name: str | None = None


def dtype_name(value: Any) -> str:
    """The spec dtype of a leaf value (``"string"`` for str / bytes)."""
    if isinstance(value, Ragged):
        return dtype_name(value.values)
    if isinstance(value, (str, bytes)):
        return "string"
    dtype = np.asarray(value).dtype if not isinstance(value, (np.ndarray, np.generic)) else value.dtype
    if dtype.kind in "OUS":
        return "string"
    return dtype.name


def spec_of(leaf: Any, batch_unknown: bool) -> TensorSpec:
    """The :class:`TensorSpec` of one observed leaf; with ``batch_unknown`` the first dim is ``None``."""
    if isinstance(leaf, Ragged):
        return TensorSpec((None if batch_unknown else leaf.nrows, None), dtype_name(leaf))
    shape: list[int | None] = list(np.shape(leaf))
    if batch_unknown and shape:
        shape[0] = None
    return TensorSpec(tuple(shape), dtype_name(leaf))
