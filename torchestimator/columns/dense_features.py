"""``DenseFeatures``: dense columns -> one ``(B, D)`` tensor, concatenated in TF order (sorted by name).

Layout and weights::

    output (B, D) = [col_0 | col_1 | ...]         columns sorted by name, as TF does
    numeric       float32 (B, prod(shape)) after normalizer_fn           (host)
    bucketized    one-hot (B, prod(shape) * (len(boundaries) + 1))       (host)
    indicator     multi-hot counts / summed weights (B, num_buckets)     (host)
    embedding     combiner over looked-up rows (B, dimension)            (device)

Embedding tables with the same (dimension, trainable, max_norm) are fused into ONE
``nn.EmbeddingBag(sparse=True)`` stored as ``embedding_tables.<group>.weight`` where ``<group>`` is
``dim<d>`` (+ ``_frozen`` when not trainable, + ``_maxnorm<i>`` when clipped); each table (a column's
own, or a shared collection) owns the rows ``table_rows(name)`` of it, in sorted-name order.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from torchestimator.columns.base import (
    CategoricalColumn,
    CategoricalIds,
    DenseColumn,
    FeatureColumn,
    SequenceCategoricalColumn,
    TransformCache,
)
from torchestimator.columns.batched_transform import stacked_hash_ids, stacked_numeric
from torchestimator.columns.embedding import EmbeddingColumn, IndicatorColumn
from torchestimator.columns.fused_bag import PackedBags, pack_bags
from torchestimator.columns.layer_base import ColumnLayer
from torchestimator.columns.layout import DenseFeaturesLayout, fused_table_of
from torchestimator.columns.numeric import BucketizedColumn, NumericColumn
from torchestimator.errors import FeatureError, InvalidArgumentError

__all__ = ["DenseFeatures"]


class _Group:
    """One fused table: its columns (slot order), table row ranges, and settings."""

    def __init__(self, key: str, dimension: int, trainable: bool, max_norm: float | None) -> None:
        self.key = key
        self.dimension = dimension
        self.trainable = trainable
        self.max_norm = max_norm
        self.columns: list[EmbeddingColumn] = []
        self.tables: dict[str, tuple[int, int, EmbeddingColumn]] = {}
        self.slot_starts: list[int] = []  # first table row of each slot's column
        self.rows = 0

    def add(self, column: EmbeddingColumn) -> int:
        if column.table_name not in self.tables:
            nb = column.categorical_column.num_buckets
            self.tables[column.table_name] = (self.rows, nb, column)
            self.rows += nb
        self.columns.append(column)
        self.slot_starts.append(self.tables[column.table_name][0])
        return len(self.columns) - 1


def _table_from_checkpoint(path: str, tensor_name: str) -> torch.Tensor:
    """``tensor_name`` from a safetensors file, or from a TF checkpoint / SavedModel (as TF's own argument)."""
    from torchestimator.compat._tf_bundle import TFBundle, is_tf_checkpoint

    if is_tf_checkpoint(path):
        return torch.from_numpy(TFBundle(path).read(tensor_name))
    return load_file(path)[tensor_name]


def init_table_rows(weight: torch.Tensor, column: EmbeddingColumn, start: int, rows: int) -> None:
    """Initialise one table's rows: checkpoint tensor, custom initializer, or TF's truncated normal."""
    shape = (rows, column.dimension)
    with torch.no_grad():
        if column.ckpt_to_load_from is not None:
            try:
                value = _table_from_checkpoint(column.ckpt_to_load_from, str(column.tensor_name_in_ckpt))
            except (FileNotFoundError, KeyError) as err:
                raise InvalidArgumentError(
                    f"embedding column {column.name!r}: cannot read {column.tensor_name_in_ckpt!r} from "
                    f"ckpt_to_load_from={column.ckpt_to_load_from!r} (a safetensors file, or a TF checkpoint / "
                    f"SavedModel): {err}"
                ) from None
        elif column.initializer is not None:
            value = torch.as_tensor(np.asarray(column.initializer(shape)), dtype=torch.float32)
        else:
            std = 1.0 / math.sqrt(column.dimension)
            value = nn.init.trunc_normal_(torch.empty(shape), 0.0, std, -2 * std, 2 * std)
        if tuple(value.shape) != shape:
            raise InvalidArgumentError(
                f"embedding column {column.name!r}: initial table has shape {tuple(value.shape)}, expected {shape}."
            )
        weight[start : start + rows] = value


def _deferred_bag(layer: Any, group: _Group) -> nn.EmbeddingBag | None:
    """Under the sharded strategy's build, the group's bag over a placeholder (see parallel.sharded._deferred)."""
    deferred = sys.modules.get("torchestimator.parallel.sharded._deferred")
    return None if deferred is None else deferred.deferred_bag(layer, group)


class DenseFeatures(ColumnLayer):
    """Dense columns -> ``(B, D)`` (``tf.keras.layers.DenseFeatures``).

    Args:
        feature_columns: numeric, bucketized, indicator, embedding or shared-embedding columns.

    Raises:
        InvalidArgumentError: a raw categorical column, duplicates, or an empty list.

    Example:
        >>> import numpy as np
        >>> from torchestimator.columns import numeric_column
        >>> DenseFeatures([numeric_column("b"), numeric_column("a")])({"a": np.ones(2), "b": np.zeros(2)}).tolist()
        [[1.0, 0.0], [1.0, 0.0]]
    """

    def __init__(self, feature_columns: Sequence[FeatureColumn]) -> None:
        super().__init__(feature_columns)
        for col in self.feature_columns:
            if isinstance(getattr(col, "categorical_column", None), SequenceCategoricalColumn):
                raise InvalidArgumentError(
                    f"DenseFeatures: column {col.name!r} reads a sequence column; use SequenceFeatures for it."
                )
            if not isinstance(col, DenseColumn):
                hint = (
                    " You can wrap a categorical column with an embedding_column or indicator_column."
                    if isinstance(col, CategoricalColumn)
                    else ""
                )
                raise InvalidArgumentError(
                    f"DenseFeatures: items of feature_columns must be dense columns; received {col.name!r} "
                    f"({type(col).__name__}).{hint}"
                )
        groups: dict[tuple[int, bool, float | None], _Group] = {}
        # plan, in output order: ("host", block, 0, 0) or ("emb", group key, first slot, run length)
        self._plan: list[tuple[str, Any, int, int]] = []
        self._host_blocks: list[list[DenseColumn]] = []
        for col in self.feature_columns:
            if isinstance(col, EmbeddingColumn):
                gk = (col.dimension, col.trainable, col.max_norm)
                if gk not in groups:
                    name = f"dim{col.dimension}" + ("" if col.trainable else "_frozen")
                    if col.max_norm is not None:
                        name += f"_maxnorm{sum(1 for k in groups if k[2] is not None)}"
                    groups[gk] = _Group(name, col.dimension, col.trainable, col.max_norm)
                slot = groups[gk].add(col)
                last = self._plan[-1] if self._plan else None
                if (
                    last is not None
                    and last[0] == "emb"
                    and last[1] == groups[gk].key
                    and last[2] + last[3] == slot
                ):
                    self._plan[-1] = ("emb", last[1], last[2], last[3] + 1)  # extend the run of slots
                else:
                    self._plan.append(("emb", groups[gk].key, slot, 1))
            else:
                if not self._plan or self._plan[-1][0] != "host":
                    self._host_blocks.append([])
                    self._plan.append(("host", len(self._host_blocks) - 1, 0, 0))
                assert isinstance(col, DenseColumn)  # checked above
                self._host_blocks[-1].append(col)
        self._groups = {g.key: g for g in groups.values()}
        self.embedding_tables = nn.ModuleDict()
        # group -> its initial draws, drawn later per shard (built without memory: parallel.sharded._deferred)
        self.deferred_draws: dict[str, Any] = {}
        self.deferred_hooks = False
        self.materialise_deferred: Any = None  # set with the draws by parallel.sharded (draws a table whole)
        for g in self._groups.values():
            bag = _deferred_bag(self, g)
            if bag is None:
                bag = nn.EmbeddingBag(g.rows, g.dimension, mode="sum", sparse=True)
                for start, rows, column in g.tables.values():
                    init_table_rows(bag.weight, column, start, rows)
            bag.weight.requires_grad_(g.trainable)
            self.embedding_tables[g.key] = bag
        self.output_dim = sum(c.dense_width for c in self.feature_columns)  # type: ignore[attr-defined]
        self.sharded_lookups: dict[str, Any] = {}  # group -> sharded TRAIN lookup (parallel.sharded)

    # ---- layout ---------------------------------------------------------------------------------
    def output_slices(self) -> dict[str, slice]:
        """Where each column's values lie in the ``(B, output_dim)`` output: columns in name order.

        >>> from torchestimator.columns import numeric_column
        >>> DenseFeatures([numeric_column("b", shape=(2,)), numeric_column("a")]).output_slices()
        {'a': slice(0, 1, None), 'b': slice(1, 3, None)}
        """
        slices: dict[str, slice] = {}
        start = 0
        for col in self.feature_columns:
            width = int(col.dense_width)  # type: ignore[attr-defined]
            slices[col.name] = slice(start, start + width)
            start += width
        return slices

    @property
    def table_groups(self) -> Mapping[str, Any]:
        """The fused embedding-table groups by key (what the sharded strategy partitions across ranks)."""
        return self._groups

    def layout(self) -> DenseFeaturesLayout:
        """The frozen description of the host blocks and fused tables (what export and the TF bridge read)."""
        return DenseFeaturesLayout(
            tuple(tuple(block) for block in self._host_blocks),
            tuple(
                fused_table_of(g.key, g.dimension, g.trainable, g.max_norm, g.columns, g.tables)
                for g in self._groups.values()
            ),
        )

    # ---- weights by column ----------------------------------------------------------------------
    def table_rows(self, column_name: str) -> tuple[str, int, int]:
        """``(group key, first row, row count)`` of the table an embedding column reads.

        Raises:
            InvalidArgumentError: no embedding column of that name.
        """
        for g in self._groups.values():
            for col in g.columns:
                if col.name == column_name:
                    start, rows, _ = g.tables[col.table_name]
                    return g.key, start, rows
        names = [c.name for g in self._groups.values() for c in g.columns]
        raise InvalidArgumentError(
            f"DenseFeatures: no embedding column {column_name!r}; embedding columns: {names}."
        )

    def embedding_weights(self, column_name: str) -> torch.Tensor:
        """The ``(num_buckets, dimension)`` view of a column's table (TF ``.../embedding_weights``)."""
        key, start, rows = self.table_rows(column_name)
        weight = self.embedding_tables[key].weight
        assert isinstance(weight, torch.Tensor)
        return weight[start : start + rows]

    # ---- host half ------------------------------------------------------------------------------
    def _host_dense(self, col: DenseColumn, cache: TransformCache) -> np.ndarray:
        if isinstance(col, NumericColumn):
            return cache.get(col).numpy()
        if isinstance(col, BucketizedColumn):
            buckets = col.bucket_indices(cache)  # (B, d)
            batch, width = buckets.shape
            nb = col.buckets_per_element
            out = np.zeros((batch, width * nb), dtype=np.float32)
            np.put_along_axis(out, buckets + np.arange(width) * nb, 1.0, axis=1)
            return out
        if isinstance(col, IndicatorColumn):
            ids = cache.get(col).filtered(drop_nonpositive_weights=False)
            nb = col.categorical_column.num_buckets
            if ids.values.size and int(ids.values.max()) >= nb:
                raise FeatureError(
                    f"column {col.name!r} produced id {int(ids.values.max())} >= num_buckets {nb}."
                )
            flat = ids.row_ids() * nb + ids.values
            counts = np.bincount(flat, weights=ids.weights, minlength=ids.nrows * nb)
            return counts.astype(np.float32).reshape(ids.nrows, nb)
        return col.host_dense(
            cache
        )  # any other dense column type: its own transform (DenseColumn.host_dense)

    def _host_block(self, block: list[DenseColumn], cache: TransformCache) -> np.ndarray:
        """float32 ``(B, d)`` of one run of host columns; plain numerics in one vectorised pass."""
        plain = stacked_numeric(block, cache.features) or {}
        parts = [
            plain[i].reshape(-1, 1) if i in plain else self._host_dense(col, cache)
            for i, col in enumerate(block)
        ]
        batch = parts[0].shape[0]
        for col, part in zip(block, parts):
            if part.shape[0] != batch:
                raise FeatureError(
                    f"column {col.name!r} has batch size {part.shape[0]} but others have {batch}."
                )
        dense = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
        return np.ascontiguousarray(dense, dtype=np.float32)  # (B, d)

    def _group_bags(self, g: _Group, cache: TransformCache) -> PackedBags:
        """One group's example-major bags; single-valued int hash columns hashed together in one pass."""
        cats = [c.categorical_column for c in g.columns]
        fast = stacked_hash_ids(cats, cache.features)
        ids: dict[int, CategoricalIds] = {}
        if fast is not None:
            positions, matrix = fast  # (B, len(positions))
            splits = np.arange(matrix.shape[0] + 1, dtype=np.int64)
            for j, pos in enumerate(positions):
                ids[pos] = CategoricalIds(matrix[:, j], splits)
                cache.put(cats[pos], ids[pos])  # other layers reading the column reuse it
            if len(positions) == len(cats):  # one id per bag, all in range: no filtering, no weights
                flat = (matrix + np.asarray(g.slot_starts, dtype=np.int64)).reshape(-1)  # (B*k,)
                offsets = np.arange(flat.size, dtype=np.int64)
                return PackedBags(flat, offsets, None, offsets if g.max_norm is not None else None)
        slots = [
            (col.name, ids[i] if i in ids else cache.get(cat), start, cat.num_buckets, col.combiner)
            for i, (col, cat, start) in enumerate(zip(g.columns, cats, g.slot_starts))
        ]
        return pack_bags(slots, with_bag_index=g.max_norm is not None, example_major=True)

    def host_tensors(self, cache: TransformCache) -> dict[str, Any]:
        """Reserved-key CPU tensors: host blocks ``/dense<i>``, fused bags ``/<group>/{ids,offsets,weights,bags}``.

        Bags are example-major (bag ``b * k + c``; see :mod:`torchestimator.columns.fused_bag`).

        Raises:
            FeatureError: columns disagree on the batch size, or an id is out of range.
        """
        out = super().host_tensors(cache)
        p = self.key_prefix
        batch: int | None = None
        for i, block in enumerate(self._host_blocks):
            dense = self._host_block(block, cache)  # (B, d)
            if batch is not None and dense.shape[0] != batch:
                raise FeatureError(
                    f"column {block[0].name!r} has batch size {dense.shape[0]} but others have {batch}."
                )
            batch = dense.shape[0]
            out[f"{p}/dense{i}"] = torch.from_numpy(dense)
        for g in self._groups.values():
            packed = self._group_bags(g, cache)
            n = packed.offsets.size // len(g.columns)
            if batch is not None and n != batch:
                raise FeatureError(
                    f"DenseFeatures: embedding inputs have batch size {n} but others have {batch}."
                )
            batch = n
            out[f"{p}/{g.key}/ids"] = torch.from_numpy(packed.ids)
            out[f"{p}/{g.key}/offsets"] = torch.from_numpy(packed.offsets)
            if packed.weights is not None:
                out[f"{p}/{g.key}/weights"] = torch.from_numpy(packed.weights)
            if packed.bags is not None:
                out[f"{p}/{g.key}/bags"] = torch.from_numpy(packed.bags)
        return out

    # ---- device half ----------------------------------------------------------------------------
    def _group_output(self, g: _Group, t: Mapping[str, Any]) -> torch.Tensor:
        if self.training and g.key in self.sharded_lookups:
            return self.sharded_lookups[g.key](t)  # (B, k*D) from the sharded tables
        if g.key in self.deferred_draws:  # built without its memory, used unsharded: draw it now
            self.materialise_deferred(self, g.key)
        p = f"{self.key_prefix}/{g.key}"
        bag: nn.EmbeddingBag = self.embedding_tables[g.key]  # type: ignore[assignment]
        ids, offsets, weights = t[f"{p}/ids"], t[f"{p}/offsets"], t.get(f"{p}/weights")
        k = len(g.columns)
        if g.max_norm is None:
            out = bag(ids, offsets, per_sample_weights=weights)  # (B*k, D)
        else:
            rows = F.embedding(ids, bag.weight, sparse=True)  # (N, D)
            norms = rows.norm(dim=1, keepdim=True)  # (N, 1)
            rows = rows * (g.max_norm / torch.clamp(norms, min=g.max_norm))  # TF clip_by_norm
            if weights is not None:
                rows = rows * weights.unsqueeze(1)
            out = rows.new_zeros(offsets.numel(), g.dimension).index_add_(0, t[f"{p}/bags"], rows)  # (B*k, D)
        # example-major bags: (B*k, D) is already [col 0 | col 1 | ...] per example, a view, no copy
        return out.view(-1, k * g.dimension)  # (B, k*D)

    def forward(self, features: Mapping[str, Any]) -> torch.Tensor:
        """``(B, output_dim)`` float32 from transformed (or raw) features."""
        t = self._inputs(features)
        group_out = {key: self._group_output(g, t) for key, g in self._groups.items()}
        pieces = []
        for kind, ref, first, count in self._plan:
            if kind == "host":
                pieces.append(t[f"{self.key_prefix}/dense{ref}"])  # (B, d)
            else:
                out, dim = group_out[ref], self._groups[ref].dimension
                whole = first == 0 and count * dim == out.shape[1]
                pieces.append(out if whole else out[:, first * dim : (first + count) * dim])  # (B, count*D)
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=1)  # (B, output_dim)
