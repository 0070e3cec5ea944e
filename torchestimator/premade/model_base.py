"""``PremadeModel``: the ``nn.Module`` model_fn shared by the pre-made estimators.

Every pre-made estimator is the same pipeline with a different middle::

    features ──► columns (DenseFeatures / LinearModel / none) ──► tower ──► logits (B, head.logits_dimension)
                                                                              │
    labels, mode ─────────────────────────────────────────────────────────► head.create_estimator_spec
                                                                              │
                                                                     EstimatorSpec (loss, predictions,
                                                                     metrics, train_op = optimizer(s))

Subclasses implement :meth:`PremadeModel.logits` and :meth:`PremadeModel._optimizer_plan`. The
optimizers are built on the first TRAIN call, over the parameters as they are then (after the
Estimator has moved the module to its device, so optimizer slots live beside the weights), and
kept as attributes; the loop checkpoints them under the names of ``train_op``.

The module is usable on its own, outside any Estimator::

    model = DNNModel(head, [30, 10], columns)
    spec = model(raw_features, labels, mode=ModeKeys.TRAIN)   # raw features are transformed inline
    spec.loss.backward(); [o.step() for o in spec.optimizers().values()]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from torchestimator.errors import InvalidArgumentError, did_you_mean
from torchestimator.heads.base import Head
from torchestimator.optimizers import OPTIMIZER_NAMES, get_optimizer
from torchestimator.spec import EstimatorSpec, ModeKeys

__all__ = [
    "OptimizerPlan",
    "PremadeModel",
    "check_feature_columns",
    "check_head",
    "check_mode",
    "check_optimizer_spec",
    "trainable",
]

# (name in train_op, parameters, optimizer spec, default learning rate for a name or None)
OptimizerPlan = tuple[str, list[nn.Parameter], Any, float | None]


def check_mode(mode: str) -> str:
    """``mode`` validated against :class:`ModeKeys`.

    Raises:
        InvalidArgumentError: an unknown mode.
    """
    return ModeKeys.validate(mode)


def check_head(head: Any, owner: str) -> Head:
    """``head`` checked to be a :class:`~torchestimator.heads.Head`.

    Raises:
        InvalidArgumentError: not a Head.
    """
    if not isinstance(head, Head):
        raise InvalidArgumentError(
            f"{owner}: head must be a torchestimator Head (e.g. BinaryClassHead(), RegressionHead()); "
            f"received {type(head).__name__}."
        )
    return head


def check_feature_columns(feature_columns: Any, owner: str, arg: str = "feature_columns") -> list[Any]:
    """``feature_columns`` as a non-empty list of columns.

    Raises:
        InvalidArgumentError: None, empty, or holding something that is not a feature column.
    """
    from torchestimator.columns import FeatureColumn

    if isinstance(feature_columns, FeatureColumn):
        feature_columns = [feature_columns]
    if (
        feature_columns is None
        or isinstance(feature_columns, (str, bytes))
        or not isinstance(feature_columns, Iterable)
    ):
        raise InvalidArgumentError(
            f"{owner}: {arg} must be a non-empty list of feature columns; received {feature_columns!r}."
        )
    cols = list(feature_columns)
    if not cols:
        raise InvalidArgumentError(
            f"{owner}: {arg} must be a non-empty list of feature columns; received []."
        )
    bad = [c for c in cols if not isinstance(c, FeatureColumn)]
    if bad:
        raise InvalidArgumentError(
            f"{owner}: items of {arg} must be feature columns (torchestimator.feature_column.*); received "
            f"{bad[0]!r}."
        )
    return cols


def check_optimizer_spec(optimizer: Any, owner: str, arg: str = "optimizer", allow_none: bool = False) -> Any:
    """Check an optimizer argument eagerly (a name, an instance, an Optimizer class or a callable).

    Raises:
        InvalidArgumentError: an unknown name or something that cannot give an optimizer.
    """
    if allow_none and not optimizer:
        return optimizer
    if isinstance(optimizer, str):
        names = {n.lower(): n for n in OPTIMIZER_NAMES}
        if optimizer.lower() not in names:
            raise InvalidArgumentError(
                f"{owner}: unsupported {arg} name {optimizer!r}; supported names are {sorted(OPTIMIZER_NAMES)}"
                f"{did_you_mean(optimizer, OPTIMIZER_NAMES)}. An optimizer class or a callable "
                "`params -> torch.optim.Optimizer` works too."
            )
        return optimizer
    if isinstance(optimizer, torch.optim.Optimizer) or callable(optimizer):
        return optimizer
    raise InvalidArgumentError(
        f"{owner}: {arg} must be a name in {sorted(OPTIMIZER_NAMES)}, a torch.optim.Optimizer, an Optimizer "
        f"class or a callable `params -> Optimizer`; received {type(optimizer).__name__}."
    )


def trainable(module: nn.Module) -> list[nn.Parameter]:
    """The parameters of ``module`` that require gradients (TF's trainable variables)."""
    return [p for p in module.parameters() if p.requires_grad]


def check_optimizer_instance(optimizer: Any, params: Sequence[nn.Parameter], owner: str, arg: str) -> None:
    """An optimizer *instance* must already hold exactly the parameters it is meant to train.

    Raises:
        InvalidArgumentError: the instance holds other parameters (it was built before the model).
    """
    if not isinstance(optimizer, torch.optim.Optimizer):
        return
    mine = {id(p) for p in params}
    theirs = {id(p) for g in optimizer.param_groups for p in g["params"]}
    if not theirs <= mine:
        raise InvalidArgumentError(
            f"{owner}: `{arg}` is an optimizer instance over parameters that are not this model's "
            f"(the model is built by the estimator, after the instance). Pass a name ('Adagrad', 'Adam', "
            "'Ftrl', 'RMSProp', 'SGD'), an optimizer class, or a callable `lambda params: "
            "torch.optim.Adagrad(params, lr=0.05)` instead."
        )


class PremadeModel(nn.Module):
    """Base of the pre-made model_fn modules: logits -> head -> EstimatorSpec, optimizers built lazily.

    Args:
        head: the :class:`~torchestimator.heads.Head` that turns logits into loss, predictions, metrics.
    """

    def __init__(self, head: Head) -> None:
        super().__init__()
        self.head = check_head(head, type(self).__name__)
        self._optimizers: dict[str, torch.optim.Optimizer] | None = None

    # -- what subclasses provide ------------------------------------------------------------------
    def logits(self, features: Mapping[str, Any], mode: str = ModeKeys.PREDICT) -> torch.Tensor:
        """Logits ``(B, head.logits_dimension)`` for raw or host-transformed ``features``."""
        raise NotImplementedError

    def _optimizer_plan(self) -> list[OptimizerPlan]:
        """One entry per optimizer: its train_op name, parameters, spec and default learning rate."""
        raise NotImplementedError

    def tf_variable_bindings(self) -> list[Any] | None:
        """How TF's pre-made estimator names this model's variables (``compat._tf_names.Binding`` list).

        ``None`` for models whose TF checkpoints need a user's ``name_map`` (the default).
        """
        return None

    # -- optimizers -------------------------------------------------------------------------------
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimizers (built on first use over the current parameters), keyed by train_op name."""
        if self._optimizers is None:
            built: dict[str, torch.optim.Optimizer] = {}
            for name, params, spec, default_lr in self._optimizer_plan():
                check_optimizer_instance(spec, params, type(self).__name__, name)
                built[name] = get_optimizer(spec, params, default_learning_rate=default_lr)
            self._optimizers = built
        return self._optimizers

    def train_op(self) -> Any:
        """What ``forward`` returns as the TRAIN spec's ``train_op``: one optimizer, or a dict of them."""
        return self._train_op()

    def _train_op(self) -> Any:
        optimizers = self.optimizers()
        if len(optimizers) == 1:
            return next(iter(optimizers.values()))  # checkpointed as "optimizer", like a custom model_fn
        return optimizers

    # -- model_fn -----------------------------------------------------------------------------------
    def forward(
        self, features: Mapping[str, Any], labels: Any = None, mode: str = ModeKeys.PREDICT
    ) -> EstimatorSpec:
        """The :class:`EstimatorSpec` for ``mode`` (TRAIN / EVAL need ``labels``).

        Raises:
            InvalidArgumentError: an unknown mode, or no labels in TRAIN / EVAL.
        """
        check_mode(mode)
        if mode != ModeKeys.PREDICT and labels is None:
            raise InvalidArgumentError(
                f"{type(self).__name__}: mode {mode!r} needs labels; the input_fn must yield (features, labels)."
            )
        logits = self.logits(features, mode)  # (B, logits_dimension)
        return self.head.create_estimator_spec(
            features=features,
            mode=mode,
            logits=logits,
            labels=labels,
            optimizer=self._train_op() if mode == ModeKeys.TRAIN else None,
        )
