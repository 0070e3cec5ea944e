"""``tf.compat.v1.estimator``: the Estimator names and the pre-made estimators with their **v1 defaults**.

TF1's canned estimators differ from TF2's (``tf.estimator.*``) in ways that change results silently, so
these classes restore the v1 values:

======================================  ==================================  ==================================
setting                                 v1 (these classes)                  v2 (``te.*``)
======================================  ==================================  ==================================
``loss_reduction``                      ``SUM`` (loss = batch sum)          ``SUM_OVER_BATCH_SIZE`` (mean)
optimizer *names*                       ``tf.compat.v1.train`` optimizers   Keras optimizers
DNN optimizer learning rate             0.05                                Keras' 0.001
Adagrad                                 no epsilon                          epsilon 1e-7
Adam / RMSProp epsilon                  1e-8 / 1e-10 (ms starts at 1)       1e-7 / 1e-7 (ms starts at 0)
Linear (FTRL 0.2 or min(0.2, 1/sqrt n)) the same                            the same
DNNLinearCombined dnn / linear rates    0.001 / min(0.005, 1/sqrt n)        the same (Keras optimizers)
Baseline (FTRL)                         0.3                                 0.3
======================================  ==================================  ==================================

``inputs`` is :mod:`torchestimator.inputs` (``tf.compat.v1.estimator.inputs.numpy_input_fn`` /
``pandas_input_fn``). An optimizer may also be a ``te.compat.v1.train.XOptimizer`` instance, a torch optimizer class or a
callable ``params -> torch.optim.Optimizer``. ``partitioner`` / ``input_layer_partitioner`` are accepted
and ignored (variables are never partitioned here).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from torchestimator import inputs
from torchestimator.compat.v1 import train as v1_train
from torchestimator.compat.v1.losses import Reduction
from torchestimator.errors import InvalidArgumentError, did_you_mean
from torchestimator.estimator import Estimator
from torchestimator.heads import LossReduction
from torchestimator.premade import baseline as _baseline
from torchestimator.premade import dnn as _dnn
from torchestimator.premade import dnn_linear_combined as _combined
from torchestimator.premade import linear as _linear
from torchestimator.run_config import RunConfig
from torchestimator.spec import EstimatorSpec, ModeKeys

__all__ = [
    "BaselineClassifier",
    "BaselineRegressor",
    "DNNClassifier",
    "DNNLinearCombinedClassifier",
    "DNNLinearCombinedRegressor",
    "DNNRegressor",
    "Estimator",
    "EstimatorSpec",
    "LinearClassifier",
    "LinearRegressor",
    "ModeKeys",
    "RunConfig",
    "inputs",
    "v1_optimizer",
]

_V1_NAMES: dict[str, Callable[[float], v1_train.Optimizer]] = {
    "Adagrad": lambda lr: v1_train.AdagradOptimizer(lr),
    "Adam": lambda lr: v1_train.AdamOptimizer(lr),
    "Ftrl": lambda lr: v1_train.FtrlOptimizer(lr),
    "RMSProp": lambda lr: v1_train.RMSPropOptimizer(lr),
    "SGD": lambda lr: v1_train.GradientDescentOptimizer(lr),
}
_REDUCTIONS = {
    Reduction.SUM: LossReduction.SUM,
    Reduction.SUM_OVER_BATCH_SIZE: LossReduction.SUM_OVER_BATCH_SIZE,
    LossReduction.SUM: LossReduction.SUM,
    LossReduction.SUM_OVER_BATCH_SIZE: LossReduction.SUM_OVER_BATCH_SIZE,
}


def v1_optimizer(optimizer: Any, learning_rate: float) -> Any:
    """TF1's ``get_optimizer_instance``: a name -> the v1 optimizer at ``learning_rate``; a v1 optimizer
    instance -> a callable building it over the estimator's parameters; anything else unchanged.

    Raises:
        InvalidArgumentError: an unknown optimizer name.
    """
    if isinstance(optimizer, str):
        by_lower = {n.lower(): n for n in _V1_NAMES}
        name = by_lower.get(optimizer.lower())
        if name is None:
            raise InvalidArgumentError(
                f"Unsupported optimizer name {optimizer!r}; supported names are {sorted(_V1_NAMES)}"
                f"{did_you_mean(optimizer, _V1_NAMES)}."
            )
        optimizer = _V1_NAMES[name](learning_rate)
    if isinstance(optimizer, v1_train.Optimizer):
        made = optimizer

        def build(params: Any) -> torch.optim.Optimizer:
            return made.build([p for p in params if p.requires_grad])

        return build
    return optimizer


def _use_v1_auc(est: Estimator) -> None:
    """TF1's heads compute ``auc`` / ``auc_precision_recall`` with ``tf.compat.v1.metrics.auc`` (trapezoidal,
    epsilon 1e-6), not Keras' AUC (interpolated PR curve): swap the head's AUC metrics for those."""
    from torchestimator.compat.v1.metrics import auc_from_histograms
    from torchestimator.metrics import AUC, AUCPrecisionRecall

    head = getattr(est.model, "head", None)
    original = getattr(head, "metrics", None)
    if head is None or original is None:
        return

    def metrics(*args: Any, **kwargs: Any) -> dict[str, Any]:
        out = original(*args, **kwargs)
        return {
            k: auc_from_histograms(v.state, "PR" if isinstance(v, AUCPrecisionRecall) else "ROC")
            if isinstance(v, AUC)
            else v
            for k, v in out.items()
        }

    head.metrics = metrics


def _reduction(loss_reduction: str) -> str:
    if loss_reduction not in _REDUCTIONS:
        raise InvalidArgumentError(
            f"loss_reduction {loss_reduction!r} is not supported by the canned estimators here; use "
            "Reduction.SUM (the v1 default) or Reduction.SUM_OVER_BATCH_SIZE."
        )
    return _REDUCTIONS[loss_reduction]


def _linear_optimizer(optimizer: Any, columns: Sequence[Any], rate: float) -> Any:
    if not optimizer:  # TF1: FTRL at min(rate, 1/sqrt(n_columns))
        return v1_optimizer("Ftrl", min(rate, 1.0 / math.sqrt(max(len(list(columns)), 1))))
    return v1_optimizer(optimizer, rate)


class LinearClassifier(_linear.LinearClassifier):
    """``tf.compat.v1.estimator.LinearClassifier``: loss SUM, v1 FTRL at 0.2 (see the module docstring)."""

    def __init__(
        self,
        feature_columns: Sequence[Any],
        model_dir: Any = None,
        n_classes: int = 2,
        weight_column: Any = None,
        label_vocabulary: Any = None,
        optimizer: Any = "Ftrl",
        config: RunConfig | None = None,
        partitioner: Any = None,
        warm_start_from: Any = None,
        loss_reduction: str = Reduction.SUM,
        sparse_combiner: str = "sum",
    ) -> None:
        super().__init__(
            feature_columns,
            model_dir=model_dir,
            n_classes=n_classes,
            weight_column=weight_column,
            label_vocabulary=label_vocabulary,
            optimizer=_linear_optimizer(optimizer, feature_columns, 0.2),
            config=config,
            warm_start_from=warm_start_from,
            loss_reduction=_reduction(loss_reduction),
            sparse_combiner=sparse_combiner,
        )
        _use_v1_auc(self)


class LinearRegressor(_linear.LinearRegressor):
    """``tf.compat.v1.estimator.LinearRegressor``: loss SUM, v1 FTRL at 0.2."""

    def __init__(
        self,
        feature_columns: Sequence[Any],
        model_dir: Any = None,
        label_dimension: int = 1,
        weight_column: Any = None,
        optimizer: Any = "Ftrl",
        config: RunConfig | None = None,
        partitioner: Any = None,
        warm_start_from: Any = None,
        loss_reduction: str = Reduction.SUM,
        sparse_combiner: str = "sum",
    ) -> None:
        super().__init__(
            feature_columns,
            model_dir=model_dir,
            label_dimension=label_dimension,
            weight_column=weight_column,
            optimizer=_linear_optimizer(optimizer, feature_columns, 0.2),
            config=config,
            warm_start_from=warm_start_from,
            loss_reduction=_reduction(loss_reduction),
            sparse_combiner=sparse_combiner,
        )
        _use_v1_auc(self)


class DNNClassifier(_dnn.DNNClassifier):
    """``tf.compat.v1.estimator.DNNClassifier``: loss SUM, v1 Adagrad at 0.05 (no epsilon)."""

    def __init__(
        self,
        hidden_units: Sequence[int],
        feature_columns: Sequence[Any],
        model_dir: Any = None,
        n_classes: int = 2,
        weight_column: Any = None,
        label_vocabulary: Any = None,
        optimizer: Any = "Adagrad",
        activation_fn: Any = F.relu,
        dropout: float | None = None,
        input_layer_partitioner: Any = None,
        config: RunConfig | None = None,
        warm_start_from: Any = None,
        loss_reduction: str = Reduction.SUM,
        batch_norm: bool = False,
    ) -> None:
        super().__init__(
            hidden_units,
            feature_columns,
            model_dir=model_dir,
            n_classes=n_classes,
            weight_column=weight_column,
            label_vocabulary=label_vocabulary,
            optimizer=v1_optimizer(optimizer, 0.05),
            activation_fn=activation_fn,
            dropout=dropout,
            config=config,
            warm_start_from=warm_start_from,
            loss_reduction=_reduction(loss_reduction),
            batch_norm=batch_norm,
        )
        _use_v1_auc(self)


class DNNRegressor(_dnn.DNNRegressor):
    """``tf.compat.v1.estimator.DNNRegressor``: loss SUM, v1 Adagrad at 0.05 (no epsilon)."""

    def __init__(
        self,
        hidden_units: Sequence[int],
        feature_columns: Sequence[Any],
        model_dir: Any = None,
        label_dimension: int = 1,
        weight_column: Any = None,
        optimizer: Any = "Adagrad",
        activation_fn: Any = F.relu,
        dropout: float | None = None,
        input_layer_partitioner: Any = None,
        config: RunConfig | None = None,
        warm_start_from: Any = None,
        loss_reduction: str = Reduction.SUM,
        batch_norm: bool = False,
    ) -> None:
        super().__init__(
            hidden_units,
            feature_columns,
            model_dir=model_dir,
            label_dimension=label_dimension,
            weight_column=weight_column,
            optimizer=v1_optimizer(optimizer, 0.05),
            activation_fn=activation_fn,
            dropout=dropout,
            config=config,
            warm_start_from=warm_start_from,
            loss_reduction=_reduction(loss_reduction),
            batch_norm=batch_norm,
        )
        _use_v1_auc(self)


def _combined_kwargs(
    linear_feature_columns: Any, linear_optimizer: Any, dnn_optimizer: Any, loss_reduction: str
) -> dict[str, Any]:
    n = len(list(linear_feature_columns or ()))
    return {
        "linear_optimizer": _linear_optimizer(
            linear_optimizer, linear_feature_columns or (), min(0.005, 1.0 / math.sqrt(max(n, 1)))
        ),
        "dnn_optimizer": v1_optimizer(dnn_optimizer, 0.001),
        "loss_reduction": _reduction(loss_reduction),
    }


class DNNLinearCombinedClassifier(_combined.DNNLinearCombinedClassifier):
    """``tf.compat.v1.estimator.DNNLinearCombinedClassifier``: loss SUM, v1 FTRL / v1 Adagrad (0.001)."""

    def __init__(
        self,
        model_dir: Any = None,
        linear_feature_columns: Any = None,
        linear_optimizer: Any = "Ftrl",
        dnn_feature_columns: Any = None,
        dnn_optimizer: Any = "Adagrad",
        dnn_hidden_units: Any = None,
        dnn_activation_fn: Any = F.relu,
        dnn_dropout: float | None = None,
        n_classes: int = 2,
        weight_column: Any = None,
        label_vocabulary: Any = None,
        input_layer_partitioner: Any = None,
        config: RunConfig | None = None,
        warm_start_from: Any = None,
        loss_reduction: str = Reduction.SUM,
        batch_norm: bool = False,
        linear_sparse_combiner: str = "sum",
    ) -> None:
        super().__init__(
            model_dir=model_dir,
            linear_feature_columns=linear_feature_columns,
            dnn_feature_columns=dnn_feature_columns,
            dnn_hidden_units=dnn_hidden_units,
            dnn_activation_fn=dnn_activation_fn,
            dnn_dropout=dnn_dropout,
            n_classes=n_classes,
            weight_column=weight_column,
            label_vocabulary=label_vocabulary,
            config=config,
            warm_start_from=warm_start_from,
            batch_norm=batch_norm,
            linear_sparse_combiner=linear_sparse_combiner,
            **_combined_kwargs(linear_feature_columns, linear_optimizer, dnn_optimizer, loss_reduction),
        )
        _use_v1_auc(self)


class DNNLinearCombinedRegressor(_combined.DNNLinearCombinedRegressor):
    """``tf.compat.v1.estimator.DNNLinearCombinedRegressor``: loss SUM, v1 FTRL / v1 Adagrad (0.001)."""

    def __init__(
        self,
        model_dir: Any = None,
        linear_feature_columns: Any = None,
        linear_optimizer: Any = "Ftrl",
        dnn_feature_columns: Any = None,
        dnn_optimizer: Any = "Adagrad",
        dnn_hidden_units: Any = None,
        dnn_activation_fn: Any = F.relu,
        dnn_dropout: float | None = None,
        label_dimension: int = 1,
        weight_column: Any = None,
        input_layer_partitioner: Any = None,
        config: RunConfig | None = None,
        warm_start_from: Any = None,
        loss_reduction: str = Reduction.SUM,
        batch_norm: bool = False,
        linear_sparse_combiner: str = "sum",
    ) -> None:
        super().__init__(
            model_dir=model_dir,
            linear_feature_columns=linear_feature_columns,
            dnn_feature_columns=dnn_feature_columns,
            dnn_hidden_units=dnn_hidden_units,
            dnn_activation_fn=dnn_activation_fn,
            dnn_dropout=dnn_dropout,
            label_dimension=label_dimension,
            weight_column=weight_column,
            config=config,
            warm_start_from=warm_start_from,
            batch_norm=batch_norm,
            linear_sparse_combiner=linear_sparse_combiner,
            **_combined_kwargs(linear_feature_columns, linear_optimizer, dnn_optimizer, loss_reduction),
        )
        _use_v1_auc(self)


class BaselineClassifier(_baseline.BaselineClassifier):
    """``tf.compat.v1.estimator.BaselineClassifier``: loss SUM, v1 FTRL at 0.3."""

    def __init__(
        self,
        model_dir: Any = None,
        n_classes: int = 2,
        weight_column: Any = None,
        label_vocabulary: Any = None,
        optimizer: Any = "Ftrl",
        config: RunConfig | None = None,
        loss_reduction: str = Reduction.SUM,
    ) -> None:
        super().__init__(
            model_dir=model_dir,
            n_classes=n_classes,
            weight_column=weight_column,
            label_vocabulary=label_vocabulary,
            optimizer=v1_optimizer(optimizer, 0.3),
            config=config,
            loss_reduction=_reduction(loss_reduction),
        )
        _use_v1_auc(self)


class BaselineRegressor(_baseline.BaselineRegressor):
    """``tf.compat.v1.estimator.BaselineRegressor``: loss SUM, v1 FTRL at 0.3."""

    def __init__(
        self,
        model_dir: Any = None,
        label_dimension: int = 1,
        weight_column: Any = None,
        optimizer: Any = "Ftrl",
        config: RunConfig | None = None,
        loss_reduction: str = Reduction.SUM,
    ) -> None:
        super().__init__(
            model_dir=model_dir,
            label_dimension=label_dimension,
            weight_column=weight_column,
            optimizer=v1_optimizer(optimizer, 0.3),
            config=config,
            loss_reduction=_reduction(loss_reduction),
        )
        _use_v1_auc(self)
