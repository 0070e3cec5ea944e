"""`torchestimator plot`: curves from the event files, linear weights and DNN column importance from checkpoints."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import torchestimator as te
from torchestimator.plot import dnn_column_importance, linear_weights, plot_model_dir

fc = te.feature_column
PNG = b"\x89PNG\r\n\x1a\n"


def _data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    sex = rng.choice(np.array(["m", "f"], dtype=object), size=n)
    a = rng.normal(size=(n, 1)).astype(np.float32)
    b = rng.normal(size=(n, 2)).astype(np.float32)
    y = (sex == "f").astype(np.int64)  # only sex matters
    return {"sex": sex, "a": a, "b": b}, y


def _input_fn(batch=32):
    feats, y = _data()

    def fn():
        for i in range(0, len(y), batch):
            yield {k: v[i : i + batch] for k, v in feats.items()}, y[i : i + batch]

    return fn


def test_linear_weights_match_the_model(tmp_path):
    sex = fc.categorical_column_with_vocabulary_list("sex", ["m", "f"])
    est = te.LinearClassifier(
        [sex, fc.numeric_column("a"), fc.numeric_column("b", shape=(2,))], model_dir=str(tmp_path)
    )
    est.train(_input_fn(), steps=8)
    est.evaluate(_input_fn())
    table = linear_weights(est.latest_checkpoint())["linear_model"]
    sparse = est.get_variable_value("linear_model.sparse_weights.weight")[:, 0]
    kernel = est.get_variable_value("linear_model.dense_kernel")[:, 0]
    start, _ = est.model.linear_model.column_rows("sex")
    assert table["sex=m"] == pytest.approx(float(sparse[start]))
    assert table["sex=f"] == pytest.approx(float(sparse[start + 1]))
    assert [table["a"], table["b[0]"], table["b[1]"]] == pytest.approx(
        kernel.tolist()
    )  # a, then b (name order)
    assert table["sex=f"] > 0 > table["sex=m"]  # the label is sex == 'f'
    files = plot_model_dir(str(tmp_path))
    assert sorted(p.rsplit("/", 1)[1] for p in files) == ["curves.png", "linear_weights.png"]
    for path in files:
        with open(path, "rb") as fh:
            assert fh.read(8) == PNG
    index = json.loads((tmp_path / "plots" / "index.json").read_text())
    assert index["checkpoint"] == est.latest_checkpoint()


def test_dnn_column_importance_is_kernel_norm_per_column(tmp_path):
    torch.manual_seed(0)
    sex = fc.indicator_column(fc.categorical_column_with_vocabulary_list("sex", ["m", "f"]))
    est = te.DNNClassifier(
        [5], [sex, fc.numeric_column("a"), fc.numeric_column("b", shape=(2,))], model_dir=str(tmp_path)
    )
    est.train(_input_fn(), steps=4)
    kernel = est.get_variable_value("tower.hidden_layers.0.weight")  # (5, D) with D = a:1, b:2, sex:2
    expected = {
        "a": np.linalg.norm(kernel[:, 0:1]),
        "b": np.linalg.norm(kernel[:, 1:3]),
        "sex_indicator": np.linalg.norm(kernel[:, 3:5]),
    }
    got = dnn_column_importance(est.latest_checkpoint())["dnn"]
    assert got == pytest.approx(expected)


def test_cli_writes_pngs_and_names_bad_dir(tmp_path):
    est = te.LinearClassifier([fc.numeric_column("a")], model_dir=str(tmp_path / "m"))
    est.train(_input_fn(), steps=2)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "torchestimator.cli",
            "plot",
            str(tmp_path / "m"),
            "--out",
            str(tmp_path / "p"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "p" / "curves.png").read_bytes()[:8] == PNG
    bad = subprocess.run(
        [sys.executable, "-m", "torchestimator.cli", "plot", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "is not a directory" in bad.stderr


def _half(x):
    return x / 2


def test_layer_with_unregistered_normalizer_is_skipped_not_imported(tmp_path, caplog):
    est = te.LinearClassifier(
        [
            fc.numeric_column("a", normalizer_fn=_half),
            fc.categorical_column_with_vocabulary_list("sex", ["m", "f"]),
        ],
        model_dir=str(tmp_path),
    )
    est.train(_input_fn(), steps=2)
    files = plot_model_dir(str(tmp_path))  # curves still drawn; the layer naming a function is skipped
    assert [p.rsplit("/", 1)[1] for p in files] == ["curves.png"]
    assert "skipping the column layer 'linear_model'" in caplog.text
