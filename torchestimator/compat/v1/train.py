"""``tf.compat.v1.train``: TF1 optimizers with their own defaults, ``minimize``, and the global step.

``XOptimizer(lr).minimize(loss, global_step=...)`` inside a function model_fn returns the torch optimizer
over the model's trainable parameters (or ``var_list``), built once on the model's first call and reused
after (named by call order, so its state is checkpointed and restored). Return it as the spec's
``train_op``: the training loop runs backward on the spec's ``loss``, steps it and increments the global
step (TF's ``global_step=`` argument), exactly once per step. A learning rate that is a tensor (e.g.
:func:`exponential_decay` of :func:`get_global_step`) is read again on every call, as TF evaluates it
on every step.

====================================  =================================================================
TF1 optimizer (defaults)              torch optimizer (same update rule)
====================================  =================================================================
``GradientDescentOptimizer(lr)``      ``torch.optim.SGD(lr)``
``MomentumOptimizer(lr, momentum)``   ``torch.optim.SGD(lr, momentum, nesterov=use_nesterov)``
``AdagradOptimizer(lr, 0.1)``         ``torch.optim.Adagrad(lr, initial_accumulator_value=0.1, eps=0)``
``AdamOptimizer(0.001, .9, .999,      :class:`torchestimator.optimizers.Adam` (``epsilon=1e-8``)
1e-8)``
``FtrlOptimizer(lr, -0.5, 0.1, ...)`` :class:`torchestimator.optimizers.Ftrl`
``RMSPropOptimizer(lr, decay=0.9,     :class:`RMSPropV1` (TF1's rule: mean square starts at **1**,
momentum=0, epsilon=1e-10)``          epsilon inside the square root)
====================================  =================================================================

Differences from the Keras (v2) optimizers the v2 pre-made estimators use: Adagrad has no epsilon (v2:
1e-7), Adam's epsilon is 1e-8 (v2: 1e-7), RMSProp's mean square starts at 1 with epsilon 1e-10 (v2: 0 and 1e-7).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from torchestimator.errors import InvalidArgumentError
from torchestimator.optimizers import Adam, Ftrl

__all__ = [
    "AdagradOptimizer",
    "AdamOptimizer",
    "FtrlOptimizer",
    "GradientDescentOptimizer",
    "MomentumOptimizer",
    "Optimizer",
    "RMSPropOptimizer",
    "RMSPropV1",
    "exponential_decay",
    "get_global_step",
    "get_or_create_global_step",
    "piecewise_constant",
]


class RMSPropV1(torch.optim.Optimizer):
    """TF1's ``RMSPropOptimizer`` rule (dense gradients)::

    ms  = decay * ms + (1 - decay) * g^2          (ms starts at 1.0)
    mg  = decay * mg + (1 - decay) * g            (centered only)
    mom = momentum * mom + lr * g / sqrt(ms - mg^2 + epsilon)
    w  -= mom
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float,
        decay: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-10,
        centered: bool = False,
    ) -> None:
        super().__init__(
            params, {"lr": lr, "decay": decay, "momentum": momentum, "eps": epsilon, "centered": centered}
        )

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.to_dense() if p.grad.is_sparse else p.grad
                state = self.state[p]
                if not state:
                    state["ms"] = torch.ones_like(p)
                    state["mom"] = torch.zeros_like(p)
                    if group["centered"]:
                        state["mg"] = torch.zeros_like(p)
                rho = group["decay"]
                state["ms"].mul_(rho).addcmul_(g, g, value=1 - rho)
                denom = state["ms"]
                if group["centered"]:
                    state["mg"].mul_(rho).add_(g, alpha=1 - rho)
                    denom = denom - state["mg"] ** 2
                state["mom"].mul_(group["momentum"]).add_(group["lr"] * g / torch.sqrt(denom + group["eps"]))
                p.sub_(state["mom"])
        return loss


def _rate(learning_rate: Any) -> float:
    """A learning rate given as a number or a scalar tensor (e.g. from :func:`exponential_decay`)."""
    return float(learning_rate.detach()) if isinstance(learning_rate, torch.Tensor) else float(learning_rate)


class Optimizer:
    """Base of the TF1 optimizers: holds the settings; :meth:`minimize` builds the torch optimizer once."""

    learning_rate: float

    def __init__(self, use_locking: bool = False, name: str = "Optimizer") -> None:
        self._name = name

    def build(self, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        raise NotImplementedError

    def signature(self) -> str:
        return f"{type(self).__name__}({sorted(vars(self).items())})"

    def minimize(
        self,
        loss: torch.Tensor,
        global_step: Any = None,
        var_list: Sequence[Any] | None = None,
        **unused: Any,
    ) -> torch.optim.Optimizer:
        """The torch optimizer to return as ``train_op`` (see the module docstring).

        Raises:
            ModelFnError: outside a function model_fn, or the settings changed since the first call.
            InvalidArgumentError: no trainable parameters.
        """
        from torchestimator.function_model import current_scope

        scope = current_scope(f"{type(self).__name__}.minimize")
        scope.minimized.append(loss)
        model = scope.model
        key = f"{self._name}_{scope.optimizer_calls}"  # call order names it, as layers
        scope.optimizer_calls += 1
        known = model.v1_optimizers.get(key)
        if known is not None:  # this call's learning rate (a decay schedule may have moved it)
            for group in known.param_groups:
                group["lr"] = self.learning_rate
            return known
        params = [p for p in (var_list if var_list is not None else model.parameters()) if p.requires_grad]
        if not params:
            raise InvalidArgumentError(
                f"{type(self).__name__}.minimize: the model has no trainable variables yet; create the layers "
                "before calling minimize."
            )
        optimizer = self.build(params)
        model.v1_optimizers[key] = optimizer
        return optimizer


class GradientDescentOptimizer(Optimizer):
    def __init__(
        self, learning_rate: float, use_locking: bool = False, name: str = "GradientDescent"
    ) -> None:
        super().__init__(use_locking, name)
        self.learning_rate = _rate(learning_rate)

    def build(self, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.SGD(params, lr=self.learning_rate)


class MomentumOptimizer(Optimizer):
    def __init__(
        self,
        learning_rate: float,
        momentum: float,
        use_locking: bool = False,
        name: str = "Momentum",
        use_nesterov: bool = False,
    ) -> None:
        super().__init__(use_locking, name)
        self.learning_rate = _rate(learning_rate)
        self.momentum, self.use_nesterov = float(momentum), use_nesterov

    def build(self, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.SGD(
            params, lr=self.learning_rate, momentum=self.momentum, nesterov=self.use_nesterov
        )


class AdagradOptimizer(Optimizer):
    def __init__(
        self,
        learning_rate: float,
        initial_accumulator_value: float = 0.1,
        use_locking: bool = False,
        name: str = "Adagrad",
    ) -> None:
        super().__init__(use_locking, name)
        if initial_accumulator_value <= 0.0:
            raise InvalidArgumentError(
                f"initial_accumulator_value must be positive: {initial_accumulator_value}"
            )
        self.learning_rate = _rate(learning_rate)
        self.initial_accumulator_value = float(initial_accumulator_value)

    def build(self, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.Adagrad(
            params, lr=self.learning_rate, initial_accumulator_value=self.initial_accumulator_value, eps=0.0
        )


class AdamOptimizer(Optimizer):
    def __init__(
        self,
        learning_rate: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-08,
        use_locking: bool = False,
        name: str = "Adam",
    ) -> None:
        super().__init__(use_locking, name)
        self.learning_rate, self.beta1, self.beta2, self.epsilon = _rate(learning_rate), beta1, beta2, epsilon

    def build(self, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return Adam(
            params,
            learning_rate=self.learning_rate,
            beta_1=self.beta1,
            beta_2=self.beta2,
            epsilon=self.epsilon,
        )


class FtrlOptimizer(Optimizer):
    def __init__(
        self,
        learning_rate: float,
        learning_rate_power: float = -0.5,
        initial_accumulator_value: float = 0.1,
        l1_regularization_strength: float = 0.0,
        l2_regularization_strength: float = 0.0,
        use_locking: bool = False,
        name: str = "Ftrl",
        accum_name: Any = None,
        linear_name: Any = None,
        l2_shrinkage_regularization_strength: float = 0.0,
        beta: float | None = None,
    ) -> None:
        super().__init__(use_locking, name)
        self.learning_rate = _rate(learning_rate)
        self.settings = {
            "learning_rate_power": learning_rate_power,
            "initial_accumulator_value": initial_accumulator_value,
            "l1_regularization_strength": l1_regularization_strength,
            "l2_regularization_strength": l2_regularization_strength,
            "l2_shrinkage_regularization_strength": l2_shrinkage_regularization_strength,
            "beta": beta or 0.0,
        }

    def build(self, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return Ftrl(params, learning_rate=self.learning_rate, **self.settings)


class RMSPropOptimizer(Optimizer):
    def __init__(
        self,
        learning_rate: float,
        decay: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-10,
        use_locking: bool = False,
        centered: bool = False,
        name: str = "RMSProp",
    ) -> None:
        super().__init__(use_locking, name)
        self.learning_rate = _rate(learning_rate)
        self.settings: dict[str, Any] = {
            "decay": decay,
            "momentum": momentum,
            "epsilon": epsilon,
            "centered": centered,
        }

    def build(self, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return RMSPropV1(params, lr=self.learning_rate, **self.settings)


def exponential_decay(
    learning_rate: float,
    global_step: Any,
    decay_steps: int,
    decay_rate: float,
    staircase: bool = False,
    name: str | None = None,
) -> torch.Tensor:
    """``lr * decay_rate ** (global_step / decay_steps)`` (the exponent floored with ``staircase``)."""
    if decay_steps <= 0:
        raise InvalidArgumentError(f"exponential_decay: decay_steps must be > 0; received {decay_steps}.")
    p = float(global_step) / decay_steps
    return torch.tensor(
        learning_rate * decay_rate ** (math.floor(p) if staircase else p), dtype=torch.float32
    )


def piecewise_constant(
    x: Any, boundaries: Sequence[float], values: Sequence[float], name: str | None = None
) -> torch.Tensor:
    """``values[i]`` for the first ``i`` with ``x <= boundaries[i]``, else ``values[-1]`` (TF's rule)."""
    if len(values) != len(boundaries) + 1:
        raise InvalidArgumentError(
            f"piecewise_constant: values must have one more entry than boundaries; received {len(values)} values "
            f"for {len(boundaries)} boundaries."
        )
    step = float(x)
    index = next((i for i, b in enumerate(boundaries) if step <= b), len(boundaries))
    return torch.tensor(float(values[index]), dtype=torch.float32)


def get_global_step(graph: Any = None) -> torch.Tensor:
    """The global step (an int64 scalar) of the Estimator running the model_fn (0 before the first step).

    Raises:
        ModelFnError: outside a function model_fn.
    """
    from torchestimator.function_model import current_scope

    model = current_scope("get_global_step").model
    return torch.tensor(model.global_step_fn(), dtype=torch.int64)


def get_or_create_global_step(graph: Any = None) -> torch.Tensor:
    """As :func:`get_global_step` (the Estimator always has one)."""
    return get_global_step(graph)
