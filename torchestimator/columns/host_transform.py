"""``find_host_transform``: the one host function the Estimator runs per batch (possibly in a thread).

It applies every column layer's host half once over a shared :class:`TransformCache` (so a
transform shared by several layers runs once), puts the results under the layers' reserved keys as
CPU tensors, and passes through the raw features no column consumes (numeric numpy -> tensors;
strings untouched).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from torchestimator.columns.base import TransformCache
from torchestimator.columns.layer_base import ColumnLayer

__all__ = ["find_host_transform"]


def _passthrough(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
        return torch.from_numpy(value)
    return value


def find_host_transform(module: nn.Module) -> Callable[[Mapping[str, Any]], dict[str, Any]] | None:
    """Return the batch transform for every column layer in ``module`` (None when there are none).

    Args:
        module: the model (walked with ``module.modules()``).

    Returns:
        ``transform(raw_features) -> features`` whose output the model's forward accepts.

    Example:
        >>> import numpy as np
        >>> from torchestimator.columns import DenseFeatures, numeric_column
        >>> fn = find_host_transform(nn.Sequential(DenseFeatures([numeric_column("x")])))
        >>> sorted(k.split("/")[-1] for k in fn({"x": np.ones(2), "id": np.arange(2)}))
        ['dense0', 'id', 'ready']
    """
    layers = [m for m in module.modules() if isinstance(m, ColumnLayer)]
    if not layers:
        return None
    consumed: set[str] = set()
    for layer in layers:
        consumed |= layer.raw_keys()

    def transform(features: Mapping[str, Any]) -> dict[str, Any]:
        cache = TransformCache(features)
        out: dict[str, Any] = {}
        for layer in layers:
            if layer.ready_key not in out:
                out.update(layer.host_tensors(cache))
        for key, value in features.items():
            if key not in consumed and key not in out:
                out[key] = _passthrough(value)
        return out

    return transform
