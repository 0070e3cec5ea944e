"""TF1 functional metrics ``(value, update_op)`` stream over eval batches to TF 2.15's values
(tests/fixtures/compat_v1, scripts/fixtures/gen_compat_v1_fixtures.py: 15 rows in batches of 4, 4, 4, 3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import torchestimator as te

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "compat_v1"


def streaming_model(features, labels, mode, params):
    """The fixture generator's model_fn, with ``tf.`` -> ``te.compat.v1.``."""
    w = te.compat.v1.get_variable("w", initializer=1.0)
    score = te.compat.v1.sigmoid(w * features["x"])
    loss = te.compat.v1.losses.mean_squared_error(labels, score)
    weights = features["wt"]
    m = te.compat.v1.metrics
    predicted = te.compat.v1.cast(score > 0.5, te.compat.v1.float32)
    ops = {
        "accuracy": m.accuracy(labels, predicted),
        "accuracy_weighted": m.accuracy(labels, predicted, weights=weights),
        "auc": m.auc(labels, score),
        "auc_weighted": m.auc(labels, score, weights=weights),
        "auc_pr": m.auc(labels, score, curve="PR"),
        "precision": m.precision(labels, predicted),
        "recall": m.recall(labels, predicted, weights=weights),
        "mean": m.mean(score),
        "mean_weighted": m.mean(score, weights=weights),
        "mse": m.mean_squared_error(labels, score),
        "rmse": m.root_mean_squared_error(labels, score, weights=weights),
        "mae": m.mean_absolute_error(labels, score),
        "tp": m.true_positives(labels, predicted),
        "fp": m.false_positives(labels, predicted, weights=weights),
        "tn": m.true_negatives(labels, predicted),
        "fn": m.false_negatives(labels, predicted, weights=weights),
    }
    train_op = te.compat.v1.train.GradientDescentOptimizer(0.0).minimize(
        loss, global_step=te.compat.v1.train.get_global_step()
    )
    return te.compat.v1.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op, eval_metric_ops=ops)


def _case() -> dict:
    return json.loads((FIXTURES / "tf215_compat_v1.json").read_text())["streaming"]


def _input_fn(case: dict, repeat: bool):
    x, y, wt = (np.asarray(case[k], np.float32) for k in ("x", "y", "wt"))

    def fn():
        for s in range(0, len(x), 4):
            yield {"x": x[s : s + 4], "wt": wt[s : s + 4]}, y[s : s + 4]

    return fn


def test_v1_metrics_stream_to_tf_values(tmp_path):
    case = _case()
    est = te.Estimator(streaming_model, model_dir=str(tmp_path))
    est.train(_input_fn(case, True), steps=1)
    results = est.evaluate(_input_fn(case, False))
    expected = case["metrics"]
    assert sorted(results) == sorted(expected)
    for key, value in expected.items():
        assert results[key] == pytest.approx(value, abs=1e-5), key


def test_streamed_accuracy_is_not_the_mean_of_batch_accuracies(tmp_path):
    """What the loop did before issue 14 (a per-batch mean) is not TF's value on this set; ours is TF's."""
    case = _case()
    x, y = np.asarray(case["x"]), np.asarray(case["y"])
    hits = ((1 / (1 + np.exp(-x)) > 0.5) == (y > 0.5)).astype(
        np.float64
    )  # w = 1, lr 0: the model's predictions
    per_batch_mean = float(np.mean([hits[s : s + 4].mean() for s in range(0, len(x), 4)]))
    assert per_batch_mean != pytest.approx(case["metrics"]["accuracy"], abs=1e-3)
    est = te.Estimator(streaming_model, model_dir=str(tmp_path))
    est.train(_input_fn(case, True), steps=1)
    assert est.evaluate(_input_fn(case, False))["accuracy"] == pytest.approx(
        case["metrics"]["accuracy"], abs=1e-6
    )


def test_update_op_is_the_running_value_and_a_tuple():
    labels = torch.tensor([1.0, 0.0, 1.0, 1.0])
    value, update_op = te.compat.v1.metrics.accuracy(labels, torch.tensor([1.0, 1.0, 1.0, 0.0]))
    assert float(update_op) == pytest.approx(0.5)
    assert value is update_op
    rmse = te.compat.v1.metrics.root_mean_squared_error(
        labels, torch.zeros(4), weights=torch.tensor([1.0, 1, 0, 0])
    )
    assert float(rmse[1]) == pytest.approx(np.sqrt(0.5))  # (1 + 0) / 2 under the weights, square-rooted
