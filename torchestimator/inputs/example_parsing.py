"""``parse_example`` and friends: turn serialized ``tf.train.Example`` / ``SequenceExample`` into numpy.

Output formats (host side; strings stay numpy object arrays of ``bytes``, as TF's ``.numpy()`` gives):

=============================  =================================  ==========================================
spec                           ``parse_example`` (batch of B)     ``parse_single_example``
=============================  =================================  ==========================================
``FixedLenFeature(shape)``     ``(B, *shape)`` array              ``shape`` array
``VarLenFeature``              :class:`~torchestimator.parsing.Ragged` (B rows)   1-D values array
``FixedLenSequenceFeature``    ``(B, T_max, *shape)``, padded      ``(T, *shape)``
                               with ``default_value`` (or 0/b"")
=============================  =================================  ==========================================

Semantics follow TF 2.15 (checked against fixtures it wrote): a ``Feature`` with no list set counts as
missing; an *empty* list for a ``FixedLenFeature`` is an error even when a default exists; a list
of the wrong type is an error even when empty.

Batches of Examples go through a vectorised wire-format decoder (:mod:`torchestimator.inputs.example_fast`;
a ``FixedLenSequenceFeature`` is decoded as variable-length and padded), which hands anything unusual,
and every error, to the protobuf runtime so TF's result or TF's error comes out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Union

import numpy as np

from torchestimator.errors import InputError, InvalidArgumentError
from torchestimator.inputs import example_fast
from torchestimator.inputs.example_proto import decode_example, decode_sequence_example
from torchestimator.inputs.example_rows import RowsPlan, build_outputs, rows_plan
from torchestimator.inputs.example_spec import WIRE, default_array, out_of_int32_error, size_of
from torchestimator.parsing import FixedLenFeature, FixedLenSequenceFeature, Ragged, VarLenFeature

__all__ = [
    "ParseSpec",
    "parse_example",
    "parse_sequence_example",
    "parse_single_example",
    "parse_single_sequence_example",
]

FeatureSpec = Union[FixedLenFeature, VarLenFeature, FixedLenSequenceFeature]  # noqa: UP007 - a runtime alias
ParseSpec = Mapping[str, FeatureSpec]

_TF_NAME = {"float": "float", "int64": "int64", "bytes": "string"}


def _check_spec(spec: ParseSpec) -> None:
    if not isinstance(spec, Mapping) or not spec:
        raise InvalidArgumentError(
            f"features must be a non-empty dict of FixedLenFeature / VarLenFeature / FixedLenSequenceFeature; "
            f"received {spec!r}."
        )
    for key, feature in spec.items():
        if not isinstance(feature, (FixedLenFeature, VarLenFeature, FixedLenSequenceFeature)):
            raise InvalidArgumentError(
                f"features[{key!r}] must be a FixedLenFeature, VarLenFeature or FixedLenSequenceFeature "
                f"(torchestimator.parsing); received {type(feature).__name__}."
            )


def _type_error(key: str, index: int, got: str, feature: FeatureSpec) -> InputError:
    return InputError(
        f"Feature {key!r} of example {index}: data type {_TF_NAME[got]} does not match the parse spec's "
        f"{feature.dtype} ({type(feature).__name__}). Fix the spec's dtype or the data that wrote the file."
    )


def _values_array(values: list[Any], np_dtype: Any, key: str) -> np.ndarray:
    if np_dtype is object:
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out
    try:
        return np.asarray(values, dtype=np_dtype)
    except OverflowError:
        raise out_of_int32_error(key, values) from None


def _build_feature(
    key: str, feature: FeatureSpec, rows: Sequence[tuple[str | None, list[Any]] | None]
) -> Any:
    """Build one output from per-example ``(kind, values)`` (``None`` = key absent)."""
    kind, np_dtype = WIRE[feature.dtype]
    n = len(rows)
    if isinstance(feature, VarLenFeature):
        lengths = np.zeros(n + 1, dtype=np.int64)
        flat: list[Any] = []
        for i, row in enumerate(rows):
            if row is None or row[0] is None:
                continue
            if row[0] != kind:
                raise _type_error(key, i, row[0], feature)
            flat.extend(row[1])
            lengths[i + 1] = len(row[1])
        return Ragged(_values_array(flat, np_dtype, key), np.cumsum(lengths))
    if isinstance(feature, FixedLenSequenceFeature):
        step = size_of(feature.shape)
        per_row: list[list[Any]] = []
        for i, row in enumerate(rows):
            if row is None or row[0] is None:
                if not feature.allow_missing:
                    raise InputError(
                        f"Feature {key!r} (FixedLenSequenceFeature) is missing from example {i}; pass "
                        "allow_missing=True to pad it."
                    )
                per_row.append([])
                continue
            if row[0] != kind:
                raise _type_error(key, i, row[0], feature)
            if step == 0 or len(row[1]) % step:
                raise InputError(
                    f"Feature {key!r} of example {i}: {len(row[1])} values do not split into steps of shape "
                    f"{list(feature.shape)}."
                )
            per_row.append(row[1])
        t_max = max((len(r) // step for r in per_row), default=0) if step else 0
        pad = default_array(key, feature)
        out = np.empty((n, t_max, *feature.shape), dtype=np_dtype)
        out[...] = pad if pad is not None else (b"" if np_dtype is object else 0)
        for i, vals in enumerate(per_row):
            t = len(vals) // step if step else 0
            if t:
                out[i, :t] = _values_array(vals, np_dtype, key).reshape(t, *feature.shape)
        return out
    # FixedLenFeature: validate row by row, convert once
    size = size_of(feature.shape)
    default = default_array(key, feature)
    default_list = None if default is None else default.reshape(-1).tolist()
    flat = []
    for i, row in enumerate(rows):
        if row is None or row[0] is None:
            if default_list is None:
                raise InputError(
                    f"Feature {key!r} (FixedLenFeature {feature.dtype} {list(feature.shape)}) is required but "
                    f"missing from example {i}; give it a default_value or fix the data."
                )
            flat.extend(default_list)
            continue
        if row[0] != kind:
            raise _type_error(key, i, row[0], feature)
        if len(row[1]) != size:
            raise InputError(
                f"Feature {key!r} of example {i}: {len(row[1])} {_TF_NAME[kind]} values but the spec's shape "
                f"{list(feature.shape)} needs {size}. Use VarLenFeature for variable-length values."
            )
        flat.extend(row[1])
    return _values_array(flat, np_dtype, key).reshape(n, *feature.shape)


def _as_list(serialized: Any) -> list[bytes]:
    if isinstance(serialized, (bytes, bytearray)):
        raise InvalidArgumentError(
            "parse_example takes a batch (a list / 1-D array of serialized Examples); for one Example use "
            "parse_single_example."
        )
    return [bytes(s) for s in serialized]


def parse_example(serialized: Sequence[bytes] | np.ndarray, features: ParseSpec) -> dict[str, Any]:
    """Parse a batch of serialized ``tf.train.Example`` (``tf.io.parse_example``).

    Args:
        serialized: a list or 1-D object array of serialized Examples.
        features: ``{key: FixedLenFeature | VarLenFeature | FixedLenSequenceFeature}`` (a
            ``FixedLenSequenceFeature`` needs ``allow_missing=True``, as in TF).

    Returns:
        ``{key: array or Ragged}`` as in the module docstring table.

    Raises:
        InputError: a required feature is missing, a type or value count does not match the spec, or a
            record is not an Example.
        InvalidArgumentError: a malformed spec.

    Example:
        >>> from torchestimator.inputs.example_proto import encode_example
        >>> batch = [encode_example({"x": 1.0}), encode_example({"x": 2.0})]
        >>> parse_example(batch, {"x": FixedLenFeature([], "float32")})["x"]
        array([1., 2.], dtype=float32)
    """
    _check_spec(features)
    for key, feature in features.items():
        if isinstance(feature, FixedLenSequenceFeature) and not feature.allow_missing:
            raise InvalidArgumentError(
                f"features[{key!r}] is a FixedLenSequenceFeature in parse_example; it needs allow_missing=True "
                "(as in TF)."
            )
    raw, lengths = _joined(serialized)
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return parse_record_span(raw, starts, lengths, features)


def _joined(serialized: Any) -> tuple[bytes, np.ndarray]:
    """The records back to back, and their lengths (each record copied once, by the join)."""
    if isinstance(serialized, (bytes, bytearray)):
        _as_list(serialized)  # raises the batch-expected error
    records = serialized.tolist() if isinstance(serialized, np.ndarray) else list(serialized)
    try:
        raw = b"".join(records)
        lengths = np.fromiter(map(len, records), dtype=np.int64, count=len(records))
        if int(lengths.sum()) == len(raw):
            return raw, lengths
    except TypeError:
        pass
    records = _as_list(records)  # memoryviews of wide items, or an error naming what was received
    return b"".join(records), np.fromiter(map(len, records), dtype=np.int64, count=len(records))


def parse_record_span(
    raw: bytes, starts: np.ndarray, lengths: np.ndarray, features: ParseSpec
) -> dict[str, Any]:
    """:func:`parse_example` of the records ``raw[starts[i]:starts[i] + lengths[i]]`` (no bytes object per
    record on the fast path): the vectorised decoder first, the protobuf runtime when it declines."""
    as_varlen = {
        k: VarLenFeature(f.dtype) if isinstance(f, FixedLenSequenceFeature) else f
        for k, f in features.items()
    }
    if example_fast.supports(as_varlen):
        fast = example_fast.parse_records(raw, starts, lengths, as_varlen)
        if fast is not None:
            for key, feature in features.items():
                if isinstance(feature, FixedLenSequenceFeature):
                    padded = _pad_sequence(key, feature, fast[key])
                    if padded is None:
                        break
                    fast[key] = padded
            else:
                return fast
    records = [raw[s : s + n] for s, n in zip(np.asarray(starts).tolist(), np.asarray(lengths).tolist())]
    return parse_example_slow(records, features)


def _pad_sequence(key: str, feature: FixedLenSequenceFeature, ragged: Ragged) -> np.ndarray | None:
    """``(B, T_max, *shape)`` from per-example flat values, padded; ``None`` if a row does not split into
    whole steps (the protobuf path then raises the error)."""
    step = size_of(feature.shape)
    lengths = ragged.row_lengths()
    if step == 0 or np.any(lengths % step):
        return None
    steps = lengths // step
    t_max = int(steps.max()) if steps.size else 0
    _, np_dtype = WIRE[feature.dtype]
    pad = default_array(key, feature)
    out = np.empty((ragged.nrows, t_max, *feature.shape), dtype=np_dtype)
    out[...] = pad if pad is not None else (b"" if np_dtype is object else 0)
    rows = np.repeat(np.arange(ragged.nrows), steps)
    positions = np.arange(int(steps.sum())) - np.repeat(np.cumsum(steps) - steps, steps)
    out[rows, positions] = ragged.values.reshape(-1, *feature.shape)
    return out


def parse_example_slow(
    records: Sequence[bytes], features: ParseSpec, plan: RowsPlan | None = None
) -> dict[str, Any]:
    """:func:`parse_example` through the protobuf runtime, one Example at a time (any spec).

    ``plan``: ``rows_plan(features)`` made once by a caller that parses many batches with one spec
    (serving); otherwise it is worked out here. Well-formed batches are built through the plan, anything
    else by :func:`_build_feature`, which raises TF's error.
    """
    decoded = [decode_example(r) for r in records]
    if plan is None:
        plan = rows_plan(features)
    if plan is not None:
        built = build_outputs(plan, decoded)
        if built is not None:
            return built
    return {key: _build_feature(key, f, [d.get(key) for d in decoded]) for key, f in features.items()}


def parse_single_example(serialized: bytes, features: ParseSpec) -> dict[str, Any]:
    """Parse one serialized Example (``tf.io.parse_single_example``): no batch dimension; a
    ``VarLenFeature`` gives its 1-D values array.

    Raises:
        InputError: as :func:`parse_example`.
    """
    _check_spec(features)
    out = parse_example_slow([bytes(serialized)], features)
    return {k: (v.values if isinstance(v, Ragged) else v[0, ...]) for k, v in out.items()}


def _sequence_feature(
    key: str, feature: FeatureSpec, rows: list[list[tuple[str | None, list[Any]]] | None]
) -> Any:
    """Build a sequence (feature_lists) output; returns ``(value, lengths or None)``."""
    kind, np_dtype = WIRE[feature.dtype]
    n = len(rows)
    for i, steps in enumerate(rows):
        if steps is None and isinstance(feature, FixedLenSequenceFeature) and not feature.allow_missing:
            raise InputError(
                f"Sequence feature {key!r} is required but missing from the feature_lists of example {i}; pass "
                "allow_missing=True or fix the data."
            )
        for step in steps or []:
            if step[0] is not None and step[0] != kind:
                raise _type_error(key, i, step[0], feature)
    if isinstance(feature, VarLenFeature):
        # a ragged of ragged: examples -> steps -> values
        step_rows = [step[1] for steps in rows for step in (steps or [])]
        inner = (
            Ragged.from_rows(step_rows)
            if step_rows
            else Ragged(_values_array([], np_dtype, key), np.zeros(1))
        )
        inner = Ragged(_values_array(inner.values.tolist(), np_dtype, key), inner.row_splits)
        outer = np.zeros(n + 1, dtype=np.int64)
        outer[1:] = np.cumsum([len(steps or []) for steps in rows])
        return Ragged(inner, outer), None  # type: ignore[arg-type]
    if not isinstance(feature, FixedLenSequenceFeature):
        raise InvalidArgumentError(
            f"sequence_features[{key!r}] must be a FixedLenSequenceFeature or VarLenFeature; received "
            f"{type(feature).__name__}."
        )
    size = size_of(feature.shape)
    lengths = np.asarray([len(steps or []) for steps in rows], dtype=np.int64)
    t_max = int(lengths.max()) if n else 0
    pad = default_array(key, feature)
    out = np.empty((n, t_max, *feature.shape), dtype=np_dtype)
    out[...] = pad if pad is not None else (b"" if np_dtype is object else 0)
    for i, steps in enumerate(rows):
        for t, step in enumerate(steps or []):
            if len(step[1]) != size:
                raise InputError(
                    f"Sequence feature {key!r} of example {i}, step {t}: {len(step[1])} values but shape "
                    f"{list(feature.shape)} needs {size}."
                )
            out[i, t] = _values_array(step[1], np_dtype, key).reshape(feature.shape)
    return out, lengths


def parse_sequence_example(
    serialized: Sequence[bytes] | np.ndarray,
    context_features: ParseSpec | None = None,
    sequence_features: ParseSpec | None = None,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, np.ndarray]]:
    """Parse a batch of serialized ``tf.train.SequenceExample`` (``tf.io.parse_sequence_example``).

    Args:
        serialized: a list or 1-D array of serialized SequenceExamples.
        context_features: spec of the per-example context (as :func:`parse_example`).
        sequence_features: ``FixedLenSequenceFeature`` (→ ``(B, T_max, *shape)`` padded with
            ``default_value`` or zeros) or ``VarLenFeature`` (→ a :class:`Ragged` of examples whose
            ``values`` is a :class:`Ragged` of steps).

    Returns:
        ``(context, sequences, lengths)``; ``lengths[key]`` is the ``(B,)`` int64 number of steps of
        each ``FixedLenSequenceFeature``.

    Raises:
        InputError: missing required features / feature lists, or type and size mismatches.
    """
    if not context_features and not sequence_features:
        raise InvalidArgumentError("parse_sequence_example needs context_features or sequence_features.")
    if context_features:
        _check_spec(context_features)
    if sequence_features:
        _check_spec(sequence_features)
    decoded = [decode_sequence_example(r) for r in _as_list(serialized)]
    context = {
        key: _build_feature(key, f, [d[0].get(key) for d in decoded])
        for key, f in (context_features or {}).items()
    }
    sequences: dict[str, Any] = {}
    lengths: dict[str, np.ndarray] = {}
    for key, f in (sequence_features or {}).items():
        value, seq_lengths = _sequence_feature(key, f, [d[1].get(key) for d in decoded])
        sequences[key] = value
        if seq_lengths is not None:
            lengths[key] = seq_lengths
    return context, sequences, lengths


def parse_single_sequence_example(
    serialized: bytes, context_features: ParseSpec | None = None, sequence_features: ParseSpec | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parse one SequenceExample (``tf.io.parse_single_sequence_example``): ``(context, sequences)``
    without the batch dimension (a sequence ``VarLenFeature`` gives a :class:`Ragged` of steps)."""
    context, sequences, _ = parse_sequence_example([bytes(serialized)], context_features, sequence_features)
    single_context = {k: (v.values if isinstance(v, Ragged) else v[0, ...]) for k, v in context.items()}
    single_seq = {k: (v.values if isinstance(v, Ragged) else v[0, ...]) for k, v in sequences.items()}
    return single_context, single_seq
