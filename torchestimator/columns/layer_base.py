"""Shared machinery of the column layers (DenseFeatures, LinearModel, SequenceFeatures).

A column layer has a host half, :meth:`ColumnLayer.host_tensors`, which turns one batch of raw
features into CPU tensors under reserved keys ``__tecol__/<Layer>/<digest>/...`` (the digest is a
hash of the layer's column specs, so it is stable across processes and copies), and a device half,
``forward``, which reads those keys. ``forward`` also accepts raw features: when the layer's ready
marker is absent it runs the host half inline (sharing one :class:`TransformCache` with any column
layers nested inside it) and moves the tensors to the layer's device.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from torchestimator.columns.base import FeatureColumn, TransformCache
from torchestimator.columns.serialization import serialize_column
from torchestimator.errors import CheckpointMismatchError, InvalidArgumentError
from torchestimator.quiet import consume_sparse_invariant_warning
from torchestimator.tf_bridge.column_contract import (
    RESERVED_PREFIX,
    STATE_FORMAT,
    column_state,
    key_prefix,
    layer_digest,
)

__all__ = ["RESERVED_PREFIX", "ColumnLayer", "PlaceholderCallables", "sorted_columns"]


def sorted_columns(feature_columns: Sequence[FeatureColumn], layer: str) -> list[FeatureColumn]:
    """Validate and sort by name (TF ``_normalize_feature_columns``).

    Raises:
        InvalidArgumentError: empty, not columns, or duplicate names.
    """
    if isinstance(feature_columns, FeatureColumn):
        feature_columns = [feature_columns]
    cols = list(feature_columns)
    if not cols:
        raise InvalidArgumentError(f"{layer}: feature_columns must not be empty.")
    for col in cols:
        if not isinstance(col, FeatureColumn):
            raise InvalidArgumentError(
                f"{layer}: items of feature_columns must be feature columns; received {col!r}."
            )
    names = [c.name for c in cols]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidArgumentError(
            f"{layer}: duplicate feature column names {dupes}; each column must be unique."
        )
    return sorted(cols, key=lambda c: c.name)


class ColumnLayer(nn.Module):
    """Base of the column layers: reserved keys, inline transform, and column state."""

    def __init__(
        self, feature_columns: Sequence[FeatureColumn], config: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__()
        consume_sparse_invariant_warning()  # every column layer's tables are sparse EmbeddingBags
        layer = type(self).__name__
        self.feature_columns: list[FeatureColumn] = sorted_columns(feature_columns, layer)
        self._config = dict(config or {})
        state = self._column_state()
        self.key_prefix = key_prefix(layer, layer_digest(layer, state["config"], state["columns"]))
        self.ready_key = f"{self.key_prefix}/ready"
        self.register_buffer("_device_probe", torch.zeros(0), persistent=False)

    # ---- host half ------------------------------------------------------------------------------
    def raw_keys(self) -> set[str]:
        """Every raw feature key this layer's columns read."""
        keys: set[str] = set()
        for col in self.feature_columns:
            keys |= col.raw_keys()
        return keys

    def host_tensors(self, cache: TransformCache) -> dict[str, Any]:
        """This layer's reserved-key CPU tensors for one batch (subclasses add theirs to the marker)."""
        return {self.ready_key: torch.zeros(())}

    def transform_features(self, features: Mapping[str, Any]) -> dict[str, Any]:
        """Raw features -> this layer's (and nested layers') reserved-key CPU tensors."""
        cache = TransformCache(features)
        out: dict[str, Any] = {}
        for module in self.modules():
            if isinstance(module, ColumnLayer):
                out.update(module.host_tensors(cache))
        return out

    def _inputs(self, features: Mapping[str, Any]) -> Mapping[str, Any]:
        if self.ready_key in features:
            return features
        probe = self._device_probe
        assert isinstance(probe, torch.Tensor)
        device = probe.device
        tensors = self.transform_features(features)
        if device.type != "cpu":
            tensors = {
                k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
                for k, v in tensors.items()
            }
        return {**features, **tensors}

    # ---- column state ---------------------------------------------------------------------------
    def _column_state(self) -> dict[str, Any]:
        return column_state(
            type(self).__name__, self._config, [serialize_column(c) for c in self.feature_columns]
        )

    def get_extra_state(self) -> dict[str, Any]:
        """JSON-serialisable column specs (vocabularies inline, vocabulary files by path + sha256)."""
        return self._column_state()

    def set_extra_state(self, state: Any) -> None:
        """Check that a checkpoint's column specs match this layer's.

        Raises:
            CheckpointMismatchError: different layer, configuration or columns (names listed).
        """
        mine = json.loads(json.dumps(self._column_state(), ensure_ascii=False))
        theirs = json.loads(json.dumps(state, ensure_ascii=False)) if state is not None else None
        if theirs == mine:
            return
        columns = theirs.get("columns", []) if isinstance(theirs, dict) else None
        if (
            not isinstance(theirs, dict)
            or theirs.get("format") != STATE_FORMAT
            or not isinstance(columns, list)
            or not all(isinstance(c, dict) for c in columns)
        ):
            raise CheckpointMismatchError(
                f"{type(self).__name__}: the checkpoint's column state is not a {STATE_FORMAT} record "
                f"(received {str(theirs)[:120]!r})."
            )
        problems: list[str] = []
        if theirs.get("layer") != mine["layer"]:
            problems.append(f"layer {theirs.get('layer')!r} vs {mine['layer']!r}")
        if theirs.get("config") != mine["config"]:
            problems.append(f"config {theirs.get('config')} vs {mine['config']}")
        ck = {_name_of(c): c for c in columns}
        me = {_name_of(c): c for c in mine["columns"]}
        if set(ck) - set(me):
            problems.append(f"only in the checkpoint: {sorted(set(ck) - set(me))}")
        if set(me) - set(ck):
            problems.append(f"only in the model: {sorted(set(me) - set(ck))}")
        changed = sorted(n for n in set(ck) & set(me) if ck[n] != me[n])
        if changed:
            problems.append(f"changed specs (boundaries, vocabulary, buckets, …): {changed}")
        raise CheckpointMismatchError(
            f"{type(self).__name__}: the checkpoint was written for different feature columns: "
            + "; ".join(problems)
            + ". Build the model with the columns it was trained with, or start from a fresh model_dir."
        )


def _name_of(serialized: Mapping[str, Any]) -> str:
    from torchestimator.columns.serialization import deserialize_column

    try:
        return deserialize_column(serialized, PlaceholderCallables()).name
    except Exception:  # a malformed record still gets reported, by position-free JSON text
        return json.dumps(serialized, sort_keys=True)[:80]


class PlaceholderCallables(dict):
    """custom_objects that resolves every callable to a placeholder (names only are needed)."""

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: Any) -> Any:
        return lambda *a, **k: None
