"""The ``Strategy`` seam: everything the loop needs to know about devices and processes.

The Estimator loop never branches on the kind of distribution; it calls these methods:

==========================  =========================================================================
``setup()``                 join the process group / pick the device (idempotent)
``device``                  where the model and batches live
``is_chief``                gates every side effect (checkpoints, summaries, logs, exports)
``input_context()``         which input pipeline this process runs (``input_fn``'s ``input_context``)
``wrap(module)``            the module the train step calls (DDP wraps it; single device returns it)
``unwrap(module)``          the plain module (checkpoints, eval, predict, export)
``agree(flag)``             logical OR of a flag over all processes (stop requests, end of input)
``agree_all(flags)``        logical OR of each of several flags, in one collective where possible
``gather_json(obj)``        every process's JSON-able ``obj``, in rank order (per-rank RNG states at a save)
``all_reduce_sum(tensors)`` elementwise sums over processes (eval metric states), in place
``barrier()``               wait for every process
``step_boundary()``         called once per step after the optimizer (XLA's mark_step)
``prepare(module)``         optimizers to register (and restore) before ``wrap`` (sharded tables)
``sync_to_module()``        on every process before a checkpoint save (sharded tables: per-rank shard files)
``checkpoint_shards()``     what the chief's save adopts (the ranks' shard files); None by default
``finish_train(saved)``     end of ``train()``: True when the module must be reloaded from the checkpoint
``teardown()``              leave the process group cleanly
==========================  =========================================================================
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import torch

from torchestimator.errors import InvalidArgumentError
from torchestimator.parallel.input_context import InputContext

__all__ = ["SingleDeviceStrategy", "Strategy", "available_device", "default_device"]


def default_device() -> torch.device:
    """``cuda`` when available, else ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def available_device(requested: str | torch.device) -> torch.device:
    """``torch.device(requested)``, checked to exist on this machine (``RunConfig.device``).

    Raises:
        InvalidArgumentError: the name is not a device, or this machine has no such device (torch would
            otherwise fail later with a bare ``AssertionError: Torch not compiled with CUDA enabled``).
    """
    try:
        device = torch.device(requested)
    except (RuntimeError, TypeError, ValueError) as err:
        raise InvalidArgumentError(
            f"RunConfig.device must be a device such as 'cpu', 'cuda', 'cuda:1' or None (automatic); "
            f"received {requested!r}."
        ) from err
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InvalidArgumentError(
                f"RunConfig.device is {str(device)!r} but this machine has no usable CUDA device (torch "
                f"{torch.__version__}, CUDA build {torch.version.cuda or 'none'}); use device='cpu', or "
                "device=None to pick CUDA where it exists."
            )
        if device.index is not None and device.index >= count:
            raise InvalidArgumentError(
                f"RunConfig.device is {str(device)!r} but this machine has {count} CUDA device(s) "
                f"(cuda:0 .. cuda:{count - 1})."
            )
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise InvalidArgumentError("RunConfig.device is 'mps' but MPS is not available on this machine.")
    return device


class Strategy:
    """Interface; see the module docstring for when the loop calls each member."""

    num_replicas_in_sync: int = 1
    rank: int = 0
    world_size: int = 1

    @property
    def device(self) -> torch.device:
        raise NotImplementedError

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    def setup(self) -> None:
        """Initialise (idempotent)."""

    def input_context(self) -> InputContext:
        return InputContext(self.world_size, self.rank, self.num_replicas_in_sync)

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        return module

    def unwrap(self, module: torch.nn.Module) -> torch.nn.Module:
        return module

    def agree(self, flag: bool) -> bool:
        return flag

    def agree_all(self, flags: Sequence[bool]) -> list[bool]:
        """Logical OR of each flag over all processes."""
        return [self.agree(f) for f in flags]

    def gather_json(self, obj: Any) -> list[Any]:
        """``obj`` of every process in rank order (a strategy that cannot gather returns only its own)."""
        return [obj]

    def all_reduce_sum(self, tensors: Sequence[torch.Tensor]) -> None:
        """Sum ``tensors`` over processes, in place."""

    def barrier(self) -> None:
        """Wait for every process."""

    def step_boundary(self) -> None:
        """Mark the end of a training step."""

    def prepare(self, module: torch.nn.Module, config: Any = None) -> dict[str, torch.optim.Optimizer]:
        """Optimizers the loop registers (restoring their state) before :meth:`wrap`; none by default.

        Args:
            module: the model_fn module.
            config: the ``RunConfig`` (a strategy may refuse settings it cannot honour).
        """
        return {}

    def sync_to_module(self, model_dir: str | None = None, step: int | None = None) -> None:
        """Every process calls it before a checkpoint save (sharded tables: each rank writes its shard files)."""

    def building(self) -> Any:
        """A context the Estimator builds the model in (sharded tables: built without their memory)."""
        return contextlib.nullcontext()

    reads_shard_files = False  # sharded tables: a training restore leaves them to the ranks (restored_from)

    def restored_from(self, state: Any) -> None:
        """The Estimator restored ``state`` (a ``CheckpointState``); sharded tables read their rows from it."""

    def checkpoint_shards(self) -> Any:
        """The chief's save adopts these shard files (sharded tables); None by default."""
        return None

    def finish_train(self, saved: bool) -> bool:
        """End of ``train()`` on every process; True when the module must be reloaded from the final checkpoint."""
        return False

    def teardown(self) -> None:
        """Leave the process group."""


class SingleDeviceStrategy(Strategy):
    """One process, one device (the default).

    Args:
        device: a device string or ``torch.device``; ``None`` picks :func:`default_device`.
    """

    def __init__(self, device: str | torch.device | None = None) -> None:
        self._device = available_device(device) if device is not None else default_device()

    @property
    def device(self) -> torch.device:
        return self._device

    def __repr__(self) -> str:
        return f"SingleDeviceStrategy(device={str(self._device)!r})"
