"""``MultiClassHead``: softmax cross-entropy over ``n_classes`` logits (tf.estimator.MultiClassHead)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from torchestimator.errors import InputError, InvalidArgumentError
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
from torchestimator.heads.binary_class import validate_vocabulary
from torchestimator.heads.export_output import ClassificationOutput, PredictOutput
from torchestimator.heads.keys import (
    CLASSIFY_SERVING_KEY,
    DEFAULT_SERVING_KEY,
    PREDICT_SERVING_KEY,
    LossReduction,
    MetricKeys,
    PredictionKeys,
)
from torchestimator.metrics import Accuracy, Mean, Metric

__all__ = ["MultiClassHead"]

_KEYS = PredictionKeys


class MultiClassHead(Head):
    """Single-label multi-class classification (tf.estimator.MultiClassHead).

    Logits are ``[B, n_classes]``; labels ``[B]`` or ``[B, 1]`` integer ids in ``[0, n_classes)``,
    or strings from ``label_vocabulary``.

    Args:
        n_classes: number of classes (> 2; use :class:`BinaryClassHead` for 2).
        weight_column: see :class:`Head`.
        label_vocabulary: ``n_classes`` class names, or None for integer labels.
        loss_reduction: ``SUM_OVER_BATCH_SIZE`` (default) or ``SUM``.
        loss_fn: optional custom per-example loss ``[B, 1]``.
        name: metric-key suffix.

    Raises:
        InvalidArgumentError: ``n_classes`` <= 2, or a vocabulary of the wrong length.

    Example:
        >>> import torch
        >>> head = MultiClassHead(3)
        >>> head.predictions(torch.tensor([[0.0, 2.0, 1.0]]))["class_ids"].tolist()
        [[1]]
    """

    def __init__(
        self,
        n_classes: int,
        weight_column: Any = None,
        label_vocabulary: Sequence[str] | None = None,
        loss_reduction: str = LossReduction.SUM_OVER_BATCH_SIZE,
        loss_fn: LossFn | None = None,
        name: str | None = None,
    ) -> None:
        if n_classes is None or int(n_classes) <= 2:
            raise InvalidArgumentError(
                f"n_classes must be > 2 for MultiClassHead; received {n_classes}. Use BinaryClassHead for 2 classes."
            )
        super().__init__(weight_column, loss_reduction, loss_fn, name)
        self._n_classes = int(n_classes)
        self._label_vocabulary = validate_vocabulary(label_vocabulary, self._n_classes)

    @property
    def logits_dimension(self) -> int:
        return self._n_classes

    _host_prediction_keys = (_KEYS.CLASSES, _KEYS.ALL_CLASSES)

    def _prediction_keys(self) -> list[str]:
        return [
            _KEYS.LOGITS,
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
            if ids.is_floating_point() or ids.dtype == torch.bool:
                raise InputError(
                    f"MultiClassHead labels must be integer class ids; received dtype {ids.dtype}. Cast them "
                    "to int64, or set label_vocabulary for string labels."
                )
        ids = label_utils.reshape_labels_like_logits(ids.long(), logits, 1, self._describe())  # (B, 1)
        return check_label_range(ids, self._n_classes)

    def _default_unweighted_loss(self, labels: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        flat = F.cross_entropy(
            logits.reshape(-1, self._n_classes), labels.reshape(-1), reduction="none"
        )  # (N,)
        return flat.reshape(labels.shape).to(logits.dtype)  # (B, 1)

    def predictions(self, logits: torch.Tensor, keys: Sequence[str] | None = None) -> dict[Any, Any]:
        """Predictions: logits, probabilities (softmax), class_ids (int64 ``[B, 1]``), classes (bytes),
        all_class_ids (int32 ``[B, n]``), all_classes (bytes ``[B, n]``)."""
        valid = self._prediction_keys()
        keys = check_prediction_keys(keys, valid)
        logits = label_utils.as_float_logits(logits, self._n_classes)
        out: dict[Any, Any] = {}
        if _KEYS.LOGITS in keys:
            out[_KEYS.LOGITS] = logits
        if _KEYS.PROBABILITIES in keys:
            out[_KEYS.PROBABILITIES] = torch.softmax(logits, dim=-1)  # (B, n)
        if _KEYS.CLASS_IDS in keys or _KEYS.CLASSES in keys:
            class_ids = torch.argmax(logits, dim=-1, keepdim=True)  # (B, 1)
            if _KEYS.CLASS_IDS in keys:
                out[_KEYS.CLASS_IDS] = class_ids
            if _KEYS.CLASSES in keys:
                out[_KEYS.CLASSES] = class_strings(class_ids, self._n_classes, self._label_vocabulary)
        if _KEYS.ALL_CLASS_IDS in keys:
            out[_KEYS.ALL_CLASS_IDS] = all_class_ids(logits, self._n_classes)
        if _KEYS.ALL_CLASSES in keys:
            out[_KEYS.ALL_CLASSES] = all_classes(logits, self._n_classes, self._label_vocabulary)
        return {k: out[k] for k in valid if k in out}

    def metrics(
        self,
        features: Mapping[str, Any] | None,
        logits: torch.Tensor,
        labels: Any,
        regularization_losses: Sequence[torch.Tensor] | None = None,
    ) -> dict[str, Metric]:
        """average_loss and accuracy (+ regularization_loss)."""
        logits = label_utils.as_float_logits(logits, self._n_classes).detach()
        label_ids = self._processed_labels(logits, labels)
        weights = self._weights(features, logits)
        loss = self._unweighted_loss(label_ids, logits, features).detach()
        class_ids = torch.argmax(logits, dim=-1, keepdim=True)  # (B, 1)
        out: dict[str, Metric] = {
            self._summary_key(MetricKeys.LOSS_MEAN): Mean(loss, weights),
            self._summary_key(MetricKeys.ACCURACY): Accuracy(label_ids, class_ids, weights),
        }
        out.update(self._regularization_metric(regularization_losses))
        return out

    def _export_outputs(self, predictions: dict[Any, Any]) -> dict[str, Any]:
        classification = ClassificationOutput(
            scores=predictions[_KEYS.PROBABILITIES],
            classes=all_classes(predictions[_KEYS.LOGITS], self._n_classes, self._label_vocabulary),
        )
        return {
            DEFAULT_SERVING_KEY: classification,
            CLASSIFY_SERVING_KEY: classification,
            PREDICT_SERVING_KEY: PredictOutput(predictions),
        }
