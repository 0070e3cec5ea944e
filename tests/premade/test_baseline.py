"""Baseline estimators learn the label prior; FTRL(0.3) on the bias follows the published update rule."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from torchestimator.errors import InvalidArgumentError
from torchestimator.heads import MultiLabelHead
from torchestimator.premade import BaselineClassifier, BaselineEstimator, BaselineRegressor


def _ftrl_bias(grad_fn: Any, steps: int, lr: float = 0.3, init_acc: float = 0.1) -> float:
    """Keras FTRL (lr_power -0.5, no regularisation) on one scalar, in numpy."""
    w, n, z = 0.0, init_acc, 0.0
    for _ in range(steps):
        g = grad_fn(w)
        n_new = n + g * g
        z += g - (np.sqrt(n_new) - np.sqrt(n)) / lr * w
        n = n_new
        w = -z / (np.sqrt(n) / lr)
    return w


def test_classifier_bias_follows_ftrl_on_the_mean_logistic_gradient(tmp_path: Any) -> None:
    labels = np.array([1, 0, 0, 0, 1, 0, 0, 0], np.int64)
    features = {"x": np.zeros(8, np.float32)}
    est = BaselineClassifier(model_dir=tmp_path)
    est.train(lambda: (features, labels), steps=25)
    expected = _ftrl_bias(lambda w: float(np.mean(1 / (1 + np.exp(-w)) - labels)), 25)
    pred = next(iter(est.predict(lambda: features)))
    assert float(pred["logits"][0]) == pytest.approx(expected, rel=1e-5)


def test_regressor_learns_the_label_mean(tmp_path: Any) -> None:
    y = np.array([[1.0], [3.0], [2.0], [6.0]], np.float32)
    est = BaselineRegressor(model_dir=tmp_path, optimizer="SGD")
    est.train(lambda: ({"x": np.zeros(4, np.float32)}, y), steps=300)
    pred = next(iter(est.predict(lambda: {"x": np.zeros(1, np.float32)})))
    assert float(pred["predictions"][0]) == pytest.approx(float(y.mean()), abs=1e-3)


def test_weighted_classifier_reads_batch_size_from_the_weight(tmp_path: Any) -> None:
    est = BaselineClassifier(model_dir=tmp_path, n_classes=3, weight_column="w")
    features = {"w": np.array([1.0, 2.0, 1.0], np.float32), "z": np.zeros(3, np.float32)}
    est.train(lambda: (features, np.array([0, 1, 2])), steps=2)
    assert len(list(est.predict(lambda: features))) == 3


def test_estimator_with_any_head(tmp_path: Any) -> None:
    est = BaselineEstimator(MultiLabelHead(2), model_dir=tmp_path)
    est.train(lambda: ({"x": np.zeros(2, np.float32)}, np.array([[1, 0], [1, 1]])), steps=5)
    logits = next(iter(est.predict(lambda: {"x": np.zeros(1, np.float32)})))["logits"]
    assert logits[0] > 0 and logits[0] > logits[1]  # class 0 is always on, class 1 half the time


def test_bad_arguments(tmp_path: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="n_classes"):
        BaselineClassifier(model_dir=tmp_path, n_classes=1)
    with pytest.raises(InvalidArgumentError, match="head must be a torchestimator Head"):
        BaselineEstimator("binary", model_dir=tmp_path)  # type: ignore[arg-type]
