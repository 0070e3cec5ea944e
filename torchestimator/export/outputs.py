"""The export output classes of ``tf.estimator.export``, including the supervised ``EvalOutput``.

``PredictOutput``, ``ClassificationOutput`` and ``RegressionOutput`` are the heads' own classes
(:mod:`torchestimator.heads.export_output`). ``EvalOutput`` / ``TrainOutput`` name their outputs as TF does:
``loss``, ``predictions/<key>`` and ``metrics/<name>/value`` (plus ``metrics/<name>/update_op`` for a TF-style
``(value, update_op)`` pair).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torchestimator.errors import InvalidArgumentError
from torchestimator.heads.export_output import (
    ClassificationOutput,
    ExportOutput,
    PredictOutput,
    RegressionOutput,
)

__all__ = [
    "ClassificationOutput",
    "EvalOutput",
    "ExportOutput",
    "PredictOutput",
    "RegressionOutput",
    "TrainOutput",
]


def _prefixed(value: Any, prefix: str) -> dict[str, Any]:
    items = value.items() if isinstance(value, Mapping) else [(prefix, value)]
    out = {}
    for key, item in items:
        key = "/".join(key) if isinstance(key, tuple) else str(key)
        out[key if key.startswith(prefix) else f"{prefix}/{key}"] = item
    return out


class _SupervisedOutput(ExportOutput):
    """Loss, predictions and metrics of a supervised step, keyed as TF's ``_SupervisedOutput``."""

    def __init__(self, loss: Any = None, predictions: Any = None, metrics: Any = None) -> None:
        self.loss, self.predictions, self.metrics = loss, predictions, metrics

    @property
    def outputs(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.loss is not None:
            out.update(_prefixed(self.loss, "loss"))
        if self.predictions is not None:
            out.update(_prefixed(self.predictions, "predictions"))
        if self.metrics is not None:
            metrics = self.metrics if isinstance(self.metrics, Mapping) else {"metrics": self.metrics}
            for key, value in metrics.items():
                if not isinstance(key, str):
                    raise InvalidArgumentError(f"metric names must be strings; received {key!r}.")
                name = key if key.startswith("metrics") else f"metrics/{key}"
                if isinstance(value, tuple):
                    out[f"{name}/value"], out[f"{name}/update_op"] = value
                else:
                    out[f"{name}/value"] = value.result() if hasattr(value, "result") else value
        return out


class EvalOutput(_SupervisedOutput):
    """The output of a supervised eval step (tf.estimator.export.EvalOutput)."""

    method_name = "tensorflow/supervised/eval"


class TrainOutput(_SupervisedOutput):
    """The output of a supervised train step (tf.estimator.export.TrainOutput)."""

    method_name = "tensorflow/supervised/training"
