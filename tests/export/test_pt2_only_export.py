"""Without the [onnx] extra an export is model.pt2 only, and it serves: serving.load picks the torch program."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

import torchestimator as te
from torchestimator.errors import ExportError
from torchestimator.export import build_parsing_serving_input_receiver_fn
from torchestimator.inputs import encode_example
from torchestimator.serving.show import format_export

fc = te.feature_column


def test_export_without_onnx_serves_through_pt2(tmp_path, monkeypatch, caplog):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 1)).astype(np.float32)
    color = rng.choice(np.array(["red", "blue"], dtype=object), size=32)
    y = ((x[:, 0] > 0) ^ (color == "red")).astype(np.int64)
    columns = [fc.numeric_column("x"), fc.categorical_column_with_hash_bucket("color", 8)]
    est = te.LinearClassifier(columns, model_dir=str(tmp_path / "m"))
    est.train(lambda: ({"x": x, "color": color}, y), steps=5)
    for module in ("onnx", "onnxscript"):
        monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.setattr(
        "importlib.util.find_spec", lambda name, *a: None if name in ("onnx", "onnxscript") else object()
    )
    receiver = build_parsing_serving_input_receiver_fn(fc.make_parse_example_spec(columns))
    path = est.export_saved_model(str(tmp_path / "e"), receiver)
    assert sorted(f for f in os.listdir(path) if f.startswith("model.")) == ["model.pt2"]
    assert "pip install 'torchestimator[onnx]'" in caplog.text
    with open(os.path.join(path, "saved_model.json")) as fh:
        assert json.load(fh)["onnx"] is None
    monkeypatch.undo()  # serving needs nothing from onnx for the torch program

    predictor = te.serving.load(path)  # automatic: the torch program
    assert predictor.backend == "torch"
    examples = [encode_example({"x": [float(x[i, 0])], "color": [str(color[i])]}) for i in range(6)]
    served = predictor.signatures["predict"](examples=examples)["logistic"]
    expected = np.stack(
        [p["logistic"] for p in est.predict(lambda: ({"x": x[:6], "color": color[:6]}, None))]
    )
    np.testing.assert_allclose(served, expected, atol=1e-6)
    with pytest.raises(ExportError, match=r"no model\.onnx.*backend='torch'"):
        te.serving.load(path, backend="onnxruntime")
    assert "model.pt2 inputs:" in format_export(path)
