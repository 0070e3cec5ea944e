"""``te.compat.v1.estimator`` pre-mades keep TF1's defaults (loss SUM, v1 optimizers and learning rates): from
TF's step-0 checkpoint they reproduce ``tf.compat.v1.estimator`` metrics after 10 steps
(tests/fixtures/compat_v1, scripts/fixtures/gen_compat_v1_fixtures.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import torchestimator as te

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "compat_v1"


def _record() -> dict:
    return json.loads((FIXTURES / "tf215_compat_v1.json").read_text())


def _input_fn(table: dict, label: str, batch: int, batches: int | None):
    n = len(table[label])
    feats = {
        "x": np.asarray(table["x"], np.float32),
        "x2": np.asarray(table["x2"], np.float32),
        "c": np.asarray(table["c"], object),
    }
    labels = np.asarray(table[label], np.int64)

    def fn():
        if batches is None:
            starts = list(range(0, n, batch))
        else:  # Dataset.repeat().batch(): batches run across the epoch boundary
            starts = [i * batch for i in range(batches)]
        for s in starts:
            idx = np.arange(s, s + batch) % n if batches is not None else np.arange(s, min(s + batch, n))
            yield {k: v[idx] for k, v in feats.items()}, labels[idx]

    return fn


def _columns():
    fc = te.compat.v1.feature_column
    return [
        fc.numeric_column("x"),
        fc.numeric_column("x2"),
        fc.categorical_column_with_vocabulary_list("c", ["a", "b", "c"]),
    ]


@pytest.mark.parametrize("case", ["v1_linear", "v1_dnn"])
def test_v1_premade_matches_tf1_estimator(tmp_path, case):
    record = _record()
    expected = record[case]["metrics"]
    label = record[case]["label"]
    data = record["v1_data"]
    cols = _columns()
    v1 = te.compat.v1.estimator
    start = str(FIXTURES / case / "model.ckpt-0")
    if case == "v1_linear":
        est = v1.LinearClassifier(cols, model_dir=str(tmp_path), warm_start_from=start)
    else:
        dnn_cols = [cols[0], cols[1], te.compat.v1.feature_column.indicator_column(cols[2])]
        est = v1.DNNClassifier([8, 6], dnn_cols, n_classes=3, model_dir=str(tmp_path), warm_start_from=start)
    est.train(_input_fn(data["train"], label, 8, 10), steps=10)
    results = est.evaluate(_input_fn(data["eval"], label, 8, None))
    assert sorted(results) == sorted(expected)
    for key, value in expected.items():
        assert results[key] == pytest.approx(value, abs=1e-5), key


def test_v2_defaults_differ_from_v1(tmp_path):
    """The same DNN under the v2 class (mean loss, Keras Adagrad at 0.001) gives another eval loss: the v1
    class is what reproduces TF1."""
    record = _record()
    data, label = record["v1_data"], record["v1_dnn"]["label"]
    cols = _columns()
    dnn_cols = [cols[0], cols[1], te.feature_column.indicator_column(cols[2])]
    start = str(FIXTURES / "v1_dnn" / "model.ckpt-0")
    est = te.DNNClassifier([8, 6], dnn_cols, n_classes=3, model_dir=str(tmp_path), warm_start_from=start)
    est.train(_input_fn(data["train"], label, 8, 10), steps=10)
    results = est.evaluate(_input_fn(data["eval"], label, 8, None))
    assert results["loss"] != pytest.approx(record["v1_dnn"]["metrics"]["loss"], abs=1e-2)


@pytest.mark.parametrize(
    "make",
    [
        lambda d, c: te.compat.v1.estimator.LinearRegressor(c, model_dir=d),
        lambda d, c: te.compat.v1.estimator.DNNRegressor([3], c[:2], model_dir=d),
        lambda d, c: te.compat.v1.estimator.DNNLinearCombinedClassifier(
            model_dir=d, linear_feature_columns=c, dnn_feature_columns=c[:2], dnn_hidden_units=[3]
        ),
        lambda d, c: te.compat.v1.estimator.DNNLinearCombinedRegressor(
            model_dir=d, linear_feature_columns=c, dnn_feature_columns=c[:2], dnn_hidden_units=[3]
        ),
        lambda d, c: te.compat.v1.estimator.BaselineClassifier(model_dir=d),
        lambda d, c: te.compat.v1.estimator.BaselineRegressor(model_dir=d),
    ],
)
def test_every_v1_premade_trains_with_a_summed_loss(tmp_path, make):
    """Each v1 class builds with its v1 defaults; its eval loss is the mean of batch *sums* (loss SUM): one
    batch of 8 gives 8 x average_loss."""
    data = _record()["v1_data"]
    est = make(str(tmp_path), _columns())
    label = "y2"
    est.train(_input_fn(data["train"], label, 8, 2), steps=2)
    results = est.evaluate(_input_fn(data["eval"], label, 8, 1))
    assert results["loss"] == pytest.approx(8 * results["average_loss"], rel=1e-6)
