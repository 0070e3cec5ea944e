"""``LinearModel``: a linear combination of columns -> logits ``(B, units)``.

    logits = Σ_categorical combiner(ids, weights) · W_c  +  dense_inputs · dense_kernel  +  bias

Categorical columns (hash, vocabulary, identity, crossed, weighted, bucketized) share ONE
``nn.EmbeddingBag(total_buckets, units, mode='sum', sparse=True)`` named ``sparse_weights`` whose
rows ``column_rows(name)`` hold TF's ``linear_model/<col>/weights``; ``sparse_combiner`` (sum, mean =
Σw·row/Σw, sqrtn = Σw·row/√Σw²) is folded into per-sample weights on the host; an exported graph
feeds padded ``(B, S)`` slot ids and weights instead (:mod:`torchestimator.export.graph_inputs`). Dense columns
(numeric, indicator, embedding) go through a nested :class:`DenseFeatures` and ``dense_kernel``
``(D, units)`` (rows in sorted-name order). All weights start at zero, as in TF.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from torchestimator.columns.base import (
    CategoricalColumn,
    CategoricalIds,
    DenseColumn,
    FeatureColumn,
    TransformCache,
)
from torchestimator.columns.batched_transform import stacked_hash_ids
from torchestimator.columns.dense_features import DenseFeatures
from torchestimator.columns.embedding import COMBINERS
from torchestimator.columns.fused_bag import pack_bags
from torchestimator.columns.layer_base import ColumnLayer
from torchestimator.columns.layout import LinearModelLayout, TableSpan
from torchestimator.errors import InvalidArgumentError

__all__ = ["LinearModel"]


class LinearModel(ColumnLayer):
    """Linear model over feature columns (TF ``LinearModel`` / v1 ``linear_model``).

    Args:
        feature_columns: categorical and dense columns.
        units: the output width.
        sparse_combiner: 'sum' (default), 'mean' or 'sqrtn', per example within each categorical column.

    Raises:
        InvalidArgumentError: a bad ``units`` or ``sparse_combiner``, or an unsupported column.

    Example:
        >>> from torchestimator.columns import categorical_column_with_identity
        >>> LinearModel([categorical_column_with_identity("k", 4)], units=2)({"k": [1, 3]}).shape
        torch.Size([2, 2])
    """

    def __init__(
        self, feature_columns: Sequence[FeatureColumn], units: int = 1, sparse_combiner: str = "sum"
    ) -> None:
        if sparse_combiner not in COMBINERS:
            raise InvalidArgumentError(
                f"LinearModel: sparse_combiner must be one of {list(COMBINERS)}; received {sparse_combiner!r}."
            )
        if int(units) < 1:
            raise InvalidArgumentError(f"LinearModel: units must be >= 1; received {units!r}.")
        super().__init__(feature_columns, {"units": int(units), "sparse_combiner": sparse_combiner})
        self.units = int(units)
        self.sparse_combiner = sparse_combiner
        self._sparse: list[CategoricalColumn] = []
        dense: list[FeatureColumn] = []
        for col in self.feature_columns:
            if isinstance(col, CategoricalColumn):
                self._sparse.append(col)
            elif isinstance(col, DenseColumn):
                dense.append(col)
            else:
                raise InvalidArgumentError(
                    f"LinearModel: unsupported column {col.name!r} ({type(col).__name__})."
                )
        self._rows: dict[str, tuple[int, int]] = {}
        total = 0
        for col in self._sparse:
            self._rows[col.name] = (total, col.num_buckets)
            total += col.num_buckets
        self.sparse_weights = nn.EmbeddingBag(total, self.units, mode="sum", sparse=True) if total else None
        if self.sparse_weights is not None:
            nn.init.zeros_(self.sparse_weights.weight)
        self.dense_features = DenseFeatures(dense) if dense else None
        dense_dim = self.dense_features.output_dim if self.dense_features is not None else 0
        self.dense_kernel = nn.Parameter(torch.zeros(dense_dim, self.units)) if dense_dim else None
        self.bias = nn.Parameter(torch.zeros(self.units))

    def layout(self) -> LinearModelLayout:
        """The frozen description of the categorical columns' rows (what export and the TF bridge read)."""
        spans = tuple(TableSpan(c.name, *self._rows[c.name]) for c in self._sparse)
        return LinearModelLayout(tuple(self._sparse), spans)

    def column_rows(self, column_name: str) -> tuple[int, int]:
        """``(first row, num_buckets)`` of a categorical column in ``sparse_weights.weight``.

        Raises:
            InvalidArgumentError: no categorical column of that name.
        """
        try:
            return self._rows[column_name]
        except KeyError:
            raise InvalidArgumentError(
                f"LinearModel: no categorical column {column_name!r}; categorical columns: {sorted(self._rows)}."
            ) from None

    def host_tensors(self, cache: TransformCache) -> dict[str, Any]:
        """Reserved-key CPU tensors: one packed bag ``/ids``, ``/offsets``, ``/weights``."""
        out = super().host_tensors(cache)
        if self._sparse and self._put_stacked_hash_ids(cache, out):
            return out
        if self._sparse:
            packed = pack_bags(
                [
                    (c.name, c.ids(cache), self._rows[c.name][0], c.num_buckets, self.sparse_combiner)
                    for c in self._sparse
                ]
            )
            # Offsets index into the fused table; ids already carry the per-column row offset.
            out[f"{self.key_prefix}/ids"] = torch.from_numpy(packed.ids)
            out[f"{self.key_prefix}/offsets"] = torch.from_numpy(packed.offsets)
            if packed.weights is not None:
                out[f"{self.key_prefix}/weights"] = torch.from_numpy(packed.weights)
        return out

    def _put_stacked_hash_ids(self, cache: TransformCache, out: dict[str, Any]) -> bool:
        """Single-valued int64 hash-bucket columns hashed together in one pass (the DenseFeatures fast path).

        Their ids go to the cache for ``pack_bags``; when every sparse column qualifies the bags are built
        here directly (one id per bag, column-major: bag ``c * B + b``) and True is returned.
        """
        fast = stacked_hash_ids(self._sparse, cache.features)
        if fast is None:
            return False
        positions, matrix = fast  # (B, k)
        splits = np.arange(matrix.shape[0] + 1, dtype=np.int64)
        for j, pos in enumerate(positions):
            cache.put(self._sparse[pos], CategoricalIds(matrix[:, j], splits))
        if len(positions) != len(self._sparse):
            return False
        starts = np.asarray([self._rows[c.name][0] for c in self._sparse], dtype=np.int64)
        flat = np.ascontiguousarray((matrix + starts).T).reshape(-1)  # (k*B,) column-major
        out[f"{self.key_prefix}/ids"] = torch.from_numpy(flat)
        out[f"{self.key_prefix}/offsets"] = torch.arange(flat.size, dtype=torch.int64)
        return True

    def forward(self, features: Mapping[str, Any]) -> torch.Tensor:
        """Logits ``(B, units)`` from transformed (or raw) features."""
        t = self._inputs(features)
        logits: torch.Tensor | None = None
        if self.sparse_weights is not None:
            p = self.key_prefix
            slot_ids = t.get(f"{p}/slot_ids")
            if slot_ids is not None:  # the exported graph's padded form (export.graph_inputs)
                rows = F.embedding(slot_ids, self.sparse_weights.weight)  # (B, S, units)
                logits = (rows * t[f"{p}/slot_weights"].unsqueeze(2)).sum(dim=1)  # (B, units)
            else:
                bags = self.sparse_weights(
                    t[f"{p}/ids"], t[f"{p}/offsets"], per_sample_weights=t.get(f"{p}/weights")
                )
                logits = bags.view(len(self._sparse), -1, self.units).sum(dim=0)  # (B, units)
        if self.dense_features is not None and self.dense_kernel is not None:
            dense = self.dense_features(t) @ self.dense_kernel  # (B, units)
            logits = dense if logits is None else logits + dense
        assert logits is not None  # at least one column exists (checked in __init__)
        return logits + self.bias  # (B, units)
