"""Serving an export: :func:`load` (ONNX Runtime or torch) and the ``show`` command.

``python -m torchestimator.serving show <export_dir>`` prints the signatures like
``saved_model_cli show --all``.
"""

from __future__ import annotations

from torchestimator.serving.predictor import BACKENDS, Predictor, Signature, load

__all__ = ["BACKENDS", "Predictor", "Signature", "load"]
