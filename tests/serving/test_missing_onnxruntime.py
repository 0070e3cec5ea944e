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


def test_execution_providers_are_checked_and_used(titanic_case):
    import onnxruntime as ort

    from torchestimator.errors import InvalidArgumentError

    predictor = te.serving.load(titanic_case.export_dir, providers=["CPUExecutionProvider"])
    assert predictor._session.get_providers() == ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(
            InvalidArgumentError, match=r"\['CUDAExecutionProvider'\] are not available.*available"
        ):
            te.serving.load(
                titanic_case.export_dir, providers=["CUDAExecutionProvider", "CPUExecutionProvider"]
            )


def test_server_passes_providers_to_serving_load(titanic_case, tmp_path):
    import argparse

    import onnxruntime as ort

    from torchestimator.server import ModelConfig, ModelRegistry
    from torchestimator.server._cli import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--model_name=m", f"--model_base_path={tmp_path}", "--onnx_providers=A,B"])
    assert args.onnx_providers == "A,B"
    registry = ModelRegistry([ModelConfig("m", str(tmp_path))], providers=["CPUExecutionProvider"])
    assert registry._load(titanic_case.export_dir)._session.get_providers() == ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        gpu = ModelRegistry([ModelConfig("m", str(tmp_path))], providers=["CUDAExecutionProvider"])
        with pytest.raises(Exception, match="CUDAExecutionProvider"):
            gpu._load(titanic_case.export_dir)
