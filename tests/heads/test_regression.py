"""Regression, Poisson and logistic regression heads against TF 2.15 (fixture) and numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from torchestimator.errors import InputError
from torchestimator.heads import LogisticRegressionHead, PoissonRegressionHead, RegressionHead
from torchestimator.spec import ModeKeys


def test_regression_loss_and_metrics_match_tf(tf_heads: dict) -> None:
    case = tf_heads["regression"]
    logits, labels = torch.tensor(case["logits"]), torch.tensor(case["labels"])
    features = {"w": torch.tensor(case["weights"])}
    head = RegressionHead(label_dimension=2, weight_column="w")
    assert float(head.loss(labels, logits, features)) == pytest.approx(case["loss"], rel=1e-5)
    metrics = head.metrics(features, logits, labels)
    assert set(metrics) == set(case["metrics"])
    for name, expected in case["metrics"].items():
        assert metrics[name].result() == pytest.approx(expected, abs=1e-5)


def test_regression_sum_reduction_and_per_logit_weights_match_numpy() -> None:
    z = np.array([[1.0, 2.0], [0.0, -1.0]])
    y = np.array([[0.5, 2.0], [1.0, 1.0]])
    w = np.array([[1.0, 2.0], [3.0, 0.5]])
    head = RegressionHead(label_dimension=2, weight_column="w", loss_reduction="sum")
    loss = head.loss(torch.tensor(y), torch.tensor(z, dtype=torch.float32), {"w": w})
    assert float(loss) == pytest.approx(((z - y) ** 2 * w).sum(), rel=1e-6)


def test_poisson_matches_tf_and_full_loss_formula(tf_heads: dict) -> None:
    case = tf_heads["poisson"]
    logits, labels = torch.tensor(case["logits"]), torch.tensor(case["labels"])
    head = PoissonRegressionHead()
    assert float(head.loss(labels, logits)) == pytest.approx(case["loss"], rel=1e-5)
    np.testing.assert_allclose(
        head.predictions(logits)["predictions"].numpy(), case["predictions"], rtol=1e-5
    )
    c, t = 0.3, 4.0
    expected = math.exp(c) - c * t + t * math.log(t) - t + 0.5 * math.log(2 * math.pi * t)
    assert float(head.loss(torch.tensor([t]), torch.tensor([[c]]))) == pytest.approx(expected, rel=1e-6)


def test_logistic_regression_matches_tf_and_rejects_out_of_range(tf_heads: dict) -> None:
    case = tf_heads["logistic"]
    head = LogisticRegressionHead()
    assert float(head.loss(torch.tensor(case["labels"]), torch.tensor(case["logits"]))) == pytest.approx(
        case["loss"], rel=1e-5
    )
    preds = head.predictions(torch.tensor([[0.0]]))
    assert set(preds) == {"predictions", "logits"} and float(preds["predictions"]) == pytest.approx(0.5)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        head.loss(torch.tensor([1.5]), torch.tensor([[0.0]]))


def test_regression_export_outputs() -> None:
    spec = RegressionHead().create_estimator_spec({}, ModeKeys.PREDICT, torch.tensor([[1.0]]))
    assert set(spec.export_outputs) == {"serving_default", "regression", "predict"}
    assert spec.export_outputs["regression"].outputs["outputs"].tolist() == [[1.0]]
