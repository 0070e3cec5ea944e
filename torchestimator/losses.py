"""Losses by Keras name, each tied to the head whose predictions, metrics and exports it uses.

==================================  ==========  ===============================  =========================
name (aliases)                      kind        module output / labels           head
==================================  ==========  ===============================  =========================
``sparse_categorical_crossentropy``  softmax     ``(B, K)``, K >= 2 / ids ``(B,)``  MultiClassHead(K)
``categorical_crossentropy``         softmax     ``(B, K)`` / one-hot ``(B, K)``    MultiClassHead(K)
``binary_crossentropy``              sigmoid     ``(B, 1)`` / 0-1 ``(B,)``          BinaryClassHead
                                                 ``(B, K)`` / multi-hot ``(B, K)``  MultiLabelHead(K)
``mean_squared_error`` (``mse``)     regression  ``(B, D)`` / ``(B, D)``            RegressionHead(D)
``mean_absolute_error`` (``mae``)    regression  same                               RegressionHead, |e|
``huber`` (``huber_loss``)           regression  same                               RegressionHead, Huber δ=1
``mean_squared_logarithmic_error``   regression  same                               RegressionHead, squared
(``msle``)                                                                          log1p difference
==================================  ==========  ===============================  =========================

Names are matched case-insensitively and with or without underscores, so Keras' class names
(``"SparseCategoricalCrossentropy"``) work too. Every loss is the mean over the batch (and the
label dimension), as Keras' ``sum_over_batch_size``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch

from torchestimator.errors import InvalidArgumentError, did_you_mean

__all__ = ["LOSS_NAMES", "LossSpec", "get_loss"]

KERAS_EPSILON = 1e-7  # keras.backend.epsilon(): the clip applied to probabilities (from_logits=False)


def _absolute(labels: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    return (logits - labels.to(logits.dtype)).abs()  # (B, D)


def _huber(labels: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    error = (logits - labels.to(logits.dtype)).abs()  # (B, D)
    return torch.where(error <= 1.0, 0.5 * error**2, error - 0.5)


def _squared_log(labels: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    first = torch.log(logits.clamp_min(KERAS_EPSILON) + 1.0)  # (B, D)
    second = torch.log(labels.to(logits.dtype).clamp_min(KERAS_EPSILON) + 1.0)  # (B, D)
    return (first - second) ** 2


@dataclasses.dataclass(frozen=True)
class LossSpec:
    """A named loss: its canonical Keras name, its kind and (regression) its per-element loss.

    Args:
        name: the canonical Keras name.
        kind: ``"sparse_categorical"``, ``"categorical"``, ``"binary"`` or ``"regression"``.
        per_element: for regression, ``fn(labels, predictions) -> (B, D)``; None means the head's own
            squared error.
    """

    name: str
    kind: str
    per_element: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None


_SPECS = (
    LossSpec("sparse_categorical_crossentropy", "sparse_categorical"),
    LossSpec("categorical_crossentropy", "categorical"),
    LossSpec("binary_crossentropy", "binary"),
    LossSpec("mean_squared_error", "regression"),
    LossSpec("mean_absolute_error", "regression", _absolute),
    LossSpec("huber", "regression", _huber),
    LossSpec("mean_squared_logarithmic_error", "regression", _squared_log),
)
_ALIASES = {
    "mse": "mean_squared_error",
    "mae": "mean_absolute_error",
    "msle": "mean_squared_logarithmic_error",
    "huber_loss": "huber",
}
LOSS_NAMES = tuple(sorted([s.name for s in _SPECS] + list(_ALIASES)))
_BY_NAME = {s.name: s for s in _SPECS}


def _normalise(name: str) -> str:
    return name.replace("_", "").lower()


def get_loss(name: str) -> LossSpec:
    """The :class:`LossSpec` for a Keras loss name.

    Raises:
        InvalidArgumentError: an unknown name (the valid names are listed).

    Example:
        >>> get_loss("SparseCategoricalCrossentropy").kind
        'sparse_categorical'
        >>> get_loss("mae").name
        'mean_absolute_error'
    """
    if not isinstance(name, str):
        raise InvalidArgumentError(f"loss must be a name or a callable; received {type(name).__name__}.")
    wanted = _normalise(name)
    for alias, canonical in _ALIASES.items():
        if _normalise(alias) == wanted:
            return _BY_NAME[canonical]
    for spec in _SPECS:
        if _normalise(spec.name) == wanted:
            return spec
    raise InvalidArgumentError(
        f"unknown loss {name!r}{did_you_mean(name, LOSS_NAMES)}; valid names: {list(LOSS_NAMES)}, or pass a callable "
        "loss(labels, outputs) or a torchestimator Head."
    )
