"""``add_metrics(estimator, metric_fn)`` (tf.estimator.add_metrics): an Estimator with more eval metrics.

``metric_fn`` names any of ``features``, ``labels``, ``predictions`` (required) and ``config``, and returns
``{name: metric}`` (a :class:`~torchestimator.metrics.Metric` such as ``te.metrics.auc(...)``, a torchmetrics
metric, or a scalar). The new Estimator shares ``model_dir``, ``config`` and ``params`` and starts from a copy of
the resident model (it restores ``model_dir``'s newest checkpoint as any Estimator does); in EVAL its specs carry
the original ``eval_metric_ops`` updated with ``metric_fn``'s (a name in both takes ``metric_fn``'s, as in TF).

>>> import tempfile, torch
>>> import torchestimator as te
>>> class Model(torch.nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.w = torch.nn.Parameter(torch.ones(1))
...     def forward(self, features, labels=None, mode=te.ModeKeys.TRAIN):
...         y = self.w * features["x"]
...         return te.EstimatorSpec(mode, loss=((y - labels) ** 2).mean(), predictions={"y": y})
>>> est = te.Estimator(Model(), model_dir=tempfile.mkdtemp())
>>> est2 = te.add_metrics(est, lambda labels, predictions: {"mae": (predictions["y"] - labels).abs().mean()})
>>> x = torch.tensor([1.0, 2.0])
>>> round(est2.evaluate(lambda: iter([({"x": x}, 2 * x)]))["mae"], 3)
1.5
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import torch

from torchestimator.errors import InvalidArgumentError
from torchestimator.spec import EstimatorSpec, ModeKeys

__all__ = ["add_metrics"]

_METRIC_FN_ARGS = ("features", "labels", "predictions", "config")


def _metric_fn_args(metric_fn: Callable[..., Any]) -> list[str]:
    try:
        names = list(inspect.signature(metric_fn).parameters)
    except (TypeError, ValueError) as err:
        raise InvalidArgumentError(f"metric_fn must be a function; received {metric_fn!r}.") from err
    if "predictions" not in names:
        raise InvalidArgumentError(f"metric_fn ({metric_fn}) must include predictions argument.")
    unexpected = [n for n in names if n not in _METRIC_FN_ARGS]
    if unexpected:
        raise InvalidArgumentError(
            f"metric_fn ({metric_fn}) has following not expected args: {unexpected}; it may name "
            f"{list(_METRIC_FN_ARGS)}."
        )
    return names


class _MetricsCaller:
    """The Estimator's model caller, adding ``metric_fn``'s metrics to EVAL specs."""

    def __init__(self, inner: Any, metric_fn: Callable[..., Any], args: list[str], config: Any) -> None:
        self.inner, self.metric_fn, self.args, self.config = inner, metric_fn, args, config

    def __call__(self, module: torch.nn.Module, features: Any, labels: Any, mode: str) -> EstimatorSpec:
        spec = self.inner(module, features, labels, mode)
        if mode != ModeKeys.EVAL:
            return spec
        available = {
            "features": features,
            "labels": labels,
            "predictions": spec.predictions,
            "config": self.config,
        }
        new_metrics = self.metric_fn(**{name: available[name] for name in self.args})
        if not isinstance(new_metrics, Mapping):
            raise InvalidArgumentError(
                f"metric_fn must return a dict of name -> metric; received {type(new_metrics).__name__}."
            )
        return spec.replace(eval_metric_ops={**(spec.eval_metric_ops or {}), **new_metrics})


def add_metrics(estimator: Any, metric_fn: Callable[..., Any]) -> Any:
    """A new Estimator whose evaluations also report ``metric_fn``'s metrics (see the module docstring).

    Raises:
        InvalidArgumentError: ``metric_fn`` lacks ``predictions`` or names other arguments (TF's messages).
    """
    from torchestimator.estimator import Estimator

    args = _metric_fn_args(metric_fn)
    new = Estimator(
        copy.deepcopy(estimator.model),
        model_dir=estimator.model_dir,
        config=estimator.config,
        params=estimator.params,
        warm_start_from=estimator.runtime.warm_start_from,
    )
    new._caller = _MetricsCaller(new._caller, metric_fn, args, new.config)  # type: ignore[assignment]
    return new
