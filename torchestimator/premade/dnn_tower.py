"""The feed-forward tower of ``DNNClassifier`` & co. (TF ``canned/dnn.py``'s ``_DNNModelV2``).

Per hidden layer ``i`` (TF's order)::

    x (B, D_in) ─► Dense(units_i, activation, glorot_uniform kernel, zero bias)   "hiddenlayer_i"
                ─► Dropout(rate)                     TRAIN only
                ─► BatchNormalization(momentum 0.999, epsilon 1e-3)   if batch_norm
    ... ─► Dense(logits_dimension, glorot_uniform, zero bias)                      "logits"

:class:`TFBatchNorm` reproduces Keras' BatchNormalization exactly: training normalises with the
batch mean and the *biased* batch variance and moves the moving statistics with
``moving = momentum * moving + (1 - momentum) * batch`` (torch's ``BatchNorm1d`` would use the
unbiased variance for the moving average); inference uses the moving statistics. Dropout and batch
norm follow the ``mode`` passed to forward, not ``module.training``, as TF's canned model does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from torchestimator import summary
from torchestimator.errors import InvalidArgumentError, did_you_mean

__all__ = [
    "ACTIVATIONS",
    "DNNTower",
    "TFBatchNorm",
    "check_dropout",
    "check_hidden_units",
    "resolve_activation",
]

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "elu": F.elu,
    "gelu": F.gelu,
    "leaky_relu": F.leaky_relu,
    "linear": lambda x: x,
    "relu": F.relu,
    "relu6": F.relu6,
    "selu": F.selu,
    "sigmoid": torch.sigmoid,
    "silu": F.silu,
    "softplus": F.softplus,
    "softsign": F.softsign,
    "swish": F.silu,
    "tanh": torch.tanh,
}


def resolve_activation(activation_fn: Any, owner: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """An activation from a callable (``torch.relu``), an ``nn.Module`` class / instance, or a name.

    Raises:
        InvalidArgumentError: an unknown name or a non-callable.
    """
    if isinstance(activation_fn, str):
        fn = ACTIVATIONS.get(activation_fn.lower())
        if fn is None:
            raise InvalidArgumentError(
                f"{owner}: unknown activation_fn {activation_fn!r}; names: {sorted(ACTIVATIONS)}"
                f"{did_you_mean(activation_fn.lower(), ACTIVATIONS)}. A callable (e.g. torch.relu) works too."
            )
        return fn
    if isinstance(activation_fn, type) and issubclass(activation_fn, nn.Module):
        module: Callable[[torch.Tensor], torch.Tensor] = activation_fn()
        return module
    if callable(activation_fn):
        return activation_fn
    raise InvalidArgumentError(
        f"{owner}: activation_fn must be a callable (e.g. torch.relu) or a name in {sorted(ACTIVATIONS)}; "
        f"received {type(activation_fn).__name__}."
    )


def check_hidden_units(hidden_units: Any, owner: str, arg: str = "hidden_units") -> list[int]:
    """``hidden_units`` as a list of positive ints.

    Raises:
        InvalidArgumentError: None, not a sequence, or a non-positive entry.
    """
    if (
        hidden_units is None
        or isinstance(hidden_units, (str, bytes))
        or not isinstance(hidden_units, Sequence)
    ):
        raise InvalidArgumentError(
            f"{owner}: {arg} must be a list of layer sizes, e.g. [30, 10]; received {hidden_units!r}."
        )
    bad = [u for u in hidden_units if isinstance(u, bool) or not isinstance(u, int) or u < 1]
    if bad:
        raise InvalidArgumentError(
            f"{owner}: {arg} entries must be ints >= 1; received {list(hidden_units)}."
        )
    return [int(u) for u in hidden_units]


def check_dropout(dropout: Any, owner: str) -> float | None:
    """``dropout`` as None or a rate in [0, 1).

    Raises:
        InvalidArgumentError: a rate outside [0, 1).
    """
    if dropout is None:
        return None
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise InvalidArgumentError(
            f"{owner}: dropout is the probability of dropping a unit, in [0, 1); received {dropout!r}."
        )
    return float(dropout) if dropout > 0 else None


class TFBatchNorm(nn.Module):
    """Keras ``BatchNormalization`` on ``(B, D)`` inputs, with TF's moving-average convention.

    Args:
        num_features: ``D``.
        momentum: TF momentum (0.999: the moving statistics keep 99.9% per step).
        epsilon: added to the variance.

    Example:
        >>> bn = TFBatchNorm(2)
        >>> y = bn(torch.tensor([[0.0, 1.0], [2.0, 3.0]]), training=True)
        >>> [round(v, 4) for v in bn.moving_mean.tolist()], [round(v, 4) for v in bn.moving_variance.tolist()]
        ([0.001, 0.002], [1.0, 1.0])
    """

    def __init__(self, num_features: int, momentum: float = 0.999, epsilon: float = 1e-3) -> None:
        super().__init__()
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.gamma = nn.Parameter(torch.ones(num_features))
        self.beta = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("moving_mean", torch.zeros(num_features))
        self.register_buffer("moving_variance", torch.ones(num_features))

    def forward(self, x: torch.Tensor, training: bool) -> torch.Tensor:
        """Normalise ``x`` (B, D) with batch statistics (training) or the moving ones."""
        moving_mean, moving_variance = self.moving_mean, self.moving_variance
        assert isinstance(moving_mean, torch.Tensor) and isinstance(moving_variance, torch.Tensor)
        if training:
            mean = x.mean(dim=0)  # (D,)
            variance = x.var(dim=0, unbiased=False)  # (D,)
            with torch.no_grad():
                moving_mean.lerp_(mean.detach().to(moving_mean.dtype), 1.0 - self.momentum)
                moving_variance.lerp_(variance.detach().to(moving_variance.dtype), 1.0 - self.momentum)
        else:
            mean, variance = moving_mean, moving_variance
        return (x - mean) * torch.rsqrt(variance + self.epsilon) * self.gamma + self.beta  # (B, D)


def _glorot_dense(in_features: int, out_features: int) -> nn.Linear:
    layer = nn.Linear(in_features, out_features)
    nn.init.xavier_uniform_(layer.weight)  # TF glorot_uniform: U(±sqrt(6 / (fan_in + fan_out)))
    nn.init.zeros_(layer.bias)
    return layer


class DNNTower(nn.Module):
    """Hidden layers and the logits layer of TF's canned DNN, on an already-dense input.

    ``RunConfig(compile=True)`` compiles this tower (dense math), not the sparse column layers around it.

    Args:
        input_dim: width of the input ``(B, input_dim)``.
        hidden_units: sizes of the hidden layers (may be empty: logits straight from the input).
        logits_dimension: output width.
        activation_fn: applied after each hidden layer (a callable or a name, see :data:`ACTIVATIONS`).
        dropout: drop rate in TRAIN, or None.
        batch_norm: add a :class:`TFBatchNorm` after each hidden layer.

    Example:
        >>> tower = DNNTower(4, [3], 2)
        >>> tower(torch.zeros(5, 4), training=False).shape
        torch.Size([5, 2])
    """

    torchestimator_compile_target = True  # read by torchestimator.model_compile

    def __init__(
        self,
        input_dim: int,
        hidden_units: Sequence[int],
        logits_dimension: int,
        activation_fn: Any = F.relu,
        dropout: float | None = None,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        units = check_hidden_units(hidden_units, "DNNTower")
        self.activation_fn = resolve_activation(activation_fn, "DNNTower")
        self.dropout = check_dropout(dropout, "DNNTower")
        self.hidden_layers = nn.ModuleList()
        self.batch_norms = nn.ModuleList() if batch_norm else None
        width = input_dim
        for n in units:
            self.hidden_layers.append(_glorot_dense(width, n))
            if self.batch_norms is not None:
                self.batch_norms.append(TFBatchNorm(n))
            width = n
        self.logits = _glorot_dense(width, logits_dimension)

    def forward(self, x: torch.Tensor, training: bool) -> torch.Tensor:
        """Logits ``(B, logits_dimension)`` from ``x`` ``(B, input_dim)``."""
        net = x
        for i, layer in enumerate(self.hidden_layers):
            net = self.activation_fn(layer(net))  # (B, units_i)
            if self.dropout is not None and training:
                net = F.dropout(net, self.dropout, training=True)
            if self.batch_norms is not None:
                net = self.batch_norms[i](net, training=training)
            _layer_summaries(f"dnn/hiddenlayer_{i}", net)
        logits = self.logits(net)  # (B, logits_dimension)
        _layer_summaries("dnn/logits", logits)
        return logits


def _layer_summaries(scope: str, value: torch.Tensor) -> None:
    """TF's canned DNN summaries (``_add_hidden_layer_summary``), on the steps the summary hook records."""
    if summary.is_recording():
        summary.scalar(f"{scope}/fraction_of_zero_values", summary.zero_fraction(value))
        summary.histogram(f"{scope}/activation", value)
