"""Column types of ``make_csv_dataset``: TF's type inference and the ``column_defaults`` entries.

Without ``column_defaults``, :func:`infer_defaults` reads the first ``num_rows_for_inference`` rows
and gives each selected column the least permissive of ``int32 < int64 < float32 < float64 < string``
that every non-missing value fits (:func:`_value_rank`, TF's ``_infer_type``), with default ``0`` /
``""``. With them, :func:`parse_default` turns each entry into ``(dtype, default)``: a Python ``int``
-> int32 (int64 when it does not fit), ``float`` -> float32, ``str`` -> string, and a dtype makes the
column required (default :data:`~torchestimator.inputs.csv_reader.REQUIRED`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from torchestimator.errors import InputError, InvalidArgumentError
from torchestimator.inputs.csv_reader import NUMPY_DTYPES, REQUIRED, csv_rows

_TYPE_ORDER = ("int32", "int64", "float32", "float64", "string")


def _value_rank(text: str) -> int:
    """Index in ``_TYPE_ORDER`` of the least permissive type ``text`` fits (TF's ``_infer_type``)."""
    try:
        value = int(text)
        if -(2**31) <= value < 2**31:
            return 0
        if -(2**63) <= value < 2**63:
            return 1
    except ValueError:
        pass
    for rank, np_type in ((2, np.float32), (3, np.float64)):
        try:
            with np.errstate(over="ignore"):
                if np_type(text) < np.inf:
                    return rank
        except (ValueError, OverflowError):
            pass
    return 4


def _dtype_name(value: Any) -> str | None:
    """A dtype-like value's name in ``_TYPE_ORDER``, or ``None`` if ``value`` is not a dtype."""
    if isinstance(value, str) and value.replace("tf.", "") in _TYPE_ORDER:
        return value.replace("tf.", "")
    if value in (str, bytes):
        return "string"
    if isinstance(value, (type, np.dtype)):
        try:
            name = np.dtype(value).name
        except TypeError:
            return None
        return name if name in _TYPE_ORDER else None
    name = str(value).replace("torch.", "")
    return name if name in _TYPE_ORDER else None


def parse_default(index: int, name: str, value: Any) -> tuple[str, Any]:
    """``(dtype, default or REQUIRED)`` of one ``column_defaults`` entry."""
    dtype = _dtype_name(value) if not isinstance(value, (list, tuple, np.ndarray)) else None
    if dtype is not None and not (isinstance(value, str) and value not in _TYPE_ORDER):
        return dtype, REQUIRED
    if isinstance(value, (list, tuple, np.ndarray)):
        arr = np.asarray(value)
        if arr.size == 0:
            raise InvalidArgumentError(
                f"column_defaults[{index}] (column {name!r}) is an empty list: give its dtype instead "
                "(e.g. 'int64') to make it required."
            )
        value = arr.reshape(-1)[0].item() if arr.dtype != object else arr.reshape(-1)[0]
    if isinstance(value, (bool, np.bool_)):
        value = int(value)
    if isinstance(value, (int, np.integer)):
        if isinstance(value, np.integer):
            return np.dtype(type(value)).name if np.dtype(type(value)).name in NUMPY_DTYPES else "int64", int(
                value
            )
        return ("int32" if -(2**31) <= value < 2**31 else "int64"), int(value)
    if isinstance(value, (float, np.floating)):
        return ("float64" if isinstance(value, np.float64) else "float32"), float(value)
    if isinstance(value, (str, bytes)):
        return "string", value.decode() if isinstance(value, bytes) else value
    raise InvalidArgumentError(
        f"column_defaults[{index}] (column {name!r}) must be a default value (int, float, str) or a dtype "
        f"('int32', 'int64', 'float32', 'float64', 'string'); received {value!r}."
    )


def infer_defaults(
    files: list[str],
    names: list[str],
    selected: list[int],
    compression: str,
    field_delim: str,
    use_quote_delim: bool,
    na_value: str,
    header: bool,
    num_rows: int | None,
    ignore_errors: bool,
) -> list[tuple[str, Any]]:
    ranks: list[int | None] = [None] * len(selected)
    for seen, (path, line, row) in enumerate(
        csv_rows(files, compression, field_delim, use_quote_delim, header)
    ):
        if num_rows is not None and seen >= num_rows:
            break
        if not row:
            continue
        if len(row) != len(names):
            if ignore_errors:
                continue
            raise InputError(
                f"Malformed CSV row in {path!r} at line {line}: expected {len(names)} fields but got {len(row)} "
                f"(while inferring column types of {names}). Fix the row or pass ignore_errors=True to skip it."
            )
        for j, col in enumerate(selected):
            text = row[col]
            if text in ("", na_value):
                continue
            rank = _value_rank(text)
            previous = ranks[j]
            ranks[j] = rank if previous is None else max(previous, rank)
    out: list[tuple[str, Any]] = []
    for column_rank in ranks:
        dtype = _TYPE_ORDER[4 if column_rank is None else column_rank]
        out.append((dtype, "" if dtype == "string" else 0))
    return out
