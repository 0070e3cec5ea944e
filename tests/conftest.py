"""Shared fixtures; puts tests/ and scripts/ on sys.path for the support modules and examples."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "tests"))
# TensorFlow 2.15 lives in its own venv (scripts/setup_tf_venv.sh); tests marked `tf` run it in a subprocess.
os.environ.setdefault("TORCHESTIMATOR_TF_PYTHON", str(ROOT / ".tfvenv" / "bin" / "python"))

from estimator_support import make_batches  # noqa: E402


@pytest.fixture
def batches() -> list[tuple[dict, torch.Tensor]]:
    return make_batches()
