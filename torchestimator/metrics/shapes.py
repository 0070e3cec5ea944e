"""Shape agreement between labels, predictions and weights: TF's rules, never a silent broadcast.

torch broadcasts ``(B,)`` against ``(B, 1)`` into ``(B, B)``; a metric computed on that is silently
wrong (all-correct predictions score ``1/B``-ish). TF instead squeezes one trailing dimension of
size 1 when the ranks differ by one (``tf.compat.v1.metrics`` / Keras'
``remove_squeezable_dimensions``) and refuses any other mismatch. Weights follow Keras'
``squeeze_or_expand_dimensions`` + ``broadcast_weights``: a scalar, or one rank more or less than
the values (squeezed / expanded), then every dimension 1 or equal to the values'.

::

    labels (B,)    predictions (B, 1)  ->  (B,)   (B,)      squeezed
    labels (B, 1)  predictions (B,)    ->  (B,)   (B,)      squeezed
    labels (B,)    predictions (B, 2)  ->  InvalidArgumentError naming both shapes
    weights (B,)   values (B, n)       ->  weights (B, 1) broadcast to (B, n)
"""

from __future__ import annotations

import torch

from torchestimator.errors import InvalidArgumentError

__all__ = ["broadcast_weights", "matched_labels_and_predictions", "remove_squeezable_dimensions"]


def remove_squeezable_dimensions(
    labels: torch.Tensor, predictions: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Squeeze the trailing size-1 dimension of whichever tensor has rank one more (TF's rule).

    Args:
        labels: label tensor.
        predictions: prediction tensor.

    Returns:
        ``(labels, predictions)``, at most one of them squeezed.

    Example:
        >>> labels, predictions = remove_squeezable_dimensions(torch.zeros(4), torch.zeros(4, 1))
        >>> tuple(labels.shape), tuple(predictions.shape)
        ((4,), (4,))
    """
    rank_diff = predictions.dim() - labels.dim()
    if rank_diff == 1 and predictions.shape[-1] == 1:
        predictions = predictions.squeeze(-1)
    elif rank_diff == -1 and labels.shape[-1] == 1:
        labels = labels.squeeze(-1)
    return labels, predictions


def matched_labels_and_predictions(
    labels: torch.Tensor, predictions: torch.Tensor, metric: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`remove_squeezable_dimensions`, then require equal shapes.

    Args:
        labels: label tensor.
        predictions: prediction tensor.
        metric: the metric's name, for the error message.

    Returns:
        ``(labels, predictions)`` of one shape.

    Raises:
        InvalidArgumentError: the shapes differ by more than a trailing dimension of size 1.
    """
    squeezed_labels, squeezed_predictions = remove_squeezable_dimensions(labels, predictions)
    if squeezed_labels.shape != squeezed_predictions.shape:
        raise InvalidArgumentError(
            f"{metric}: labels shape {list(labels.shape)} and predictions shape {list(predictions.shape)} "
            "are incompatible; they must be equal or differ only by a trailing dimension of size 1 "
            "(TF's remove_squeezable_dimensions). Metrics never broadcast: reshape the labels or the "
            "predictions."
        )
    return squeezed_labels, squeezed_predictions


def broadcast_weights(
    weights: torch.Tensor | float | None, values: torch.Tensor, metric: str
) -> torch.Tensor:
    """Weights as float64 of ``values``' shape, by Keras' squeeze-or-expand and broadcast rules.

    Args:
        weights: ``None`` (all ones), a scalar, or a tensor of rank ``values.dim()`` (+/- 1).
        values: the tensor the weights apply to.
        metric: the metric's name, for the error message.

    Returns:
        A float64 tensor of shape ``values.shape`` on ``values``' device.

    Raises:
        InvalidArgumentError: the weights cannot apply to the values without guessing.

    Example:
        >>> tuple(broadcast_weights(torch.ones(3), torch.zeros(3, 2), "auc").shape)
        (3, 2)
    """
    if weights is None:
        return torch.ones_like(values, dtype=torch.float64)
    w = torch.as_tensor(weights, dtype=torch.float64, device=values.device)
    if w.dim() == 0:
        return w.expand(values.shape)
    given = list(w.shape)
    rank_diff = w.dim() - values.dim()
    if rank_diff == 1 and w.shape[-1] == 1:
        w = w.squeeze(-1)
    elif rank_diff == -1:
        w = w.unsqueeze(-1)
    if w.dim() != values.dim() or any(ws not in (1, vs) for ws, vs in zip(w.shape, values.shape)):
        raise InvalidArgumentError(
            f"{metric}: weights shape {given} cannot apply to values of shape {list(values.shape)}; weights "
            "must be a scalar or match the values' shape, each dimension equal or 1, with at most one "
            "trailing dimension added or removed (TF's broadcast_weights)."
        )
    return w.expand(values.shape)
