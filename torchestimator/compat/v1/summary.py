"""``tf.compat.v1.summary``: ``scalar`` / ``histogram`` inside a model_fn, written every ``save_summary_steps``.

The calls go to :mod:`torchestimator.summary` (recorded only on the steps TF's summary hook writes); the
TF1-only arguments (``collections``, ``family``) are accepted and ignored.
"""

from __future__ import annotations

from typing import Any

import torch

from torchestimator import summary as _summary

__all__ = ["histogram", "scalar"]


def scalar(name: str, tensor: Any, collections: Any = None, family: Any = None) -> None:
    """``tf.compat.v1.summary.scalar(name, tensor)``."""
    _summary.scalar(name, tensor if isinstance(tensor, torch.Tensor) else float(tensor))


def histogram(name: str, values: Any, collections: Any = None, family: Any = None) -> None:
    """``tf.compat.v1.summary.histogram(name, values)``."""
    _summary.histogram(name, torch.as_tensor(values))
