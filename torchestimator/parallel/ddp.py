"""``DDPStrategy``: synchronous data parallelism with ``torch.distributed`` (one process per device).

Launch one process per device with ``torchrun`` (it sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``), or with :func:`torchestimator.parallel.launch.run_local`::

    torchrun --standalone --nproc_per_node=2 train.py                      # one node
    torchrun --nnodes=2 --nproc_per_node=1 --rdzv-backend=c10d \\
             --rdzv-endpoint=HOST0:29500 --rdzv-id=job1 train.py           # on each of two nodes

and set ``RunConfig(train_distribute='ddp')`` (or ``'auto'``). What each piece does:

=======================  ==========================================================================
process group            gloo on CPU, nccl on CUDA; ``init_process_group`` from torchrun's env with
                         ``RunConfig.session_creation_timeout_secs`` as the collective timeout
device                   ``cuda:<LOCAL_RANK>`` when CUDA is available, else ``cpu``
model init               identical on every rank: DDP broadcasts rank 0's parameters and buffers when
                         it wraps the module (so even an unseeded init agrees)
per-rank RNG             on wrap, every rank draws one number from the (shared) RNG stream and
                         reseeds torch / numpy / random with ``that + rank``: dropout masks differ
                         across ranks yet a rerun with the same ``tf_random_seed`` repeats them
gradients                averaged over ranks by DDP (= TF's SUM_OVER_BATCH_SIZE of the global batch
                         when every rank feeds an equal per-replica batch)
``agree(flag)``          one 1-element ``all_reduce(MAX)``: the loop calls it once per step
``agree_all(flags)``     the same with one element per flag (stop + "the chief's save clock fired")
``gather_json(obj)``     two ``all_gather`` (lengths, then padded UTF-8 JSON bytes; never pickle): at saves
``all_reduce_sum``       the tensors flattened per dtype into one buffer each: one collective per dtype
teardown                 DDP wrappers are released **before** ``destroy_process_group`` (else a worker
                         can hang at exit: pytorch/pytorch#56297); also registered ``atexit``
=======================  ==========================================================================

A collective that waits longer than the timeout raises :class:`~torchestimator.errors.DistributedError`
naming the rank and the timeout, instead of hanging.
"""

from __future__ import annotations

import atexit
import datetime
import functools
import gc
import json
import logging
import os
import random
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from torchestimator.errors import DistributedError, InvalidArgumentError
from torchestimator.parallel.placement import move_optimizer_state
from torchestimator.parallel.rank_logging import install_rank_prefix, uninstall_rank_prefix
from torchestimator.parallel.strategy import Strategy, available_device

__all__ = ["DDPStrategy"]

logger = logging.getLogger("torchestimator")

_T = TypeVar("_T")
_DEFAULT_TIMEOUT_SECS = 7200  # RunConfig.session_creation_timeout_secs default
_TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


class DDPStrategy(Strategy):
    """Data parallelism over ``torch.distributed`` processes launched by torchrun.

    Args:
        device: a device string; ``None`` picks ``cuda:<LOCAL_RANK>`` when CUDA is available, else cpu.
        backend: ``'gloo'`` or ``'nccl'``; ``None`` picks nccl for CUDA devices and gloo otherwise.
        timeout_secs: how long a collective (and the initial rendezvous) may wait before failing
            (``RunConfig.session_creation_timeout_secs``; 7200 by default).
        find_unused_parameters: passed to ``DistributedDataParallel`` (set it when some parameters
            get no gradient in a step, e.g. a multi-head model trained on one head at a time).

    Raises:
        InvalidArgumentError: an unknown backend or a non-positive timeout.

    Example:
        >>> DDPStrategy(timeout_secs=60)
        DDPStrategy(backend=None, device=None, timeout_secs=60)
    """

    def __init__(
        self,
        device: str | torch.device | None = None,
        backend: str | None = None,
        timeout_secs: float | None = None,
        find_unused_parameters: bool = False,
    ) -> None:
        if backend is not None and backend not in ("gloo", "nccl", "mpi", "ucc"):
            raise InvalidArgumentError(
                f"backend must be 'gloo', 'nccl', 'mpi', 'ucc' or None; received {backend!r}."
            )
        if timeout_secs is not None and timeout_secs <= 0:
            raise InvalidArgumentError(f"timeout_secs must be > 0; received {timeout_secs}.")
        self._requested_device = device
        self._requested_backend = backend
        self.timeout_secs = float(timeout_secs) if timeout_secs is not None else float(_DEFAULT_TIMEOUT_SECS)
        self._explicit_timeout = timeout_secs is not None
        self.find_unused_parameters = find_unused_parameters
        self._device: torch.device | None = None
        self._wrapped: dict[int, DistributedDataParallel] = {}
        self._flag: torch.Tensor | None = None
        self._owns_group = False
        self._setup_done = False

    def __repr__(self) -> str:
        timeout = int(self.timeout_secs) if self._explicit_timeout else None
        return (
            f"DDPStrategy(backend={self._requested_backend!r}, device={self._requested_device!r}, "
            f"timeout_secs={timeout!r})"
        )

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        """Join the process group from torchrun's environment (idempotent).

        Raises:
            DistributedError: the torchrun environment is missing, or the rendezvous timed out.
        """
        if self._setup_done:
            return
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self._device = self._pick_device(local_rank)
        if not dist.is_initialized():
            missing = [k for k in _TORCHRUN_ENV if k not in os.environ]
            if missing:
                raise DistributedError(
                    f"train_distribute='ddp' needs the torchrun environment, but {missing} are not set. Launch with "
                    "`torchrun --standalone --nproc_per_node=N your_script.py`, or `python -m "
                    "torchestimator.parallel.launch --nproc N your_script.py`, or run_local(fn, nproc=N) from "
                    "torchestimator.parallel.launch; for one process use train_distribute=None."
                )
            backend = self._requested_backend or ("nccl" if self._device.type == "cuda" else "gloo")
            if self._device.type == "cuda":
                torch.cuda.set_device(self._device)
            try:
                dist.init_process_group(
                    backend=backend, timeout=datetime.timedelta(seconds=self.timeout_secs)
                )
            except Exception as e:  # the rendezvous failed or timed out: say which and what to check
                raise DistributedError(
                    f"joining the process group failed (backend {backend!r}, rank {os.environ.get('RANK')} of "
                    f"{os.environ.get('WORLD_SIZE')}, MASTER_ADDR={os.environ.get('MASTER_ADDR')}:"
                    f"{os.environ.get('MASTER_PORT')}, timeout {self.timeout_secs:g}s): {e}. Check that every "
                    "process was started and can reach the master address."
                ) from e
            self._owns_group = True
            atexit.register(self._release_at_exit)
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        self.num_replicas_in_sync = self.world_size
        self._setup_done = True
        install_rank_prefix(self.rank, self.world_size)
        logger.info(
            "DDP: rank %d of %d on %s (%s).", self.rank, self.world_size, self._device, dist.get_backend()
        )

    def _pick_device(self, local_rank: int) -> torch.device:
        if self._requested_device is not None:
            return available_device(self._requested_device)
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))
        return torch.device("cpu")

    @property
    def device(self) -> torch.device:
        if self._device is None:
            self.setup()
        assert self._device is not None  # set by setup()
        return self._device

    # ------------------------------------------------------------------ module wrapping
    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """``DistributedDataParallel(module)``, built once per module; reseeds the RNG per rank.

        Args:
            module: the plain model_fn module, already on :attr:`device`.

        Returns:
            The DDP wrapper the train step calls.
        """
        self.setup()
        move_optimizer_state(module)  # e.g. Adagrad accumulators built on the CPU before module.to(cuda)
        self._seed_per_rank()
        wrapped = self._wrapped.get(id(module))
        if wrapped is None or wrapped.module is not module:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            wrapped = self._collective(
                "wrapping the model in DistributedDataParallel (broadcast of rank 0's parameters)",
                lambda: DistributedDataParallel(
                    module, device_ids=device_ids, find_unused_parameters=self.find_unused_parameters
                ),
            )
            self._wrapped[id(module)] = wrapped
        return wrapped

    def unwrap(self, module: torch.nn.Module) -> torch.nn.Module:
        return module.module if isinstance(module, DistributedDataParallel) else module

    def _seed_per_rank(self) -> None:
        # every rank holds the same RNG state here (same tf_random_seed, or the chief's restored state),
        # so one shared draw + rank gives distinct, reproducible per-rank streams
        base = int(torch.randint(0, 2**62, (1,)).item())
        seed = base + self.rank
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)

    # ------------------------------------------------------------------ collectives
    def _collective(self, what: str, fn: Callable[[], _T]) -> _T:
        try:
            return fn()
        except DistributedError:
            raise
        except RuntimeError as e:  # gloo / nccl report timeouts and lost peers as RuntimeError subclasses
            text = str(e)
            timed_out = "timed out" in text.lower() or "timeout" in text.lower()
            reason = (
                f"timed out after {self.timeout_secs:g}s (RunConfig.session_creation_timeout_secs)"
                if timed_out
                else "failed"
            )
            raise DistributedError(
                f"rank {self.rank} of {self.world_size}: {what} {reason}: {text.splitlines()[0] if text else e!r}. "
                "Another process probably stopped or is stuck; check its log (torchrun prints each rank's exit "
                "code). Under `torchrun --max-restarts=K` the group restarts from the last checkpoint."
            ) from e

    def agree(self, flag: bool) -> bool:
        """Logical OR of ``flag`` across ranks (one 1-element all_reduce)."""
        if self._flag is None:
            self._flag = torch.zeros(1, dtype=torch.int32, device=self.device)
        flag_tensor = self._flag
        flag_tensor.fill_(1 if flag else 0)
        self._collective(
            "agreeing on the stop flag", lambda: dist.all_reduce(flag_tensor, op=dist.ReduceOp.MAX)
        )
        return bool(flag_tensor.item())

    def agree_all(self, flags: Sequence[bool]) -> list[bool]:
        """Logical OR of each flag across ranks (one all_reduce of ``len(flags)`` elements)."""
        flag_tensor = torch.tensor([1 if f else 0 for f in flags], dtype=torch.int32, device=self.device)
        self._collective(
            "agreeing on the step flags", lambda: dist.all_reduce(flag_tensor, op=dist.ReduceOp.MAX)
        )
        return [bool(v) for v in flag_tensor.tolist()]

    def gather_json(self, obj: Any) -> list[Any]:
        """Every rank's JSON-able ``obj``, in rank order (sent as UTF-8 JSON bytes, never pickled)."""
        data = json.dumps(obj).encode()
        size = torch.tensor([len(data)], dtype=torch.int64, device=self.device)
        sizes = [torch.zeros_like(size) for _ in range(self.world_size)]
        self._collective("gathering checkpoint state sizes", lambda: dist.all_gather(sizes, size))
        lengths = [int(s.item()) for s in sizes]
        buf = torch.zeros(max(lengths), dtype=torch.uint8, device=self.device)
        buf[: len(data)] = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(self.device)
        bufs = [torch.empty_like(buf) for _ in range(self.world_size)]
        self._collective("gathering checkpoint state", lambda: dist.all_gather(bufs, buf))
        return [json.loads(b[:n].cpu().numpy().tobytes()) for b, n in zip(bufs, lengths)]

    def all_reduce_sum(self, tensors: Sequence[torch.Tensor]) -> None:
        """Sum ``tensors`` elementwise across ranks, in place (one collective per dtype).

        Raises:
            DistributedError: the ranks passed different numbers or sizes of tensors.
        """
        total = sum(t.numel() for t in tensors)
        shape = torch.tensor(
            [len(tensors), total, -len(tensors), -total], dtype=torch.int64, device=self.device
        )
        self._collective(
            "comparing the reduced tensors", lambda: dist.all_reduce(shape, op=dist.ReduceOp.MAX)
        )
        if shape.tolist() != [len(tensors), total, -len(tensors), -total]:
            raise DistributedError(
                f"rank {self.rank}: all_reduce_sum got {len(tensors)} tensors ({total} values) but another rank "
                f"passed a different number or size (max {shape[0].item()} tensors / {shape[1].item()} values, min "
                f"{-shape[2].item()} / {-shape[3].item()}). Every rank must evaluate the same metrics; make sure each "
                "rank's input_fn yields at least one batch."
            )
        by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
        for t in tensors:
            by_dtype.setdefault(t.dtype, []).append(t)
        for dtype in sorted(by_dtype, key=str):  # the same order on every rank
            group = by_dtype[dtype]
            flat = torch.cat([t.detach().reshape(-1).to(self.device) for t in group])  # (N,)
            self._collective("summing evaluation states", functools.partial(dist.all_reduce, flat))
            offset = 0
            for t in group:
                n = t.numel()
                t.copy_(flat[offset : offset + n].reshape(t.shape))
                offset += n

    def barrier(self) -> None:
        """Wait for every rank (with the collective timeout)."""
        if self.device.type == "cuda":
            self._collective("waiting at a barrier", lambda: dist.barrier(device_ids=[self.device.index]))
        else:
            self._collective("waiting at a barrier", dist.barrier)

    # ------------------------------------------------------------------ teardown
    def _release_wrappers(self) -> None:
        self._wrapped.clear()
        self._flag = None
        gc.collect()

    def teardown(self) -> None:
        """Release DDP, wait for every rank, then leave the process group (idempotent)."""
        self._release_wrappers()
        if self._owns_group and dist.is_initialized():
            self.barrier()
            dist.destroy_process_group()
        self._owns_group = False
        self._setup_done = False
        self._device = None
        uninstall_rank_prefix()

    def _release_at_exit(self) -> None:
        # no barrier here: after an exception the other ranks may never reach one
        self._release_wrappers()
        if self._owns_group and dist.is_initialized():
            try:
                dist.destroy_process_group()
            except Exception as e:  # exiting anyway; never turn a clean exit into a traceback
                logger.debug("destroy_process_group at exit: %s", e)
        self._owns_group = False
