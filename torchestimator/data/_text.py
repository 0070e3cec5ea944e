"""What ported ``map`` functions call on text: ``decode_csv`` and ``string_split``.

``decode_csv(records, record_defaults)`` is ``tf.io.decode_csv``: each record (a string, or an array of
them of any shape) is one CSV line; the result is one array per column with the records' shape (a numpy
scalar for a single line). ``string_split`` is ``tf.strings.split``: a string gives a 1-D array of
pieces, a 1-D array of strings a :class:`~torchestimator.parsing.Ragged`.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import Any

import numpy as np

from torchestimator.errors import InputError, InvalidArgumentError
from torchestimator.parsing import Ragged

__all__ = ["decode_csv", "string_split"]

_NUMPY = {"int32": np.int32, "int64": np.int64, "float32": np.float32, "float64": np.float64}


def _as_text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _column(texts: list[str], dtype: str, default: Any, index: int, na_value: str) -> np.ndarray:
    from torchestimator.inputs.csv_reader import REQUIRED

    missing = [t == "" or (na_value != "" and t == na_value) for t in texts]
    if any(missing) and default is REQUIRED:
        row = missing.index(True)
        raise InputError(
            f"decode_csv: field {index} of record {row} is empty but required (its record_default is a dtype); "
            "give it a default value."
        )
    if dtype == "string":
        out = np.empty(len(texts), dtype=object)
        out[:] = [default if m else t for t, m in zip(texts, missing)]
        return out
    filled = [str(default) if m else t for t, m in zip(texts, missing)]
    try:
        if dtype.startswith("int"):
            return np.asarray([int(t) for t in filled], dtype=_NUMPY[dtype])
        return np.asarray([float(t) for t in filled], dtype=_NUMPY[dtype])
    except (ValueError, OverflowError) as err:
        raise InputError(f"decode_csv: field {index} is not a valid {dtype}: {err}.") from err


_DEFAULTS_CACHE: dict[
    str, list[tuple[str, Any]]
] = {}  # repr(record_defaults) -> parsed (a map calls it per line)


def _parsed_defaults(record_defaults: Sequence[Any]) -> list[tuple[str, Any]]:
    from torchestimator.data._files import csv_default

    key = repr(record_defaults)
    parsed = _DEFAULTS_CACHE.get(key)
    if parsed is None:
        parsed = [csv_default(i, d) for i, d in enumerate(record_defaults)]
        if len(_DEFAULTS_CACHE) < 256:
            _DEFAULTS_CACHE[key] = parsed
    return parsed


def _decode_line(
    line: str, parsed: list[tuple[str, Any]], field_delim: str, use_quote_delim: bool, na_value: str
) -> list[Any]:
    """:func:`decode_csv` of one line: numpy scalars (``str`` for string columns), no arrays."""
    from torchestimator.inputs.csv_reader import REQUIRED

    if use_quote_delim and '"' in line:
        fields = next(csv.reader([line], delimiter=field_delim, quoting=csv.QUOTE_MINIMAL), [""])
    else:
        fields = line.split(field_delim)
    if len(fields) != len(parsed):
        raise InputError(
            f"decode_csv: record 0 ({line[:80]!r}) has {len(fields)} fields; expected {len(parsed)} (one per "
            "record_default)."
        )
    out: list[Any] = []
    for i, (text, (dtype, default)) in enumerate(zip(fields, parsed)):
        if text == "" or (na_value != "" and text == na_value):
            if default is REQUIRED:
                raise InputError(
                    f"decode_csv: field {i} of record 0 is empty but required (its record_default is a dtype); "
                    "give it a default value."
                )
            text = default if dtype == "string" else str(default)
        if dtype == "string":
            out.append(text)
            continue
        try:
            value: Any = int(text) if dtype.startswith("int") else float(text)
            out.append(_NUMPY[dtype](value))
        except (ValueError, OverflowError) as err:
            raise InputError(f"decode_csv: field {i} is not a valid {dtype}: {err}.") from err
    return out


def decode_csv(
    records: Any,
    record_defaults: Sequence[Any],
    field_delim: str = ",",
    use_quote_delim: bool = True,
    name: str | None = None,
    na_value: str = "",
    select_cols: Sequence[int] | None = None,
) -> list[Any]:
    """Parse CSV lines into one array per column (``tf.io.decode_csv``).

    Args:
        records: a line, or an array / list of lines (str or bytes).
        record_defaults: one entry per (selected) column: a default (``[0.0]``, ``[""]``, ``0``) whose
            type is the column's, or a dtype (``"int32"``) making the column required.
        field_delim: the separator.
        use_quote_delim: ``"`` quotes fields.
        name: accepted for TF compatibility.
        na_value: an extra string meaning "missing".
        select_cols: indices of the columns to keep (sorted).

    Returns:
        A list with one array per column, each shaped like ``records`` (numpy scalars for one line).

    Raises:
        InputError: a line with the wrong number of fields, a missing required field or a bad value.

    Example:
        >>> decode_csv("3,a,", [[0], [""], [1.5]])
        [np.int32(3), 'a', np.float32(1.5)]
    """
    del name
    parsed = _parsed_defaults(record_defaults)
    if isinstance(records, (str, bytes)) and select_cols is None:  # one line: the per-element map path
        return _decode_line(_as_text(records), parsed, field_delim, use_quote_delim, na_value)
    arr = np.asarray(records, dtype=object)
    lines = [_as_text(v) for v in arr.reshape(-1)]

    def split_line(line: str) -> list[str]:
        if use_quote_delim:
            return next(csv.reader([line], delimiter=field_delim, quoting=csv.QUOTE_MINIMAL), [""])
        return next(csv.reader([line], delimiter=field_delim, quoting=csv.QUOTE_NONE), [""])

    rows = [split_line(line) for line in lines]
    width = len(parsed) if select_cols is None else None
    columns: list[list[str]] = [[] for _ in parsed]
    for r, row in enumerate(rows):
        if width is not None and len(row) != width:
            raise InputError(
                f"decode_csv: record {r} ({lines[r][:80]!r}) has {len(row)} fields; expected {width} (one per "
                "record_default)."
            )
        picked = row if select_cols is None else [row[c] if c < len(row) else "" for c in sorted(select_cols)]
        for c, value in enumerate(picked):
            columns[c].append(value)
    if select_cols is not None and len(sorted(select_cols)) != len(parsed):
        raise InvalidArgumentError(
            f"decode_csv: {len(parsed)} record_defaults for {len(select_cols)} select_cols; give one per column."
        )
    out = []
    for i, ((dtype, default), texts) in enumerate(zip(parsed, columns)):
        col = _column(texts, dtype, default, i, na_value).reshape(arr.shape)
        out.append(col[()] if col.ndim == 0 else col)
    return out


def string_split(input: Any, sep: str | None = None, maxsplit: int = -1, name: str | None = None) -> Any:
    """Split strings (``tf.strings.split``): ``sep=None`` splits on runs of whitespace.

    Returns:
        For one string a 1-D object array of pieces; for a 1-D array of strings a :class:`Ragged`.

    Example:
        >>> string_split(["a b", "c"]).to_rows()
        [['a', 'b'], ['c']]
    """
    del name
    arr = np.asarray(input, dtype=object)
    if arr.ndim > 1:
        raise InvalidArgumentError(
            f"string_split takes a string or a 1-D array of strings; received shape {arr.shape}."
        )

    def pieces(value: Any) -> list[Any]:
        if isinstance(value, bytes):
            return value.split(None if sep is None else sep.encode("utf-8"), maxsplit)
        return str(value).split(sep, maxsplit)

    if arr.ndim == 0:
        parts = pieces(arr[()])
        out = np.empty(len(parts), dtype=object)
        out[:] = parts
        return out
    ragged = Ragged.from_rows([pieces(v) for v in arr], dtype=object)
    return ragged
