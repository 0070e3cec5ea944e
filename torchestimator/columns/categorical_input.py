"""Reading a raw feature as categorical values: the column dtype and the dtype-checked sparse view.

Shared by every column that looks a raw key up (hash bucket, vocabulary list / file, identity)::

    dtype:   "string" | "int64"        (str / bytes / object -> string; any int width -> int64)
    raw:     dense (B, ...) or Ragged   -> Ragged, missing markers ('' / -1) dropped
"""

from __future__ import annotations

from typing import Any

from torchestimator.columns.base import TransformCache
from torchestimator.columns.inputs import dense_to_sparse, dtype_name, is_string_kind
from torchestimator.errors import FeatureError, InvalidArgumentError
from torchestimator.parsing import Ragged

__all__ = ["normalize_categorical_dtype", "raw_sparse"]


def normalize_categorical_dtype(dtype: Any, name: str) -> str:
    """``"string"`` or ``"int64"`` for a user dtype (str, numpy, torch or tf name).

    Args:
        dtype: the dtype the user passed.
        name: the column name (for the error message).

    Returns:
        ``"string"`` or ``"int64"``.

    Raises:
        InvalidArgumentError: neither a string nor an integer dtype.
    """
    d = dtype_name(dtype)
    if d in ("string", "str", "object", "bytes"):
        return "string"
    if d in ("int64", "int32", "int16", "int8", "uint8", "int"):
        return "int64"
    raise InvalidArgumentError(
        f"column {name!r}: dtype must be string or an integer type; received {dtype!r}."
    )


def raw_sparse(cache: TransformCache, key: str, column_name: str, dtype: str) -> Ragged:
    """The raw feature as sparse values (missing dropped), dtype-checked against the column.

    Args:
        cache: the batch's transform cache.
        key: the raw feature key.
        column_name: the reading column (for error messages).
        dtype: the column dtype, ``"string"`` or ``"int64"``.

    Returns:
        The feature as a :class:`Ragged` of its present values.

    Raises:
        FeatureError: the values' kind does not match ``dtype``.
    """
    raw = cache.raw(key, column_name)
    sparse = raw if isinstance(raw, Ragged) else dense_to_sparse(raw, key)
    values = sparse.values
    if values.size:
        is_str = is_string_kind(values)
        if dtype == "string" and not is_str:
            raise FeatureError(
                f"column {column_name!r} has dtype string but feature {key!r} holds {values.dtype} values "
                f"({values[:3].tolist()}); pass strings, or build the column with dtype=int64."
            )
        if dtype == "int64" and (is_str or values.dtype.kind not in "iub"):
            raise FeatureError(
                f"column {column_name!r} has dtype int64 but feature {key!r} holds {values.dtype} values "
                f"({values[:3].tolist()}); pass integers, or build the column with dtype=string."
            )
    return sparse
