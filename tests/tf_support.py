"""Support for `tf`-marked tests: the TensorFlow 2.15 venv (scripts/setup_tf_venv.sh) runs in a subprocess."""

from __future__ import annotations

import os

import pytest


def require_tf_python() -> str:
    """The TensorFlow venv's python for `tf`-marked tests: skip locally when it is missing, fail under CI."""
    path = os.environ.get("TORCHESTIMATOR_TF_PYTHON", "")
    if not path or not os.path.exists(path):
        message = f"TensorFlow 2.15 venv not found at {path!r}: run scripts/setup_tf_venv.sh (or set TORCHESTIMATOR_TF_PYTHON)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI builds the venv first; a skip there would hide a missing check
        pytest.skip(message)
    return path
