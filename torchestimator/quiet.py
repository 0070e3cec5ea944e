"""Library-side silencing of third-party noise that says nothing to a torchestimator user.

Never a global ``warnings`` filter or logger level in the user's process: each helper is scoped to the call that
produces the noise (a context manager around export) or consumes a one-time warning once. What is silenced:

- torch.onnx's exporter logs "torchvision is not installed. Skipping torchvision::nms" (four lines per export)
  and onnx_ir logs "Attribute type is ambiguous because it is an empty sequence" for our empty-list attributes;
  both only while :func:`quiet_onnx_export` is active.
- torch warns once per process "Sparse invariant checks are implicitly disabled" the first time an optimizer
  builds a sparse gradient from our ``EmbeddingBag(sparse=True)`` tables; :func:`consume_sparse_invariant_warning`
  fires that one-time warning under a local filter when a column layer with sparse tables is built, so it never
  reaches the user. (The checks stay disabled, which is torch's default; nothing changes but the message.)
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

import torch

__all__ = ["ONNX_EXPORT_LOGGERS", "consume_sparse_invariant_warning", "quiet_loggers", "quiet_onnx_export"]

ONNX_EXPORT_LOGGERS = ("torch.onnx._internal.exporter._registration", "onnx_ir._convenience")

_sparse_warning_consumed = False


@contextlib.contextmanager
def quiet_loggers(*names: str, level: int = logging.ERROR) -> Iterator[None]:
    """Raise the named loggers to ``level`` for the duration of the block, then restore their levels."""
    loggers = [logging.getLogger(n) for n in names]
    saved = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(max(level, lg.level))
    try:
        yield
    finally:
        for lg, old in zip(loggers, saved):
            lg.setLevel(old)


def quiet_onnx_export() -> contextlib.AbstractContextManager[None]:
    """Silence the ONNX exporter's torchvision and onnx_ir messages while exporting."""
    return quiet_loggers(*ONNX_EXPORT_LOGGERS)


def consume_sparse_invariant_warning() -> None:
    """Fire torch's one-time sparse-invariants warning under a local filter so it is never printed later."""
    global _sparse_warning_consumed
    if _sparse_warning_consumed:
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")
        torch.sparse_coo_tensor(torch.zeros(1, 0, dtype=torch.long), torch.zeros(0), (1,))
    _sparse_warning_consumed = True
