"""The exported graph's inputs ("wire format") and the two halves that produce and consume them.

The column layers of a model (``DenseFeatures``, ``LinearModel``) normally receive host-packed bags
(``ids``/``offsets``) whose lengths depend on the data. An exported graph instead takes one padded
tensor per raw feature and rebuilds the packed bags inside the graph, so preprocessing that tensors
can express travels with the model::

    wire input                    shape        dtype                 padding   used by
    <key>           (dense)       (B, D)       the column's dtype    -         numeric / bucketized
    <key>           (padded)      (B, L)       int64 / float32       -1 / 0    identity, weights
    <column>__ids   (host ids)    (B, L)       int64                 -1        hash, cross, vocabulary
    <key>           (tensor)      (B, ...)     the receiver's dtype  -         the model itself (raw)

A ``tensor`` input is a receiver feature no column reads (an image for a plain ``nn.Module``
wrapped by ``model_to_estimator``, a numeric side input beside the columns): it is passed
straight through to the model as ``features[key]``.

In the graph (:func:`build_layer_inputs`): numeric values (+ ``normalizer_fn``), bucketize (float64
comparison, as the host does), identity range / default, indicator counts, combiner weights and the
fused-bag ids / offsets / bag index. On the host (:class:`HostStep`): FarmHash Fingerprint64
hashing (hashed, crossed, OOV buckets) and vocabulary lookups, through the very column code the
Estimator trains with, so ids are bit-identical. The ONNX file replaces each vocabulary column's
host ids by an ``ai.onnx.ml.LabelEncoder`` over the raw (string or int) feature (see
:mod:`torchestimator.export.onnx_graph`), so for the ONNX model only hashed / crossed / OOV-bucket
columns remain a host step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from torchestimator.columns.base import CategoricalColumn, CategoricalIds, FeatureColumn, TransformCache
from torchestimator.columns.categorical import (
    IdentityCategoricalColumn,
    VocabularyFileCategoricalColumn,
    VocabularyListCategoricalColumn,
    WeightedCategoricalColumn,
)
from torchestimator.columns.dense_features import DenseFeatures
from torchestimator.columns.embedding import EmbeddingColumn, IndicatorColumn
from torchestimator.columns.inputs import dense_to_sparse, normalize_raw
from torchestimator.columns.layer_base import ColumnLayer
from torchestimator.columns.linear_model import LinearModel
from torchestimator.columns.numeric import BucketizedColumn, NumericColumn
from torchestimator.errors import ExportError, FeatureError, did_you_mean
from torchestimator.parsing import Ragged

__all__ = ["HostStep", "WireInput", "WirePlan", "build_layer_inputs", "plan_tensors", "plan_wire"]

IDS_SUFFIX = "__ids"
Wire = Mapping[str, torch.Tensor]


@dataclasses.dataclass(frozen=True)
class WireInput:
    """One graph input.

    Attributes:
        name: the graph input name.
        kind: ``dense`` (B, width), ``padded`` (B, L) raw values, or ``ids`` (B, L) host-computed ids.
        dtype: float32 / float64 / int32 / int64 / string.
        width: D of a dense input (None for padded / ids).
        key: the raw feature key (dense / padded).
        column: the serialised column whose host transform gives the ids (``ids`` kind).
        group: inputs of one length group share their L (a weighted column's ids and weights).
        shape: the receiver's shape of a ``tensor`` input (``-1`` = any size; dim 0 is the batch).
        num_buckets: identity ids of a ``padded`` input must be below this (a column without
            ``default_value``); the host step raises as training does.
    """

    name: str
    kind: str
    dtype: str
    width: int | None = None
    key: str | None = None
    column: dict[str, Any] | None = None
    group: str | None = None
    shape: tuple[int, ...] | None = None
    num_buckets: int | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WireInput:
        fields = dict(data)
        if fields.get("shape") is not None:
            fields["shape"] = tuple(fields["shape"])
        return cls(**fields)


@dataclasses.dataclass
class Lookup:
    """A vocabulary column the ONNX graph looks up itself: raw ``key`` -> ``ids_name``."""

    ids_name: str
    key: str
    dtype: str
    vocabulary: list[Any]
    default_value: int


@dataclasses.dataclass
class WirePlan:
    """Inputs of the torch graph (``inputs``) and the vocabulary lookups ONNX does in-graph."""

    inputs: dict[str, WireInput] = dataclasses.field(default_factory=dict)
    lookups: dict[str, Lookup] = dataclasses.field(default_factory=dict)
    layers: list[ColumnLayer] = dataclasses.field(default_factory=list)
    ids_names: dict[FeatureColumn, str] = dataclasses.field(default_factory=dict)

    def add(self, item: WireInput) -> str:
        old = self.inputs.get(item.name)
        if old is not None and old != item:
            raise ExportError(
                f"feature {item.key or item.name!r} is read two incompatible ways by the model's columns "
                f"({old.kind} {old.dtype} vs {item.kind} {item.dtype}); export needs one representation per "
                "feature. Use separate feature keys for the two columns."
            )
        self.inputs[item.name] = item
        return item.name

    def onnx_inputs(self) -> dict[str, WireInput]:
        """The ONNX graph's inputs: lookup ids replaced by their raw (padded) features."""
        out: dict[str, WireInput] = {}
        for name, item in self.inputs.items():
            lookup = self.lookups.get(name)
            if lookup is None:
                out[name] = item
            elif lookup.key not in out:
                out[lookup.key] = WireInput(
                    lookup.key, "padded", lookup.dtype, key=lookup.key, group=item.group
                )
        return out


def _serialized(column: FeatureColumn) -> dict[str, Any]:
    from torchestimator.columns.serialization import serialize_column

    return serialize_column(column)


def _vocabulary(column: Any) -> list[Any]:
    table = column._table()
    return [k for k, _ in sorted(table.items(), key=lambda kv: kv[1])]


def plan_wire(module: nn.Module) -> WirePlan:
    """Walk the model's column layers and decide every graph input.

    Raises:
        ExportError: a model without column layers, a sequence layer, or an unsupported column.
    """
    plan = WirePlan()
    plan.layers = [m for m in module.modules() if isinstance(m, ColumnLayer)]
    for layer in plan.layers:
        if not isinstance(layer, (DenseFeatures, LinearModel)):
            raise ExportError(
                f"export supports DenseFeatures and LinearModel column layers; the model has {type(layer).__name__}."
            )
        for col in layer.feature_columns:
            _plan_column(plan, col)
    return plan


def _plan_column(plan: WirePlan, col: FeatureColumn) -> None:
    if isinstance(col, NumericColumn):
        plan.add(WireInput(col.key, "dense", col.dtype, width=col.dense_width, key=col.key))
    elif isinstance(col, BucketizedColumn):
        _plan_column(plan, col.source_column)
    elif isinstance(col, (IndicatorColumn, EmbeddingColumn)) or (
        hasattr(col, "categorical_column") and not isinstance(col, WeightedCategoricalColumn)
    ):
        _plan_categorical(plan, col.categorical_column)
    elif isinstance(col, CategoricalColumn):
        _plan_categorical(plan, col)
    else:
        raise ExportError(f"column {col.name!r} ({type(col).__name__}) cannot be exported.")


def _plan_categorical(plan: WirePlan, col: CategoricalColumn, group: str | None = None) -> None:
    group = group or col.name
    if isinstance(col, BucketizedColumn):
        _plan_column(plan, col.source_column)
    elif isinstance(col, IdentityCategoricalColumn):
        limit = col.number_buckets if col.default_value is None else None
        old = plan.inputs.get(col.key)
        if old is not None and old.kind == "padded" and old.dtype == "int64" and old.num_buckets != limit:
            limits = [n for n in (old.num_buckets, limit) if n is not None]  # the strictest column wins
            plan.inputs[col.key] = dataclasses.replace(old, num_buckets=min(limits))
        else:
            plan.add(WireInput(col.key, "padded", "int64", key=col.key, group=col.key, num_buckets=limit))
    elif isinstance(col, WeightedCategoricalColumn):
        inner = col.categorical_column
        _plan_categorical(plan, inner, group=_group_of(plan, inner))
        plan.add(
            WireInput(
                col.weight_feature_key,
                "padded",
                "float32",
                key=col.weight_feature_key,
                group=_group_of(plan, inner),
            )
        )
    else:
        name = plan.ids_names.get(col)
        if name is None:
            name = col.name + IDS_SUFFIX
            if name in plan.ids_names.values():  # two columns, one name (vocabulary + hashed view of a key)
                name = f"{col.name}__{type(col).__name__}{IDS_SUFFIX}"
            plan.ids_names[col] = name
        plan.add(WireInput(name, "ids", "int64", column=_serialized(col), group=group))
        if (
            isinstance(col, (VocabularyListCategoricalColumn, VocabularyFileCategoricalColumn))
            and not col.num_oov_buckets
        ):
            plan.lookups[name] = Lookup(name, col.key, col.dtype, _vocabulary(col), col.default_value)


def plan_tensors(plan: WirePlan, specs: Mapping[str, Any]) -> list[str]:
    """Add a pass-through ``tensor`` input for every numeric receiver feature in ``specs``.

    Args:
        plan: the columns' plan (extended in place).
        specs: ``{key: TensorSpec}`` of receiver features no column reads.

    Returns:
        The string features left out (a graph cannot take them raw; the model must not read them).
    """
    strings = []
    for key, spec in specs.items():
        if spec.dtype == "string":
            strings.append(key)
            continue
        if len(spec.shape) < 1:
            raise ExportError(
                f"receiver feature {key!r} needs a batch dimension; received shape {spec.shape}."
            )
        shape = (-1, *(-1 if d is None else int(d) for d in spec.shape[1:]))
        plan.add(WireInput(key, "tensor", spec.dtype, key=key, shape=shape))
    return strings


def _group_of(plan: WirePlan, col: CategoricalColumn) -> str:
    return col.key if isinstance(col, IdentityCategoricalColumn) else col.name


# ---------------------------------------------------------------------------------------------- graph
class GraphBuilder:
    """Turns wire tensors into each layer's reserved-key tensors, inside the traced graph."""

    def __init__(self, wire: Wire, ids_names: Mapping[FeatureColumn, str]) -> None:
        self.wire = wire
        self.ids_names = ids_names
        if not wire:
            raise ExportError("the exported model reads no features: the wire plan has no inputs.")
        first = next(iter(wire.values()))
        self.batch = first.shape[0]

    def numeric(self, col: NumericColumn) -> torch.Tensor:
        x = self.wire[col.key].reshape(self.batch, col.dense_width)  # (B, D)
        if col.normalizer_fn is not None:
            x = torch.as_tensor(col.normalizer_fn(x))
        return x.to(torch.float32)  # (B, D)

    def buckets(self, col: BucketizedColumn) -> torch.Tensor:
        values = self.numeric(col.source_column).to(torch.float64)  # (B, D), as numpy's searchsorted sees it
        bounds = torch.tensor(col.boundaries, dtype=torch.float64)  # (K,)
        return (values.unsqueeze(-1) >= bounds).sum(-1).to(torch.int64)  # (B, D)

    def categorical(self, col: CategoricalColumn) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(ids (B, L) int64 with -1 = missing, weights (B, L) float32 or None)``."""
        if isinstance(col, BucketizedColumn):
            b = self.buckets(col)  # (B, D)
            return b + torch.arange(b.shape[1], dtype=torch.int64) * col.buckets_per_element, None
        if isinstance(col, IdentityCategoricalColumn):
            x = self.wire[col.key].to(torch.int64)  # (B, L)
            bad = (x < 0) | (x >= col.number_buckets)
            fill = torch.full_like(x, -1 if col.default_value is None else col.default_value)
            return torch.where(x == -1, -1, torch.where(bad, fill, x)), None
        if isinstance(col, WeightedCategoricalColumn):
            ids, _ = self.categorical(col.categorical_column)
            return ids, self.wire[col.weight_feature_key].to(torch.float32)
        return self.wire[self.ids_names[col]], None

    def indicator(self, col: IndicatorColumn) -> torch.Tensor:
        ids, w = self.categorical(col.categorical_column)  # (B, L)
        nb = col.categorical_column.num_buckets
        keep = ids >= 0
        value = torch.where(keep, w if w is not None else torch.ones_like(ids, dtype=torch.float32), 0.0)
        counts = torch.zeros(ids.shape[0], nb, dtype=torch.float32)  # (B, nb)
        return counts.scatter_add(1, torch.where(keep, ids, 0), value.to(torch.float32))

    def dense(self, col: Any) -> torch.Tensor:
        if isinstance(col, NumericColumn):
            return self.numeric(col)
        if isinstance(col, BucketizedColumn):
            b = self.buckets(col)  # (B, D)
            return F.one_hot(b, col.buckets_per_element).reshape(b.shape[0], -1).to(torch.float32)
        if isinstance(col, IndicatorColumn):
            return self.indicator(col)
        raise ExportError(f"column {col.name!r} ({type(col).__name__}) cannot be exported.")

    def bags(
        self,
        columns: list[tuple[CategoricalColumn, int, str]],
        drop_nonpositive_weights: bool = True,
        example_major: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Fused-bag ``ids, offsets, weights, bag index`` for ``(column, row offset, combiner)`` slots.

        Bags are ``c * B + b`` (column-major, LinearModel) or ``b * k + c`` (``example_major``,
        DenseFeatures: ids laid out example by example, see :mod:`torchestimator.columns.fused_bag`);
        padded positions carry weight 0. The bag index agrees with ``offsets``.
        """
        id_parts, w_parts = [], []
        for col, row_offset, combiner in columns:
            ids, w = self.categorical(col)  # (B, L)
            keep = ids >= 0
            if w is not None and drop_nonpositive_weights:
                keep = keep & (w > 0)
            weight = torch.where(keep, w if w is not None else torch.ones_like(ids, dtype=torch.float32), 0.0)
            if combiner == "mean":
                norm = weight.sum(1, keepdim=True)  # (B, 1)
                weight = weight / torch.where(norm == 0, 1.0, norm)
            elif combiner == "sqrtn":
                norm = (weight * weight).sum(1, keepdim=True).sqrt()  # (B, 1)
                weight = weight / torch.where(norm == 0, 1.0, norm)
            id_parts.append(torch.where(keep, ids, 0) + row_offset)  # (B, L)
            w_parts.append(weight.to(torch.float32))  # (B, L)
        batch = id_parts[0].shape[0]
        lengths = [part.shape[1] for part in id_parts]
        k = len(columns)
        if example_major:  # example b: [col 0 ids | col 1 ids | ...], bag b * k + c
            starts = torch.tensor([sum(lengths[:c]) for c in range(k)], dtype=torch.int64)  # (k,)
            total = sum(lengths)
            offsets = (torch.arange(batch, dtype=torch.int64).unsqueeze(1) * total + starts).reshape(
                -1
            )  # (B*k,)
            slot_of = torch.cat(
                [torch.full((n,), c, dtype=torch.int64) for c, n in enumerate(lengths)]
            )  # (total,)
            bags = torch.arange(batch, dtype=torch.int64).unsqueeze(1) * k + slot_of  # (B, total)
            flat_ids = torch.cat(id_parts, dim=1).reshape(-1)
            return flat_ids, offsets, torch.cat(w_parts, dim=1).reshape(-1), bags.reshape(-1)
        off_parts, bag_parts = [], []
        base: Any = 0
        for slot, length in enumerate(lengths):
            off_parts.append(torch.arange(batch, dtype=torch.int64) * length + base)
            rows = torch.arange(batch, dtype=torch.int64).unsqueeze(1).expand(batch, length)  # (B, L)
            bag_parts.append(rows.reshape(-1) + slot * batch)
            base = base + batch * length
        flat_ids = torch.cat([part.reshape(-1) for part in id_parts])
        flat_w = torch.cat([part.reshape(-1) for part in w_parts])
        return flat_ids, torch.cat(off_parts), flat_w, torch.cat(bag_parts)


def build_layer_inputs(builder: GraphBuilder, layers: list[ColumnLayer]) -> dict[str, torch.Tensor]:
    """Every layer's reserved-key tensors (what ``host_tensors`` would give) from wire tensors."""
    out: dict[str, torch.Tensor] = {}
    for layer in layers:
        p = layer.key_prefix
        out[layer.ready_key] = torch.zeros(())
        if isinstance(layer, DenseFeatures):
            for i, block in enumerate(layer._host_blocks):
                parts = [builder.dense(col) for col in block]
                out[f"{p}/dense{i}"] = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
            for g in layer._groups.values():
                start_of = {name: start for name, (start, _, _) in g.tables.items()}
                slots = [(c.categorical_column, start_of[c.table_name], c.combiner) for c in g.columns]
                ids, offsets, weights, bags = builder.bags(slots, example_major=True)
                out.update({f"{p}/{g.key}/ids": ids, f"{p}/{g.key}/offsets": offsets})
                out.update({f"{p}/{g.key}/weights": weights, f"{p}/{g.key}/bags": bags})
        elif isinstance(layer, LinearModel) and layer._sparse:
            slots = [(c, layer._rows[c.name][0], layer.sparse_combiner) for c in layer._sparse]
            ids, offsets, weights, _ = builder.bags(slots)
            out.update({f"{p}/ids": ids, f"{p}/offsets": offsets, f"{p}/weights": weights})
    return out


def bag_forward(bag: nn.EmbeddingBag) -> Callable[..., torch.Tensor]:
    """An export-friendly ``EmbeddingBag(mode='sum')`` forward: gather + one scatter-add (no loop).

    The bag of every id comes from ``offsets`` alone (``offsets[0] == 0``): id ``j`` belongs to bag
    ``#{k: offsets[k] <= j} - 1``, a cumulative sum of marks at the offsets (an empty bag adds a second
    mark at the same place; trailing empty bags mark position N, which is cut off). No tensor is kept
    between calls, so nothing is assigned to a module while tracing.
    """

    def forward(
        input: torch.Tensor,
        offsets: torch.Tensor | None = None,
        per_sample_weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if offsets is None or input.dim() != 1:
            raise ExportError("EmbeddingBag in an exported model must be called with 1-D ids and offsets.")
        n = input.shape[0]
        marks = torch.zeros(n + 1, dtype=torch.int64)  # (N + 1,)
        marks = marks.index_add(0, offsets, torch.ones_like(offsets))
        bags = marks[:n].cumsum(0) - 1  # (N,); slicing offsets[1:] instead would specialise the batch
        rows = F.embedding(input, bag.weight)  # (N, D)
        if per_sample_weights is not None:
            rows = rows * per_sample_weights.unsqueeze(1)
        return rows.new_zeros(offsets.shape[0], bag.embedding_dim).index_add(0, bags, rows)  # (nbags, D)

    return forward


# ---------------------------------------------------------------------------------------------- host
_NP_DTYPES = {"float32": np.float32, "float64": np.float64, "int32": np.int32, "int64": np.int64}


def _pad(rows: Ragged, dtype: str, length: int | None = None) -> np.ndarray:
    """Ragged -> (B, L) padded with -1 / 0.0 / '' (L >= 1)."""
    lengths = rows.row_lengths()
    width = max(int(lengths.max()) if lengths.size else 0, 1, length or 0)
    if width == 1 and rows.values.size == rows.nrows:  # one value per row: no padding needed
        if dtype != "string":
            return np.ascontiguousarray(rows.values, dtype=_NP_DTYPES[dtype]).reshape(-1, 1)
        values = rows.values
        if values.size and isinstance(values[0], bytes):
            values = np.array([v.decode("utf-8") for v in values], dtype=object)
        return values.astype(object, copy=False).reshape(-1, 1)
    if dtype == "string":
        out = np.full((rows.nrows, width), "", dtype=object)
        values = np.array(
            [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in rows.values], dtype=object
        )
    else:
        out = np.full((rows.nrows, width), -1 if dtype.startswith("int") else 0, dtype=_NP_DTYPES[dtype])
        values = rows.values
    if values.size:
        col = np.arange(values.size, dtype=np.int64) - np.repeat(rows.row_splits[:-1], lengths)
        out[rows.row_ids(), col] = values
    return out


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
            if item.kind == "ids" and item.column is not None
        }

    def __call__(self, features: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Return ``{input name: array}``.

        Raises:
            FeatureError: a missing feature, a wrong dtype or shape (the error names the feature).
        """
        cache = TransformCache(features)
        ragged: dict[str, tuple[Ragged, str, str | None]] = {}
        out: dict[str, np.ndarray] = {}
        for name, item in self.inputs.items():
            if item.kind == "dense":
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
        longest: dict[str | None, int] = {}
        for rows, _, group in ragged.values():
            n = int(rows.row_lengths().max()) if rows.nrows else 0
            longest[group] = max(longest.get(group, 0), n)
        for name, (rows, dtype, group) in ragged.items():
            out[name] = _pad(rows, dtype, longest[group] if group is not None else None)
        return out

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


def _check_identity_range(rows: Ragged, key: str, num_buckets: int) -> None:
    """Raise as ``categorical_column_with_identity`` does in training for an id >= num_buckets.

    Raises:
        FeatureError: an id out of range (the column has no ``default_value``).
    """
    values = np.asarray(rows.values)
    if values.size and values.dtype.kind in "iu":
        high = values >= num_buckets
        if high.any():
            raise FeatureError(
                f"categorical_column_with_identity {key!r}: id {int(values[high][0])} is out of range "
                f"[0, {num_buckets}); raise num_buckets or set default_value."
            )


def normalize_features(features: Mapping[str, Any]) -> dict[str, Any]:
    """Raw features with each value normalised once (dense (B, ...) arrays or Ragged)."""
    return {k: normalize_raw(v, k) for k, v in features.items()}
