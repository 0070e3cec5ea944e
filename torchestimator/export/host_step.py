"""The host step of an exported model: raw features -> the graph's padded numpy inputs.

:class:`HostStep` computes, outside the graph, what tensors cannot express: FarmHash Fingerprint64
hashing (hashed, crossed, OOV buckets) and vocabulary lookups, through the very column code the
Estimator trains with, so ids are bit-identical. It also checks and pads the raw features the graph
reads (dense, padded, pass-through tensors), raising :class:`~torchestimator.errors.FeatureError`
naming the feature on a missing feature, a wrong dtype or shape, or an identity id out of range.
Its inputs are the :class:`~torchestimator.export.wire_plan.WireInput` s of a plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from torchestimator.columns.base import CategoricalIds, TransformCache
from torchestimator.columns.categorical import check_identity_ids
from torchestimator.columns.inputs import dense_to_sparse, normalize_raw
from torchestimator.errors import FeatureError, did_you_mean
from torchestimator.export.wire_plan import WireInput
from torchestimator.inputs.example_spec import size_of
from torchestimator.parsing import FixedLenFeature, Ragged, VarLenFeature

__all__ = ["HostStep", "ParsedHostStep", "normalize_features"]

_NP_DTYPES = {"float32": np.float32, "float64": np.float64, "int32": np.int32, "int64": np.int64}


def _pad(rows: Ragged, dtype: str, length: int | None = None, longest: int | None = None) -> np.ndarray:
    """Ragged -> (B, L) padded with -1 / 0.0 / '' (L >= 1); ``longest``: the longest row, when known."""
    if longest is None:
        lengths = rows.row_lengths()
        longest = int(lengths.max()) if lengths.size else 0
    width = max(longest, 1, length or 0)
    if width == 1 and rows.values.size == rows.nrows:  # one value per row: no padding needed
        if dtype != "string":
            return np.ascontiguousarray(rows.values, dtype=_NP_DTYPES[dtype]).reshape(-1, 1)
        values = rows.values
        if values.size and isinstance(values[0], bytes):
            values = _as_text(values)
        return values.astype(object, copy=False).reshape(-1, 1)
    if dtype == "string":
        out = np.full((rows.nrows, width), "", dtype=object)
        values = _as_text(rows.values)
    else:
        out = np.full((rows.nrows, width), -1 if dtype.startswith("int") else 0, dtype=_NP_DTYPES[dtype])
        values = rows.values
    if values.size:
        lengths = rows.row_lengths()
        col = np.arange(values.size, dtype=np.int64) - np.repeat(rows.row_splits[:-1], lengths)
        out[rows.row_ids(), col] = values
    return out


def _longest_row(splits: np.ndarray) -> int:
    """The most values in one row (0 for no rows)."""
    if len(splits) == 2:  # one example, the common serving request: no array arithmetic
        return int(splits[1]) - int(splits[0])
    return int((splits[1:] - splits[:-1]).max()) if len(splits) > 1 else 0


class _TextCache(dict[Any, str]):
    """``bytes`` / ``str`` value -> its text as the graph takes it (bytes decoded as UTF-8), kept across
    batches: categorical values repeat, so most lookups are one dict hit. Bounded: cleared when full."""

    def __missing__(self, value: Any) -> str:
        text = value.decode("utf-8") if isinstance(value, bytes) else str(value)
        if type(value) in (bytes, str):  # exact types only: no other object can compare equal to them
            if len(self) >= _TEXT_CACHE_SIZE:
                self.clear()
            self[value] = text
        return text


_TEXT_CACHE_SIZE = 1 << 16
_TEXT = _TextCache()


def _as_text(values: np.ndarray) -> np.ndarray:
    """Object array of ``str`` (bytes decoded as UTF-8); each distinct value decoded once (categories repeat)."""
    if len(values) == 1:
        out = np.empty(1, dtype=object)
        out[0] = _TEXT[values[0]]
        return out
    items = values.tolist()
    return np.fromiter(map(_TEXT.__getitem__, items), dtype=object, count=len(items))


def _ids_to_ragged(ids: CategoricalIds) -> Ragged:
    return Ragged(ids.values.astype(np.int64, copy=False), ids.row_splits)


class HostStep:
    """Raw features -> the graph's numpy inputs, with the training columns' host code.

    Args:
        inputs: the graph's inputs (:meth:`WirePlan.onnx_inputs` or ``WirePlan.inputs``).
        custom_objects: callables for deserialising columns (a crossed column's normalizer_fn).
    """

    def __init__(
        self, inputs: Mapping[str, WireInput], custom_objects: Mapping[str, Any] | None = None
    ) -> None:
        from torchestimator.columns.serialization import deserialize_column

        self.inputs = dict(inputs)
        self._columns = {
            name: deserialize_column(item.column, custom_objects)
            for name, item in self.inputs.items()
            if item.kind in ("ids", "sequence", "sequence_length") and item.column is not None
        }

    def __call__(self, features: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Return ``{input name: array}``.

        Raises:
            FeatureError: a missing feature, a wrong dtype or shape (the error names the feature).
        """
        cache = TransformCache(features)
        ragged: dict[str, tuple[Ragged, str, str | None]] = {}
        sequences: dict[str, tuple[WireInput, np.ndarray, np.ndarray]] = {}
        out: dict[str, np.ndarray] = {}
        for name, item in self.inputs.items():
            if item.kind in ("sequence", "sequence_length"):
                sequences[name] = (item, *_sequence_steps(self._columns[name], cache))
            elif item.kind == "dense":
                out[name] = self._dense(cache, item)
            elif item.kind == "tensor":
                out[name] = self._tensor(features, item)
            elif item.kind == "padded":
                raw = cache.raw(str(item.key), str(item.key))
                rows = self._sparse(raw, item)
                if item.num_buckets is not None:
                    _check_identity_range(rows, str(item.key), item.num_buckets)
                ragged[name] = (rows, item.dtype, item.group)
            else:
                ids = self._columns[name].transform(cache)
                ragged[name] = (_ids_to_ragged(ids), "int64", item.group)
        out.update(_pad_groups(ragged))
        out.update(_pad_sequences(sequences, self._columns))
        return out

    def for_parsed(self, spec: Mapping[str, Any]) -> ParsedHostStep | None:
        """This step specialised to features ``parse_example`` made with ``spec`` (see
        :class:`ParsedHostStep`); ``None`` when an input is outside what it plans."""
        ops: list[tuple[str, str, WireInput]] = []
        for name, item in self.inputs.items():
            feature = spec.get(str(item.key)) if item.key is not None else None
            if item.kind == "dense" and _planned_dense(feature, item):
                ops.append(("dense", name, item))
            elif item.kind == "padded" and _planned_padded(feature, item):
                ops.append(("padded", name, item))
            elif item.kind == "ids" and name in self._columns:
                ops.append(("ids", name, item))
            else:
                return None
        return ParsedHostStep(tuple(ops), self._columns)

    @staticmethod
    def _tensor(features: Mapping[str, Any], item: WireInput) -> np.ndarray:
        """A pass-through feature as a contiguous array of the graph's dtype and shape."""
        key = str(item.key)
        if key not in features:
            raise FeatureError(
                f"feature {key!r} is missing: the model reads it (shape {list(item.shape or ())}, {item.dtype}); "
                f"received features {sorted(features)}{did_you_mean(key, list(features))}."
            )
        value = features[key]
        arr = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        shape = tuple(item.shape or ())
        fixed = all(w == -1 or w == d for w, d in zip(shape[1:], arr.shape[1:]))
        if arr.ndim != len(shape) or not fixed:
            raise FeatureError(
                f"feature {key!r} must have shape {[None if d == -1 else d for d in shape]} (None = any size); "
                f"received shape {list(arr.shape)}."
            )
        if arr.dtype.kind not in "fiub":
            raise FeatureError(
                f"feature {key!r} must be numeric ({item.dtype}); received dtype {arr.dtype} "
                f"(values {arr.ravel()[:3].tolist()})."
            )
        return np.ascontiguousarray(arr, dtype=np.dtype(item.dtype))

    @staticmethod
    def _dense(cache: TransformCache, item: WireInput) -> np.ndarray:
        key = str(item.key)
        raw = cache.raw(key, key)
        if isinstance(raw, Ragged):
            raise FeatureError(
                f"feature {key!r} must be dense with {item.width} value(s) per example; received variable-length values."
            )
        if raw.dtype.kind not in "fiub":
            raise FeatureError(
                f"feature {key!r} must be numeric ({item.dtype}); received dtype {raw.dtype} (values {raw.ravel()[:3].tolist()})."
            )
        if int(np.prod(raw.shape[1:])) != item.width:
            raise FeatureError(
                f"feature {key!r} must have {item.width} value(s) per example; received shape {tuple(raw.shape)}."
            )
        return np.ascontiguousarray(raw.reshape(raw.shape[0], -1), dtype=_NP_DTYPES[item.dtype])

    @staticmethod
    def _sparse(raw: Any, item: WireInput) -> Ragged:
        key = str(item.key)
        if item.dtype == "float32":  # weights: zeros are padding, as weighted_categorical_column drops them
            if isinstance(raw, Ragged):
                return raw
            rows = raw.reshape(raw.shape[0], -1)
            keep = rows != 0
            splits = np.zeros(rows.shape[0] + 1, dtype=np.int64)
            np.cumsum(keep.sum(axis=1), out=splits[1:])
            return Ragged(rows[keep], splits)
        sparse = raw if isinstance(raw, Ragged) else dense_to_sparse(raw, key)
        values = sparse.values
        if values.size:
            is_str = values.dtype.kind in "OUS"
            if (item.dtype == "string") != is_str or (not is_str and values.dtype.kind not in "iub"):
                raise FeatureError(
                    f"feature {key!r} must hold {item.dtype} values; received dtype {values.dtype} "
                    f"(values {values[:3].tolist()})."
                )
        return sparse


def _planned_dense(feature: Any, item: WireInput) -> bool:
    """A numeric ``FixedLenFeature`` with the input's width: parsed as a (B, *shape) array of its dtype."""
    return (
        type(feature) is FixedLenFeature
        and feature.dtype in _NP_DTYPES
        and item.dtype in _NP_DTYPES
        and size_of(feature.shape) == item.width
    )


def _planned_padded(feature: Any, item: WireInput) -> bool:
    """A ``VarLenFeature`` of the input's family (strings, integers, float weights): a :class:`Ragged`."""
    if type(feature) is not VarLenFeature:
        return False
    family = {"string": "s", "int32": "i", "int64": "i", "float32": "f", "float64": "f"}
    return family.get(feature.dtype) == family.get(item.dtype) and item.dtype != "float64"


class ParsedHostStep:
    """:class:`HostStep` for the outputs of ``parse_example`` with the export's parse spec, planned once.

    The spec fixes each feature's form (a dense array of the spec's dtype and shape, or a :class:`Ragged`),
    so the per-feature normalisation and type checks of :class:`HostStep` are settled at load; what is
    left per call is the same padding, identity-range checks and column transforms, in the same order
    (the same outputs, and the same first error). Built by :meth:`HostStep.for_parsed`.
    """

    def __init__(self, ops: tuple[tuple[str, str, WireInput], ...], columns: Mapping[str, Any]) -> None:
        self._ops = ops
        self._columns = dict(columns)

    def __call__(self, parsed: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Return ``{input name: array}`` for a batch ``parse_example`` made (at least one example).

        Raises:
            FeatureError: an identity id out of range, or a column transform's error.
        """
        cache: TransformCache | None = None
        ragged: dict[str, tuple[Ragged, str, str | None]] = {}
        out: dict[str, np.ndarray] = {}
        for op, name, item in self._ops:
            if op == "dense":
                arr = parsed[item.key]  # type: ignore[index]
                out[name] = np.ascontiguousarray(arr.reshape(arr.shape[0], -1), dtype=_NP_DTYPES[item.dtype])
            elif op == "padded":
                rows = parsed[item.key]  # type: ignore[index]
                if item.num_buckets is not None:
                    _check_identity_range(rows, str(item.key), item.num_buckets)
                ragged[name] = (rows, item.dtype, item.group)
            else:
                cache = TransformCache(parsed) if cache is None else cache
                ragged[name] = (_ids_to_ragged(self._columns[name].transform(cache)), "int64", item.group)
        out.update(_pad_groups(ragged))
        return out


def _pad_groups(ragged: Mapping[str, tuple[Ragged, str, str | None]]) -> dict[str, np.ndarray]:
    """Pad each ragged input to the longest row of its length group (its own longest row without one)."""
    longest: dict[str | None, int] = {}
    own: dict[str, int] = {}
    for name, (rows, _, group) in ragged.items():
        own[name] = _longest_row(rows.row_splits)
        longest[group] = max(longest.get(group, 0), own[name])
    return {
        name: _pad(rows, dtype, longest[group] if group is not None else None, own[name])
        for name, (rows, dtype, group) in ragged.items()
    }


def _sequence_steps(column: Any, cache: TransformCache) -> tuple[np.ndarray, np.ndarray]:
    """A sequence column's steps (numeric ``(N, width)``, ids ``(N,)``) and steps per example, as
    ``SequenceFeatures`` computes them in training.

    Raises:
        FeatureError: an id beyond the column's buckets.
    """
    from torchestimator.columns.sequence import SequenceNumericColumn

    if isinstance(column, SequenceNumericColumn):
        rag = cache.get(column)
        return rag.values.reshape(-1, column.step_width), np.diff(rag.row_splits) // column.step_width
    ids = cache.get(column)
    nb = column.categorical_column.num_buckets
    if ids.values.size and int(ids.values.max()) >= nb:
        raise FeatureError(f"column {column.name!r} produced id {int(ids.values.max())} >= num_buckets {nb}.")
    return ids.values, np.diff(ids.row_splits)


def _pad_sequences(
    sequences: Mapping[str, tuple[WireInput, np.ndarray, np.ndarray]], columns: Mapping[str, Any]
) -> dict[str, np.ndarray]:
    """Pad each group's sequence inputs to its longest example (at least one step).

    Raises:
        FeatureError: columns of one ``SequenceFeatures`` with different lengths for an example.
    """
    lengths_of = {
        item.group: lengths for item, _, lengths in sequences.values() if item.kind == "sequence_length"
    }
    out: dict[str, np.ndarray] = {}
    for name, (item, values, lengths) in sequences.items():
        reference = lengths_of[item.group]
        if lengths.shape != reference.shape or not np.array_equal(lengths, reference):
            raise FeatureError(
                f"sequence column {columns[name].name!r} has sequence lengths {lengths[:8].tolist()} but the other "
                f"columns of its SequenceFeatures have {reference[:8].tolist()}; all must have the same length."
            )
        if item.kind == "sequence_length":
            out[name] = np.ascontiguousarray(lengths, dtype=np.int64)
            continue
        batch, steps = len(lengths), max(int(reference.max()) if len(reference) else 0, 1)
        row = np.repeat(np.arange(batch), lengths)
        step = np.arange(len(row)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        if item.dtype == "float32":
            padded = np.full(
                (batch, steps, int(item.width or 1)), columns[name].default_value, dtype=np.float32
            )
        else:
            padded = np.full((batch, steps), -1, dtype=np.int64)
        padded[row, step] = values
        out[name] = padded
    return out


def _check_identity_range(rows: Ragged, key: str, num_buckets: int) -> None:
    """Raise as ``categorical_column_with_identity`` does in training for an id outside [0, num_buckets).

    Raises:
        FeatureError: an id out of range (the column has no ``default_value``).
    """
    values = np.asarray(rows.values)
    if values.size and values.dtype.kind in "iu":
        check_identity_ids(values, key, num_buckets)  # one rule and message for training and serving


def normalize_features(features: Mapping[str, Any]) -> dict[str, Any]:
    """Raw features with each value normalised once (dense (B, ...) arrays or Ragged)."""
    return {k: normalize_raw(v, k) for k, v in features.items()}
