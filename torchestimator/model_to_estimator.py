"""``model_to_estimator``: any ``nn.Module`` -> an :class:`~torchestimator.Estimator`, like Keras' compile.

The module keeps its own weights (the Estimator's step-0 checkpoint is the module as given) and is
wrapped in :class:`CompiledModel`, whose ``forward(features, labels, mode)`` returns an
``EstimatorSpec`` built by the head the loss maps to (see :mod:`torchestimator.losses`)::

    features ──► input (features[feature_key] | the single feature | a plain tensor)
             ──► module(input) -> outputs (B, K)
             ──► logits (outputs, or log-probabilities when from_logits=False)
             ──► head: loss, predictions (TF keys), eval metrics, export_outputs

In checkpoints the module's tensors are named ``model.<its state_dict key>`` and the optimizer
``optimizer``; ``est.model.model`` is the module itself.

Example:
    >>> import torch, tempfile
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 3))
    >>> est = model_to_estimator(net, loss="sparse_categorical_crossentropy", optimizer="SGD",
    ...                          model_dir=tempfile.mkdtemp())
    >>> x, y = torch.randn(8, 2), torch.randint(0, 3, (8,))
    >>> sorted(est.train(lambda: [(x, y)], steps=1).evaluate(lambda: [(x, y)]))
    ['accuracy', 'average_loss', 'global_step', 'loss']
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from torchestimator.errors import FeatureError, InputError, InvalidArgumentError, did_you_mean
from torchestimator.estimator import Estimator
from torchestimator.heads import (
    BinaryClassHead,
    Head,
    MultiClassHead,
    MultiLabelHead,
    PredictOutput,
    RegressionHead,
)
from torchestimator.heads.keys import DEFAULT_SERVING_KEY, PREDICT_SERVING_KEY
from torchestimator.losses import KERAS_EPSILON, LossSpec, get_loss
from torchestimator.metrics import AUC, Accuracy, Mean, Metric, Precision, Recall
from torchestimator.model_compile import unwrap_compiled
from torchestimator.optimizers import get_optimizer
from torchestimator.run_config import RunConfig
from torchestimator.spec import EstimatorSpec, ModeKeys

__all__ = ["METRIC_NAMES", "CompiledModel", "model_to_estimator"]

logger = logging.getLogger("torchestimator")

_METRIC_ALIASES = {
    "accuracy": "accuracy",
    "acc": "accuracy",
    "sparse_categorical_accuracy": "accuracy",
    "categorical_accuracy": "accuracy",
    "binary_accuracy": "accuracy",
    "auc": "auc",
    "precision": "precision",
    "recall": "recall",
    "mse": "mean_squared_error",
    "mean_squared_error": "mean_squared_error",
    "mae": "mean_absolute_error",
    "mean_absolute_error": "mean_absolute_error",
}
METRIC_NAMES = tuple(sorted(_METRIC_ALIASES))
_CLASSIFICATION_METRICS = {"accuracy", "auc", "precision", "recall"}
_REGRESSION_METRICS = {"mean_squared_error", "mean_absolute_error"}


class _SoftmaxHead(MultiClassHead):
    """MultiClassHead that also takes 2 classes (Keras allows a 2-way softmax; TF's head wants > 2)."""

    def __init__(self, n_classes: int) -> None:
        Head.__init__(self)
        self._n_classes = int(n_classes)
        self._label_vocabulary = None


def _shape(t: Any) -> list[int] | str:
    return list(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__


class CompiledModel(nn.Module):
    """A module, its loss, optimizer and metrics as an Estimator model_fn (see :func:`model_to_estimator`).

    Args: as :func:`model_to_estimator`.

    Raises:
        InvalidArgumentError: an unknown loss or metric name, a module with nothing to train, or
            metrics the loss cannot provide.
    """

    def __init__(
        self,
        module: nn.Module,
        loss: str | Head | Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        optimizer: Any = "Adam",
        metrics: Sequence[str] | None = None,
        feature_key: str | None = None,
        from_logits: bool = True,
        learning_rate: float | None = None,
        frozen_batch_norm_inference: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(module, nn.Module):
            raise InvalidArgumentError(f"module must be a torch.nn.Module; received {type(module).__name__}.")
        self.model = module
        self._feature_key = feature_key
        self._from_logits = bool(from_logits)
        self._frozen_bn_inference = frozen_batch_norm_inference
        self._loss_spec: LossSpec | None = None
        self._loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
        self._head: Head | None = None
        if isinstance(loss, Head):
            self._head = loss
        elif isinstance(loss, str):
            self._loss_spec = get_loss(loss)
        elif callable(loss):
            self._loss_fn = loss
        else:
            raise InvalidArgumentError(
                f"loss must be a Keras loss name, a callable loss(labels, outputs) or a Head; received {type(loss).__name__}."
            )
        self._metrics = self._metric_names(metrics)
        trainable = [p for p in module.parameters() if p.requires_grad]
        if not trainable:
            raise InvalidArgumentError(
                "model_to_estimator: every parameter of the module is frozen (requires_grad=False); nothing to train."
            )
        self.optimizer = get_optimizer(optimizer, trainable, learning_rate=learning_rate)
        frozen = {id(p) for p in module.parameters() if not p.requires_grad}
        if any(id(p) in frozen for g in self.optimizer.param_groups for p in g["params"]):
            logger.warning(
                "model_to_estimator: the optimizer given holds frozen parameters; they get no gradient and stay "
                "unchanged, but pass optimizer by name or as a callable to leave them out."
            )

    # ---- configuration ---------------------------------------------------------------------------
    def _metric_names(self, metrics: Sequence[str] | None) -> list[str]:
        if metrics is None:
            return []
        if isinstance(metrics, str):
            metrics = [metrics]
        names: list[str] = []
        for m in metrics:
            key = str(m).lower()
            if key not in _METRIC_ALIASES:
                raise InvalidArgumentError(
                    f"unknown metric {m!r}{did_you_mean(key, METRIC_NAMES)}; valid names: {list(METRIC_NAMES)}."
                )
            name = _METRIC_ALIASES[key]
            kind = self._loss_spec.kind if self._loss_spec else None
            if kind == "regression" and name in _CLASSIFICATION_METRICS:
                raise InvalidArgumentError(
                    f"metric {m!r} needs a classification loss; loss {self._loss_spec.name!r} is a regression."  # type: ignore[union-attr]
                )
            if kind is not None and kind != "regression" and name in _REGRESSION_METRICS:
                raise InvalidArgumentError(
                    f"metric {m!r} needs a regression loss; loss {self._loss_spec.name!r} is a classification."  # type: ignore[union-attr]
                )
            if name not in names:
                names.append(name)
        return names

    def train(self, mode: bool = True) -> CompiledModel:
        """Set train/eval mode; BatchNorm layers whose parameters are all frozen stay in inference mode.

        That is Keras' rule for ``trainable=False`` BatchNormalization: a frozen backbone neither learns
        nor drifts its running statistics (``frozen_batch_norm_inference=False`` turns it off).
        """
        super().train(mode)
        if mode and self._frozen_bn_inference:
            for sub in self.model.modules():
                own = list(sub.parameters(recurse=False))
                if (
                    isinstance(sub, nn.modules.batchnorm._BatchNorm)
                    and own
                    and not any(p.requires_grad for p in own)
                ):
                    sub.eval()
        return self

    # ---- forward ----------------------------------------------------------------------------------
    def _input(self, features: Any) -> Any:
        if not isinstance(features, Mapping):
            return features
        if self._feature_key is not None:
            if self._feature_key not in features:
                raise FeatureError(
                    f"feature_key {self._feature_key!r} is not in the features{did_you_mean(self._feature_key, features)}; "
                    f"features: {sorted(features)}."
                )
            return features[self._feature_key]
        if len(features) == 1:
            return next(iter(features.values()))
        raise FeatureError(
            f"the input_fn yields several features {sorted(features)}; pass feature_key= to say which one the module "
            "takes (or yield a plain tensor)."
        )

    def _build_head(self, outputs: torch.Tensor) -> Head:
        spec = self._loss_spec
        assert spec is not None
        width = outputs.shape[-1]
        if spec.kind in ("sparse_categorical", "categorical"):
            if outputs.dim() != 2 or width < 2:
                raise InvalidArgumentError(
                    f"loss {spec.name!r} needs module outputs of shape (batch, n_classes) with n_classes >= 2; the module "
                    f"returns {list(outputs.shape)}. For one output per example use binary_crossentropy."
                )
            return MultiClassHead(width) if width > 2 else _SoftmaxHead(width)
        if spec.kind == "binary":
            if outputs.dim() != 2:
                raise InvalidArgumentError(
                    f"loss 'binary_crossentropy' needs module outputs of shape (batch, 1) or (batch, n_labels); the module "
                    f"returns {list(outputs.shape)}."
                )
            return BinaryClassHead() if width == 1 else MultiLabelHead(width)
        if outputs.dim() != 2:
            raise InvalidArgumentError(
                f"loss {spec.name!r} needs module outputs of shape (batch, label_dimension); the module returns "
                f"{list(outputs.shape)}."
            )
        loss_fn = None
        if spec.per_element is not None:
            per_element = spec.per_element

            def loss_fn(labels: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
                return per_element(labels, logits)

        return RegressionHead(label_dimension=width, loss_fn=loss_fn)

    def _outputs(self, features: Any) -> torch.Tensor:
        outputs = self.model(self._input(features))
        if not isinstance(outputs, torch.Tensor):
            raise InvalidArgumentError(
                f"the module must return one tensor (batch, ...); it returned {type(outputs).__name__}. Wrap it to "
                "select the output."
            )
        if outputs.dim() == 1:
            outputs = outputs.unsqueeze(-1)  # (B,) -> (B, 1)
        return outputs

    def _logits(self, outputs: torch.Tensor) -> torch.Tensor:
        spec = self._loss_spec
        if self._from_logits or spec is None or spec.kind == "regression":
            return outputs
        if spec.kind == "binary":  # probabilities -> logit, clipped as Keras does
            p = outputs.clamp(KERAS_EPSILON, 1.0 - KERAS_EPSILON)  # (B, K)
            return torch.log(p) - torch.log1p(-p)
        p = outputs / outputs.sum(dim=-1, keepdim=True)  # (B, K) renormalised as Keras does
        return torch.log(p.clamp(KERAS_EPSILON, 1.0 - KERAS_EPSILON))

    def _labels(self, labels: Any, outputs: torch.Tensor) -> torch.Tensor:
        if labels is None:
            raise InputError(
                "labels must not be None in TRAIN and EVAL; the input_fn must yield (features, labels)."
            )
        y = torch.as_tensor(labels, device=outputs.device)
        kind = self._loss_spec.kind if self._loss_spec else None
        name = self._loss_spec.name if self._loss_spec else "the loss"
        batch = outputs.shape[0]
        if kind == "sparse_categorical":
            if y.shape[0] != batch or y.numel() != batch:
                raise InputError(
                    f"labels of shape {list(y.shape)} do not fit module outputs of shape {list(outputs.shape)} for "
                    f"{name!r}: expected class ids of shape [{batch}] or [{batch}, 1]."
                )
            if y.is_floating_point():
                y = y.long()  # Keras casts sparse labels to int
            return y.reshape(batch, 1)
        if kind == "categorical":
            if tuple(y.shape) != tuple(outputs.shape):
                raise InputError(
                    f"labels of shape {list(y.shape)} do not fit module outputs of shape {list(outputs.shape)} for "
                    f"{name!r}: expected one-hot labels of the same shape (or use sparse_categorical_crossentropy)."
                )
            if not bool(((y == 0) | (y == 1)).all() and (y.sum(dim=-1) == 1).all()):
                raise InputError(
                    f"{name!r} labels must be one-hot rows; received other values. For soft labels pass a callable loss."
                )
            return y.argmax(dim=-1, keepdim=True)  # (B, 1)
        if y.dim() == 1 and outputs.shape[-1] == 1:
            y = y.unsqueeze(-1)  # (B,) -> (B, 1)
        if tuple(y.shape) != tuple(outputs.shape):
            raise InputError(
                f"labels of shape {list(y.shape)} do not fit module outputs of shape {list(outputs.shape)} for {name!r}: "
                "expected the same shape."
            )
        return y.float() if not y.is_floating_point() else y

    def _extra_metrics(
        self, predictions: Mapping[str, Any], labels: torch.Tensor, outputs: torch.Tensor
    ) -> dict[str, Metric]:
        out: dict[str, Metric] = {}
        probs = predictions.get("probabilities")
        for name in self._metrics:
            if name in _REGRESSION_METRICS:
                pred = predictions.get("predictions", outputs).detach()
                err = pred - labels.to(pred.dtype).reshape(pred.shape)  # (B, D)
                out[name] = Mean(err**2 if name == "mean_squared_error" else err.abs())
            elif name == "accuracy" and probs is None:
                if outputs.shape[-1] > 1:
                    out[name] = Accuracy(labels.reshape(-1), outputs.detach().argmax(dim=-1))
                else:
                    out[name] = Accuracy(labels.reshape(-1), (outputs.detach() > 0.5).reshape(-1))
            elif name in ("auc", "precision", "recall") and probs is not None and self._loss_spec is not None:
                if self._loss_spec.kind in ("sparse_categorical", "categorical"):
                    # Keras on a softmax output: labels one-hot, every (example, class) pair one sample
                    target = torch.nn.functional.one_hot(labels.reshape(-1).long(), probs.shape[-1])  # (B, K)
                else:
                    target = labels.reshape(probs.shape)
                cls = {"auc": AUC, "precision": Precision, "recall": Recall}[name]
                out[name] = cls(target, probs.detach())
        return out

    def forward(self, features: Any, labels: Any = None, mode: str = ModeKeys.TRAIN) -> EstimatorSpec:
        """The ``EstimatorSpec`` for ``mode`` (predictions, loss, train_op, eval metrics, export outputs)."""
        outputs = self._outputs(features)  # (B, K)
        head_features = features if isinstance(features, Mapping) else None
        if self._loss_fn is not None:
            return self._callable_spec(outputs, labels, mode)
        if self._head is None:
            self._head = self._build_head(outputs)
        logits = self._logits(outputs)
        if mode == ModeKeys.PREDICT:
            return self._head.create_estimator_spec(head_features, mode, logits)
        y = self._labels(labels, outputs) if self._loss_spec is not None else labels
        spec = self._head.create_estimator_spec(head_features, mode, logits, y, optimizer=self.optimizer)
        if mode == ModeKeys.EVAL and self._metrics:
            predictions = self._head.predictions(logits.detach(), None)
            extras = {
                k: v
                for k, v in self._extra_metrics(predictions, y, outputs).items()
                if k not in (spec.eval_metric_ops or {})
            }
            spec = spec.replace(eval_metric_ops={**(spec.eval_metric_ops or {}), **extras})
        return spec

    def _callable_spec(self, outputs: torch.Tensor, labels: Any, mode: str) -> EstimatorSpec:
        predictions = {"predictions": outputs}
        if mode == ModeKeys.PREDICT:
            signature = PredictOutput(predictions)
            return EstimatorSpec(
                mode,
                predictions=predictions,
                export_outputs={DEFAULT_SERVING_KEY: signature, PREDICT_SERVING_KEY: signature},
            )
        if labels is None:
            raise InputError(
                "labels must not be None in TRAIN and EVAL; the input_fn must yield (features, labels)."
            )
        y = torch.as_tensor(labels, device=outputs.device)
        assert self._loss_fn is not None
        value = self._loss_fn(y, outputs)
        if not isinstance(value, torch.Tensor):
            raise InvalidArgumentError(
                f"the loss callable must return a tensor; it returned {type(value).__name__}."
            )
        loss = value.mean()
        if mode == ModeKeys.TRAIN:
            return EstimatorSpec(mode, predictions=predictions, loss=loss, train_op=self.optimizer)
        metrics: dict[str, Metric] = {"average_loss": Mean(value.detach().reshape(-1).double())}
        metrics.update(self._extra_metrics(predictions, y, outputs))
        return EstimatorSpec(mode, predictions=predictions, loss=loss, eval_metric_ops=metrics)


def model_to_estimator(
    module: nn.Module,
    loss: str
    | Head
    | Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = "sparse_categorical_crossentropy",
    optimizer: Any = "Adam",
    metrics: Sequence[str] | None = None,
    model_dir: str | os.PathLike[str] | None = None,
    config: RunConfig | None = None,
    feature_key: str | None = None,
    from_logits: bool = True,
    learning_rate: float | None = None,
    warm_start_from: Any = None,
    frozen_batch_norm_inference: bool = True,
) -> Estimator:
    """Wrap any ``nn.Module`` into an Estimator (``tf.keras.estimator.model_to_estimator`` + Keras ``compile``).

    The module's weights are used as they are: the Estimator's step-0 checkpoint equals them (the
    tensors are named ``model.<key>``). Frozen parameters (``requires_grad=False``) are left out of the
    optimizer and stay unchanged; BatchNorm layers with frozen parameters run in inference mode.

    Args:
        module: the model; ``module(x)`` returns one tensor ``(B, K)`` (``(B,)`` is read as ``(B, 1)``).
        loss: a Keras loss name (see :mod:`torchestimator.losses`: ``'sparse_categorical_crossentropy'``,
            ``'categorical_crossentropy'``, ``'binary_crossentropy'``, ``'mse'``, ``'mae'``, ``'huber'``,
            ``'msle'``), which picks the head for predictions, metrics and exports; a torchestimator
            ``Head`` used as it is (its logits are the module's outputs); or a callable
            ``loss(labels, outputs)`` returning per-example or scalar losses (then predictions are
            ``{"predictions": outputs}`` and the eval metric is its mean, ``average_loss``).
        optimizer: a name for :func:`~torchestimator.optimizers.get_optimizer` (``'Adam'``, ``'SGD'``,
            ``'Adagrad'``, ``'RMSProp'``, ``'Ftrl'``), an Optimizer class, a callable ``fn(params)`` (both
            given the trainable parameters only), or an optimizer instance (used as is).
        metrics: extra metric names (``'accuracy'``, ``'auc'``, ``'precision'``, ``'recall'``, ``'mse'``,
            ``'mae'`` and Keras aliases); the head's own metrics (``accuracy``, ``average_loss``, …) are
            always reported. On a softmax output ``auc``/``precision``/``recall`` treat every
            (example, class) pair as one binary sample, as Keras does.
        model_dir: where checkpoints go (see :class:`~torchestimator.Estimator`).
        config: a :class:`~torchestimator.RunConfig`.
        feature_key: which feature the module takes when ``input_fn`` yields a dict of several; a
            single feature or a plain tensor is taken as it is.
        from_logits: True (default) when the module returns logits; False when it ends in a
            softmax / sigmoid (outputs are clipped to ``[1e-7, 1 - 1e-7]`` and turned into logits, as
            Keras' ``from_logits=False`` losses do). Ignored by regression losses.
        learning_rate: the rate for an optimizer given by name or class (else its default).
        warm_start_from: see :mod:`torchestimator.warm_start` (names are ``model.<key>``).
        frozen_batch_norm_inference: keep BatchNorm layers whose parameters are frozen in inference
            mode during training (Keras' rule for ``trainable=False``).

    Returns:
        The Estimator; ``est.model`` is the :class:`CompiledModel`, ``est.model.model`` the module.

    Raises:
        InvalidArgumentError: an unknown loss or metric name (the valid names are listed), an
            all-frozen module, or (at the first batch) outputs whose shape does not fit the loss.
        InputError: (at a batch) labels whose shape does not fit the outputs.
    """
    compiled = CompiledModel(
        unwrap_compiled(module),  # torch.compile(m): keep its options, drop the `_orig_mod.` key prefix
        loss=loss,
        optimizer=optimizer,
        metrics=metrics,
        feature_key=feature_key,
        from_logits=from_logits,
        learning_rate=learning_rate,
        frozen_batch_norm_inference=frozen_batch_norm_inference,
    )
    return Estimator(compiled, model_dir=model_dir, config=config, warm_start_from=warm_start_from)
