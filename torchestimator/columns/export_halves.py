"""The export halves of the built-in column types (see :mod:`torchestimator.columns.export_contract`).

Each half mirrors its column's host transform inside the serving graph: numeric values (+
``normalizer_fn``), bucketize (float32 comparison, as TF and the host), identity range / default,
combiner weights, indicator counts; ids only the host can compute (hash, cross, vocabulary) travel as
a host-ids input. :data:`BUILTIN_EXPORTS` is what :mod:`torchestimator.columns.export_registry` starts
from; a base class entry (``CategoricalColumn``, ``CategoricalColumnView``) serves every subclass that
registers nothing of its own.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from torchestimator.columns.base import CategoricalColumn, CategoricalColumnView
from torchestimator.columns.categorical import (
    IdentityCategoricalColumn,
    VocabularyFileCategoricalColumn,
    VocabularyListCategoricalColumn,
    WeightedCategoricalColumn,
)
from torchestimator.columns.embedding import IndicatorColumn
from torchestimator.columns.export_contract import ColumnExport, GraphInputs, WirePlanner
from torchestimator.columns.numeric import BucketizedColumn, NumericColumn

__all__ = ["BUILTIN_EXPORTS"]


def _plan_numeric(planner: WirePlanner, col: NumericColumn, group: str | None) -> str | None:
    planner.add_dense(col.key, col.dtype, col.dense_width)
    return None


def _numeric_values(graph: GraphInputs, col: NumericColumn) -> torch.Tensor:
    x = graph.wire[col.key].reshape(graph.batch, col.dense_width)  # (B, D)
    if col.normalizer_fn is not None:
        x = torch.as_tensor(col.normalizer_fn(x))
    return x.to(torch.float32)  # (B, D)


def _plan_bucketized(planner: WirePlanner, col: BucketizedColumn, group: str | None) -> str | None:
    planner.plan_column(col.source_column)
    return col.name


def _buckets(graph: GraphInputs, col: BucketizedColumn) -> torch.Tensor:
    values = _numeric_values(graph, col.source_column)  # (B, D) float32
    bounds = torch.from_numpy(col.float32_boundaries)  # (K,), as TF's Bucketize and the host
    return (values.unsqueeze(-1) >= bounds).sum(-1).to(torch.int64)  # (B, D)


def _bucketized_dense(graph: GraphInputs, col: BucketizedColumn) -> torch.Tensor:
    b = _buckets(graph, col)  # (B, D)
    return F.one_hot(b, col.buckets_per_element).reshape(b.shape[0], -1).to(torch.float32)


def _bucketized_ids(graph: GraphInputs, col: BucketizedColumn) -> tuple[torch.Tensor, None]:
    b = _buckets(graph, col)  # (B, D)
    return b + torch.arange(b.shape[1], dtype=torch.int64) * col.buckets_per_element, None


def _plan_identity(planner: WirePlanner, col: IdentityCategoricalColumn, group: str | None) -> str | None:
    limit = col.number_buckets if col.default_value is None else None
    return planner.add_padded(col.key, "int64", group=col.key, num_buckets=limit)


def _identity_ids(graph: GraphInputs, col: IdentityCategoricalColumn) -> tuple[torch.Tensor, None]:
    x = graph.wire[col.key].to(torch.int64)  # (B, L)
    bad = (x < 0) | (x >= col.number_buckets)
    fill = torch.full_like(x, -1 if col.default_value is None else col.default_value)
    return torch.where(x == -1, -1, torch.where(bad, fill, x)), None


def _plan_weighted(planner: WirePlanner, col: WeightedCategoricalColumn, group: str | None) -> str | None:
    inner_group = planner.plan_column(col.categorical_column)
    planner.add_padded(col.weight_feature_key, "float32", group=inner_group)
    return inner_group


def _weighted_ids(graph: GraphInputs, col: WeightedCategoricalColumn) -> tuple[torch.Tensor, torch.Tensor]:
    ids, _ = graph.categorical(col.categorical_column)
    return ids, graph.wire[col.weight_feature_key].to(torch.float32)


def _plan_host_ids(planner: WirePlanner, col: CategoricalColumn, group: str | None) -> str | None:
    group = group or col.name
    planner.add_host_ids(col, group)
    return group


def _host_ids(graph: GraphInputs, col: CategoricalColumn) -> tuple[torch.Tensor, None]:
    return graph.host_ids(col), None


def _plan_vocabulary(planner: WirePlanner, col: Any, group: str | None) -> str | None:
    """Host ids; without OOV buckets the ONNX graph also looks the raw values up itself."""
    group = group or col.name
    name = planner.add_host_ids(col, group)
    if not col.num_oov_buckets:
        table = col.vocabulary_table()
        vocabulary = [k for k, _ in sorted(table.items(), key=lambda kv: kv[1])]
        planner.add_lookup(name, col.key, col.dtype, vocabulary, col.default_value)
    return group


def _plan_view(planner: WirePlanner, col: CategoricalColumnView, group: str | None) -> str | None:
    return planner.plan_column(col.categorical_column)


def _indicator_dense(graph: GraphInputs, col: IndicatorColumn) -> torch.Tensor:
    ids, w = graph.categorical(col.categorical_column)  # (B, L)
    nb = col.categorical_column.num_buckets
    keep = ids >= 0
    value = torch.where(keep, w if w is not None else torch.ones_like(ids, dtype=torch.float32), 0.0)
    counts = torch.zeros(ids.shape[0], nb, dtype=torch.float32)  # (B, nb)
    return counts.scatter_add(1, torch.where(keep, ids, 0), value.to(torch.float32))


BUILTIN_EXPORTS: dict[type, ColumnExport] = {
    NumericColumn: ColumnExport(_plan_numeric, dense=_numeric_values),
    BucketizedColumn: ColumnExport(_plan_bucketized, dense=_bucketized_dense, ids=_bucketized_ids),
    IdentityCategoricalColumn: ColumnExport(_plan_identity, ids=_identity_ids),
    WeightedCategoricalColumn: ColumnExport(_plan_weighted, ids=_weighted_ids),
    VocabularyListCategoricalColumn: ColumnExport(_plan_vocabulary, ids=_host_ids),
    VocabularyFileCategoricalColumn: ColumnExport(_plan_vocabulary, ids=_host_ids),
    CategoricalColumn: ColumnExport(_plan_host_ids, ids=_host_ids),  # hashed, crossed, ...: host ids
    IndicatorColumn: ColumnExport(_plan_view, dense=_indicator_dense),
    CategoricalColumnView: ColumnExport(_plan_view),  # embedding columns: their categorical column's ids
}
