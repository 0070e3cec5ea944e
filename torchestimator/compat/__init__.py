"""Bring TF models across: tf.estimator checkpoints and SavedModel variables, read without TensorFlow.

* :func:`import_tf_checkpoint` — a TF checkpoint's weights **and optimizer slots** into an Estimator
  (pre-made: names mapped automatically; custom module: a ``name_map``), written as a torchestimator
  checkpoint the Estimator resumes from.
* :class:`TFBundle` — the raw reader (``names()``, ``shapes()``, ``read(name)``).
* ``warm_start_from`` / ``WarmStartSettings`` accept TF checkpoints and SavedModels too.
"""

from __future__ import annotations

from torchestimator.compat._import import ImportReport, import_tf_checkpoint
from torchestimator.compat._tf_bundle import TFBundle, find_tf_checkpoint, is_tf_checkpoint

__all__ = ["ImportReport", "TFBundle", "find_tf_checkpoint", "import_tf_checkpoint", "is_tf_checkpoint"]
