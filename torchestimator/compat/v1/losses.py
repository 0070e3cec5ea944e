"""``tf.compat.v1.losses``: TF1's losses with their weights and reductions (default SUM_BY_NONZERO_WEIGHTS).

Every loss computes per-element values, multiplies by ``weights`` (broadcast to them) and reduces::

    Reduction                 result
    NONE                      weighted per-element losses
    SUM                       sum(w * l)
    MEAN                      sum(w * l) / sum(w broadcast to l)
    SUM_OVER_BATCH_SIZE       sum(w * l) / number of elements of l
    SUM_BY_NONZERO_WEIGHTS    sum(w * l) / count of nonzero w broadcast to l  (TF1's default)
    SUM_OVER_NONZERO_WEIGHTS  the same (TF's older name)

Any division by zero gives 0, as TF's ``div_no_nan``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from torchestimator.errors import InvalidArgumentError

__all__ = [
    "Reduction",
    "absolute_difference",
    "compute_weighted_loss",
    "get_regularization_loss",
    "hinge_loss",
    "huber_loss",
    "log_loss",
    "mean_squared_error",
    "sigmoid_cross_entropy",
    "softmax_cross_entropy",
    "sparse_softmax_cross_entropy",
]


class Reduction:
    """TF1's loss reductions."""

    NONE = "none"
    SUM = "weighted_sum"
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"
    MEAN = "weighted_mean"
    SUM_BY_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"
    SUM_OVER_NONZERO_WEIGHTS = SUM_BY_NONZERO_WEIGHTS

    @classmethod
    def all(cls) -> tuple[str, ...]:
        return (cls.NONE, cls.SUM, cls.SUM_OVER_BATCH_SIZE, cls.MEAN, cls.SUM_BY_NONZERO_WEIGHTS)

    @classmethod
    def validate(cls, key: str) -> None:
        if key not in cls.all():
            raise InvalidArgumentError(f"Invalid Reduction Key {key!r}; expected one of {list(cls.all())}.")


def _weights(weights: Any, losses: torch.Tensor) -> torch.Tensor:
    w = torch.as_tensor(weights, dtype=losses.dtype, device=losses.device)
    if w.dim() == losses.dim() + 1 and w.shape[-1] == 1:
        w = w.squeeze(-1)  # (B, 1) weights for (B,) losses, as TF's remove_squeezable_dimensions
    try:
        return torch.broadcast_to(w, losses.shape)
    except RuntimeError:
        raise InvalidArgumentError(
            f"weights of shape {list(w.shape)} cannot be broadcast to the losses' shape {list(losses.shape)}."
        ) from None


def _div_no_nan(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(b != 0, a / torch.where(b != 0, b, torch.ones_like(b)), torch.zeros_like(a))


def _scalar_weighted(losses: torch.Tensor, w: float, reduction: str) -> torch.Tensor:
    weighted = losses if w == 1.0 else losses * w
    if reduction == Reduction.NONE:
        return weighted
    total = weighted.sum()
    n = losses.numel()
    if reduction == Reduction.SUM:
        return total
    if reduction == Reduction.MEAN:
        return total / (w * n) if w * n != 0 else torch.zeros_like(total)
    if reduction == Reduction.SUM_OVER_BATCH_SIZE or w != 0:  # SUM_BY_NONZERO_WEIGHTS counts every element
        return total / n if n else torch.zeros_like(total)
    return torch.zeros_like(total)


def compute_weighted_loss(
    losses: torch.Tensor,
    weights: Any = 1.0,
    scope: Any = None,
    loss_collection: Any = None,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> torch.Tensor:
    """``tf.compat.v1.losses.compute_weighted_loss`` (see the module docstring)."""
    Reduction.validate(reduction)
    losses = losses if losses.is_floating_point() else losses.float()
    if isinstance(weights, (int, float)) and not isinstance(weights, bool):
        return _scalar_weighted(
            losses, float(weights), reduction
        )  # the usual case: no tensor ops for weights
    w = _weights(weights, losses)
    weighted = losses * w
    if reduction == Reduction.NONE:
        return weighted
    total = weighted.sum()
    if reduction == Reduction.SUM:
        return total
    if reduction == Reduction.MEAN:
        return _div_no_nan(total, w.sum())
    if reduction == Reduction.SUM_OVER_BATCH_SIZE:
        return _div_no_nan(total, torch.tensor(float(losses.numel()), dtype=total.dtype, device=total.device))
    return _div_no_nan(total, (w != 0).sum().to(total.dtype))


def _same_shape(
    labels: torch.Tensor, predictions: torch.Tensor, fn: str
) -> tuple[torch.Tensor, torch.Tensor]:
    labels = torch.as_tensor(labels, device=predictions.device).to(predictions.dtype)
    if labels.dim() == predictions.dim() + 1 and labels.shape[-1] == 1:
        labels = labels.squeeze(-1)
    elif predictions.dim() == labels.dim() + 1 and predictions.shape[-1] == 1:
        predictions = predictions.squeeze(-1)
    if labels.shape != predictions.shape:
        raise InvalidArgumentError(
            f"losses.{fn}: labels shape {list(labels.shape)} and predictions shape {list(predictions.shape)} differ."
        )
    return labels, predictions


def sparse_softmax_cross_entropy(
    labels: torch.Tensor,
    logits: torch.Tensor,
    weights: Any = 1.0,
    scope: Any = None,
    loss_collection: Any = None,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> torch.Tensor:
    """Cross entropy of integer class ids ``labels`` ``(B,)`` or ``(B, 1)`` against ``logits`` ``(B, C)``."""
    ids = torch.as_tensor(labels, device=logits.device)
    if ids.dim() == logits.dim() and ids.shape[-1] == 1:
        ids = ids.squeeze(-1)  # (B,)
    per_example = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), ids.reshape(-1).long(), reduction="none"
    )
    return compute_weighted_loss(per_example.reshape(ids.shape), weights, reduction=reduction)


def softmax_cross_entropy(
    onehot_labels: torch.Tensor,
    logits: torch.Tensor,
    weights: Any = 1.0,
    label_smoothing: float = 0.0,
    scope: Any = None,
    loss_collection: Any = None,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> torch.Tensor:
    """Cross entropy of one-hot (or soft) ``onehot_labels`` ``(B, C)``; smoothing ``l (1 - s) + s / C``."""
    labels = torch.as_tensor(onehot_labels, device=logits.device).to(logits.dtype)
    if label_smoothing > 0:
        labels = labels * (1.0 - label_smoothing) + label_smoothing / labels.shape[-1]
    per_example = -(labels * F.log_softmax(logits, dim=-1)).sum(dim=-1)  # (B,)
    return compute_weighted_loss(per_example, weights, reduction=reduction)


def sigmoid_cross_entropy(
    multi_class_labels: torch.Tensor,
    logits: torch.Tensor,
    weights: Any = 1.0,
    label_smoothing: float = 0.0,
    scope: Any = None,
    loss_collection: Any = None,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> torch.Tensor:
    """Element-wise sigmoid cross entropy; smoothing ``l (1 - s) + s / 2``."""
    labels, logits = _same_shape(multi_class_labels, logits, "sigmoid_cross_entropy")
    if label_smoothing > 0:
        labels = labels * (1.0 - label_smoothing) + 0.5 * label_smoothing
    losses = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    return compute_weighted_loss(losses, weights, reduction=reduction)


def mean_squared_error(
    labels: torch.Tensor,
    predictions: torch.Tensor,
    weights: Any = 1.0,
    scope: Any = None,
    loss_collection: Any = None,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> torch.Tensor:
    """``(predictions - labels)^2``, weighted and reduced."""
    labels, predictions = _same_shape(labels, predictions, "mean_squared_error")
    return compute_weighted_loss((predictions - labels) ** 2, weights, reduction=reduction)


def absolute_difference(
    labels: torch.Tensor,
    predictions: torch.Tensor,
    weights: Any = 1.0,
    scope: Any = None,
    loss_collection: Any = None,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> torch.Tensor:
    """``|predictions - labels|``, weighted and reduced."""
    labels, predictions = _same_shape(labels, predictions, "absolute_difference")
    return compute_weighted_loss((predictions - labels).abs(), weights, reduction=reduction)


def log_loss(
    labels: torch.Tensor,
    predictions: torch.Tensor,
    weights: Any = 1.0,
    epsilon: float = 1e-7,
    scope: Any = None,
    loss_collection: Any = None,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> torch.Tensor:
    """``-l log(p + eps) - (1 - l) log(1 - p + eps)``, weighted and reduced."""
    labels, p = _same_shape(labels, predictions, "log_loss")
    losses = -labels * torch.log(p + epsilon) - (1 - labels) * torch.log(1 - p + epsilon)
    return compute_weighted_loss(losses, weights, reduction=reduction)


def hinge_loss(
    labels: torch.Tensor,
    logits: torch.Tensor,
    weights: Any = 1.0,
    scope: Any = None,
    loss_collection: Any = None,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> torch.Tensor:
    """``max(0, 1 - (2 l - 1) logits)`` for 0/1 ``labels``, weighted and reduced."""
    labels, logits = _same_shape(labels, logits, "hinge_loss")
    return compute_weighted_loss(F.relu(1 - (2 * labels - 1) * logits), weights, reduction=reduction)


def huber_loss(
    labels: torch.Tensor,
    predictions: torch.Tensor,
    weights: Any = 1.0,
    delta: float = 1.0,
    scope: Any = None,
    loss_collection: Any = None,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> torch.Tensor:
    """``0.5 q^2 + delta (|e| - q)`` with ``q = min(|e|, delta)``, weighted and reduced."""
    labels, predictions = _same_shape(labels, predictions, "huber_loss")
    error = (predictions - labels).abs()
    quadratic = torch.clamp(error, max=delta)
    return compute_weighted_loss(
        0.5 * quadratic**2 + delta * (error - quadratic), weights, reduction=reduction
    )


def get_regularization_loss(scope: Any = None, name: str = "total_regularization_loss") -> torch.Tensor:
    """The sum of this model_fn call's ``kernel_regularizer`` terms (0 when there are none)."""
    from torchestimator.function_model import current_scope

    terms = current_scope("losses.get_regularization_loss").regularization_losses
    return torch.stack([t.reshape(()) for t in terms]).sum() if terms else torch.zeros(())
