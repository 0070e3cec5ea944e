"""``build_raw_supervised_input_receiver_fn`` (tf.estimator.experimental): features *and* labels as inputs.

TF uses the receiver to export TRAIN / EVAL graphs; the receiver tensors are the features' keys plus the
labels' (``label`` for a single labels tensor), which must not collide. Exports here are PREDICT-only, so
the receiver describes the inputs (``TensorSpec`` s) for tooling that wants them.

>>> import numpy as np
>>> fn = build_raw_supervised_input_receiver_fn({"x": np.zeros((4, 2), np.float32)}, np.zeros((4,), np.int64))
>>> sorted(fn().receiver_tensors)
['label', 'x']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from torchestimator.errors import InvalidArgumentError
from torchestimator.export.receivers import TensorSpec, spec_of

__all__ = ["SupervisedInputReceiver", "build_raw_supervised_input_receiver_fn"]


@dataclasses.dataclass(frozen=True)
class SupervisedInputReceiver:
    """Features, labels and the receiver tensors a client sends (tf.estimator.export.SupervisedInputReceiver)."""

    features: dict[str, TensorSpec] | TensorSpec
    labels: dict[str, TensorSpec] | TensorSpec
    receiver_tensors: dict[str, TensorSpec]


def _specs(value: Any, batch: int | None, default_key: str) -> dict[str, TensorSpec]:
    items = value.items() if isinstance(value, Mapping) else [(default_key, value)]
    return {str(k): spec_of(v, batch, str(k)) for k, v in items}


def build_raw_supervised_input_receiver_fn(
    features: Any, labels: Any, default_batch_size: int | None = None
) -> Callable[[], SupervisedInputReceiver]:
    """A receiver fn taking raw features and labels, shaped ``[batch] + value.shape[1:]``.

    Args:
        features: an array / tensor / TensorSpec, or a dict of them.
        labels: the same for the labels.
        default_batch_size: a fixed batch size, or None for any.

    Raises:
        InvalidArgumentError: a feature key equals a label key (TF: "features and labels must not share keys").
    """
    feature_specs = _specs(features, default_batch_size, "feature")
    label_specs = _specs(labels, default_batch_size, "label")
    shared = sorted(set(feature_specs) & set(label_specs))
    if shared:
        raise InvalidArgumentError(
            f"build_raw_supervised_input_receiver_fn: features and labels share the keys {shared}; rename one."
        )

    def receiver_fn() -> SupervisedInputReceiver:
        return SupervisedInputReceiver(
            features=dict(feature_specs) if isinstance(features, Mapping) else feature_specs["feature"],
            labels=dict(label_specs) if isinstance(labels, Mapping) else label_specs["label"],
            receiver_tensors={**feature_specs, **label_specs},
        )

    return receiver_fn
