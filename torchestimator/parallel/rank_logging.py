"""Rank-prefixed log lines under distributed training: ``[rank 1/4] loss = 0.69, step = 100``.

torchrun interleaves every process's stderr; without a prefix a reader cannot tell which worker said what. Only
records from ``torchestimator`` loggers are prefixed (the user's and other libraries' records are untouched), and
only while the process group has more than one process. Installed once by the DDP strategy's ``setup``.

>>> install_rank_prefix(1, 4)
>>> import logging
>>> logging.getLogger("torchestimator.x").makeRecord("torchestimator.x", 20, "f", 1, "hi", None, None).getMessage()
'[rank 1/4] hi'
>>> uninstall_rank_prefix()
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["install_rank_prefix", "uninstall_rank_prefix"]

_PACKAGE = "torchestimator"
_state: dict[str, Any] = {"prefix": None, "factory": None}


def _record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _state["factory"](*args, **kwargs)
    prefix = _state["prefix"]
    if prefix and (record.name == _PACKAGE or record.name.startswith(_PACKAGE + ".")):
        record.msg = f"{prefix}{record.msg}"
    return record


def install_rank_prefix(rank: int, world_size: int) -> None:
    """Prefix this process's torchestimator log records with its rank (a no-op for one process)."""
    if world_size <= 1:
        uninstall_rank_prefix()
        return
    _state["prefix"] = f"[rank {rank}/{world_size}] "
    if _state["factory"] is None:
        _state["factory"] = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_record_factory)


def uninstall_rank_prefix() -> None:
    """Restore the record factory that was in place before :func:`install_rank_prefix`."""
    if _state["factory"] is not None and logging.getLogRecordFactory() is _record_factory:
        logging.setLogRecordFactory(_state["factory"])
    _state["factory"] = None
    _state["prefix"] = None
