"""``RunConfig``: how an Estimator runs (tf.estimator.RunConfig, plus what PyTorch users need).

A frozen dataclass with every field of TF's table and TF's defaults. Checkpoint cadence follows TF
exactly: pass neither ``save_checkpoints_steps`` nor ``save_checkpoints_secs`` and a checkpoint is
written every 600 s; pass one and the other becomes ``None``; pass both as ``None`` explicitly and
checkpointing is disabled; pass both as numbers and it is an error (in ``replace()`` too).

Cluster fields (``task_type``, ``is_chief``, ``num_worker_replicas``, ...) are read from ``TF_CONFIG``
when it is set (see :mod:`torchestimator.parallel.tf_config`), else describe a single local worker.

Example:
    >>> cfg = RunConfig(save_checkpoints_steps=100)
    >>> cfg.save_checkpoints_secs is None, cfg.keep_checkpoint_max
    (True, 5)
    >>> cfg.replace(save_checkpoints_secs=60).save_checkpoints_steps is None
    True
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import torch

from torchestimator.errors import InvalidArgumentError
from torchestimator.model_compile import compile_options
from torchestimator.threads import check_thread_setting

__all__ = ["RunConfig"]


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Any = _Unset()
_DEFAULT_SAVE_SECS = 600
_PRECISIONS = ("32", "bf16", "fp16")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Run configuration. TF's fields first, then the PyTorch additions."""

    model_dir: str | None = None
    tf_random_seed: int | None = None  # seeds torch, numpy and python's random at construction
    save_summary_steps: int | None = 100  # train summaries every N steps; None or 0 disables
    save_checkpoints_steps: int | None = _UNSET  # see the module docstring for the steps/secs rules
    save_checkpoints_secs: float | None = _UNSET  # default 600 when neither is given
    session_config: Any = None  # dict / ConfigProto: GPU count 0 -> CPU, thread counts (session_config.py)
    keep_checkpoint_max: int | None = 5  # None or 0 keeps all
    keep_checkpoint_every_n_hours: float = 10000  # also keep one checkpoint per N hours
    log_step_count_steps: int | None = 100  # "loss = ..., step = ..." and global_step/sec; None disables
    train_distribute: Any = None  # a Strategy, or 'ddp' / 'xla' / 'auto' / a TF strategy name
    eval_distribute: Any = None
    device_fn: Any = None  # accepted for compatibility; unused
    protocol: str | None = None
    experimental_distribute: Any = None
    experimental_max_worker_delay_secs: int | None = None
    session_creation_timeout_secs: int = 7200  # workers wait this long for the chief / collectives
    checkpoint_save_graph_def: bool = True  # accepted for compatibility; no graph to save
    # --- PyTorch additions ---
    device: str | None = None  # None: the strategy's device (cuda:<local_rank> if available, else cpu)
    precision: str = "32"  # '32', 'bf16' (autocast) or 'fp16' (autocast + GradScaler on CUDA)
    gradient_clip_norm: float | None = None  # clip the global grad norm before each optimizer step
    prefetch_batches: int = 2  # on accelerators, column transforms run this many batches ahead in a thread
    progress_bar: bool | None = None  # None: a tqdm bar in terminals and notebooks, log lines otherwise
    compile: bool | dict[str, Any] = False  # torch.compile the model in place (True, or torch.compile kwargs)
    allow_untrained: bool = False  # evaluate/predict with initial weights when model_dir has no checkpoint
    num_threads: int | str = "auto"  # torch intra-op threads per call; 'auto': torchestimator.threads' policy
    inter_op_threads: int | str = "auto"  # torch inter-op threads; 'auto' keeps torch's
    _cluster: Any = dataclasses.field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        from torchestimator.parallel.tf_config import parse_tf_config

        # TF_CONFIG is read once, when the config is made (and again by replace(), as TF does).
        cluster = parse_tf_config(os.environ.get("TF_CONFIG"))
        object.__setattr__(self, "_cluster", cluster)
        if cluster.model_dir is not None:
            if self.model_dir is not None and os.fspath(self.model_dir) != cluster.model_dir:
                raise InvalidArgumentError(
                    f"model_dir in TF_CONFIG ({cluster.model_dir!r}) and in RunConfig ({os.fspath(self.model_dir)!r}) "
                    "differ; set one of them."
                )
            object.__setattr__(self, "model_dir", cluster.model_dir)
        steps, secs = self.save_checkpoints_steps, self.save_checkpoints_secs
        if steps is _UNSET and secs is _UNSET:
            steps, secs = None, _DEFAULT_SAVE_SECS
        elif steps is _UNSET:
            steps = None
        elif secs is _UNSET:
            secs = None
        if steps is not None and secs is not None:
            raise InvalidArgumentError(
                "save_checkpoints_steps and save_checkpoints_secs cannot both be set; received "
                f"save_checkpoints_steps={steps}, save_checkpoints_secs={secs}."
            )
        object.__setattr__(self, "save_checkpoints_steps", steps)
        object.__setattr__(self, "save_checkpoints_secs", secs)
        if self.model_dir is not None:
            model_dir = os.fspath(self.model_dir)
            if model_dir == "":
                raise InvalidArgumentError("model_dir must be a non-empty path or None; received ''.")
            object.__setattr__(self, "model_dir", model_dir)
        self._check_non_negative("save_summary_steps", self.save_summary_steps)
        self._check_non_negative("save_checkpoints_steps", steps)
        self._check_non_negative("save_checkpoints_secs", secs)
        self._check_non_negative("keep_checkpoint_max", self.keep_checkpoint_max)
        if self.log_step_count_steps is not None and self.log_step_count_steps <= 0:
            raise InvalidArgumentError(
                f"log_step_count_steps must be > 0 or None; received {self.log_step_count_steps}."
            )
        if self.tf_random_seed is not None and not isinstance(self.tf_random_seed, int):
            raise InvalidArgumentError(
                f"tf_random_seed must be an int or None; received {self.tf_random_seed!r}."
            )
        if self.precision not in _PRECISIONS:
            raise InvalidArgumentError(
                f"precision must be one of {list(_PRECISIONS)}; received {self.precision!r}."
            )
        if self.gradient_clip_norm is not None and self.gradient_clip_norm <= 0:
            raise InvalidArgumentError(
                f"gradient_clip_norm must be > 0 or None; received {self.gradient_clip_norm}."
            )
        if self.device is not None:
            try:  # the name only: whether this machine has it is checked where the device is used
                torch.device(self.device)
            except (RuntimeError, TypeError, ValueError) as err:
                raise InvalidArgumentError(
                    f"device must be a device such as 'cpu', 'cuda', 'cuda:1' or None (automatic); "
                    f"received {self.device!r}."
                ) from err
        compile_options(self.compile)  # validates
        self._map_session_config()  # issue 14
        if self.prefetch_batches < 0:
            raise InvalidArgumentError(f"prefetch_batches must be >= 0; received {self.prefetch_batches}.")
        check_thread_setting("num_threads", self.num_threads)
        check_thread_setting("inter_op_threads", self.inter_op_threads)
        if not isinstance(self.allow_untrained, bool):
            raise InvalidArgumentError(f"allow_untrained must be a bool; received {self.allow_untrained!r}.")

    def _map_session_config(self) -> None:
        """Validate ``session_config`` now; ``device_count={'GPU': 0}`` makes the device ``'cpu'``."""
        from torchestimator.session_config import parse_session_config

        settings = parse_session_config(self.session_config)
        if settings is None or not settings.cpu_only:
            return
        if self.device is not None and torch.device(self.device).type != "cpu":
            raise InvalidArgumentError(
                f"session_config.device_count={{'GPU': 0}} asks for the CPU but RunConfig.device={self.device!r}; "
                "drop one of them."
            )
        object.__setattr__(self, "device", "cpu")

    @staticmethod
    def _check_non_negative(name: str, value: Any) -> None:
        if value is not None and value < 0:
            raise InvalidArgumentError(f"{name} must be >= 0 or None; received {value}.")

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with ``changes`` applied; setting one checkpoint cadence clears the other (as TF).

        Raises:
            InvalidArgumentError: an unknown field, or both cadences set to numbers.
        """
        names = {f.name for f in dataclasses.fields(self) if f.init}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise InvalidArgumentError(
                f"RunConfig.replace got unknown field(s) {unknown}; allowed: {sorted(names)}."
            )
        if changes.get("save_checkpoints_steps") is not None and "save_checkpoints_secs" not in changes:
            changes["save_checkpoints_secs"] = None
        if changes.get("save_checkpoints_secs") is not None and "save_checkpoints_steps" not in changes:
            changes["save_checkpoints_steps"] = None
        return dataclasses.replace(self, **changes)

    @property
    def checkpointing_enabled(self) -> bool:
        return bool(self.save_checkpoints_steps) or bool(self.save_checkpoints_secs)

    # --- cluster view (TF_CONFIG) ---
    @property
    def cluster_spec(self) -> dict[str, list[str]]:
        return self._cluster.cluster_spec

    @property
    def task_type(self) -> str:
        return self._cluster.task_type

    @property
    def task_id(self) -> int:
        return self._cluster.task_id

    @property
    def is_chief(self) -> bool:
        return self._cluster.is_chief

    @property
    def num_worker_replicas(self) -> int:
        return self._cluster.num_worker_replicas

    @property
    def num_ps_replicas(self) -> int:
        return self._cluster.num_ps_replicas

    @property
    def global_id_in_cluster(self) -> int | None:
        return self._cluster.global_id_in_cluster

    @property
    def master(self) -> str:
        return self._cluster.master

    @property
    def evaluation_master(self) -> str:
        return self._cluster.evaluation_master

    @property
    def service(self) -> dict[str, Any] | None:
        return self._cluster.service
