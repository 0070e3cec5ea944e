"""``get_optimizer``: optimizers by name, instance, class or callable, with TF v2 canned defaults.

=============  =======================================  ========================================
name           class                                    defaults (Keras legacy, TF 2.15)
=============  =======================================  ========================================
``Adagrad``    :class:`~torchestimator.optimizers.Adagrad`  lr 0.001, initial_accumulator 0.1, eps 1e-7
``Adam``       :class:`~torchestimator.optimizers.Adam`  lr 0.001, betas (0.9, 0.999), eps 1e-7
``Ftrl``       :class:`~torchestimator.optimizers.Ftrl`  lr 0.001, lr_power -0.5, initial_acc 0.1
``RMSProp``    :class:`~torchestimator.optimizers.RMSProp`  lr 0.001, rho 0.9, eps 1e-7
``SGD``        ``torch.optim.SGD``                      lr 0.01
=============  =======================================  ========================================

torch's Adagrad has TF's exact rule (``acc += g^2; w -= lr g / (sqrt(acc) + eps)``) including for
sparse gradients (touched rows only, like ``ResourceSparseApplyAdagradV2``); the named one is its subclass
with a faster CPU step (same math and state: :mod:`torchestimator.optimizers.adagrad`).
Every named optimizer accepts sparse gradients (``SGD`` only without momentum, as in torch).

Default learning rates per pre-made estimator (TF's ``canned/*.py``), for string optimizers:

* Linear*: :data:`LINEAR_LEARNING_RATE` = 0.2; a falsy optimizer means FTRL at
  :func:`linear_default_learning_rate` = ``min(0.2, 1 / sqrt(n_columns))``.
* DNN*: none (the optimizer's own default: 0.001, SGD 0.01).
* DNNLinearCombined*: dnn :data:`DNN_LINEAR_COMBINED_DNN_LEARNING_RATE` = 0.001; linear
  :func:`dnn_linear_combined_linear_learning_rate` = ``min(0.005, 1 / sqrt(n_linear_columns))``.
* Baseline*: :data:`BASELINE_LEARNING_RATE` = 0.3.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable
from typing import Any

import torch

from torchestimator.errors import InvalidArgumentError, did_you_mean
from torchestimator.optimizers.adagrad import Adagrad
from torchestimator.optimizers.ftrl import Ftrl
from torchestimator.optimizers.keras_legacy import Adam, RMSProp

__all__ = [
    "BASELINE_LEARNING_RATE",
    "DNN_LINEAR_COMBINED_DNN_LEARNING_RATE",
    "LINEAR_LEARNING_RATE",
    "OPTIMIZER_NAMES",
    "dnn_linear_combined_linear_learning_rate",
    "get_optimizer",
    "linear_default_learning_rate",
]

LINEAR_LEARNING_RATE = 0.2
DNN_LINEAR_COMBINED_DNN_LEARNING_RATE = 0.001
DNN_LINEAR_COMBINED_LINEAR_LEARNING_RATE = 0.005
BASELINE_LEARNING_RATE = 0.3


def linear_default_learning_rate(num_columns: int) -> float:
    """``min(0.2, 1 / sqrt(num_columns))``: the linear model's FTRL rate when no optimizer is given."""
    return min(LINEAR_LEARNING_RATE, 1.0 / math.sqrt(max(num_columns, 1)))


def dnn_linear_combined_linear_learning_rate(num_linear_columns: int) -> float:
    """``min(0.005, 1 / sqrt(num_linear_columns))``: the wide part's default rate in wide & deep."""
    return min(DNN_LINEAR_COMBINED_LINEAR_LEARNING_RATE, 1.0 / math.sqrt(max(num_linear_columns, 1)))


def _adagrad(params: Iterable[Any], lr: float) -> torch.optim.Optimizer:
    return Adagrad(params, lr=lr, initial_accumulator_value=0.1, eps=1e-7)


def _sgd(params: Iterable[Any], lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr)


_FACTORIES: dict[str, tuple[Callable[..., torch.optim.Optimizer], float]] = {
    "Adagrad": (_adagrad, 0.001),
    "Adam": (lambda params, lr: Adam(params, learning_rate=lr), 0.001),
    "Ftrl": (lambda params, lr: Ftrl(params, learning_rate=lr), 0.001),
    "RMSProp": (lambda params, lr: RMSProp(params, learning_rate=lr), 0.001),
    "SGD": (_sgd, 0.01),
}
OPTIMIZER_NAMES = tuple(_FACTORIES)


def get_optimizer(
    optimizer: Any,
    params: Iterable[Any],
    learning_rate: float | None = None,
    default_learning_rate: float | None = None,
) -> torch.optim.Optimizer:
    """An optimizer over ``params`` from a name, instance, class or callable (TF's ``get_optimizer_instance_v2``).

    Args:
        optimizer: one of ``'Adagrad'``, ``'Adam'``, ``'Ftrl'``, ``'RMSProp'``, ``'SGD'`` (any case);
            a ``torch.optim.Optimizer`` instance (returned as is; it already holds its parameters);
            an Optimizer subclass (built as ``cls(params[, lr=learning_rate])``); or a callable
            ``fn(params) -> Optimizer`` (or zero-argument ``fn()``, as TF's callables).
        params: the parameters (or parameter groups) to optimize.
        learning_rate: explicit rate for a name or class.
        default_learning_rate: the estimator's default for a name when ``learning_rate`` is None
            (see the module docstring); None keeps the optimizer's own default.

    Returns:
        The optimizer.

    Raises:
        InvalidArgumentError: an unknown name, or something that does not yield an optimizer.

    Example:
        >>> import torch
        >>> opt = get_optimizer("Adagrad", [torch.nn.Parameter(torch.zeros(1))])
        >>> opt.defaults["initial_accumulator_value"], opt.defaults["eps"], opt.defaults["lr"]
        (0.1, 1e-07, 0.001)
    """
    if isinstance(optimizer, str):
        by_lower = {n.lower(): n for n in _FACTORIES}
        name = by_lower.get(optimizer.lower())
        if name is None:
            raise InvalidArgumentError(
                f"Unsupported optimizer name {optimizer!r}; supported names are {sorted(_FACTORIES)}"
                f"{did_you_mean(optimizer, _FACTORIES)}."
            )
        factory, own_default = _FACTORIES[name]
        lr = learning_rate or default_learning_rate or own_default
        return factory(params, lr)
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer):
        cls: Callable[..., torch.optim.Optimizer] = optimizer
        return cls(params, lr=learning_rate) if learning_rate else cls(params)
    if callable(optimizer):
        result = optimizer(params) if _takes_an_argument(optimizer) else optimizer()
        if isinstance(result, torch.optim.Optimizer):
            return result
        raise InvalidArgumentError(
            f"the optimizer callable must return a torch.optim.Optimizer; it returned {type(result).__name__}."
        )
    raise InvalidArgumentError(
        f"optimizer must be a name in {sorted(_FACTORIES)}, a torch.optim.Optimizer, an Optimizer class or a "
        f"callable returning one; received {type(optimizer).__name__}."
    )


def _takes_an_argument(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) and p.default is p.empty
        for p in params
    )
