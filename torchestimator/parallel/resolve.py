"""Turn ``RunConfig.train_distribute`` / ``eval_distribute`` into a :class:`Strategy`."""

from __future__ import annotations

import importlib
import os
from typing import Any

from torchestimator.errors import InvalidArgumentError
from torchestimator.parallel.strategy import SingleDeviceStrategy, Strategy

__all__ = ["resolve_strategy"]

# TF strategy names -> ours. DDP is synchronous data parallelism, what Mirrored / MultiWorkerMirrored do.
_TF_NAMES = {
    "mirroredstrategy": "ddp",
    "multiworkermirroredstrategy": "ddp",
    "collectiveallreducestrategy": "ddp",
    "tpustrategy": "xla",
    "onedevicestrategy": "single",
    # TF partitioned big embedding variables over ps tasks; here the tables are sharded over the workers
    "parameterserverstrategy": "sharded",
    "parameterserverstrategyv2": "sharded",
}
_IMPLEMENTATIONS = {
    "ddp": ("torchestimator.parallel.ddp", "DDPStrategy"),
    "xla": ("torchestimator.parallel.xla", "XLAStrategy"),
    "sharded": ("torchestimator.parallel.sharded", "ShardedStrategy"),
}


def resolve_strategy(spec: Any, device: str | None = None, timeout_secs: float | None = None) -> Strategy:
    """A Strategy from ``None``, a Strategy object, or a name.

    Names: ``'single'``, ``'ddp'``, ``'xla'``, ``'auto'`` (DDP when launched by torchrun with
    ``WORLD_SIZE > 1``, else single device), or a TF strategy class name (``'MirroredStrategy'``,
    ``'MultiWorkerMirroredStrategy'`` -> DDP; ``'TPUStrategy'`` -> XLA; ``'ParameterServerStrategy'`` ->
    ``'sharded'``: embedding tables sharded over the workers with TorchRec, the dense rest under DDP).

    Args:
        spec: the ``train_distribute`` value.
        device: ``RunConfig.device``.
        timeout_secs: the collective timeout for DDP (``RunConfig.session_creation_timeout_secs``).

    Raises:
        InvalidArgumentError: an unknown name.
    """
    if isinstance(spec, Strategy):
        return spec
    if spec is None:
        return SingleDeviceStrategy(device)
    if not isinstance(spec, str):
        spec = type(spec).__name__  # a tf.distribute strategy object
    name = spec.strip().lower()
    name = _TF_NAMES.get(name, name)
    if name == "auto":
        name = "ddp" if int(os.environ.get("WORLD_SIZE", "1")) > 1 else "single"
    if name == "single":
        return SingleDeviceStrategy(device)
    if name not in _IMPLEMENTATIONS:
        raise InvalidArgumentError(
            f"train_distribute/eval_distribute must be a Strategy or one of ['auto', 'ddp', 'sharded', 'single', 'xla'] or a "
            f"TF strategy name; received {spec!r}."
        )
    module_name, cls_name = _IMPLEMENTATIONS[name]
    cls = getattr(importlib.import_module(module_name), cls_name)
    if name in ("ddp", "sharded"):
        outside = _task_type_outside_training()
        if outside is not None and not (name == "sharded" and outside == "ps"):  # ps tasks hold table shards
            return SingleDeviceStrategy(
                device
            )  # the evaluator (or a ps task) is one process outside the DDP group
        return cls(device=device, timeout_secs=timeout_secs)
    return cls(device=device)


def _task_type_outside_training() -> str | None:
    """``'evaluator'`` or ``'ps'`` when TF_CONFIG says this process does not train, else None."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    from torchestimator.parallel.tf_config import parse_tf_config

    task_type = parse_tf_config(raw).task_type
    return task_type if task_type in ("evaluator", "ps") else None
