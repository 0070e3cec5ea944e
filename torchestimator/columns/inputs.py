"""Raw batch values -> the two host formats the columns work on.

A raw feature may be a numpy array, a torch tensor, a list of str / bytes / numbers, a nested list
(multivalent rows) or a :class:`~torchestimator.parsing.Ragged`. Columns see it as either

* **dense**: a numpy array with a batch dimension, rank-1 expanded to ``(B, 1)`` as TF does; or
* **sparse**: a :class:`Ragged` (values + row_splits), the way a ``VarLenFeature`` arrives.

A dense categorical input is made sparse by dropping the missing markers (``''`` for strings,
``-1`` for integers), exactly like TF's ``FeatureTransformationCache``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from torchestimator.errors import FeatureError, did_you_mean
from torchestimator.parsing import Ragged

__all__ = [
    "RawInput",
    "as_host_tensor",
    "dense_to_sparse",
    "dtype_name",
    "get_raw",
    "is_numeric_kind",
    "is_string_kind",
    "normalize_raw",
]

RawInput = np.ndarray | Ragged


def as_host_tensor(array: np.ndarray) -> torch.Tensor:
    """A CPU tensor over a numeric array's memory (copied only when read-only or not contiguous).

    Read-only arrays (pandas 3 columns, ``np.broadcast_to`` views) are copied: torch warns on them, and a
    tensor that aliases read-only memory is undefined behaviour if anything writes to it.
    """
    if not array.flags.writeable:
        array = array.copy()
    return torch.from_numpy(np.ascontiguousarray(array))


def get_raw(features: Mapping[str, Any], key: str, column_name: str) -> Any:
    """Return ``features[key]`` or raise a :class:`FeatureError` naming the column and the close keys.

    Raises:
        FeatureError: ``key`` is not in ``features``.
    """
    try:
        return features[key]
    except KeyError:
        available = sorted(k for k in features if not str(k).startswith("__tecol__"))
        shown = ", ".join(available[:12]) + (", …" if len(available) > 12 else "")
        raise FeatureError(
            f"feature {key!r} (needed by column {column_name!r}) not in batch; available: {shown}"
            f"{did_you_mean(key, available)}"
        ) from None


def is_string_kind(values: np.ndarray) -> bool:
    """True for a numpy array of str / bytes (an object array is checked on its first element)."""
    if values.dtype.kind in "US":
        return True
    if values.dtype.kind == "O":
        flat = values.ravel()
        return flat.size == 0 or isinstance(flat[0], (str, bytes))
    return False


def is_numeric_kind(values: np.ndarray) -> bool:
    """True for a numpy array of floats, ints or bools (not str / bytes, not other objects)."""
    return not is_string_kind(values) and values.dtype.kind in "fiub"


def dtype_name(dtype: Any) -> str:
    """The bare name of a str / numpy / torch / tf dtype: ``torch.int64`` and ``tf.int64`` -> ``"int64"``."""
    if isinstance(dtype, torch.dtype):
        return str(dtype).replace("torch.", "")
    name = getattr(dtype, "name", None) or str(dtype)
    return name.replace("tf.", "")


def _as_numpy(value: Any, key: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        arr = value
    elif isinstance(value, (str, bytes, int, float, np.generic)):
        raise FeatureError(
            f"feature {key!r} is a scalar ({value!r}); a batch needs a leading batch dimension, "
            f"e.g. [{value!r}] for a batch of one."
        )
    else:
        arr = np.asarray(value)
    if arr.dtype.kind in "US":
        arr = arr.astype(object)
    return arr


def normalize_raw(value: Any, key: str) -> RawInput:
    """Turn a raw batch value into a dense ``(B, ...)`` numpy array or a :class:`Ragged`.

    Args:
        value: the raw batch value.
        key: the feature name (for error messages).

    Returns:
        A :class:`Ragged` for sparse / nested-list input, else a numpy array of rank >= 2.

    Raises:
        FeatureError: a scalar, or a rank-0 array.
    """
    if isinstance(value, Ragged):
        if isinstance(value.values, Ragged):
            value = _one_value_per_step(value, key)
        values = value.values
        if isinstance(values, torch.Tensor):
            values = values.detach().cpu().numpy()
        values = np.asarray(values)
        if values.dtype.kind in "US":
            values = values.astype(object)
        return Ragged(values, value.row_splits) if values is not value.values else value
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple, np.ndarray)):
        lengths = {len(r) for r in value}
        if len(lengths) > 1:
            return normalize_raw(Ragged.from_rows(value), key)
    arr = _as_numpy(value, key)
    if arr.ndim == 0:
        raise FeatureError(
            f"feature {key!r} has rank 0 (value {arr.item()!r}); a batch needs shape (B, ...)."
        )
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    return arr


def _one_value_per_step(value: Ragged, key: str) -> Ragged:
    """A ``parse_sequence_example`` feature list (examples -> steps -> values) as examples -> steps.

    Raises:
        FeatureError: a step without exactly one value (TF would combine a step's values).
    """
    steps = value.values
    if not isinstance(steps, Ragged):
        return value
    counts = np.diff(steps.row_splits)
    if counts.size and (counts != 1).any():
        raise FeatureError(
            f"feature {key!r} is a sequence of steps with {int(counts[counts != 1][0])} values in a step; columns "
            "read one value per step here. Give each step one value (one id, one number), or parse the feature "
            "list with FixedLenSequenceFeature."
        )
    return Ragged(steps.values, value.row_splits)


def dense_to_sparse(dense: np.ndarray, key: str) -> Ragged:
    """Flatten ``(B, ...)`` to rows and drop the missing markers ('' / b'' for strings, -1 for ints).

    Raises:
        FeatureError: a float array (categorical input must be strings or integers).
    """
    rows = dense.reshape(dense.shape[0], -1)  # (B, n)
    if is_string_kind(rows):
        keep = rows != ""
        if rows.dtype.kind == "O":
            keep &= rows != b""
    elif rows.dtype.kind in "iub":
        rows = rows.astype(np.int64, copy=False)
        keep = rows != -1
    else:
        raise FeatureError(
            f"feature {key!r} has dtype {rows.dtype} but a categorical column needs strings or integers; "
            "cast it, or use numeric_column / bucketized_column for floats."
        )
    splits = np.zeros(rows.shape[0] + 1, dtype=np.int64)
    if keep.all():
        splits[1:] = np.arange(1, rows.shape[0] + 1, dtype=np.int64) * rows.shape[1]
        return Ragged(rows.reshape(-1), splits)
    np.cumsum(keep.sum(axis=1), out=splits[1:])
    return Ragged(rows[keep], splits)
