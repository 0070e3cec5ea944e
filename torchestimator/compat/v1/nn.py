"""``tf.compat.v1.nn``: the activations and losses model_fns call, as torch functions."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "dropout",
    "elu",
    "l2_loss",
    "leaky_relu",
    "log_softmax",
    "relu",
    "relu6",
    "selu",
    "sigmoid",
    "sigmoid_cross_entropy_with_logits",
    "softmax",
    "softmax_cross_entropy_with_logits_v2",
    "softplus",
    "sparse_softmax_cross_entropy_with_logits",
    "swish",
    "tanh",
]


def relu(features: torch.Tensor, name: str | None = None) -> torch.Tensor:
    return F.relu(features)


def relu6(features: torch.Tensor, name: str | None = None) -> torch.Tensor:
    return F.relu6(features)


def elu(features: torch.Tensor, name: str | None = None) -> torch.Tensor:
    return F.elu(features)


def selu(features: torch.Tensor, name: str | None = None) -> torch.Tensor:
    return F.selu(features)


def leaky_relu(features: torch.Tensor, alpha: float = 0.2, name: str | None = None) -> torch.Tensor:
    return F.leaky_relu(features, alpha)  # TF's default slope 0.2 (torch's is 0.01)


def softplus(features: torch.Tensor, name: str | None = None) -> torch.Tensor:
    return F.softplus(features)


def swish(features: torch.Tensor, name: str | None = None) -> torch.Tensor:
    return F.silu(features)


def sigmoid(x: torch.Tensor, name: str | None = None) -> torch.Tensor:
    return torch.sigmoid(x)


def tanh(x: torch.Tensor, name: str | None = None) -> torch.Tensor:
    return torch.tanh(x)


def softmax(
    logits: torch.Tensor, axis: int = -1, name: str | None = None, dim: int | None = None
) -> torch.Tensor:
    return F.softmax(logits, dim=axis if dim is None else dim)


def log_softmax(logits: torch.Tensor, axis: int = -1, name: str | None = None) -> torch.Tensor:
    return F.log_softmax(logits, dim=axis)


def dropout(
    x: torch.Tensor, keep_prob: float | None = None, rate: float | None = None, **unused: Any
) -> torch.Tensor:
    """``tf.compat.v1.nn.dropout`` (always active, as in TF: it has no training flag)."""
    drop = rate if rate is not None else 1.0 - float(keep_prob if keep_prob is not None else 1.0)
    return F.dropout(x, p=drop, training=True)


def l2_loss(t: torch.Tensor, name: str | None = None) -> torch.Tensor:
    return (t * t).sum() / 2


def sparse_softmax_cross_entropy_with_logits(
    labels: torch.Tensor, logits: torch.Tensor, name: str | None = None
) -> torch.Tensor:
    return F.cross_entropy(logits, labels.long(), reduction="none")


def softmax_cross_entropy_with_logits_v2(
    labels: torch.Tensor, logits: torch.Tensor, axis: int = -1, name: str | None = None
) -> torch.Tensor:
    return -(labels * F.log_softmax(logits, dim=axis)).sum(dim=axis)


def sigmoid_cross_entropy_with_logits(
    labels: torch.Tensor, logits: torch.Tensor, name: str | None = None
) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), reduction="none")
