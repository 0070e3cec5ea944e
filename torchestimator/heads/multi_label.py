"""``MultiLabelHead``: independent sigmoid per class, any number of labels per example
(tf.estimator.MultiLabelHead)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from torchestimator.errors import InputError, InvalidArgumentError
from torchestimator.heads import labels as label_utils
from torchestimator.heads.base import Head, LossFn, all_classes, check_label_range, check_prediction_keys
from torchestimator.heads.binary_class import validate_thresholds, validate_vocabulary
from torchestimator.heads.export_output import ClassificationOutput, PredictOutput
from torchestimator.heads.keys import (
    CLASSIFY_SERVING_KEY,
    DEFAULT_SERVING_KEY,
    PREDICT_SERVING_KEY,
    LossReduction,
    MetricKeys,
    PredictionKeys,
)
from torchestimator.metrics import AUC, AUCPrecisionRecall, BinaryAccuracy, Mean, Metric, Precision, Recall
from torchestimator.parsing import Ragged

__all__ = ["MultiLabelHead"]

_KEYS = PredictionKeys


class MultiLabelHead(Head):
    """Multi-label classification (tf.estimator.MultiLabelHead).

    Labels are one of:

    * a multi-hot indicator ``[B, n_classes]`` (tensor / array of 0/1);
    * the label ids or names of each example: a :class:`~torchestimator.parsing.Ragged`, or a list
      of lists (TF's SparseTensor labels) — names need ``label_vocabulary``.

    The loss is sigmoid cross-entropy averaged over classes (``[B, 1]`` per example), then weighted
    and reduced over the batch.

    Args:
        n_classes: number of classes (>= 2).
        weight_column: see :class:`Head`.
        thresholds: thresholds in (0, 1) for ``accuracy|precision|recall/positive_threshold_%g``.
        label_vocabulary: ``n_classes`` class names.
        loss_reduction: ``SUM_OVER_BATCH_SIZE`` (default) or ``SUM``.
        loss_fn: optional per-example loss ``[B, 1]`` from the indicator labels.
        classes_for_class_based_metrics: class ids (or names, with a vocabulary) that get
            ``probability_mean``, ``auc``, ``auc_precision_recall`` per class.
        name: metric-key suffix.

    Raises:
        InvalidArgumentError: bad ``n_classes``, thresholds, vocabulary, or class list.
    """

    def __init__(
        self,
        n_classes: int,
        weight_column: Any = None,
        thresholds: Iterable[float] | None = None,
        label_vocabulary: Sequence[str] | None = None,
        loss_reduction: str = LossReduction.SUM_OVER_BATCH_SIZE,
        loss_fn: LossFn | None = None,
        classes_for_class_based_metrics: Sequence[int | str] | None = None,
        name: str | None = None,
    ) -> None:
        if n_classes is None or int(n_classes) < 2:
            raise InvalidArgumentError(
                f"n_classes must be > 1 for multi-label classification; received {n_classes}."
            )
        super().__init__(weight_column, loss_reduction, loss_fn, name)
        self._n_classes = int(n_classes)
        self._thresholds = validate_thresholds(thresholds)
        self._label_vocabulary = validate_vocabulary(label_vocabulary, self._n_classes)
        self._class_metric_ids = self._resolve_classes(classes_for_class_based_metrics or ())

    def _resolve_classes(self, classes: Sequence[int | str]) -> tuple[int, ...]:
        ids = []
        for c in classes:
            if isinstance(c, str):
                if not self._label_vocabulary or c not in self._label_vocabulary:
                    raise InvalidArgumentError(
                        f"classes_for_class_based_metrics entry {c!r} needs a label_vocabulary containing it; "
                        f"label_vocabulary={self._label_vocabulary}."
                    )
                ids.append(self._label_vocabulary.index(c))
            elif not 0 <= int(c) < self._n_classes:
                raise InvalidArgumentError(
                    f"classes_for_class_based_metrics must be in [0, {self._n_classes - 1}]; received {c}."
                )
            else:
                ids.append(int(c))
        return tuple(ids)

    @property
    def logits_dimension(self) -> int:
        return self._n_classes

    _expected_labels = (
        "a multi-hot indicator of shape [batch, n_classes], or each example's class ids / names as a "
        "list of lists or a Ragged"
    )
    _host_prediction_keys = (_KEYS.CLASSES,)

    def _prediction_keys(self) -> list[str]:
        return [_KEYS.LOGITS, _KEYS.PROBABILITIES, _KEYS.CLASSES]

    def _processed_labels(self, logits: torch.Tensor, labels: Any) -> torch.Tensor:
        if labels is None:
            raise InputError("labels must not be None in TRAIN and EVAL.")
        if isinstance(labels, Mapping):
            label_utils.check_label_structure(labels, self._describe(), self._expected_labels)
        if isinstance(labels, Ragged) or (
            isinstance(labels, list) and labels and isinstance(labels[0], list)
        ):
            return self._indicator_from_rows(logits, labels)
        if self._label_vocabulary is not None and label_utils.is_string_labels(labels):
            raise InputError(
                "string labels for MultiLabelHead must be given per example as a list of lists or a Ragged "
                "of class names, e.g. [['a', 'c'], ['b']]."
            )
        indicator = label_utils.to_label_tensor(labels, logits.device)
        indicator = label_utils.reshape_labels_like_logits(
            indicator, logits, self._n_classes, self._describe()
        )
        check_label_range(indicator, 2, "labels must be an indicator tensor with values in [0, 1]")
        return indicator.long()  # (B, n)

    def _indicator_from_rows(self, logits: torch.Tensor, labels: Any) -> torch.Tensor:
        ragged = labels if isinstance(labels, Ragged) else Ragged.from_rows(labels)
        batch = len(ragged.row_splits) - 1
        if batch != logits.shape[0]:
            raise InvalidArgumentError(
                f"{self._describe()} got labels for {batch} examples but logits for {logits.shape[0]}; "
                "give one row of class ids per example."
            )
        values = ragged.values
        if label_utils.is_string_labels(values) or (values.dtype.kind == "O" and values.size):
            if self._label_vocabulary is None:
                raise InputError("string labels need label_vocabulary=[...] listing the class names.")
            ids = label_utils.label_ids_from_vocabulary(
                values, self._label_vocabulary, torch.device("cpu")
            ).numpy()
        else:
            ids = np.asarray(values, dtype=np.int64)
            if ids.size and (ids.min() < 0 or ids.max() >= self._n_classes):
                raise InputError(
                    f"labels must be class ids in [0, {self._n_classes}); received values in "
                    f"[{ids.min()}, {ids.max()}]."
                )
        rows = np.repeat(np.arange(batch), np.diff(ragged.row_splits))
        indicator = np.zeros((batch, self._n_classes), dtype=np.int64)
        indicator[rows, ids] = 1
        return torch.from_numpy(indicator).to(logits.device)  # (B, n)

    def _default_unweighted_loss(self, labels: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        per_class = F.binary_cross_entropy_with_logits(
            logits, labels.to(logits.dtype), reduction="none"
        )  # (B, n)
        return per_class.mean(dim=-1, keepdim=True)  # (B, 1)

    def predictions(self, logits: torch.Tensor, keys: Sequence[str] | None = None) -> dict[Any, Any]:
        """Predictions: logits, probabilities (sigmoid, ``[B, n]``), classes (bytes ``[B, n]``)."""
        valid = self._prediction_keys()
        keys = check_prediction_keys(keys, valid)
        logits = label_utils.as_float_logits(logits, self._n_classes)
        out: dict[Any, Any] = {}
        if _KEYS.LOGITS in keys:
            out[_KEYS.LOGITS] = logits
        if _KEYS.PROBABILITIES in keys:
            out[_KEYS.PROBABILITIES] = torch.sigmoid(logits)
        if _KEYS.CLASSES in keys:
            out[_KEYS.CLASSES] = all_classes(logits, self._n_classes, self._label_vocabulary)
        return out

    def metrics(
        self,
        features: Mapping[str, Any] | None,
        logits: torch.Tensor,
        labels: Any,
        regularization_losses: Sequence[torch.Tensor] | None = None,
    ) -> dict[str, Metric]:
        """average_loss, auc, auc_precision_recall, per-threshold and per-class metrics."""
        logits = label_utils.as_float_logits(logits, self._n_classes).detach()
        indicator = self._processed_labels(logits, labels)  # (B, n)
        weights = self._weights(features, logits)  # (B, 1) or None
        loss = self._unweighted_loss(indicator, logits, features).detach()
        probs = torch.sigmoid(logits)  # (B, n)
        key = self._summary_key
        out: dict[str, Metric] = {
            key(MetricKeys.LOSS_MEAN): Mean(loss, weights),
            key(MetricKeys.AUC): AUC(indicator, probs, weights),
            key(MetricKeys.AUC_PR): AUCPrecisionRecall(indicator, probs, weights),
        }
        out.update(self._regularization_metric(regularization_losses))
        for t in self._thresholds:
            out[key(MetricKeys.ACCURACY_AT_THRESHOLD % t)] = BinaryAccuracy(indicator, probs, weights, t)
            out[key(MetricKeys.PRECISION_AT_THRESHOLD % t)] = Precision(indicator, probs, weights, t)
            out[key(MetricKeys.RECALL_AT_THRESHOLD % t)] = Recall(indicator, probs, weights, t)
        for class_id in self._class_metric_ids:
            if self._label_vocabulary is None:
                names = (
                    MetricKeys.PROBABILITY_MEAN_AT_CLASS % class_id,
                    MetricKeys.AUC_AT_CLASS % class_id,
                    MetricKeys.AUC_PR_AT_CLASS % class_id,
                )
            else:
                label = self._label_vocabulary[class_id]
                names = (
                    MetricKeys.PROBABILITY_MEAN_AT_NAME % label,
                    MetricKeys.AUC_AT_NAME % label,
                    MetricKeys.AUC_PR_AT_NAME % label,
                )
            p, y = probs[..., class_id : class_id + 1], indicator[..., class_id : class_id + 1]  # (B, 1)
            out[key(names[0])] = Mean(p, weights)
            out[key(names[1])] = AUC(y, p, weights)
            out[key(names[2])] = AUCPrecisionRecall(y, p, weights)
        return out

    def _export_outputs(self, predictions: dict[Any, Any]) -> dict[str, Any]:
        classification = ClassificationOutput(
            scores=predictions[_KEYS.PROBABILITIES], classes=predictions[_KEYS.CLASSES]
        )
        return {
            DEFAULT_SERVING_KEY: classification,
            CLASSIFY_SERVING_KEY: classification,
            PREDICT_SERVING_KEY: PredictOutput(predictions),
        }
