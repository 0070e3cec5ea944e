"""Metrics from other libraries in ``eval_metric_ops``: a ``torchmetrics.Metric`` streams as TF's Keras metrics do.

Create the metric once (an attribute of the model_fn module), ``update`` it in ``forward`` and return the object
in ``eval_metric_ops``, as TF 2 code returns a ``tf.keras.metrics.Metric``::

    self.rmse = torchmetrics.MeanSquaredError(squared=False)      # in __init__
    self.rmse.update(predictions, labels)                          # in forward, EVAL mode
    return EstimatorSpec(mode, loss=loss, eval_metric_ops={"rmse": self.rmse})

``Estimator.evaluate`` resets the module's torchmetrics metrics before the first batch (TF re-initialises its
metric variables per evaluation), calls ``compute()`` once after the last batch — torchmetrics then reduces
its states across processes itself — and resets them again. A metric created anew in each forward is merged
into the first one by torchmetrics' own state reductions. ``torchmetrics`` is optional
(``pip install 'torchestimator[test]'`` or ``pip install torchmetrics``) and never imported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from torchestimator.errors import InvalidArgumentError
from torchestimator.metrics.base import Mean, Metric

__all__ = [
    "ExternalMetric",
    "as_metric",
    "is_torchmetrics_metric",
    "reset_module_metrics",
    "tuple_metric_error",
]


def is_torchmetrics_metric(value: Any) -> bool:
    """Whether ``value`` is a ``torchmetrics.Metric`` (checked without importing torchmetrics)."""
    return any(
        c.__name__ == "Metric" and c.__module__.startswith("torchmetrics") for c in type(value).__mro__
    )


class ExternalMetric(Metric):
    """A ``torchmetrics.Metric`` carried through the eval loop (no additive state of its own)."""

    def __init__(self, metric: Any) -> None:
        super().__init__(())
        self.metric = metric

    def merge(self, other: Metric) -> Metric:
        if not isinstance(other, ExternalMetric):
            raise TypeError(f"cannot merge {type(other).__name__} into a torchmetrics metric")
        if other.metric is not self.metric:  # a fresh object per batch: fold its states into the first one
            if not hasattr(self.metric, "_reduce_states") or not hasattr(self.metric, "_defaults"):
                raise InvalidArgumentError(
                    f"eval_metric_ops got a new {type(other.metric).__name__} object on a later batch and this "
                    "torchmetrics version cannot merge them; create the metric once (in __init__) and update it "
                    "in forward."
                )
            self.metric._reduce_states({name: getattr(other.metric, name) for name in other.metric._defaults})
            self.metric._update_count += other.metric._update_count
        return self

    def compute(self, state: Sequence[torch.Tensor]) -> Any:  # type: ignore[override]
        value = self.metric.compute()
        self.metric.reset()
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu()
            return float(value) if value.numel() == 1 else value.numpy()
        return value

    def result(self) -> Any:
        value = self.metric.compute()
        return float(value) if isinstance(value, torch.Tensor) and value.numel() == 1 else value


def tuple_metric_error(key: str, value: tuple[Any, ...]) -> InvalidArgumentError:
    """The error for a plain ``(value, update_op)`` tuple in ``eval_metric_ops`` (it cannot be streamed)."""
    kinds = ", ".join(type(v).__name__ for v in value)
    return InvalidArgumentError(
        f"eval_metric_ops[{key!r}] is a plain tuple ({kinds}); a TF-style (value, update_op) pair cannot be "
        "streamed over the eval batches (averaging it per batch is not TF's value). Use te.compat.v1.metrics.* "
        "(they return streaming (value, update_op) pairs), a te.metrics Metric, or a scalar tensor."
    )


def as_metric(key: str, value: Any) -> Metric:
    """The ``eval_metric_ops`` entry ``key`` as a streamed :class:`Metric`.

    A :class:`Metric` as is; a ``torchmetrics.Metric`` wrapped in :class:`ExternalMetric`; a plain tuple (a
    TF-style ``(value, update_op)`` pair) refused, never averaged per batch; anything else (a scalar tensor or
    number) as the per-batch mean it always was.

    Raises:
        InvalidArgumentError: a plain tuple.
    """
    if isinstance(value, Metric):
        return value
    if is_torchmetrics_metric(value):
        return ExternalMetric(value)
    if isinstance(value, tuple):
        raise tuple_metric_error(key, value)
    return Mean(torch.as_tensor(value).detach().reshape(-1).mean())


def reset_module_metrics(module: torch.nn.Module) -> None:
    """Reset the stateful metrics ``module`` holds (the start of an evaluation): every ``torchmetrics.Metric``
    and every Keras-style te metric (built with no arguments) kept as a module attribute."""
    for sub in module.modules():
        if is_torchmetrics_metric(sub):
            sub.reset()  # type: ignore[operator]  # torchmetrics.Metric.reset
        for value in vars(sub).values():
            if isinstance(value, Metric) and getattr(value, "stateful", False):
                value.reset_state()  # type: ignore[attr-defined]  # the Keras-style metrics define it
