"""Keep a model_fn's optimizers on the model's device after the module moved there.

A model_fn builds its optimizer in ``__init__``, on the CPU, before the Estimator moves the module to
the strategy's device. Two things can then go stale:

* optimizer **state** created eagerly (``Adagrad``'s accumulators) stays on the CPU while the
  parameters move (fails on CUDA and XLA at the first step);
* on XLA, ``module.to(xla)`` replaces the Parameter objects (CPU and XLA tensors cannot share
  storage) unless ``torch.__future__.set_swap_module_params_on_conversion(True)`` is set, which
  :class:`~torchestimator.parallel.xla.XLAStrategy` does; then the optimizer keeps the same objects.

:func:`move_optimizer_state` fixes the first: it moves every state tensor shaped like its parameter
to that parameter's device (scalar ``step`` counters stay where the optimizer keeps them).
"""

from __future__ import annotations

import torch

__all__ = ["module_optimizers", "move_optimizer_state"]


def module_optimizers(module: torch.nn.Module) -> dict[str, torch.optim.Optimizer]:
    """The optimizers stored as attributes anywhere in ``module`` (each once), by attribute path.

    >>> m = torch.nn.Linear(1, 1)
    >>> m.optimizer = torch.optim.SGD(m.parameters(), lr=0.1)
    >>> list(module_optimizers(m))
    ['optimizer']
    """
    found: dict[str, torch.optim.Optimizer] = {}
    for prefix, sub in module.named_modules():
        for attr, value in vars(sub).items():
            if isinstance(value, torch.optim.Optimizer) and all(value is not o for o in found.values()):
                found[f"{prefix}.{attr}" if prefix else attr] = value
    return found


def move_optimizer_state(module: torch.nn.Module) -> int:
    """Move optimizer state tensors to their parameter's device; returns how many moved.

    Args:
        module: the model_fn module, already on its device.

    Returns:
        The number of state tensors moved.
    """
    moved = 0
    for optimizer in module_optimizers(module).values():
        for param, state in optimizer.state.items():
            if not isinstance(param, torch.Tensor):
                continue
            for key, value in state.items():
                if (
                    isinstance(value, torch.Tensor)
                    and value.shape == param.shape
                    and value.device != param.device
                ):
                    state[key] = value.to(param.device)
                    moved += 1
    return moved
