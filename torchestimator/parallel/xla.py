"""``XLAStrategy``: train on an XLA device (TPU, or the XLA CPU device) through torch-xla.

torch-xla is optional and imported only when this strategy is set up. It is tied to one torch
release (torch-xla 2.9 needs torch 2.9.0), so it lives in its own environment; see
``scripts/xla_check.sh``, which builds one and checks train / evaluate / predict against eager torch::

    PJRT_DEVICE=CPU python train.py          # with RunConfig(train_distribute='xla')
    PJRT_DEVICE=TPU python train.py

What it does behind the seam: the model and batches live on ``torch_xla.device()``; the loop calls
``step_boundary()`` after each optimizer step, which cuts and runs the lazily traced graph
(``torch_xla.sync()``, formerly ``xm.mark_step()``). Nothing reads a value back per step unless a
hook asks (logging every ``log_step_count_steps``). One process per host; with several XLA
processes (``xr.world_size() > 1``) gradients are all-reduced before each optimizer step and the
stop flag / eval states are reduced with XLA collectives. Multi-process XLA on the CPU device
failed in the dependency probe (rendezvous timeout), so only the one-process path is tested here.

Set the strategy up (construct the Estimator) before any other backward pass in the process: torch's
autograd engine sizes its per-device queues at the first backward, and an XLA backward after an
eager one fails with ``INTERNAL ASSERT FAILED ... device_ready_queues_``.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import torch

from torchestimator.errors import DistributedError
from torchestimator.parallel.placement import move_optimizer_state
from torchestimator.parallel.strategy import Strategy

__all__ = ["XLAStrategy"]

_INSTALL_HINT = (
    "train_distribute='xla' needs torch-xla, which is not installed (or does not match this torch). torch-xla "
    "2.9 requires torch==2.9.0: create a separate environment with `pip install torch==2.9.0 torch-xla==2.9.0` "
    "(scripts/xla_check.sh does it) and set PJRT_DEVICE=CPU or TPU."
)


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise DistributedError(f"{_INSTALL_HINT} (import {name!r} failed: {e})") from e


class XLAStrategy(Strategy):
    """One XLA device per process (torch-xla, PJRT runtime).

    Args:
        device: ignored unless it names an ``xla`` device; the PJRT runtime picks the device.

    Raises:
        DistributedError: on ``setup()``, when torch-xla cannot be imported (with an install hint).
    """

    def __init__(self, device: str | torch.device | None = None) -> None:
        self._requested = device
        self._device: torch.device | None = None
        self._xm: Any = None
        self._torch_xla: Any = None
        self._hooked: set[int] = set()  # modules whose gradients already all-reduce

    def __repr__(self) -> str:
        return f"XLAStrategy(device={str(self._device) if self._device is not None else None!r})"

    def setup(self) -> None:
        """Import torch-xla and pick the process's XLA device (idempotent)."""
        if self._device is not None:
            return
        self._torch_xla = _import("torch_xla")
        # keep Parameter objects (and so the model_fn's optimizer references) across module.to(xla)
        torch.__future__.set_swap_module_params_on_conversion(True)
        self._xm = _import("torch_xla.core.xla_model")
        runtime = _import("torch_xla.runtime")
        requested = torch.device(self._requested) if self._requested is not None else None
        if requested is not None and requested.type == "xla":
            self._device = requested
        else:
            device_fn = getattr(self._torch_xla, "device", None)
            self._device = torch.device(device_fn() if device_fn is not None else self._xm.xla_device())
        self.rank = int(runtime.global_ordinal())
        self.world_size = int(runtime.world_size())
        self.num_replicas_in_sync = self.world_size

    @property
    def device(self) -> torch.device:
        self.setup()
        assert self._device is not None  # set by setup()
        return self._device

    def _sync(self) -> None:
        sync = getattr(self._torch_xla, "sync", None)
        if sync is not None:
            sync()
        else:  # torch-xla < 2.6
            self._xm.mark_step()

    def step_boundary(self) -> None:
        """Cut the traced graph and run it (one compiled step)."""
        self._sync()

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        move_optimizer_state(module)
        if self.world_size > 1 and id(module) not in self._hooked:
            self._hooked.add(id(module))
            # gradients are summed across processes before the optimizer step, then averaged
            world = float(self.world_size)
            for p in module.parameters():
                if p.requires_grad:
                    p.register_hook(
                        lambda g, world=world: self._xm.all_reduce(self._xm.REDUCE_SUM, g) / world
                    )
        return module

    def agree(self, flag: bool) -> bool:
        if self.world_size == 1:
            return flag
        return bool(self._xm.mesh_reduce("torchestimator_agree", int(flag), max))

    def all_reduce_sum(self, tensors: Sequence[torch.Tensor]) -> None:
        if self.world_size == 1 or not tensors:
            return
        reduced = self._xm.all_reduce(self._xm.REDUCE_SUM, list(tensors))
        for t, r in zip(tensors, reduced):
            t.copy_(r)

    def barrier(self) -> None:
        self._sync()
        if self.world_size > 1:
            self._xm.rendezvous("torchestimator_barrier")
