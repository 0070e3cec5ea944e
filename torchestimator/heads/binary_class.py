"""``BinaryClassHead``: sigmoid cross-entropy on one logit (tf.estimator.BinaryClassHead)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from torchestimator.errors import InvalidArgumentError
from torchestimator.heads import labels as label_utils
from torchestimator.heads.base import (
    Head,
    LossFn,
    all_class_ids,
    all_classes,
    check_label_range,
    check_prediction_keys,
    class_strings,
)
from torchestimator.heads.export_output import ClassificationOutput, PredictOutput, RegressionOutput
from torchestimator.heads.keys import (
    CLASSIFY_SERVING_KEY,
    DEFAULT_SERVING_KEY,
    PREDICT_SERVING_KEY,
    REGRESS_SERVING_KEY,
    LossReduction,
    MetricKeys,
    PredictionKeys,
)
from torchestimator.metrics import (
    AUC,
    Accuracy,
    AccuracyBaseline,
    AUCPrecisionRecall,
    BinaryAccuracy,
    Mean,
    Metric,
    Precision,
    Recall,
)

__all__ = ["BinaryClassHead", "validate_thresholds", "validate_vocabulary"]

_KEYS = PredictionKeys


def validate_thresholds(thresholds: Iterable[float] | None) -> tuple[float, ...]:
    """Thresholds as a tuple, each strictly inside (0, 1).

    Raises:
        InvalidArgumentError: a threshold outside (0, 1).
    """
    values = tuple(float(t) for t in thresholds) if thresholds else ()
    bad = [t for t in values if not 0.0 < t < 1.0]
    if bad:
        raise InvalidArgumentError(f"thresholds must each be in the open interval (0, 1); received {bad}.")
    return values


def validate_vocabulary(label_vocabulary: Any, n_classes: int | None = None) -> tuple[str, ...] | None:
    """``label_vocabulary`` as a tuple of str (bytes decoded), checked against ``n_classes``.

    Raises:
        InvalidArgumentError: not a list/tuple, duplicates, or a length other than ``n_classes``.
    """
    if label_vocabulary is None:
        return None
    if not isinstance(label_vocabulary, (list, tuple)):
        raise InvalidArgumentError(
            f"label_vocabulary must be a list or tuple of strings; received {type(label_vocabulary).__name__}."
        )
    vocab = tuple(v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in label_vocabulary)
    if len(set(vocab)) != len(vocab):
        raise InvalidArgumentError(f"label_vocabulary has duplicate entries: {list(vocab)}.")
    if n_classes is not None and len(vocab) != n_classes:
        raise InvalidArgumentError(
            f"label_vocabulary must have n_classes={n_classes} entries; received {len(vocab)}: {list(vocab)}."
        )
    return vocab


class BinaryClassHead(Head):
    """Single-label binary classification with sigmoid cross-entropy (tf.estimator.BinaryClassHead).

    Logits are ``[B, 1]``; labels ``[B]`` or ``[B, 1]``: floats in [0, 1], or strings from
    ``label_vocabulary`` (2 names; the second is the positive class).

    Args:
        weight_column: see :class:`Head`.
        thresholds: extra decision thresholds in (0, 1); each adds
            ``accuracy|precision|recall/positive_threshold_%g`` metrics.
        label_vocabulary: the two class names, or None for 0/1 labels.
        loss_reduction: ``SUM_OVER_BATCH_SIZE`` (default) or ``SUM``.
        loss_fn: optional custom per-example loss ``[B, 1]``.
        name: metric-key suffix.

    Example:
        >>> import torch
        >>> head = BinaryClassHead()
        >>> logits = torch.tensor([[45.0], [-41.0]])
        >>> round(float(head.loss(torch.tensor([[1], [1]]), logits)), 2)
        20.5
    """

    def __init__(
        self,
        weight_column: Any = None,
        thresholds: Iterable[float] | None = None,
        label_vocabulary: Sequence[str] | None = None,
        loss_reduction: str = LossReduction.SUM_OVER_BATCH_SIZE,
        loss_fn: LossFn | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(weight_column, loss_reduction, loss_fn, name)
        self._label_vocabulary = validate_vocabulary(
            label_vocabulary, 2 if label_vocabulary is not None else None
        )
        self._thresholds = validate_thresholds(thresholds)

    @property
    def logits_dimension(self) -> int:
        return 1

    _host_prediction_keys = (_KEYS.CLASSES, _KEYS.ALL_CLASSES)

    def _prediction_keys(self) -> list[str]:
        return [
            _KEYS.LOGITS,
            _KEYS.LOGISTIC,
            _KEYS.PROBABILITIES,
            _KEYS.CLASS_IDS,
            _KEYS.CLASSES,
            _KEYS.ALL_CLASS_IDS,
            _KEYS.ALL_CLASSES,
        ]

    def _processed_labels(self, logits: torch.Tensor, labels: Any) -> torch.Tensor:
        if self._label_vocabulary is not None:
            label_utils.check_label_structure(labels, self._describe(), self._expected_labels)
            ids = label_utils.label_ids_from_vocabulary(labels, self._label_vocabulary, logits.device)
        else:
            ids = self._label_tensor(labels, logits.device)
        ids = label_utils.reshape_labels_like_logits(ids, logits, 1, self._describe()).to(
            torch.float32
        )  # (B, 1)
        return check_label_range(ids, 2)

    def _default_unweighted_loss(self, labels: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), reduction="none")  # (B, 1)

    def predictions(self, logits: torch.Tensor, keys: Sequence[str] | None = None) -> dict[Any, Any]:
        """Predictions: logits, logistic, probabilities ``[1-p, p]``, class_ids (int64), classes (bytes),
        all_class_ids (int32), all_classes (bytes).

        Raises:
            InvalidArgumentError: an unknown key.
        """
        valid = self._prediction_keys()
        keys = check_prediction_keys(keys, valid)
        logits = label_utils.as_float_logits(logits, 1)
        out: dict[Any, Any] = {}
        if _KEYS.LOGITS in keys:
            out[_KEYS.LOGITS] = logits
        if _KEYS.LOGISTIC in keys:
            out[_KEYS.LOGISTIC] = torch.sigmoid(logits)  # (B, 1)
        two_class_logits = torch.cat([torch.zeros_like(logits), logits], dim=-1)  # (B, 2)
        if _KEYS.PROBABILITIES in keys:
            out[_KEYS.PROBABILITIES] = torch.softmax(two_class_logits, dim=-1)  # (B, 2)
        if _KEYS.CLASS_IDS in keys or _KEYS.CLASSES in keys:
            class_ids = torch.argmax(two_class_logits, dim=-1, keepdim=True)  # (B, 1) int64
            if _KEYS.CLASS_IDS in keys:
                out[_KEYS.CLASS_IDS] = class_ids
            if _KEYS.CLASSES in keys:
                out[_KEYS.CLASSES] = class_strings(class_ids, 2, self._label_vocabulary)  # (B, 1) bytes
        if _KEYS.ALL_CLASS_IDS in keys:
            out[_KEYS.ALL_CLASS_IDS] = all_class_ids(logits, 2)
        if _KEYS.ALL_CLASSES in keys:
            out[_KEYS.ALL_CLASSES] = all_classes(logits, 2, self._label_vocabulary)
        return {k: out[k] for k in valid if k in out}

    def metrics(
        self,
        features: Mapping[str, Any] | None,
        logits: torch.Tensor,
        labels: Any,
        regularization_losses: Sequence[torch.Tensor] | None = None,
    ) -> dict[str, Metric]:
        """average_loss, accuracy, precision, recall, prediction/mean, label/mean, accuracy_baseline,
        auc, auc_precision_recall (+ regularization_loss, + per-threshold metrics)."""
        logits = label_utils.as_float_logits(logits, 1).detach()
        labels_t = self._processed_labels(logits, labels)  # (B, 1)
        weights = self._weights(features, logits)
        loss = self._unweighted_loss(labels_t, logits, features).detach()
        preds = self.predictions(logits, [_KEYS.LOGISTIC, _KEYS.CLASS_IDS])
        logistic, class_ids = preds[_KEYS.LOGISTIC], preds[_KEYS.CLASS_IDS]
        key = self._summary_key
        out: dict[str, Metric] = {
            key(MetricKeys.LOSS_MEAN): Mean(loss, weights),
            key(MetricKeys.ACCURACY): Accuracy(labels_t, class_ids, weights),
            key(MetricKeys.PRECISION): Precision(labels_t, class_ids, weights),
            key(MetricKeys.RECALL): Recall(labels_t, class_ids, weights),
            key(MetricKeys.PREDICTION_MEAN): Mean(logistic, weights),
            key(MetricKeys.LABEL_MEAN): Mean(labels_t, weights),
            key(MetricKeys.ACCURACY_BASELINE): AccuracyBaseline(labels_t, weights),
            key(MetricKeys.AUC): AUC(labels_t, logistic, weights),
            key(MetricKeys.AUC_PR): AUCPrecisionRecall(labels_t, logistic, weights),
        }
        out.update(self._regularization_metric(regularization_losses))
        for t in self._thresholds:
            out[key(MetricKeys.ACCURACY_AT_THRESHOLD % t)] = BinaryAccuracy(labels_t, logistic, weights, t)
            out[key(MetricKeys.PRECISION_AT_THRESHOLD % t)] = Precision(labels_t, logistic, weights, t)
            out[key(MetricKeys.RECALL_AT_THRESHOLD % t)] = Recall(labels_t, logistic, weights, t)
        return out

    def _export_outputs(self, predictions: dict[Any, Any]) -> dict[str, Any]:
        classification = ClassificationOutput(
            scores=predictions[_KEYS.PROBABILITIES],
            classes=all_classes(predictions[_KEYS.LOGITS], 2, self._label_vocabulary),
        )
        return {
            DEFAULT_SERVING_KEY: classification,
            CLASSIFY_SERVING_KEY: classification,
            REGRESS_SERVING_KEY: RegressionOutput(predictions[_KEYS.LOGISTIC]),
            PREDICT_SERVING_KEY: PredictOutput(predictions),
        }
