"""Bring TF models across: tf.estimator checkpoints and SavedModel variables, read without TensorFlow.

* :func:`import_tf_checkpoint` — a TF checkpoint's weights **and optimizer slots** into an Estimator
  (pre-made: names mapped automatically; custom module: a ``name_map``), written as a torchestimator
  checkpoint the Estimator resumes from.
* :class:`TFBundle` — the raw reader (``names()``, ``shapes()``, ``read(name)``).
* ``warm_start_from`` / ``WarmStartSettings`` accept TF checkpoints and SavedModels too.
* :mod:`torchestimator.compat.v1` — TF1 model_fn code (layers, losses, metrics, train, summary, v1 pre-mades),
  imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from torchestimator.compat._import import ImportReport, import_tf_checkpoint
from torchestimator.compat._tf_bundle import TFBundle, find_tf_checkpoint, is_tf_checkpoint

__all__ = ["ImportReport", "TFBundle", "find_tf_checkpoint", "import_tf_checkpoint", "is_tf_checkpoint"]


def __getattr__(name: str) -> Any:
    if name == "v1":  # imported on first use: `import torchestimator` stays light
        return importlib.import_module("torchestimator.compat.v1")
    raise AttributeError(f"module 'torchestimator.compat' has no attribute {name!r}")
