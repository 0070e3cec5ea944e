"""``parse_example``'s outputs from protobuf-decoded Examples, with the spec worked out once (a plan).

The protobuf path (:func:`~torchestimator.inputs.example_parsing.parse_example_slow`) decodes each record
to ``{key: (kind, values)}`` and then builds one output per spec key. :func:`rows_plan` turns a spec of
``FixedLenFeature`` / ``VarLenFeature`` into per-key slots (wire kind, output dtype, shape, default as a
list) once, so a request of a few Examples (serving) pays no per-call spec interpretation:
:func:`build_outputs` is a few list operations and one array per key.

It only builds well-formed batches: anything that would be an error (a type mismatch, a value count
that does not fit the shape, a missing required feature, an int32 overflow) makes it return ``None``, and
the caller runs the reference builder, which raises TF's error naming the feature and the example.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from torchestimator.errors import InputError, InvalidArgumentError
from torchestimator.inputs.example_spec import WIRE, default_array, size_of
from torchestimator.parsing import FixedLenFeature, Ragged, VarLenFeature

__all__ = ["RowsPlan", "build_outputs", "rows_plan"]

Decoded = Mapping[str, tuple[str | None, list[Any]]]


@dataclasses.dataclass(frozen=True)
class _Slot:
    """One spec key: ``kind`` on the wire, ``np_dtype`` of the output, and for a ``FixedLenFeature``
    its ``shape``, ``size`` (values per example) and ``default`` (a flat list; ``None``: required)."""

    key: str
    kind: str
    np_dtype: Any
    varlen: bool
    shape: tuple[int, ...] = ()
    size: int = 0
    default: list[Any] | None = None


@dataclasses.dataclass(frozen=True)
class RowsPlan:
    """The spec's slots, in spec order (see :func:`rows_plan`)."""

    slots: tuple[_Slot, ...]


def rows_plan(features: Mapping[str, Any]) -> RowsPlan | None:
    """The plan of a spec of ``FixedLenFeature`` / ``VarLenFeature``; ``None`` for any other spec (or a
    default the reference builder would refuse), which the reference builder then handles."""
    slots = []
    for key, feature in features.items():
        if type(feature) not in (FixedLenFeature, VarLenFeature) or feature.dtype not in WIRE:
            return None
        kind, np_dtype = WIRE[feature.dtype]
        if type(feature) is VarLenFeature:
            slots.append(_Slot(key, kind, np_dtype, True))
            continue
        try:
            default = default_array(key, feature)
        except (InvalidArgumentError, TypeError, ValueError, OverflowError):
            return None
        flat = None if default is None else default.reshape(-1).tolist()
        slots.append(_Slot(key, kind, np_dtype, False, feature.shape, size_of(feature.shape), flat))
    return RowsPlan(tuple(slots))


def _array(values: list[Any], np_dtype: Any) -> np.ndarray:
    if np_dtype is object:
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out
    return np.asarray(values, dtype=np_dtype)


def _varlen(slot: _Slot, rows: list[tuple[str | None, list[Any]] | None]) -> Ragged | None:
    if len(rows) == 1:  # one Example: no list of lengths to build
        row = rows[0]
        if row is None or row[0] is None:
            return Ragged.from_valid(_array([], slot.np_dtype), np.zeros(2, dtype=np.int64))
        if row[0] != slot.kind:
            return None
        return Ragged.from_valid(_array(row[1], slot.np_dtype), np.asarray([0, len(row[1])], dtype=np.int64))
    flat: list[Any] = []
    splits = [0]
    for row in rows:
        if row is not None and row[0] is not None:
            if row[0] != slot.kind:
                return None
            flat += row[1]
        splits.append(len(flat))
    return Ragged.from_valid(_array(flat, slot.np_dtype), np.asarray(splits, dtype=np.int64))


def _fixed(slot: _Slot, rows: list[tuple[str | None, list[Any]] | None]) -> np.ndarray | None:
    flat: list[Any] = []
    for row in rows:
        if row is None or row[0] is None:
            if slot.default is None:
                return None
            flat += slot.default
        elif row[0] != slot.kind or len(row[1]) != slot.size:
            return None
        else:
            flat += row[1]
    return _array(flat, slot.np_dtype).reshape(len(rows), *slot.shape)


def build_outputs(plan: RowsPlan, decoded: Sequence[Decoded]) -> dict[str, Any] | None:
    """``parse_example``'s outputs from decoded Examples, or ``None`` when the reference builder must run
    (the batch holds something it reports as an error).

    Args:
        plan: from :func:`rows_plan`.
        decoded: ``decode_example`` of each record.
    """
    out: dict[str, Any] = {}
    for slot in plan.slots:
        rows = [d.get(slot.key) for d in decoded]
        try:  # an int32 overflow raises here: the reference names the feature and the value
            value = _varlen(slot, rows) if slot.varlen else _fixed(slot, rows)
        except (InputError, OverflowError, TypeError, ValueError):
            return None
        if value is None:
            return None
        out[slot.key] = value
    return out
