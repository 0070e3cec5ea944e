"""``find_host_transform``: the one host function the Estimator runs per batch (possibly in a thread).

It applies every column layer's host half once over a shared :class:`TransformCache` (so a
transform shared by several layers runs once), puts the results under the layers' reserved keys as
CPU tensors, and passes through the raw features no column consumes (numeric numpy -> tensors;
strings untouched).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from torch import nn

from torchestimator.columns.base import TransformCache
from torchestimator.columns.inputs import as_host_tensor
from torchestimator.columns.layer_base import ColumnLayer

__all__ = ["HostTransform", "find_host_transform"]


def _passthrough(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
        return as_host_tensor(value)
    return value


def _normalized_keys(columns: list[Any]) -> tuple[set[str], set[str]]:
    """``(keys read through a normalizer_fn, keys read any other way)`` over the columns' trees."""
    normalized: set[str] = set()
    direct: set[str] = set()
    stack = list(columns)
    while stack:
        col = stack.pop()
        if getattr(col, "normalizer_fn", None) is not None and hasattr(col, "key"):
            normalized.add(col.key)  # the column checks its own output (after the normalizer)
            continue
        for parent in col.parents:
            if isinstance(parent, str):
                direct.add(parent)
            else:
                stack.append(parent)
    return normalized, direct


class HostTransform:
    """``transform(raw_features) -> features`` for every column layer of a model (see the module docstring).

    Attributes:
        raw_keys: every raw feature key a column reads.
        nan_exempt_keys: raw keys read only through a ``normalizer_fn`` (which may impute NaN), so the
            host stage's NaN check leaves them to the column, which checks its output instead.
    """

    def __init__(self, layers: list[ColumnLayer]) -> None:
        self._layers = layers
        self.raw_keys: frozenset[str] = frozenset().union(*(layer.raw_keys() for layer in layers))
        normalized, direct = _normalized_keys([c for layer in layers for c in layer.feature_columns])
        self.nan_exempt_keys: frozenset[str] = frozenset(normalized - direct)

    def __call__(self, features: Mapping[str, Any]) -> dict[str, Any]:
        cache = TransformCache(features)
        out: dict[str, Any] = {}
        for layer in self._layers:
            if layer.ready_key not in out:
                out.update(layer.host_tensors(cache))
        for key, value in features.items():
            if key not in self.raw_keys and key not in out:
                out[key] = _passthrough(value)
        return out


def find_host_transform(module: nn.Module) -> HostTransform | None:
    """Return the batch transform for every column layer in ``module`` (None when there are none).

    Args:
        module: the model (walked with ``module.modules()``).

    Returns:
        A :class:`HostTransform`, ``transform(raw_features) -> features`` whose output the model's
        forward accepts.

    Example:
        >>> import numpy as np
        >>> from torchestimator.columns import DenseFeatures, numeric_column
        >>> fn = find_host_transform(nn.Sequential(DenseFeatures([numeric_column("x")])))
        >>> sorted(k.split("/")[-1] for k in fn({"x": np.ones(2), "id": np.arange(2)}))
        ['dense0', 'id', 'ready']
    """
    layers = [m for m in module.modules() if isinstance(m, ColumnLayer)]
    return HostTransform(layers) if layers else None
