"""Adam and RMSProp with the update rules of ``tf.keras.optimizers.legacy`` (what TF 2.15's canned
estimators use), for dense *and* sparse gradients.

torch's ``Adam`` / ``RMSprop`` reject sparse gradients and place epsilon differently, so these
reproduce TF's kernels instead:

* **Adam** (``ResourceApplyAdam``): ``lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t)``;
  ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g^2``; ``w -= lr_t m / (sqrt(v) + eps)``.
  Sparse gradients follow Keras' ``_resource_apply_sparse``: ``m`` and ``v`` decay on **every**
  row, the gradient is scattered into the touched rows, and every row moves by its momentum —
  the same numbers as densifying the gradient, at the cost of a full pass over the table.
  ``lazy=True`` instead touches only the gradient's rows (m, v and w), like ``torch.optim.SparseAdam``
  / TF-Addons' LazyAdam: much cheaper for large embeddings, not bit-equal to TF.
* **RMSProp**: without momentum, ``ms = rho ms + (1 - rho) g^2`` and
  ``w -= lr g / (sqrt(ms) + eps)`` (``ms - mg^2`` when centered). With momentum it is TF's
  ``ResourceApplyRMSProp``: ``mom = momentum mom + lr g / sqrt(ms + eps)``; ``w -= mom`` (epsilon
  inside the square root, as in TF). Sparse, without momentum: ``ms`` (and ``mg``) decay on every
  row and only touched rows of ``w`` move (Keras' sparse path); with momentum: TF's
  ``ResourceSparseApplyRMSProp``, which updates the touched rows of every slot only.

Sparse gradients are coalesced first (duplicate rows summed, as Keras does).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch

from torchestimator.errors import InvalidArgumentError

__all__ = ["Adam", "RMSProp"]


def _check(name: str, value: float, ok: bool, rule: str) -> None:
    if not ok:
        raise InvalidArgumentError(f"`{name}` must be {rule}; received {value}.")


def _sparse_parts(grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    grad = grad.coalesce()
    return grad.indices()[0], grad.values()  # (nnz,), (nnz, *row)


class Adam(torch.optim.Optimizer):
    """Adam with TF's update rule (tf.keras.optimizers.legacy.Adam), dense and sparse gradients.

    Args:
        params: parameters or parameter groups.
        learning_rate: step size (Keras' default 0.001; alias ``lr``).
        beta_1: first-moment decay.
        beta_2: second-moment decay.
        epsilon: added to ``sqrt(v)`` (Keras' default 1e-7).
        amsgrad: use ``max`` of past second moments.
        lazy: for sparse gradients, update only the gradient's rows (see the module docstring).
        lr: alias of ``learning_rate``.
    """

    def __init__(
        self,
        params: Iterable[Any],
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        lazy: bool = False,
        *,
        lr: float | None = None,
    ) -> None:
        lr_value = float(lr if lr is not None else learning_rate)
        _check("learning_rate", lr_value, lr_value > 0, "> 0")
        _check("beta_1", beta_1, 0 <= beta_1 < 1, "in [0, 1)")
        _check("beta_2", beta_2, 0 <= beta_2 < 1, "in [0, 1)")
        _check("epsilon", epsilon, epsilon >= 0, ">= 0")
        defaults = {
            "lr": lr_value,
            "beta_1": beta_1,
            "beta_2": beta_2,
            "eps": epsilon,
            "amsgrad": amsgrad,
            "lazy": lazy,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One Adam update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            b1, b2, eps = group["beta_1"], group["beta_2"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["m"] = torch.zeros_like(p)
                    state["v"] = torch.zeros_like(p)
                    if group["amsgrad"]:
                        state["vhat"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"]
                lr_t = group["lr"] * math.sqrt(1 - b2**t) / (1 - b1**t)
                m, v = state["m"], state["v"]
                grad = p.grad
                if grad.is_sparse and group["lazy"]:
                    rows, g = _sparse_parts(grad)
                    m_rows = m[rows].mul_(b1).add_(g, alpha=1 - b1)
                    v_rows = v[rows].mul_(b2).addcmul_(g, g, value=1 - b2)
                    m.index_copy_(0, rows, m_rows)
                    v.index_copy_(0, rows, v_rows)
                    if group["amsgrad"]:
                        vhat_rows = torch.maximum(state["vhat"][rows], v_rows)
                        state["vhat"].index_copy_(0, rows, vhat_rows)
                        v_rows = vhat_rows
                    p.index_add_(0, rows, -lr_t * m_rows / (v_rows.sqrt() + eps))
                    continue
                if grad.is_sparse:
                    rows, g = _sparse_parts(grad)
                    m.mul_(b1).index_add_(0, rows, g * (1 - b1))
                    v.mul_(b2).index_add_(0, rows, g * g * (1 - b2))
                else:
                    m.mul_(b1).add_(grad, alpha=1 - b1)
                    v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
                denom = v
                if group["amsgrad"]:
                    torch.maximum(state["vhat"], v, out=state["vhat"])
                    denom = state["vhat"]
                p.addcdiv_(m, denom.sqrt().add_(eps), value=-lr_t)
        return loss


class RMSProp(torch.optim.Optimizer):
    """RMSProp with TF's update rule (tf.keras.optimizers.legacy.RMSprop), dense and sparse gradients.

    Args:
        params: parameters or parameter groups.
        learning_rate: step size (Keras' default 0.001; alias ``lr``).
        rho: decay of the mean square (Keras' default 0.9).
        momentum: momentum (0 disables the momentum slot).
        epsilon: Keras' default 1e-7 (outside the sqrt without momentum, inside with it: TF's kernels).
        centered: normalise by the centered second moment ``ms - mg^2``.
        lr: alias of ``learning_rate``.
    """

    def __init__(
        self,
        params: Iterable[Any],
        learning_rate: float = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        *,
        lr: float | None = None,
    ) -> None:
        lr_value = float(lr if lr is not None else learning_rate)
        _check("learning_rate", lr_value, lr_value > 0, "> 0")
        _check("rho", rho, 0 <= rho <= 1, "in [0, 1]")
        _check("momentum", momentum, 0 <= momentum <= 1, "in [0, 1]")
        _check("epsilon", epsilon, epsilon >= 0, ">= 0")
        defaults = {"lr": lr_value, "rho": rho, "momentum": momentum, "eps": epsilon, "centered": centered}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One RMSProp update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, rho, mu, eps, centered = (
                group["lr"],
                group["rho"],
                group["momentum"],
                group["eps"],
                group["centered"],
            )
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["rms"] = torch.zeros_like(p)
                    if mu > 0:
                        state["momentum"] = torch.zeros_like(p)
                    if centered:
                        state["mg"] = torch.zeros_like(p)
                grad = p.grad
                if grad.is_sparse:
                    rows, g = _sparse_parts(grad)
                    if mu > 0:
                        self._sparse_momentum(p, state, rows, g, lr, rho, mu, eps, centered)
                        continue
                    rms = state["rms"].mul_(rho).index_add_(0, rows, g * g * (1 - rho))
                    denom = rms[rows]
                    if centered:
                        mg = state["mg"].mul_(rho).index_add_(0, rows, g * (1 - rho))
                        denom = denom - mg[rows] ** 2
                    p.index_add_(0, rows, -lr * g / (denom.sqrt() + eps))
                    continue
                rms = state["rms"].mul_(rho).addcmul_(grad, grad, value=1 - rho)
                denom = rms
                if centered:
                    mg = state["mg"].mul_(rho).add_(grad, alpha=1 - rho)
                    denom = rms - mg * mg
                if mu > 0:
                    mom = state["momentum"].mul_(mu).addcdiv_(grad, (denom + eps).sqrt(), value=lr)
                    p.sub_(mom)
                else:
                    p.addcdiv_(grad, denom.sqrt().add_(eps), value=-lr)
        return loss

    @staticmethod
    def _sparse_momentum(
        p: torch.Tensor,
        state: dict[str, Any],
        rows: torch.Tensor,
        g: torch.Tensor,
        lr: float,
        rho: float,
        mu: float,
        eps: float,
        centered: bool,
    ) -> None:
        ms = state["rms"][rows].mul_(rho).addcmul_(g, g, value=1 - rho)
        state["rms"].index_copy_(0, rows, ms)
        denom = ms
        if centered:
            mg = state["mg"][rows].mul_(rho).add_(g, alpha=1 - rho)
            state["mg"].index_copy_(0, rows, mg)
            denom = ms - mg * mg
        mom = state["momentum"][rows].mul_(mu).addcdiv_(g, (denom + eps).sqrt(), value=lr)
        state["momentum"].index_copy_(0, rows, mom)
        p.index_add_(0, rows, -mom)
