"""MultiLabelHead against TF 2.15 (fixture) and numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torchestimator.heads import MultiLabelHead
from torchestimator.parsing import Ragged


def test_loss_and_metrics_match_tf(tf_heads: dict) -> None:
    case = tf_heads["multi_label"]
    logits, labels = torch.tensor(case["logits"]), torch.tensor(case["labels"])
    features = {"w": torch.tensor(case["weights"])}
    head = MultiLabelHead(3, weight_column="w", thresholds=[0.5], classes_for_class_based_metrics=[0, 2])
    assert float(head.loss(labels, logits, features)) == pytest.approx(case["loss"], rel=1e-5)
    metrics = head.metrics(features, logits, labels)
    assert set(metrics) == set(case["metrics"])
    for name, expected in case["metrics"].items():
        assert metrics[name].result() == pytest.approx(expected, abs=1e-3 if "auc" in name else 1e-5), name


def test_loss_is_mean_over_classes_then_batch_reduction() -> None:
    z = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
    y = np.array([[1, 0, 1], [0, 1, 1]])
    per = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    loss = MultiLabelHead(3).loss(torch.tensor(y), torch.tensor(z, dtype=torch.float32))
    assert float(loss) == pytest.approx(per.mean(1).sum() / 2, rel=1e-5)


def test_ragged_and_string_labels_equal_indicator() -> None:
    z = torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
    indicator = torch.tensor([[1, 0, 1], [0, 1, 1]])
    expected = float(MultiLabelHead(3).loss(indicator, z))
    assert float(MultiLabelHead(3).loss([[0, 2], [1, 2]], z)) == pytest.approx(expected)
    head = MultiLabelHead(3, label_vocabulary=["a", "b", "c"])
    assert float(head.loss(Ragged.from_rows([["a", "c"], ["b", "c"]]), z)) == pytest.approx(expected)
    preds = head.predictions(z)
    assert preds["classes"].tolist() == [[b"a", b"b", b"c"]] * 2
    np.testing.assert_allclose(preds["probabilities"].numpy(), 1 / (1 + np.exp(-z.numpy())), rtol=1e-6)
