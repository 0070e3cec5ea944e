"""Rebuilding the column layers' inputs inside the exported graph, from padded wire tensors.

:class:`GraphBuilder` turns the wire tensors planned by :mod:`torchestimator.export.wire_plan` into
what each column layer's host packing would give: each column's dense block or ids through its type's
export half (:mod:`torchestimator.columns.export_registry`), combiner weights, DenseFeatures' fused-bag
ids / offsets / bag index, and LinearModel's padded slots (``/slot_ids``, ``/slot_weights``: one gather and
one weighted sum in the graph instead of rebuilding bag offsets, 164 -> 70 ONNX nodes on the Titanic
linear model). :func:`build_layer_inputs` assembles every layer's reserved-key tensors from it;
:func:`bag_forward` is a loop-free ``EmbeddingBag(mode='sum')`` forward that traces and exports cleanly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from torchestimator.columns.base import CategoricalColumn, FeatureColumn
from torchestimator.columns.dense_features import DenseFeatures
from torchestimator.columns.export_registry import column_export
from torchestimator.columns.layer_base import ColumnLayer
from torchestimator.columns.linear_model import LinearModel
from torchestimator.columns.sequence import SequenceFeatures, SequenceNumericColumn
from torchestimator.errors import ExportError
from torchestimator.export.wire_plan import sequence_input_names

__all__ = ["GraphBuilder", "Wire", "bag_forward", "build_layer_inputs"]

Wire = Mapping[str, torch.Tensor]


class GraphBuilder:
    """Turns wire tensors into each layer's reserved-key tensors, inside the traced graph."""

    def __init__(self, wire: Wire, ids_names: Mapping[FeatureColumn, str]) -> None:
        self.wire = wire
        self.ids_names = ids_names
        if not wire:
            raise ExportError("the exported model reads no features: the wire plan has no inputs.")
        first = next(iter(wire.values()))
        self.batch = first.shape[0]

    def dense(self, col: FeatureColumn) -> torch.Tensor:
        """``(B, D)`` float32 of a host-block column, through its type's export half."""
        half = column_export(col).dense
        if half is None:
            raise ExportError(
                f"column {col.name!r} ({type(col).__name__}) cannot be exported as a dense input: its export "
                "half has no `dense` part."
            )
        return half(self, col)

    def categorical(self, col: FeatureColumn) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(ids (B, L) int64 with -1 = missing, weights (B, L) float32 or None)``, through the export half."""
        half = column_export(col).ids
        if half is None:
            raise ExportError(
                f"column {col.name!r} ({type(col).__name__}) cannot be exported as ids: its export half has no "
                "`ids` part."
            )
        return half(self, col)

    def host_ids(self, col: FeatureColumn) -> torch.Tensor:
        """The host-computed ``(B, L)`` ids input of ``col``."""
        return self.wire[self.ids_names[col]]

    def slots(
        self, col: CategoricalColumn, row_offset: int, combiner: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ids + row_offset, weights)``, both ``(B, L)``, of one column's padded slots: a padded slot
        (id -1, or a weight <= 0) gets id ``row_offset`` and weight 0, and ``combiner`` ('sum', 'mean',
        'sqrtn') is folded into the weights, as the host's bag packing does.
        """
        ids, w = self.categorical(col)  # (B, L)
        keep = ids >= 0
        if w is not None:
            keep = keep & (w > 0)
        # unweighted: a cast and a clamp, the same values as where(keep, 1.0, 0.0) and where(keep, ids, 0)
        # without the ones_like / zeros they broadcast (ONNX Runtime: ~70 us less at batch 264 on
        # the Titanic linear model, ~40 us less for one example; scripts/bench_serving.py)
        weight = keep.to(torch.float32) if w is None else torch.where(keep, w, 0.0)
        if combiner == "mean":
            norm = weight.sum(1, keepdim=True)  # (B, 1)
            weight = weight / torch.where(norm == 0, 1.0, norm)
        elif combiner == "sqrtn":
            norm = (weight * weight).sum(1, keepdim=True).sqrt()  # (B, 1)
            weight = weight / torch.where(norm == 0, 1.0, norm)
        ids = (ids.clamp(min=0) if w is None else torch.where(keep, ids, 0)) + row_offset  # (B, L)
        return ids, weight.to(torch.float32)

    def bags(
        self, columns: list[tuple[CategoricalColumn, int, str]]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Fused-bag ``ids, offsets, weights, bag index`` for ``(column, row offset, combiner)`` slots, as
        DenseFeatures packs them on the host (:mod:`torchestimator.columns.fused_bag`): ids laid out example
        by example, bag ``b * k + c``; padded positions carry weight 0. The bag index agrees with ``offsets``.
        """
        id_parts, w_parts = [], []
        for col, row_offset, combiner in columns:
            ids, weight = self.slots(col, row_offset, combiner)
            id_parts.append(ids)  # (B, L)
            w_parts.append(weight)  # (B, L)
        batch = id_parts[0].shape[0]
        lengths = [part.shape[1] for part in id_parts]
        k = len(columns)
        starts = torch.tensor([sum(lengths[:c]) for c in range(k)], dtype=torch.int64)  # (k,)
        total = sum(lengths)
        offsets = (torch.arange(batch, dtype=torch.int64).unsqueeze(1) * total + starts).reshape(-1)  # (B*k,)
        slot_of = torch.cat(
            [torch.full((n,), c, dtype=torch.int64) for c, n in enumerate(lengths)]
        )  # (total,)
        bags = torch.arange(batch, dtype=torch.int64).unsqueeze(1) * k + slot_of  # (B, total)
        flat_ids = torch.cat(id_parts, dim=1).reshape(-1)
        return flat_ids, offsets, torch.cat(w_parts, dim=1).reshape(-1), bags.reshape(-1)


def build_layer_inputs(builder: GraphBuilder, layers: list[ColumnLayer]) -> dict[str, torch.Tensor]:
    """Every layer's reserved-key tensors (what ``host_tensors`` would give) from wire tensors."""
    out: dict[str, torch.Tensor] = {}
    for layer in layers:
        out[layer.ready_key] = torch.zeros(())
        build = next((fn for cls, fn in _LAYER_INPUTS.items() if isinstance(layer, cls)), None)
        if build is not None:
            build(builder, layer, out)
    return out


def _dense_features_inputs(builder: GraphBuilder, layer: DenseFeatures, out: dict[str, torch.Tensor]) -> None:
    p, layout = layer.key_prefix, layer.layout()
    for i, block in enumerate(layout.host_blocks):
        parts = [builder.dense(col) for col in block]
        out[f"{p}/dense{i}"] = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
    for g in layout.fused_tables:
        slots = [(c.categorical_column, start, c.combiner) for c, start in zip(g.columns, g.column_starts())]
        ids, offsets, weights, bags = builder.bags(slots)
        out.update({f"{p}/{g.key}/ids": ids, f"{p}/{g.key}/offsets": offsets})
        out.update({f"{p}/{g.key}/weights": weights, f"{p}/{g.key}/bags": bags})


def _sequence_inputs(builder: GraphBuilder, layer: SequenceFeatures, out: dict[str, torch.Tensor]) -> None:
    """Padded by the host: passed through."""
    p = layer.key_prefix
    names, length_name = sequence_input_names(layer)
    for i, (col, name) in enumerate(zip(layer.feature_columns, names)):
        kind = "values" if isinstance(col, SequenceNumericColumn) else "ids"
        out[f"{p}/{i}/{kind}"] = builder.wire[name]  # (B, T, w) float32 / (B, T) int64
    out[f"{p}/lengths"] = builder.wire[length_name]  # (B,)


def _linear_model_inputs(builder: GraphBuilder, layer: LinearModel, out: dict[str, torch.Tensor]) -> None:
    linear = layer.layout()
    if not linear.sparse_columns:
        return
    parts = [
        builder.slots(c, span.start, layer.sparse_combiner)
        for c, span in zip(linear.sparse_columns, linear.spans)
    ]
    p = layer.key_prefix
    out[f"{p}/slot_ids"] = torch.cat([ids for ids, _ in parts], dim=1)  # (B, S)
    out[f"{p}/slot_weights"] = torch.cat([w for _, w in parts], dim=1)  # (B, S)


_LAYER_INPUTS: dict[type, Callable[[GraphBuilder, Any, dict[str, torch.Tensor]], None]] = {
    DenseFeatures: _dense_features_inputs,
    SequenceFeatures: _sequence_inputs,
    LinearModel: _linear_model_inputs,
}


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
