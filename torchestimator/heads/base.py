"""The ``Head`` base: loss, predictions, metrics and the EstimatorSpec for one kind of label.

A head turns a model's logits into everything the Estimator needs (tf.estimator.Head)::

    logits (B, logits_dimension) ──► predictions(logits)               dict, TF's keys and dtypes
           + labels, features    ──► loss(labels, logits, features)    scalar, weighted and reduced
                                 ──► metrics(features, logits, labels) dict[str, Metric] for one batch
                                 ──► create_estimator_spec(...)        EstimatorSpec per mode

Metrics are additive (:mod:`torchestimator.metrics`): ``metrics`` returns one batch's
contribution and the eval loop sums them, so ``update_metrics(totals, ...)`` is
``accumulate(totals, metrics(...))``.

Subclasses set ``logits_dimension`` and implement ``_processed_labels``, ``_default_unweighted_loss``,
``predictions``, ``metrics`` and ``_export_outputs``.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from torchestimator.errors import InputError, InvalidArgumentError
from torchestimator.heads import labels as label_utils
from torchestimator.heads.keys import LossReduction, MetricKeys
from torchestimator.heads.lazy_predictions import LazyPredictions
from torchestimator.metrics.base import Mean, Metric, accumulate
from torchestimator.spec import EstimatorSpec, ModeKeys

__all__ = [
    "Head",
    "add_n",
    "all_class_ids",
    "all_classes",
    "check_label_range",
    "check_prediction_keys",
    "class_strings",
    "numeric_predictions_only",
    "resolve_train_op",
    "string_predictions_enabled",
]

LossFn = Callable[..., torch.Tensor]

_NUMERIC_ONLY: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "torchestimator_numeric_predictions_only", default=False
)


@contextlib.contextmanager
def numeric_predictions_only() -> Iterator[None]:
    """Within this block heads emit numeric predictions only (used while tracing for export).

    The string predictions ``classes`` / ``all_classes`` (and a ClassificationOutput's ``classes``)
    are host copies (numpy ``bytes``) that no traced graph can carry: inside this block
    :func:`class_strings` and :func:`all_classes` return ``None`` instead of touching the host, and
    the exporter builds those outputs itself from the class names (``classes[i] = names[class_ids[i]]``).

    Example:
        >>> with numeric_predictions_only():
        ...     all_classes(torch.zeros(2, 3), 3, None) is None
        True
    """
    token = _NUMERIC_ONLY.set(True)
    try:
        yield
    finally:
        _NUMERIC_ONLY.reset(token)


def string_predictions_enabled() -> bool:
    """False inside :func:`numeric_predictions_only`."""
    return not _NUMERIC_ONLY.get()


def _validate_loss_fn(loss_fn: LossFn) -> None:
    try:
        params = set(inspect.signature(loss_fn).parameters)
    except (TypeError, ValueError):
        return
    missing = [p for p in ("labels", "logits") if p not in params]
    extra = sorted(params - {"labels", "logits", "features", "loss_reduction", "self"})
    if missing or extra:
        raise InvalidArgumentError(
            "loss_fn must take (labels, logits) and optionally (features, loss_reduction); received "
            f"arguments {sorted(params)} (missing {missing}, unexpected {extra})."
        )


def all_class_ids(logits: torch.Tensor, n_classes: int) -> torch.Tensor:
    """``[[0, 1, ..., n-1]] * B`` as int32 (TF's ``all_class_ids``)."""
    ids = torch.arange(n_classes, dtype=torch.int32, device=logits.device)  # (n,)
    return ids.expand(*logits.shape[:-1], n_classes).clone()  # (B, n)


def all_classes(
    logits: torch.Tensor, n_classes: int, label_vocabulary: Sequence[str] | None
) -> np.ndarray | None:
    """Class names as a numpy object array of ``bytes`` ``[B, n]`` (TF's ``all_classes``).

    ``None`` inside :func:`numeric_predictions_only`.
    """
    if _NUMERIC_ONLY.get():
        return None
    names = _class_names_bytes(n_classes, label_vocabulary)
    return np.tile(names, (*logits.shape[:-1], 1))


def _class_names_bytes(n_classes: int, label_vocabulary: Sequence[str] | None) -> np.ndarray:
    if label_vocabulary:
        names = [v if isinstance(v, bytes) else str(v).encode("utf-8") for v in label_vocabulary]
    else:
        names = [str(i).encode("utf-8") for i in range(n_classes)]
    out = np.empty(len(names), dtype=object)
    out[:] = names
    return out


def class_strings(
    class_ids: torch.Tensor, n_classes: int, label_vocabulary: Sequence[str] | None
) -> np.ndarray | None:
    """Map int class ids ``[B, 1]`` to their names: numpy object array of ``bytes`` (host copy).

    ``None`` inside :func:`numeric_predictions_only`.
    """
    if _NUMERIC_ONLY.get():
        return None
    names = _class_names_bytes(n_classes, label_vocabulary)
    return names[class_ids.detach().cpu().numpy()]


class Head:
    """Base of every head (tf.estimator.Head).

    Args:
        weight_column: ``None``, a feature key, or a numeric column (``.key``, optional ``.normalizer_fn``)
            whose value multiplies each example's loss.
        loss_reduction: :class:`LossReduction` ``SUM_OVER_BATCH_SIZE`` (default) or ``SUM``.
        loss_fn: optional ``loss_fn(labels, logits[, features, loss_reduction])`` returning the
            unweighted per-example loss ``[B, loss_dim]``.
        name: suffixes every metric key with ``/name``; required by :class:`MultiHead`.

    Raises:
        InvalidArgumentError: a bad ``loss_reduction`` or ``loss_fn`` signature.
    """

    _loss_dimension = 1  # last dim of the unweighted loss: 1, or label_dimension for regression

    def __init__(
        self,
        weight_column: Any = None,
        loss_reduction: str = LossReduction.SUM_OVER_BATCH_SIZE,
        loss_fn: LossFn | None = None,
        name: str | None = None,
    ) -> None:
        LossReduction.validate_for_head(loss_reduction)
        if loss_fn is not None:
            _validate_loss_fn(loss_fn)
        self._weight_column = weight_column
        self._loss_reduction = loss_reduction
        self._loss_fn = loss_fn
        self._name = name

    # -- properties --------------------------------------------------------------------------------
    @property
    def name(self) -> str | None:
        """The head's name (suffix of metric keys), or None."""
        return self._name

    @property
    def logits_dimension(self) -> int:
        """Size of the last dimension of the logits this head expects."""
        raise NotImplementedError

    @property
    def loss_reduction(self) -> str:
        """The :class:`LossReduction` used by :meth:`loss`."""
        return self._loss_reduction

    @property
    def weight_column(self) -> Any:
        """The ``weight_column`` this head was given (a feature key, a numeric column, or None)."""
        return self._weight_column

    def device_prediction_keys(self) -> list[str]:
        """The prediction keys computed on the device (all but the string-valued ones built on the host)."""
        return [k for k in self._prediction_keys() if k not in self._host_prediction_keys]

    def export_outputs(self, predictions: dict[Any, Any]) -> dict[str, Any]:
        """The serving signatures (TF's ``export_outputs``) that serve ``predictions``."""
        return self._export_outputs(predictions)

    def _summary_key(self, key: str) -> str:
        return f"{key}/{self._name}" if self._name else key

    # what the head accepts as labels, for error messages
    _expected_labels = "one tensor or array of shape [batch] or [batch, 1]"

    def _describe(self) -> str:
        """The head as error messages name it: ``BinaryClassHead`` or ``BinaryClassHead 'ctr'``."""
        return type(self).__name__ + (f" {self._name!r}" if self._name else "")

    def _label_tensor(self, labels: Any, device: torch.device) -> torch.Tensor:
        """Numeric labels as a tensor on ``device``, after refusing a wrong structure (a dict, ragged rows)."""
        label_utils.check_label_structure(labels, self._describe(), self._expected_labels)
        return label_utils.to_label_tensor(labels, device)

    # -- hooks for subclasses ------------------------------------------------------------------------
    def _processed_labels(self, logits: torch.Tensor, labels: Any) -> torch.Tensor:
        """Labels as a tensor shaped like the loss input, on the logits' device."""
        raise NotImplementedError

    def _default_unweighted_loss(self, labels: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _export_outputs(self, predictions: dict[Any, Any]) -> dict[str, Any]:
        raise NotImplementedError

    _allow_per_logit_weights = False

    # -- loss --------------------------------------------------------------------------------------
    def _weights(self, features: Mapping[str, Any] | None, logits: torch.Tensor) -> torch.Tensor | None:
        return label_utils.weights_from_features(
            features, self._weight_column, logits, allow_per_logit_weights=self._allow_per_logit_weights
        )

    def _unweighted_loss(
        self, labels: torch.Tensor, logits: torch.Tensor, features: Mapping[str, Any] | None
    ) -> torch.Tensor:
        if self._loss_fn is None:
            return self._default_unweighted_loss(labels, logits)
        params = _parameters(self._loss_fn)
        kwargs: dict[str, Any] = {}
        if "features" in params:
            kwargs["features"] = features
        if "loss_reduction" in params:
            kwargs["loss_reduction"] = self._loss_reduction
        loss = self._loss_fn(labels=labels, logits=logits, **kwargs)
        expected = (*logits.shape[:-1], self._loss_dimension)
        if not isinstance(loss, torch.Tensor) or tuple(loss.shape) != expected:
            shape = list(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
            raise InvalidArgumentError(
                f"loss_fn must return a tensor of shape [D0, ..., DN, {self._loss_dimension}] = {list(expected)} "
                f"(the unweighted per-example loss); received {shape}."
            )
        return loss

    def _reduce(self, unweighted_loss: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
        weighted = unweighted_loss if weights is None else unweighted_loss * weights  # (B, d)
        total = weighted.sum()
        if self._loss_reduction == LossReduction.SUM_OVER_BATCH_SIZE:
            return total / max(unweighted_loss.numel(), 1)
        return total

    def loss(
        self,
        labels: Any,
        logits: torch.Tensor,
        features: Mapping[str, Any] | None = None,
        mode: str | None = None,
        regularization_losses: Sequence[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """The regularized training loss: reduced weighted loss plus the sum of ``regularization_losses``.

        Args:
            labels: the batch's labels (tensor, numpy array, or strings with a vocabulary).
            logits: ``[B, logits_dimension]``.
            features: the batch's features (for ``weight_column``).
            mode: unused (TF signature).
            regularization_losses: scalar tensors added to the loss.

        Returns:
            A scalar tensor.
        """
        del mode
        logits = label_utils.as_float_logits(logits, self.logits_dimension)
        processed = self._processed_labels(logits, labels)
        unweighted = self._unweighted_loss(processed, logits, features)
        training_loss = self._reduce(unweighted, self._weights(features, logits))
        if regularization_losses:
            training_loss = training_loss + add_n(regularization_losses)
        return training_loss

    # -- predictions and metrics ---------------------------------------------------------------------
    def predictions(self, logits: torch.Tensor, keys: Sequence[str] | None = None) -> dict[Any, Any]:
        """Predictions for ``logits`` under TF's :class:`PredictionKeys` (all valid keys by default)."""
        raise NotImplementedError

    def metrics(
        self,
        features: Mapping[str, Any] | None,
        logits: torch.Tensor,
        labels: Any,
        regularization_losses: Sequence[torch.Tensor] | None = None,
    ) -> dict[str, Metric]:
        """One batch's eval metrics, keyed by TF's metric names (suffixed ``/name`` if named)."""
        raise NotImplementedError

    def update_metrics(
        self,
        eval_metrics: dict[str, Metric],
        features: Mapping[str, Any] | None,
        logits: torch.Tensor,
        labels: Any,
        regularization_losses: Sequence[torch.Tensor] | None = None,
    ) -> dict[str, Metric]:
        """Add this batch's metrics into ``eval_metrics`` (in place) and return it."""
        return accumulate(eval_metrics, self.metrics(features, logits, labels, regularization_losses))

    def _regularization_metric(
        self, regularization_losses: Sequence[torch.Tensor] | None
    ) -> dict[str, Metric]:
        if not regularization_losses:
            return {}
        return {
            self._summary_key(MetricKeys.LOSS_REGULARIZATION): Mean(add_n(regularization_losses).detach())
        }

    # -- spec --------------------------------------------------------------------------------------
    _host_prediction_keys: tuple[str, ...] = ()  # string-valued keys; computed only in PREDICT

    def create_estimator_spec(
        self,
        features: Mapping[str, Any] | None,
        mode: str,
        logits: torch.Tensor,
        labels: Any = None,
        optimizer: Any = None,
        train_op_fn: Callable[[torch.Tensor], Any] | None = None,
        regularization_losses: Sequence[torch.Tensor] | None = None,
    ) -> EstimatorSpec:
        """The :class:`EstimatorSpec` for ``mode``.

        TRAIN: ``loss`` and ``train_op`` (``optimizer``: an optimizer or a list/dict of them, stepped by
        the loop; or ``train_op_fn``: a callable taking the loss, given to the loop as the train op).
        EVAL: ``loss`` and ``eval_metric_ops`` (the Estimator adds ``loss`` and ``global_step``).
        PREDICT: ``predictions`` and ``export_outputs``. In TRAIN/EVAL the string-valued prediction
        keys (``classes``, ``all_classes``) are left out so no step copies class ids to the host; in
        TRAIN the predictions are a :class:`LazyPredictions`, computed only if something reads them.

        Raises:
            InvalidArgumentError: in TRAIN, both or neither of ``optimizer`` and ``train_op_fn``.
        """
        ModeKeys.validate(mode)
        if mode == ModeKeys.PREDICT:
            predictions = self.predictions(logits)
            return EstimatorSpec(
                mode, predictions=predictions, export_outputs=self._export_outputs(predictions)
            )
        device_keys = self.device_prediction_keys()
        loss = self.loss(labels, logits, features, mode, regularization_losses)
        if mode == ModeKeys.EVAL:
            predictions = self.predictions(logits, device_keys)
            eval_metric_ops = self.metrics(features, logits, labels, regularization_losses)
            return EstimatorSpec(mode, predictions=predictions, loss=loss, eval_metric_ops=eval_metric_ops)
        # TRAIN: computed only if a hook reads them (TF runs prediction ops only when fetched)
        lazy = LazyPredictions(device_keys, lambda: self.predictions(logits, device_keys))
        return EstimatorSpec(
            mode, predictions=lazy, loss=loss, train_op=resolve_train_op(optimizer, train_op_fn)
        )

    def _prediction_keys(self) -> list[str]:
        """The prediction keys this head produces (TF's ``valid_keys``)."""
        raise NotImplementedError


def resolve_train_op(optimizer: Any, train_op_fn: Callable[[torch.Tensor], Any] | None) -> Any:
    """The spec's ``train_op``: ``optimizer`` or ``train_op_fn`` (exactly one of them must be given)."""
    if optimizer is not None and train_op_fn is not None:
        raise InvalidArgumentError("train_op_fn and optimizer cannot both be set; pass one of them.")
    if optimizer is None and train_op_fn is None:
        raise InvalidArgumentError(
            "mode 'train' needs an optimizer (a torch.optim.Optimizer or a list/dict of them) or a "
            "train_op_fn(loss); received neither."
        )
    return optimizer if optimizer is not None else train_op_fn


def add_n(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """The sum of a non-empty list of tensors (tf.add_n)."""
    total = tensors[0]
    for t in tensors[1:]:
        total = total + t
    return total


def _parameters(fn: Callable[..., Any]) -> set[str]:
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return set()


def check_label_range(labels: torch.Tensor, n_classes: int, message: str | None = None) -> torch.Tensor:
    """Raise if a label is outside ``[0, n_classes - 1]``.

    Checked only for labels on the CPU: on an accelerator the check would force a host sync on
    every step, and an out-of-range id fails loudly in the loss anyway.

    Raises:
        InputError: a label out of range.
    """
    if labels.device.type != "cpu" or labels.numel() == 0:
        return labels
    low, high = float(labels.min()), float(labels.max())
    if low < 0 or high > n_classes - 1:
        raise InputError(
            (message or f"labels must be in [0, {n_classes - 1}] (n_classes={n_classes})")
            + f"; received values in [{low:g}, {high:g}]."
        )
    return labels


def check_prediction_keys(keys: Sequence[str] | None, valid: Sequence[str]) -> list[str]:
    """``keys`` (all of ``valid`` when empty), each checked against ``valid``.

    Raises:
        InvalidArgumentError: an unknown key.
    """
    if not keys:
        return list(valid)
    bad = [k for k in keys if k not in valid]
    if bad:
        raise InvalidArgumentError(f"prediction keys must be in {list(valid)}; received unknown {bad}.")
    return list(keys)
