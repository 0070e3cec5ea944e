"""A custom model_fn exported without export_outputs gets TF's serving_default (TF 2.15 fixture:
scripts/fixtures/gen_issue14_fixtures.py, ``tf_default_signatures.json``)."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import torchestimator as te
from torchestimator.errors import ExportError
from torchestimator.export import PredictOutput, build_raw_serving_input_receiver_fn

TF = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "hooks_compat" / "tf_default_signatures.json").read_text()
)


class Custom(torch.nn.Module):
    def __init__(self, params):
        super().__init__()
        self.kind = params["kind"]
        self.layer = torch.nn.Linear(3, 2)
        self.opt = torch.optim.SGD(self.parameters(), lr=0.1)

    def forward(self, features, labels=None, mode=te.ModeKeys.TRAIN):
        y = self.layer(features["x"])  # (B, 2)
        if mode == te.ModeKeys.PREDICT:
            preds = y if self.kind == "single" else {"y": y, "argmax": y.argmax(dim=1)}
            outputs = None
            if self.kind == "one_named":
                outputs = {"pred": PredictOutput({"y": y})}
            elif self.kind == "two_no_default":
                outputs = {"a": PredictOutput({"y": y}), "b": PredictOutput({"y": y})}
            return te.EstimatorSpec(mode, predictions=preds, export_outputs=outputs)
        return te.EstimatorSpec(mode, loss=(y**2).mean(), train_op=self.opt)


def _export(tmp_path, kind, legacy=False):
    est = te.Estimator(
        Custom, model_dir=str(tmp_path / kind), params={"kind": kind}, config=te.RunConfig(progress_bar=False)
    )
    x = torch.randn(4, 3)
    est.train(lambda: iter([({"x": x}, None)]), steps=1)
    receiver = build_raw_serving_input_receiver_fn({"x": np.zeros((4, 3), np.float32)})
    export = est.export_savedmodel if legacy else est.export_saved_model
    path = export(str(tmp_path / kind / "export"), receiver)
    with open(os.path.join(path, "saved_model.json"), encoding="utf-8") as fh:
        return json.load(fh)["signatures"]


@pytest.mark.parametrize(
    "kind,case",
    [("dict", "dict_predictions"), ("single", "single_tensor_prediction"), ("one_named", "one_named_output")],
)
def test_default_signature_matches_tf(tmp_path, kind, case):
    sigs = _export(tmp_path, kind)
    tf_sigs = TF[case]
    assert sorted(sigs) == sorted(tf_sigs)
    for name, tf_sig in tf_sigs.items():
        assert sigs[name]["method_name"] == tf_sig["method_name"]
        assert {k: v["shape"] for k, v in sigs[name]["inputs"].items()} == tf_sig["inputs"]
        assert sorted(sigs[name]["outputs"]) == tf_sig["outputs"]


def test_several_outputs_without_default_is_refused(tmp_path):
    with pytest.raises(ExportError, match="serving_default"):
        _export(tmp_path, "two_no_default")


def test_export_savedmodel_is_a_deprecated_alias(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sigs = _export(tmp_path, "dict", legacy=True)
    assert any(
        issubclass(w.category, DeprecationWarning) and "export_saved_model" in str(w.message) for w in caught
    )
    assert sorted(sigs["serving_default"]["outputs"]) == TF["dict_predictions"]["serving_default"]["outputs"]


def test_eval_output_keys_follow_tf():
    loss, pred = torch.tensor(1.0), torch.zeros(2)
    out = te.export.EvalOutput(loss=loss, predictions={"p": pred}, metrics={"acc": (pred, pred)}).outputs
    assert sorted(out) == ["loss", "metrics/acc/update_op", "metrics/acc/value", "predictions/p"]


def test_signature_inputs_are_the_receiver_tensors(tmp_path):
    from torchestimator import serving
    from torchestimator.export import ServingInputReceiver, TensorSpec

    est = te.Estimator(
        Custom,
        model_dir=str(tmp_path / "m"),
        params={"kind": "dict"},
        config=te.RunConfig(progress_bar=False),
    )
    x = torch.randn(4, 3)
    est.train(lambda: iter([({"x": x}, None)]), steps=1)
    spec = TensorSpec((-1, 3), "float32")  # one placeholder, fed to the model as feature "x"
    path = est.export_saved_model(
        str(tmp_path / "e"), lambda: ServingInputReceiver({"x": spec}, {"inputs": spec})
    )
    with open(os.path.join(path, "saved_model.json"), encoding="utf-8") as fh:
        sig = json.load(fh)["signatures"]["serving_default"]
    tf_sig = TF["receiver_tensors_renamed"]["serving_default"]
    assert {k: v["shape"] for k, v in sig["inputs"].items()} == tf_sig["inputs"] == {"inputs": [-1, 3]}
    assert sorted(sig["outputs"]) == tf_sig["outputs"]
    served = serving.load(path).signatures["serving_default"](inputs=x.numpy())
    expected = next(iter(est.predict(lambda: iter([({"x": x}, None)]), yield_single_examples=False)))
    np.testing.assert_allclose(served["y"], expected["y"], rtol=1e-5, atol=1e-6)
