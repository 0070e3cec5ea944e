"""export.program: raw tensors beside columns, the bare TensorServingInputReceiver, a clean trace, a pickle-free .pt2.

Oracles: numpy (the raw side input enters the prediction as ``side.sum(1)``), Estimator.predict on the
same rows, the training columns' own error, torch's documented archive layout (``data/*`` raw bytes,
``*_config.json`` with ``use_pickle``).
"""

from __future__ import annotations

import json
import os
import warnings
import zipfile
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from torchestimator import serving
from torchestimator.columns import (
    DenseFeatures,
    categorical_column_with_identity,
    embedding_column,
    numeric_column,
)
from torchestimator.errors import ExportError, FeatureError
from torchestimator.estimator import Estimator
from torchestimator.export import TensorServingInputReceiver, TensorSpec, build_raw_serving_input_receiver_fn
from torchestimator.heads import RegressionHead
from torchestimator.model_to_estimator import model_to_estimator
from torchestimator.spec import ModeKeys

N = 40
RNG = np.random.default_rng(0)
FEATURES = {
    "x": RNG.normal(size=(N, 2)).astype(np.float32),
    "slot": RNG.integers(0, 6, size=(N, 1)).astype(np.int64),
    "tags": np.where(RNG.random((N, 3)) < 0.3, -1, RNG.integers(0, 4, size=(N, 3))).astype(np.int64),
    "side": RNG.normal(size=(N, 3)).astype(np.float32),
    "name": np.array([f"row{i}" for i in range(N)], dtype=object),
}
LABELS = RNG.normal(size=(N, 1)).astype(np.float32)


class SideInputModel(nn.Module):
    """Columns (numeric + two dim-3 embeddings: one fused group of k=2) -> linear, plus a raw side input."""

    read_name = False  # set to make the model read the raw string feature 'name'

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        slot = categorical_column_with_identity("slot", 6)
        tags = categorical_column_with_identity("tags", 4)  # multi-valued, -1 = missing
        self.dense = DenseFeatures(
            [
                numeric_column("x", shape=(2,)),
                embedding_column(slot, 3),
                embedding_column(tags, 3, combiner="sum"),
            ]
        )
        self.linear = nn.Linear(8, 1)
        self.head = RegressionHead()
        self.optimizer = torch.optim.SGD(self.parameters(), lr=0.05)

    def forward(self, features: Any, labels: Any = None, mode: str = ModeKeys.TRAIN) -> Any:
        if self.read_name:
            features["name"]
        side = torch.as_tensor(features["side"]).float().sum(1, keepdim=True)  # (B, 1)
        logits = self.linear(self.dense(features)) + side  # (B, 1)
        return self.head.create_estimator_spec(features, mode, logits, labels, optimizer=self.optimizer)


def _input_fn() -> Any:
    return [({k: v[i : i + 20] for k, v in FEATURES.items()}, LABELS[i : i + 20]) for i in range(0, N, 20)]


@pytest.fixture(scope="module")
def side_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Estimator, str, list[Any]]:
    root = str(tmp_path_factory.mktemp("side"))
    est = Estimator(SideInputModel, model_dir=os.path.join(root, "model"))
    est.train(_input_fn, steps=2)
    receiver = build_raw_serving_input_receiver_fn({k: v[:2] for k, v in FEATURES.items()})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = est.export_saved_model(os.path.join(root, "export"), receiver)
    return est, path, list(caught)


def _manifest(path: str) -> dict[str, Any]:
    with open(os.path.join(path, "saved_model.json"), encoding="utf-8") as fh:
        return json.load(fh)


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_raw_side_input_beside_columns(side_export: Any, backend: str) -> None:
    est, path, _ = side_export
    inputs = {i["name"]: i["kind"] for i in _manifest(path)["torch"]["inputs"]}
    assert inputs == {
        "x": "dense",
        "slot": "padded",
        "tags": "padded",
        "side": "tensor",
    }  # 'name' is never read: left out
    predictor = serving.load(path, backend=backend)
    sample = {k: v[:7] for k, v in FEATURES.items()}
    ref = next(est.predict(lambda: sample, yield_single_examples=False))
    out = predictor(sample)
    np.testing.assert_allclose(out["predictions"], ref["predictions"], atol=1e-5, rtol=0)
    shifted = predictor(dict(sample, side=sample["side"] + 1.5))
    np.testing.assert_allclose(
        shifted["predictions"] - out["predictions"], np.full((7, 1), 3 * 1.5), atol=1e-5
    )  # numpy: the side input adds side.sum(1)


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_identity_out_of_range_is_named_at_the_host_step(side_export: Any, backend: str) -> None:
    est, path, _ = side_export
    bad = {k: v[:3] for k, v in FEATURES.items()}
    bad["slot"] = np.array([[1], [9], [2]], dtype=np.int64)
    with pytest.raises(FeatureError) as training:
        next(est.predict(lambda: bad, yield_single_examples=False))
    with pytest.raises(FeatureError) as served:
        serving.load(path, backend=backend)(bad)
    assert str(training.value) == f"batch 0: {served.value}"  # the host stage adds the batch index
    assert "'slot'" in str(served.value) and "1 id(s) outside [0, 6) (e.g. [9])" in str(served.value)


def test_export_trace_assigns_no_module_tensors(side_export: Any) -> None:
    _, _, caught = side_export
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if "register_buffer" in m or "was assigned during export" in m], messages


def test_pt2_holds_no_pickle_and_keeps_a_dynamic_batch(side_export: Any) -> None:
    est, path, _ = side_export
    archive = zipfile.ZipFile(os.path.join(path, "model.pt2"))
    members = {info.filename: info.file_size for info in archive.infolist()}
    assert not [n for n in members if n.endswith((".pkl", ".pickle", "data.pkl"))], sorted(members)
    assert all(size == 0 for n, size in members.items() if n.endswith(".pt")), members  # empty sample_inputs
    configs = [n for n in members if n.endswith("_config.json")]
    assert configs
    for name in configs:
        entries = json.loads(archive.read(name))["config"].values()
        assert not [e for e in entries if e["use_pickle"]], name
    predictor = serving.load(path, backend="torch")
    for n in (1, 5):
        sample = {k: v[:n] for k, v in FEATURES.items()}
        ref = next(est.predict(lambda sample=sample: sample, yield_single_examples=False))
        np.testing.assert_allclose(predictor(sample)["predictions"], ref["predictions"], atol=1e-5, rtol=0)


def test_model_reading_a_string_feature_is_named(side_export: Any, tmp_path: Any) -> None:
    est, _, _ = side_export
    receiver = build_raw_serving_input_receiver_fn({k: v[:2] for k, v in FEATURES.items()})
    est.model.read_name = True
    try:
        with pytest.raises(ExportError, match="reads the string feature 'name' directly"):
            est.export_saved_model(str(tmp_path), receiver)
    finally:
        est.model.read_name = False
    assert os.listdir(str(tmp_path)) == []


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_tensor_serving_input_receiver_passes_the_bare_tensor(tmp_path: Any, backend: str) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)
    )
    x = torch.randn(12, 3, 8, 8)
    y = torch.arange(12) % 3
    est = model_to_estimator(net, loss="sparse_categorical_crossentropy", model_dir=str(tmp_path / "m"))
    est.train(lambda: [(x, y)], steps=2)
    spec = TensorSpec((-1, 3, 8, 8), "float32")
    path = est.export_saved_model(
        str(tmp_path / "export"), lambda: TensorServingInputReceiver(spec, {"images": spec})
    )
    predictor = serving.load(path, backend=backend)
    assert predictor.signatures["predict"].inputs == {"images": {"dtype": "float32", "shape": [-1, 3, 8, 8]}}
    out = predictor.signatures["predict"](images=x[:5].numpy())
    with torch.no_grad():
        logits = net(x[:5]).numpy()  # the module itself: softmax / argmax by hand
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    np.testing.assert_allclose(out["probabilities"], probs, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(out["class_ids"].reshape(-1), logits.argmax(1))
    assert out["classes"].reshape(-1).tolist() == [str(i).encode() for i in logits.argmax(1)]
