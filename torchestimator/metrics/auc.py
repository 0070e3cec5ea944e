"""ROC and precision-recall AUC exactly as ``tf.keras.metrics.AUC`` computes them in TF 2.15 heads.

TF's ``BinaryClassHead`` and ``MultiLabelHead`` use ``tf.keras.metrics.AUC(name='auc')`` and
``AUC(curve='PR', name='auc_precision_recall')`` with the defaults: ``num_thresholds=200``,
``summation_method='interpolation'``. That means:

* thresholds ``[-eps, 1/199, 2/199, ..., 198/199, 1 + eps]``; a prediction counts as positive at
  threshold ``t`` when ``clip(p, 0, 1) > t``; labels are cast to bool; weights broadcast to ``p``.
* ROC: trapezoidal sum of recall (TPR) over false-positive rate.
* PR: *not* a trapezoid — Keras' ``interpolate_pr_auc`` (Davis & Goadrich 2006): precision is
  interpolated as a function of true positives between adjacent thresholds and integrated exactly.

Written here rather than taken from torchmetrics because neither torchmetrics' binned AUROC
(``>=`` thresholds, linear spacing including 0 and 1) nor its average precision (a step sum) is the
same number, and the additive-state contract wants a plain histogram: the state is two
``(num_thresholds,)`` histograms of weighted positives / negatives per bucket
(``bucket = max(ceil(p * (T - 1)) - 1, 0)``, Keras' own fast path), summed over batches and
processes; ``compute`` turns them into the confusion counts with a reverse cumulative sum.

::

    bucket:    0      1      2     ...   T-2     T-1
    pos_hist:  3      0      1     ...    2       0     -> tp[i] = sum(pos_hist[i:])
    neg_hist:  5      1      0     ...    0       0     -> fp[i] = sum(neg_hist[i:])
"""

from __future__ import annotations

import math
import sys
import types
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from torchestimator.errors import InvalidArgumentError
from torchestimator.metrics.base import Metric
from torchestimator.metrics.shapes import broadcast_weights, matched_labels_and_predictions

__all__ = ["AUC", "AUCPrecisionRecall", "auc_histograms"]


def auc_histograms(
    labels: torch.Tensor,
    predictions: torch.Tensor,
    weights: torch.Tensor | float | None = None,
    num_thresholds: int = 200,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-bucket weighted positive and negative counts (the additive AUC state).

    Args:
        labels: labels, any shape; nonzero means positive.
        predictions: scores in [0, 1] (clipped), the shape of ``labels`` (or differing by a trailing
            dimension of size 1, squeezed as TF does).
        weights: optional weights (Keras' rules, :func:`~torchestimator.metrics.shapes.broadcast_weights`).
        num_thresholds: number of thresholds (> 1), Keras' default 200.

    Returns:
        ``(pos_hist, neg_hist)``, each a float64 tensor of shape ``(num_thresholds,)``.

    Raises:
        InvalidArgumentError: ``num_thresholds`` < 2, or shapes TF would refuse.
    """
    if num_thresholds < 2:
        raise InvalidArgumentError(f"num_thresholds must be an integer > 1; received {num_thresholds}.")
    scores = torch.as_tensor(predictions).detach().double()
    truth = torch.as_tensor(labels, device=scores.device).detach().bool()
    truth, scores = matched_labels_and_predictions(truth, scores, "AUC")
    w = broadcast_weights(weights, scores, "AUC").reshape(-1)  # (N,)
    p = scores.clamp(0.0, 1.0).reshape(-1)  # (N,)
    y = truth.reshape(-1).double()  # (N,)
    bucket = (torch.ceil(p * (num_thresholds - 1)) - 1).clamp_min(0).long()  # (N,)
    pos = torch.zeros(num_thresholds, dtype=torch.float64, device=p.device).index_add_(0, bucket, y * w)
    neg = torch.zeros(num_thresholds, dtype=torch.float64, device=p.device).index_add_(0, bucket, (1 - y) * w)
    return pos, neg


def _confusion_from_histograms(state: Sequence[torch.Tensor]) -> tuple[np.ndarray, ...]:
    pos, neg = (torch.as_tensor(s).detach().cpu().double().numpy() for s in state)
    tp = np.cumsum(pos[::-1])[::-1]  # (T,)
    fp = np.cumsum(neg[::-1])[::-1]  # (T,)
    fn = pos.sum() - tp
    tn = neg.sum() - fp
    return tp, fp, fn, tn


def _div_no_nan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros_like(a, dtype=np.float64)
    np.divide(a, b, out=out, where=b != 0)
    return out


class AUC(Metric):
    """Area under the ROC curve (tf.keras.metrics.AUC defaults: 200 thresholds, interpolation).

    Args:
        labels: labels; nonzero is positive.
        predictions: probabilities, same shape as ``labels``.
        weights: optional per-example weights broadcastable to ``predictions``.
        num_thresholds: thresholds of the curve (Keras' default 200).

    Example:
        >>> import torch
        >>> round(AUC(torch.tensor([0, 0, 1, 1]), torch.tensor([0.1, 0.4, 0.35, 0.8])).result(), 4)
        0.75
    """

    def __init__(
        self,
        labels: torch.Tensor,
        predictions: torch.Tensor,
        weights: torch.Tensor | float | None = None,
        num_thresholds: int = 200,
    ) -> None:
        super().__init__(auc_histograms(labels, predictions, weights, num_thresholds))

    @staticmethod
    def compute(state: Sequence[torch.Tensor]) -> float:
        tp, fp, fn, tn = _confusion_from_histograms(state)
        tpr = _div_no_nan(tp, tp + fn)
        fpr = _div_no_nan(fp, fp + tn)
        return float(np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2.0))


class AUCPrecisionRecall(AUC):
    """Area under the precision-recall curve (tf.keras.metrics.AUC(curve='PR'), Keras' interpolation).

    Arguments as :class:`AUC`.
    """

    @staticmethod
    def compute(state: Sequence[torch.Tensor]) -> float:
        tp, fp, fn, _ = _confusion_from_histograms(state)
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        prec_slope = _div_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - prec_slope * p[1:]
        both_positive = (p[:-1] > 0) & (p[1:] > 0)
        safe_p_ratio = np.where(both_positive, _div_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        log_ratio = np.log(np.where(safe_p_ratio > 0, safe_p_ratio, 1.0))
        increment = _div_no_nan(prec_slope * (dtp + intercept * log_ratio), np.maximum(tp[1:] + fn[1:], 0))
        value = float(np.sum(increment))
        return value if math.isfinite(value) else 0.0


class _CallableModule(types.ModuleType):
    """``te.metrics.auc`` is this module (``from torchestimator.metrics.auc import AUC`` keeps working) and
    also TF's function: ``te.metrics.auc(labels, predictions)`` (:func:`torchestimator.metrics.functional.auc`)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Metric:
        from torchestimator.metrics.functional import auc

        return auc(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
