"""serving.load without onnxruntime names the extra and the torch backend that needs no onnxruntime."""

from __future__ import annotations

import sys

import pytest

import torchestimator as te
from torchestimator.errors import MissingDependencyError


def test_serving_load_without_onnxruntime_suggests_torch_backend(monkeypatch, titanic_case):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingDependencyError) as info:
        te.serving.load(titanic_case.export_dir)
    assert "torchestimator[onnx]" in str(info.value) and "backend='torch'" in str(info.value)
