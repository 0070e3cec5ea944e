"""``ModeKeys`` and ``EstimatorSpec``: what a model_fn returns, validated per mode.

A model_fn is an ``nn.Module`` whose ``forward(features, labels=None, mode=...)`` returns an
:class:`EstimatorSpec`. The spec says what the loop needs for the mode:

=========  ==========================================  =====================================
mode       required                                    optional
=========  ==========================================  =====================================
TRAIN      ``loss`` (scalar), ``train_op``             ``predictions``, hooks
EVAL       ``loss`` (scalar)                           ``eval_metric_ops``, ``predictions``
PREDICT    ``predictions``                             ``export_outputs``
=========  ==========================================  =====================================

``train_op`` names what the loop steps after ``loss.backward()``: a ``torch.optim.Optimizer``, a
sequence or dict of optimizers (e.g. the linear and DNN optimizers of a wide & deep model), or a
callable ``train_op(loss) -> None`` for full control (it then owns backward and step itself).

``eval_metric_ops`` maps a metric name to a :class:`torchestimator.metrics.Metric` (mergeable
sufficient statistics for one batch, accumulated by the loop over the whole eval set and reduced
across processes once at the end) or to a scalar tensor (averaged over batches).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Union

import torch

from torchestimator.errors import InvalidArgumentError
from torchestimator.mode_keys import ModeKeys

__all__ = ["EstimatorSpec", "ModeKeys", "TrainOp"]


TrainOp = Union[  # noqa: UP007 - a runtime alias; `X | Y` of typing generics needs 3.10+ at runtime anyway
    torch.optim.Optimizer,
    Sequence[torch.optim.Optimizer],
    Mapping[str, torch.optim.Optimizer],
    Callable[[torch.Tensor], Any],
]


@dataclasses.dataclass(frozen=True)
class EstimatorSpec:
    """Ops and objects returned from a model_fn (tf.estimator.EstimatorSpec).

    Args:
        mode: one of :class:`ModeKeys`.
        predictions: a tensor or a dict of tensors (required in PREDICT).
        loss: a scalar (or shape ``[1]``) tensor (required in TRAIN and EVAL).
        train_op: optimizer(s) to step, or a callable taking the loss (required in TRAIN).
        eval_metric_ops: name -> ``Metric`` or scalar tensor, read in EVAL.
        export_outputs: signature name -> ``ExportOutput`` (PREDICT; used by export).
        training_hooks: hooks run by the training loop on every process.
        training_chief_hooks: hooks run by the training loop on the chief process only.
        evaluation_hooks: hooks run by the evaluation loop.
        prediction_hooks: hooks run by the prediction loop.

    Raises:
        InvalidArgumentError: a field required by ``mode`` is missing, or ``loss`` is not scalar.

    Example:
        >>> import torch
        >>> spec = EstimatorSpec(ModeKeys.EVAL, loss=torch.tensor(0.5))
        >>> spec.mode
        'eval'
    """

    mode: str
    predictions: Any = None
    loss: torch.Tensor | None = None
    train_op: Any = None
    eval_metric_ops: Mapping[str, Any] | None = None
    export_outputs: Mapping[str, Any] | None = None
    training_chief_hooks: Sequence[Any] = ()
    training_hooks: Sequence[Any] = ()
    evaluation_hooks: Sequence[Any] = ()
    prediction_hooks: Sequence[Any] = ()

    def __post_init__(self) -> None:
        ModeKeys.validate(self.mode)
        if self.mode in (ModeKeys.TRAIN, ModeKeys.EVAL):
            if self.loss is None:
                raise InvalidArgumentError(
                    f"model_fn must return an EstimatorSpec with `loss` in mode {self.mode!r}; received loss=None."
                )
            if not isinstance(self.loss, torch.Tensor):
                raise InvalidArgumentError(
                    f"EstimatorSpec `loss` must be a torch.Tensor; received {type(self.loss).__name__}."
                )
            if self.loss.dim() > 1 or self.loss.numel() != 1:
                raise InvalidArgumentError(
                    "EstimatorSpec `loss` must be a scalar (or shape [1]) tensor; received shape "
                    f"{list(self.loss.shape)}. Reduce it, e.g. with `.mean()`."
                )
        if self.mode == ModeKeys.TRAIN and self.train_op is None:
            raise InvalidArgumentError(
                "model_fn must return an EstimatorSpec with `train_op` in mode 'train' (an optimizer, "
                "a list/dict of optimizers, or a callable taking the loss); received train_op=None."
            )
        if self.mode == ModeKeys.TRAIN:
            _validate_train_op(self.train_op)
        if self.mode == ModeKeys.PREDICT and self.predictions is None:
            raise InvalidArgumentError(
                "model_fn must return an EstimatorSpec with `predictions` in mode 'infer'; received None."
            )
        if self.predictions is not None and not isinstance(self.predictions, (torch.Tensor, Mapping)):
            raise InvalidArgumentError(
                "EstimatorSpec `predictions` must be a tensor or a dict of tensors; received "
                f"{type(self.predictions).__name__}."
            )
        for name in self.eval_metric_ops or {}:
            if not isinstance(name, str):
                raise InvalidArgumentError(f"eval_metric_ops keys must be strings; received {name!r}.")
        _adapt_session_run_hooks(self)

    def replace(self, **changes: Any) -> EstimatorSpec:
        """A copy with ``changes`` applied (``mode`` cannot change, as in TF's ``_replace``)."""
        if "mode" in changes and changes["mode"] != self.mode:
            raise InvalidArgumentError(
                f"EstimatorSpec.replace cannot change mode (from {self.mode!r} to {changes['mode']!r})."
            )
        return dataclasses.replace(self, **changes)

    @property
    def loss_tensor(self) -> torch.Tensor:
        """``loss``, typed as present (validation guarantees it in TRAIN and EVAL)."""
        if self.loss is None:
            raise InvalidArgumentError(f"EstimatorSpec in mode {self.mode!r} has no loss.")
        return self.loss

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimizers named by ``train_op``, keyed by name (``{}`` for a callable train_op)."""
        op = self.train_op
        if isinstance(op, torch.optim.Optimizer):
            return {"optimizer": op}
        if isinstance(op, Mapping):
            return dict(op)
        if isinstance(op, (list, tuple)):
            return {f"optimizer_{i}": o for i, o in enumerate(op)}
        return {}


def _validate_train_op(op: Any) -> None:
    if isinstance(op, torch.optim.Optimizer):
        return
    if isinstance(op, Mapping):
        items = list(op.values())
    elif isinstance(op, (list, tuple)):
        items = list(op)
    elif callable(op):
        return
    else:
        items = [op]
    bad = [type(o).__name__ for o in items if not isinstance(o, torch.optim.Optimizer)]
    if bad or not items:
        raise InvalidArgumentError(
            "EstimatorSpec `train_op` must be a torch.optim.Optimizer, a non-empty list/dict of them, or a "
            f"callable taking the loss; received {type(op).__name__} containing {bad or 'nothing'}."
        )


def _adapt_session_run_hooks(spec: EstimatorSpec) -> None:
    """TF-style hooks (``before_run`` / ``after_run``) in the spec's hook lists run through their adapter."""
    from torchestimator.hooks.base import Hook

    for field in ("training_chief_hooks", "training_hooks", "evaluation_hooks", "prediction_hooks"):
        hooks = getattr(spec, field)
        if any(not isinstance(h, Hook) for h in hooks):
            from torchestimator.hooks.session_run import as_loop_hooks

            object.__setattr__(spec, field, tuple(as_loop_hooks(hooks)))
