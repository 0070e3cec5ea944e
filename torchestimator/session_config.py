"""``RunConfig(session_config=...)``: the parts of TF's ``ConfigProto`` that have a torch meaning, mapped.

=====================================  ===================================================================
ConfigProto field                      torchestimator
=====================================  ===================================================================
``device_count={'GPU': 0}``            run on the CPU (``RunConfig.device`` becomes ``'cpu'``)
``device_count={'CPU': n}``            accepted (torch has one CPU device; ``n`` threads are set below)
``intra_op_parallelism_threads=n``     ``torch.set_num_threads(n)`` (0: torch's default)
``inter_op_parallelism_threads=n``     ``torch.set_num_interop_threads(n)`` (0: default; torch allows it
                                       once per process, before any parallel work: else a warning)
``allow_soft_placement``               accepted (nothing is placed on a missing device)
``log_device_placement``               accepted; logs the device once
``gpu_options.allow_growth``           accepted (torch's caching allocator grows on demand)
``gpu_options.per_process_gpu_         ``torch.cuda.set_per_process_memory_fraction`` on the run's GPU
memory_fraction``
``graph_options``, ``operation_       accepted (graph-rewrite and timeout settings of a TF session: no
timeout_in_ms``                       torch counterpart changes results)
anything else                          refused, naming the field
=====================================  ===================================================================

``session_config`` may be a dict, a ``tf.compat.v1.ConfigProto`` (only its set fields are read) or any object
with those attributes. The thread settings are process-wide in torch, so they are applied when the
``Estimator`` is built, and logged.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

import torch

from torchestimator.errors import InvalidArgumentError

__all__ = ["SessionSettings", "apply_session_settings", "parse_session_config"]

logger = logging.getLogger("torchestimator")

_ACCEPTED_NOOP = {"allow_soft_placement", "graph_options", "operation_timeout_in_ms", "isolate_session_state"}
_KNOWN = {
    "device_count",
    "intra_op_parallelism_threads",
    "inter_op_parallelism_threads",
    "log_device_placement",
    "gpu_options",
    *_ACCEPTED_NOOP,
}


@dataclasses.dataclass(frozen=True)
class SessionSettings:
    """What a ``session_config`` asks of torch."""

    cpu_only: bool = False
    intra_op_threads: int | None = None
    inter_op_threads: int | None = None
    gpu_memory_fraction: float | None = None
    log_device_placement: bool = False


def _fields(config: Any) -> dict[str, Any]:
    """The set fields of a dict, a protobuf message (``ListFields``) or a plain object."""
    if isinstance(config, Mapping):
        return dict(config)
    list_fields = getattr(config, "ListFields", None)
    if callable(list_fields):
        return {field.name: value for field, value in list_fields()}
    return {k: v for k, v in vars(config).items() if not k.startswith("_") and v is not None}


def _threads(name: str, value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgumentError(f"session_config.{name} must be an int >= 0; received {value!r}.")
    return value or None


def parse_session_config(config: Any) -> SessionSettings | None:
    """The torch settings of ``config`` (None when there is none).

    Raises:
        InvalidArgumentError: a field with no torch meaning, or a bad value (the field is named).
    """
    if config is None:
        return None
    fields = _fields(config)
    unknown = sorted(set(fields) - _KNOWN)
    if unknown:
        raise InvalidArgumentError(
            f"session_config field(s) {unknown} have no torch counterpart; supported: {sorted(_KNOWN)}. Remove them "
            "(torchestimator/session_config.py lists what each supported field does)."
        )
    devices = dict(fields.get("device_count", {}) or {})
    bad_devices = sorted(set(devices) - {"GPU", "CPU"})
    if bad_devices:
        raise InvalidArgumentError(
            f"session_config.device_count supports 'GPU' and 'CPU'; received {bad_devices}."
        )
    gpus = devices.get("GPU")
    if gpus is not None and gpus not in (0, 1):
        raise InvalidArgumentError(
            f"session_config.device_count['GPU'] = {gpus}: one process uses one GPU here (0 forces the CPU); use "
            "RunConfig(train_distribute='ddp') for several."
        )
    fraction = None
    gpu_options = fields.get("gpu_options")
    if gpu_options is not None:
        options = _fields(gpu_options)
        unknown_gpu = sorted(set(options) - {"allow_growth", "per_process_gpu_memory_fraction"})
        if unknown_gpu:
            raise InvalidArgumentError(
                f"session_config.gpu_options field(s) {unknown_gpu} have no torch counterpart; supported: "
                "allow_growth, per_process_gpu_memory_fraction."
            )
        fraction = options.get("per_process_gpu_memory_fraction") or None
    return SessionSettings(
        cpu_only=gpus == 0,
        intra_op_threads=_threads(
            "intra_op_parallelism_threads", fields.get("intra_op_parallelism_threads", 0)
        ),
        inter_op_threads=_threads(
            "inter_op_parallelism_threads", fields.get("inter_op_parallelism_threads", 0)
        ),
        gpu_memory_fraction=fraction,
        log_device_placement=bool(fields.get("log_device_placement", False)),
    )


def apply_session_settings(settings: SessionSettings | None, device: torch.device) -> None:
    """Apply the thread and memory settings to this process (called when the Estimator is built)."""
    if settings is None:
        return
    if settings.intra_op_threads is not None and torch.get_num_threads() != settings.intra_op_threads:
        torch.set_num_threads(settings.intra_op_threads)
        logger.info(
            "session_config: intra_op_parallelism_threads -> torch.set_num_threads(%d).",
            settings.intra_op_threads,
        )
    if settings.inter_op_threads is not None and torch.get_num_interop_threads() != settings.inter_op_threads:
        try:
            torch.set_num_interop_threads(settings.inter_op_threads)
        except RuntimeError:
            logger.warning(
                "session_config.inter_op_parallelism_threads=%d not applied: torch allows it once per process, "
                "before any parallel work (it is %d). Set it first thing in the program.",
                settings.inter_op_threads,
                torch.get_num_interop_threads(),
            )
    if settings.gpu_memory_fraction is not None and device.type == "cuda":
        torch.cuda.set_per_process_memory_fraction(settings.gpu_memory_fraction, device)
    if settings.log_device_placement:
        logger.info("session_config.log_device_placement: the model runs on %s.", device)
