"""Wide & deep: ``DNNLinearCombinedClassifier`` / ``Regressor`` / ``Estimator`` (TF ``canned/dnn_linear_combined.py``).

The model sums two logits, each part trained by its own optimizer::

    features ─┬─► LinearModel(linear_feature_columns)                      ─► linear logits ─┐
              └─► DenseFeatures(dnn_feature_columns) ─► DNNTower(hidden)  ─► dnn logits    ─┴─► + ─► head

``train_op`` is ``{"dnn": dnn_optimizer, "linear": linear_optimizer}``: one backward, both stepped,
the global step advanced once. Defaults (TF v2): the linear part uses FTRL at
``min(0.005, 1/sqrt(len(linear_feature_columns)))`` for any optimizer *name*, the DNN part Adagrad at
0.001. Either column set may be omitted, not both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from torchestimator.columns import DenseFeatures, LinearModel
from torchestimator.errors import InvalidArgumentError
from torchestimator.estimator import Estimator
from torchestimator.heads import LossReduction
from torchestimator.heads.base import Head
from torchestimator.optimizers import (
    DNN_LINEAR_COMBINED_DNN_LEARNING_RATE,
    dnn_linear_combined_linear_learning_rate,
)
from torchestimator.premade.dnn_tower import DNNTower, check_dropout, check_hidden_units, resolve_activation
from torchestimator.premade.head_factory import classification_head, regression_head
from torchestimator.premade.model_base import (
    OptimizerPlan,
    PremadeModel,
    check_feature_columns,
    check_head,
    check_optimizer_spec,
    trainable,
)
from torchestimator.run_config import RunConfig
from torchestimator.spec import ModeKeys

__all__ = [
    "DNNLinearCombinedClassifier",
    "DNNLinearCombinedEstimator",
    "DNNLinearCombinedModelFn",
    "DNNLinearCombinedRegressor",
]


class DNNLinearCombinedModelFn(PremadeModel):
    """The wide & deep model_fn module: linear logits + DNN logits -> head.

    Args:
        head: the head.
        linear_feature_columns: columns of the linear (wide) part, or None.
        linear_optimizer: 'Ftrl' (default) or any optimizer spec; names train at
            ``min(0.005, 1/sqrt(n_linear_columns))``.
        dnn_feature_columns: dense columns of the DNN (deep) part, or None.
        dnn_optimizer: 'Adagrad' (default, at 0.001) or any optimizer spec.
        dnn_hidden_units: hidden layer sizes; required with ``dnn_feature_columns``.
        dnn_activation_fn: hidden-layer activation (default relu).
        dnn_dropout: drop rate in TRAIN, or None.
        batch_norm: batch normalisation after each hidden layer.
        linear_sparse_combiner: 'sum' (default), 'mean' or 'sqrtn'.

    Raises:
        InvalidArgumentError: neither column set, DNN columns without hidden units, or bad arguments.
    """

    def __init__(
        self,
        head: Head,
        linear_feature_columns: Sequence[Any] | None = None,
        linear_optimizer: Any = "Ftrl",
        dnn_feature_columns: Sequence[Any] | None = None,
        dnn_optimizer: Any = "Adagrad",
        dnn_hidden_units: Sequence[int] | None = None,
        dnn_activation_fn: Any = F.relu,
        dnn_dropout: float | None = None,
        batch_norm: bool = False,
        linear_sparse_combiner: str = "sum",
    ) -> None:
        super().__init__(head)
        owner = type(self).__name__
        if not linear_feature_columns and not dnn_feature_columns:
            raise InvalidArgumentError(
                f"{owner}: either linear_feature_columns or dnn_feature_columns must be defined; received "
                "neither."
            )
        self.linear_model: LinearModel | None = None
        self.dnn_input_layer: DenseFeatures | None = None
        self.dnn_tower: DNNTower | None = None
        if linear_feature_columns:
            cols = check_feature_columns(linear_feature_columns, owner, "linear_feature_columns")
            self.linear_optimizer_spec = check_optimizer_spec(linear_optimizer, owner, "linear_optimizer")
            self.linear_model = LinearModel(
                cols, units=self.head.logits_dimension, sparse_combiner=linear_sparse_combiner
            )
        if dnn_feature_columns:
            if not dnn_hidden_units:
                raise InvalidArgumentError(
                    f"{owner}: dnn_hidden_units must be defined when dnn_feature_columns is specified; "
                    f"received dnn_hidden_units={dnn_hidden_units!r}. Pass e.g. dnn_hidden_units=[64, 32]."
                )
            cols = check_feature_columns(dnn_feature_columns, owner, "dnn_feature_columns")
            self.dnn_optimizer_spec = check_optimizer_spec(dnn_optimizer, owner, "dnn_optimizer")
            self.dnn_input_layer = DenseFeatures(cols)
            self.dnn_tower = DNNTower(
                self.dnn_input_layer.output_dim,
                check_hidden_units(dnn_hidden_units, owner, "dnn_hidden_units"),
                self.head.logits_dimension,
                resolve_activation(dnn_activation_fn, owner),
                check_dropout(dnn_dropout, owner),
                bool(batch_norm),
            )

    def dnn_logits(self, features: Mapping[str, Any], mode: str = ModeKeys.PREDICT) -> torch.Tensor | None:
        """The deep part's logits ``(B, logits_dimension)``, or None without DNN columns."""
        if self.dnn_input_layer is None or self.dnn_tower is None:
            return None
        inputs = self.dnn_input_layer(features)  # (B, D)
        return self.dnn_tower(inputs, training=mode == ModeKeys.TRAIN)

    def linear_logits(self, features: Mapping[str, Any]) -> torch.Tensor | None:
        """The wide part's logits ``(B, logits_dimension)``, or None without linear columns."""
        return None if self.linear_model is None else self.linear_model(features)

    def logits(self, features: Mapping[str, Any], mode: str = ModeKeys.PREDICT) -> torch.Tensor:
        """``dnn_logits + linear_logits`` ``(B, logits_dimension)``."""
        dnn, linear = self.dnn_logits(features, mode), self.linear_logits(features)
        if dnn is None:
            assert linear is not None  # one part exists (checked in __init__)
            return linear
        return dnn if linear is None else dnn + linear  # (B, logits_dimension)

    def tf_variable_bindings(self) -> list[Any]:
        from torchestimator.compat import _tf_names as names

        out: list[Any] = []
        if self.dnn_input_layer is not None and self.dnn_tower is not None:
            out += names.dense_features_bindings(
                self.dnn_input_layer, "dnn_input_layer", names.DNN_INPUT_SCOPE
            )
            out += names.tower_bindings(self.dnn_tower, "dnn_tower", "dnn")
        if self.linear_model is not None:
            out += names.linear_model_bindings(self.linear_model, "linear_model", "linear/linear_model")
        return out

    def _optimizer_plan(self) -> list[OptimizerPlan]:
        plan: list[OptimizerPlan] = []
        if self.dnn_input_layer is not None and self.dnn_tower is not None:
            params = trainable(self.dnn_input_layer) + trainable(self.dnn_tower)
            plan.append(("dnn", params, self.dnn_optimizer_spec, DNN_LINEAR_COMBINED_DNN_LEARNING_RATE))
        if self.linear_model is not None:
            lr = dnn_linear_combined_linear_learning_rate(len(self.linear_model.feature_columns))
            plan.append(("linear", trainable(self.linear_model), self.linear_optimizer_spec, lr))
        return plan

    def _train_op(self) -> Any:
        return self.optimizers()  # always the dict, so checkpoints name "dnn" / "linear" even with one part


class DNNLinearCombinedClassifier(Estimator):
    """Wide & deep classifier (tf.estimator.DNNLinearCombinedClassifier).

    Args:
        model_dir: where checkpoints and summaries go.
        linear_feature_columns: columns of the wide part.
        linear_optimizer: optimizer of the wide part ('Ftrl').
        dnn_feature_columns: dense columns of the deep part.
        dnn_optimizer: optimizer of the deep part ('Adagrad').
        dnn_hidden_units: hidden layer sizes (required with ``dnn_feature_columns``).
        dnn_activation_fn: hidden-layer activation (default relu).
        dnn_dropout: drop rate in TRAIN, or None.
        n_classes: number of classes (> 1).
        weight_column: a feature key or ``numeric_column`` weighting each example's loss.
        label_vocabulary: the class names when labels are strings.
        config: a :class:`~torchestimator.RunConfig`.
        warm_start_from: a model_dir or checkpoint to initialise matching weights from.
        loss_reduction: ``SUM_OVER_BATCH_SIZE`` (default) or ``SUM``.
        batch_norm: batch normalisation after each hidden layer.
        linear_sparse_combiner: 'sum' (default), 'mean' or 'sqrtn'.

    Raises:
        InvalidArgumentError: bad arguments.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        linear_feature_columns: Sequence[Any] | None = None,
        linear_optimizer: Any = "Ftrl",
        dnn_feature_columns: Sequence[Any] | None = None,
        dnn_optimizer: Any = "Adagrad",
        dnn_hidden_units: Sequence[int] | None = None,
        dnn_activation_fn: Any = F.relu,
        dnn_dropout: float | None = None,
        n_classes: int = 2,
        weight_column: Any = None,
        label_vocabulary: Sequence[str] | None = None,
        config: RunConfig | None = None,
        warm_start_from: Any = None,
        loss_reduction: str = LossReduction.SUM_OVER_BATCH_SIZE,
        batch_norm: bool = False,
        linear_sparse_combiner: str = "sum",
    ) -> None:
        head = classification_head(
            n_classes, weight_column, label_vocabulary, loss_reduction, "DNNLinearCombinedClassifier"
        )
        super().__init__(
            lambda: DNNLinearCombinedModelFn(
                head,
                linear_feature_columns,
                linear_optimizer,
                dnn_feature_columns,
                dnn_optimizer,
                dnn_hidden_units,
                dnn_activation_fn,
                dnn_dropout,
                batch_norm,
                linear_sparse_combiner,
            ),
            model_dir=model_dir,
            config=config,
            warm_start_from=warm_start_from,
        )


class DNNLinearCombinedRegressor(Estimator):
    """Wide & deep regressor with squared-error loss (tf.estimator.DNNLinearCombinedRegressor).

    Args:
        model_dir: where checkpoints and summaries go.
        linear_feature_columns: columns of the wide part.
        linear_optimizer: optimizer of the wide part ('Ftrl').
        dnn_feature_columns: dense columns of the deep part.
        dnn_optimizer: optimizer of the deep part ('Adagrad').
        dnn_hidden_units: hidden layer sizes (required with ``dnn_feature_columns``).
        dnn_activation_fn: hidden-layer activation (default relu).
        dnn_dropout: drop rate in TRAIN, or None.
        label_dimension: number of regression targets per example.
        weight_column: a feature key or ``numeric_column`` weighting each example's loss.
        config: a :class:`~torchestimator.RunConfig`.
        warm_start_from: a model_dir or checkpoint to initialise matching weights from.
        loss_reduction: ``SUM_OVER_BATCH_SIZE`` (default) or ``SUM``.
        batch_norm: batch normalisation after each hidden layer.
        linear_sparse_combiner: 'sum' (default), 'mean' or 'sqrtn'.

    Raises:
        InvalidArgumentError: bad arguments.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        linear_feature_columns: Sequence[Any] | None = None,
        linear_optimizer: Any = "Ftrl",
        dnn_feature_columns: Sequence[Any] | None = None,
        dnn_optimizer: Any = "Adagrad",
        dnn_hidden_units: Sequence[int] | None = None,
        dnn_activation_fn: Any = F.relu,
        dnn_dropout: float | None = None,
        label_dimension: int = 1,
        weight_column: Any = None,
        config: RunConfig | None = None,
        warm_start_from: Any = None,
        loss_reduction: str = LossReduction.SUM_OVER_BATCH_SIZE,
        batch_norm: bool = False,
        linear_sparse_combiner: str = "sum",
    ) -> None:
        head = regression_head(label_dimension, weight_column, loss_reduction, "DNNLinearCombinedRegressor")
        super().__init__(
            lambda: DNNLinearCombinedModelFn(
                head,
                linear_feature_columns,
                linear_optimizer,
                dnn_feature_columns,
                dnn_optimizer,
                dnn_hidden_units,
                dnn_activation_fn,
                dnn_dropout,
                batch_norm,
                linear_sparse_combiner,
            ),
            model_dir=model_dir,
            config=config,
            warm_start_from=warm_start_from,
        )


class DNNLinearCombinedEstimator(Estimator):
    """Wide & deep with any head (tf.estimator.DNNLinearCombinedEstimator).

    Args:
        head: a :class:`~torchestimator.heads.Head`.
        model_dir: where checkpoints and summaries go.
        linear_feature_columns: columns of the wide part.
        linear_optimizer: optimizer of the wide part ('Ftrl').
        dnn_feature_columns: dense columns of the deep part.
        dnn_optimizer: optimizer of the deep part ('Adagrad').
        dnn_hidden_units: hidden layer sizes (required with ``dnn_feature_columns``).
        dnn_activation_fn: hidden-layer activation (default relu).
        dnn_dropout: drop rate in TRAIN, or None.
        config: a :class:`~torchestimator.RunConfig`.
        batch_norm: batch normalisation after each hidden layer.
        linear_sparse_combiner: 'sum' (default), 'mean' or 'sqrtn'.

    Raises:
        InvalidArgumentError: bad arguments.
    """

    def __init__(
        self,
        head: Head,
        model_dir: str | os.PathLike[str] | None = None,
        linear_feature_columns: Sequence[Any] | None = None,
        linear_optimizer: Any = "Ftrl",
        dnn_feature_columns: Sequence[Any] | None = None,
        dnn_optimizer: Any = "Adagrad",
        dnn_hidden_units: Sequence[int] | None = None,
        dnn_activation_fn: Any = F.relu,
        dnn_dropout: float | None = None,
        config: RunConfig | None = None,
        batch_norm: bool = False,
        linear_sparse_combiner: str = "sum",
    ) -> None:
        check_head(head, "DNNLinearCombinedEstimator")
        super().__init__(
            lambda: DNNLinearCombinedModelFn(
                head,
                linear_feature_columns,
                linear_optimizer,
                dnn_feature_columns,
                dnn_optimizer,
                dnn_hidden_units,
                dnn_activation_fn,
                dnn_dropout,
                batch_norm,
                linear_sparse_combiner,
            ),
            model_dir=model_dir,
            config=config,
        )
