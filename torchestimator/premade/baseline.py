"""``BaselineClassifier`` / ``BaselineRegressor`` / ``BaselineEstimator`` (TF ``canned/baseline.py``).

The model ignores the features: its logits are one zero-initialised bias vector ``(logits_dimension,)``
tiled over the batch, so it learns the label prior (the class log-odds, or the label mean). FTRL at
0.3 by default. The batch size is read from the weight column when there is one, else from the
first feature (sorted by key).

Example:
    >>> import numpy as np
    >>> est = BaselineRegressor(optimizer="SGD")
    >>> _ = est.train(lambda: ({"x": np.zeros(4, np.float32)}, np.full((4, 1), 2.0, np.float32)), steps=100)
    >>> round(float(next(iter(est.predict(lambda: {"x": np.zeros(1, np.float32)})))["predictions"][0]), 2)
    2.0
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from torchestimator.errors import FeatureError
from torchestimator.estimator import Estimator
from torchestimator.heads import LossReduction
from torchestimator.heads.base import Head
from torchestimator.optimizers import BASELINE_LEARNING_RATE
from torchestimator.premade.head_factory import classification_head, regression_head
from torchestimator.premade.model_base import OptimizerPlan, PremadeModel, check_head, check_optimizer_spec
from torchestimator.run_config import RunConfig
from torchestimator.spec import ModeKeys

__all__ = ["BaselineClassifier", "BaselineEstimator", "BaselineModelFn", "BaselineRegressor"]


def _batch_size(features: Any, weight_column: Any) -> int:
    """Rows in the batch: the weight column's length if any, else the first feature's (sorted keys)."""
    if isinstance(features, (torch.Tensor, np.ndarray)):
        return int(features.shape[0])
    if not isinstance(features, Mapping) or not features:
        raise FeatureError(
            "Baseline models read the batch size from the features; received no features. The input_fn "
            "must yield at least one feature (any column) per example."
        )
    key = getattr(weight_column, "key", weight_column)
    if isinstance(key, str) and key in features:
        value = features[key]
    else:
        value = features[sorted(k for k in features if isinstance(k, str))[0]]
    shape = getattr(value, "shape", None)
    return int(shape[0]) if shape is not None and len(shape) else len(value)


class BaselineModelFn(PremadeModel):
    """The baseline model_fn module: a learned bias per logit, tiled over the batch.

    Args:
        head: the head.
        optimizer: 'Ftrl' (default; names train at 0.3), an optimizer class, or a callable.

    Raises:
        InvalidArgumentError: a bad optimizer or head.
    """

    def __init__(self, head: Head, optimizer: Any = "Ftrl") -> None:
        super().__init__(head)
        self.optimizer_spec = check_optimizer_spec(optimizer, type(self).__name__)
        self.bias = nn.Parameter(torch.zeros(self.head.logits_dimension))
        self._weight_column = getattr(head, "weight_column", None)

    def logits(self, features: Mapping[str, Any], mode: str = ModeKeys.PREDICT) -> torch.Tensor:
        """The bias repeated for every example ``(B, logits_dimension)``."""
        batch = _batch_size(features, self._weight_column)
        return self.bias.unsqueeze(0).expand(batch, -1)  # (B, logits_dimension)

    def _optimizer_plan(self) -> list[OptimizerPlan]:
        return [("optimizer", [self.bias], self.optimizer_spec, BASELINE_LEARNING_RATE)]

    def tf_variable_bindings(self) -> list[Any]:
        from torchestimator.compat._tf_names import Binding

        return [Binding(("baseline/bias",), "bias")]


class BaselineClassifier(Estimator):
    """Predicts the label prior, ignoring the features (tf.estimator.BaselineClassifier).

    Args:
        model_dir: where checkpoints and summaries go.
        n_classes: number of classes (> 1).
        weight_column: a feature key or ``numeric_column`` weighting each example's loss.
        label_vocabulary: the class names when labels are strings.
        optimizer: 'Ftrl' (default, learning rate 0.3) or any optimizer spec.
        config: a :class:`~torchestimator.RunConfig`.
        loss_reduction: ``SUM_OVER_BATCH_SIZE`` (default) or ``SUM``.

    Raises:
        InvalidArgumentError: bad arguments.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        n_classes: int = 2,
        weight_column: Any = None,
        label_vocabulary: Sequence[str] | None = None,
        optimizer: Any = "Ftrl",
        config: RunConfig | None = None,
        loss_reduction: str = LossReduction.SUM_OVER_BATCH_SIZE,
    ) -> None:
        head = classification_head(
            n_classes, weight_column, label_vocabulary, loss_reduction, "BaselineClassifier"
        )
        super().__init__(lambda: BaselineModelFn(head, optimizer), model_dir=model_dir, config=config)


class BaselineRegressor(Estimator):
    """Predicts the label mean, ignoring the features (tf.estimator.BaselineRegressor).

    Args:
        model_dir: where checkpoints and summaries go.
        label_dimension: number of regression targets per example.
        weight_column: a feature key or ``numeric_column`` weighting each example's loss.
        optimizer: 'Ftrl' (default, learning rate 0.3) or any optimizer spec.
        config: a :class:`~torchestimator.RunConfig`.
        loss_reduction: ``SUM_OVER_BATCH_SIZE`` (default) or ``SUM``.

    Raises:
        InvalidArgumentError: bad arguments.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        label_dimension: int = 1,
        weight_column: Any = None,
        optimizer: Any = "Ftrl",
        config: RunConfig | None = None,
        loss_reduction: str = LossReduction.SUM_OVER_BATCH_SIZE,
    ) -> None:
        head = regression_head(label_dimension, weight_column, loss_reduction, "BaselineRegressor")
        super().__init__(lambda: BaselineModelFn(head, optimizer), model_dir=model_dir, config=config)


class BaselineEstimator(Estimator):
    """A bias-only model with any head (tf.estimator.BaselineEstimator).

    Args:
        head: a :class:`~torchestimator.heads.Head`.
        model_dir: where checkpoints and summaries go.
        optimizer: 'Ftrl' (default, learning rate 0.3) or any optimizer spec.
        config: a :class:`~torchestimator.RunConfig`.

    Raises:
        InvalidArgumentError: bad arguments.
    """

    def __init__(
        self,
        head: Head,
        model_dir: str | os.PathLike[str] | None = None,
        optimizer: Any = "Ftrl",
        config: RunConfig | None = None,
    ) -> None:
        check_head(head, "BaselineEstimator")
        super().__init__(lambda: BaselineModelFn(head, optimizer), model_dir=model_dir, config=config)
