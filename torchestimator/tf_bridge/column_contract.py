"""The column-state contract between torchestimator's column layers and the TF bridge (stdlib only).

A column layer (``columns/layer_base.ColumnLayer``) records its columns as JSON: ``{"format", "layer",
"config", "columns"}``; the 12-hex SHA-1 of that record (sorted keys) names the layer's reserved feature
keys, ``__tecol__/<Layer>/<digest>/...``. ``tf_bridge/build.py`` (run in a TensorFlow venv, without torch)
recomputes the digest to recover settings the export does not spell out. Both import this module, so the
format string and the digest cannot drift apart. Change :data:`STATE_FORMAT` when the record changes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["RESERVED_PREFIX", "STATE_FORMAT", "column_state", "key_prefix", "layer_digest"]

STATE_FORMAT = "torchestimator.columns/1"
RESERVED_PREFIX = "__tecol__"


def column_state(
    layer: str, config: Mapping[str, Any], columns: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The JSON record of a column layer: its class name, config and serialized columns."""
    return {"format": STATE_FORMAT, "layer": layer, "config": dict(config), "columns": list(columns)}


def layer_digest(layer: str, config: Mapping[str, Any], columns: Sequence[Mapping[str, Any]]) -> str:
    """The 12-hex SHA-1 of :func:`column_state` (sorted keys, UTF-8): the layer's key-prefix digest."""
    text = json.dumps(column_state(layer, config, columns), sort_keys=True, ensure_ascii=False)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def key_prefix(layer: str, digest: str) -> str:
    """The reserved-key prefix of a layer: ``__tecol__/<Layer>/<digest>``."""
    return f"{RESERVED_PREFIX}/{layer}/{digest}"
