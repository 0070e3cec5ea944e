"""FTRL-Proximal as a ``torch.optim.Optimizer``, with TF's update rule (``ApplyFtrlV2``) and arguments.

Per element, with ``n`` the accumulator and ``z`` the linear slot (TF's ``training_ops``)::

    g_s     = g + 2 * l2_shrinkage * w                  # only the linear term sees shrinkage
    n_new   = n + g ** 2
    sigma   = (n_new ** -p - n ** -p) / lr              # p = learning_rate_power (-0.5: sqrt)
    z      += g_s - sigma * w
    w       = (sign(z) * l1 - z) / (n_new ** -p / lr + 2 * l2')   if |z| > l1   else 0
    n       = n_new
                                                        # l2' = l2 + beta / (2 * lr)  (Keras' ``beta``)

Slots start as ``n = initial_accumulator_value``, ``z = 0``. A sparse gradient (``nn.Embedding
(sparse=True)`` / ``EmbeddingBag``) has its duplicate rows summed (as Keras' optimizers do before
``ResourceSparseApplyFtrl``; without a sort: :mod:`torchestimator.optimizers.sparse_rows`) and only the rows present are gathered, updated and scattered
back, with vectorised index ops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from torchestimator.errors import InvalidArgumentError
from torchestimator.optimizers.sparse_rows import SlotScratch, unique_rows

__all__ = ["Ftrl"]


class Ftrl(torch.optim.Optimizer):
    """FTRL-Proximal (tf.keras.optimizers.legacy.Ftrl), dense and sparse gradients.

    Args:
        params: parameters or parameter groups.
        learning_rate: step size (Keras' default 0.001; also settable as ``lr``).
        learning_rate_power: ``p`` <= 0 (-0.5: the usual Adagrad-style decay; 0: constant rate).
        initial_accumulator_value: starting accumulator, >= 0.
        l1_regularization_strength: L1, >= 0 (drives weights to exactly 0).
        l2_regularization_strength: L2 of the proximal step, >= 0.
        l2_shrinkage_regularization_strength: L2 applied to the gradient (magnitude penalty), >= 0.
        beta: Keras' ``beta``; adds ``beta / (2 * lr)`` to the L2 strength.
        lr: alias of ``learning_rate`` (torch naming, used by LR schedulers as ``group['lr']``).

    Raises:
        InvalidArgumentError: an argument out of range.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.zeros(2))
        >>> opt = Ftrl([w], learning_rate=0.1)
        >>> w.grad = torch.tensor([1.0, -1.0]); opt.step()
        >>> [round(v, 4) for v in w.tolist()]
        [-0.0953, 0.0953]
    """

    def __init__(
        self,
        params: Iterable[Any],
        learning_rate: float = 0.001,
        learning_rate_power: float = -0.5,
        initial_accumulator_value: float = 0.1,
        l1_regularization_strength: float = 0.0,
        l2_regularization_strength: float = 0.0,
        l2_shrinkage_regularization_strength: float = 0.0,
        beta: float = 0.0,
        *,
        lr: float | None = None,
    ) -> None:
        lr_value = float(lr if lr is not None else learning_rate)
        checks = {
            "learning_rate": (lr_value, lr_value > 0),
            "learning_rate_power": (learning_rate_power, learning_rate_power <= 0),
            "initial_accumulator_value": (initial_accumulator_value, initial_accumulator_value >= 0),
            "l1_regularization_strength": (l1_regularization_strength, l1_regularization_strength >= 0),
            "l2_regularization_strength": (l2_regularization_strength, l2_regularization_strength >= 0),
            "l2_shrinkage_regularization_strength": (
                l2_shrinkage_regularization_strength,
                l2_shrinkage_regularization_strength >= 0,
            ),
            "beta": (beta, beta >= 0),
        }
        for name, (value, ok) in checks.items():
            if not ok:
                rule = (
                    "<= 0"
                    if name == "learning_rate_power"
                    else (">= 0" if name != "learning_rate" else "> 0")
                )
                raise InvalidArgumentError(f"Ftrl `{name}` must be {rule}; received {value}.")
        defaults = {
            "lr": lr_value,
            "learning_rate_power": float(learning_rate_power),
            "initial_accumulator_value": float(initial_accumulator_value),
            "l1": float(l1_regularization_strength),
            "l2": float(l2_regularization_strength),
            "l2_shrinkage": float(l2_shrinkage_regularization_strength),
            "beta": float(beta),
        }
        super().__init__(params, defaults)
        self._scratch: dict[int, SlotScratch] = {}

    def _slots(self, p: torch.Tensor, init: float) -> tuple[torch.Tensor, torch.Tensor]:
        state = self.state[p]
        if not state:
            state["accumulator"] = torch.full_like(p, init, memory_format=torch.preserve_format)
            state["linear"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state["accumulator"], state["linear"]

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One FTRL update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr = group["lr"]
            l2 = group["l2"] + group["beta"] / (2.0 * lr)
            hyper = (lr, group["learning_rate_power"], group["l1"], l2, group["l2_shrinkage"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                accum, linear = self._slots(p, group["initial_accumulator_value"])
                grad = p.grad
                if grad.is_sparse:
                    rows, values = unique_rows(grad, self._scratch.setdefault(id(p), SlotScratch()))
                    w, n, z = _ftrl_update(
                        p.index_select(0, rows),
                        accum.index_select(0, rows),
                        linear.index_select(0, rows),
                        values,
                        *hyper,
                    )
                    p.index_copy_(0, rows, w)
                    accum.index_copy_(0, rows, n)
                    linear.index_copy_(0, rows, z)
                else:
                    w, n, z = _ftrl_update(p, accum, linear, grad, *hyper)
                    p.copy_(w)
                    accum.copy_(n)
                    linear.copy_(z)
        return loss


def _ftrl_update(
    w: torch.Tensor,
    n: torch.Tensor,
    z: torch.Tensor,
    g: torch.Tensor,
    lr: float,
    lr_power: float,
    l1: float,
    l2: float,
    l2_shrinkage: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """New (weights, accumulator, linear) for one block of rows; the inputs are not modified."""
    g_shrunk = g + 2.0 * l2_shrinkage * w if l2_shrinkage > 0 else g
    n_new = n + g * g
    if lr_power == -0.5:
        n_pow_new, n_pow = n_new.sqrt(), n.sqrt()
    else:
        n_pow_new, n_pow = n_new.pow(-lr_power), n.pow(-lr_power)
    z_new = z + g_shrunk - (n_pow_new - n_pow) / lr * w
    quadratic = n_pow_new / lr + 2.0 * l2
    w_new = torch.where(
        z_new.abs() > l1, (torch.sign(z_new) * l1 - z_new) / quadratic, torch.zeros_like(z_new)
    )
    return w_new, n_new, z_new
