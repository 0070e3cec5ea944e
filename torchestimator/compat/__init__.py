"""Bring TF models across: read tf.estimator checkpoints and SavedModel variables without TensorFlow."""

from __future__ import annotations

from torchestimator.compat._tf_bundle import TFBundle, find_tf_checkpoint, is_tf_checkpoint

__all__ = ["TFBundle", "find_tf_checkpoint", "is_tf_checkpoint"]
