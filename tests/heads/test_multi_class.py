"""MultiClassHead against TF 2.15 (fixture) and numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torchestimator.errors import InputError, InvalidArgumentError
from torchestimator.heads import MultiClassHead
from torchestimator.spec import ModeKeys


def test_loss_metrics_predictions_match_tf(tf_heads: dict) -> None:
    case = tf_heads["multi_class"]
    logits, labels = torch.tensor(case["logits"]), torch.tensor(case["labels"])
    features = {"w": np.asarray(case["weights"], dtype=np.float32)}
    head = MultiClassHead(3, weight_column="w")
    assert float(head.loss(labels, logits, features)) == pytest.approx(case["loss"], rel=1e-5)
    metrics = head.metrics(features, logits, labels)
    assert set(metrics) == set(case["metrics"])
    for name, expected in case["metrics"].items():
        assert metrics[name].result() == pytest.approx(expected, abs=1e-5)
    preds = head.predictions(logits)
    np.testing.assert_allclose(preds["probabilities"].numpy(), case["probabilities"], rtol=1e-5)
    assert preds["class_ids"].tolist() == case["class_ids"]


def test_loss_matches_numpy_softmax_cross_entropy_sum_reduction() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(size=(6, 4))
    y = rng.integers(0, 4, size=6)
    log_softmax = z - np.log(np.exp(z).sum(1, keepdims=True))
    expected = -log_softmax[np.arange(6), y].sum()
    loss = MultiClassHead(4, loss_reduction="sum").loss(y, torch.tensor(z, dtype=torch.float32))
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_vocabulary_round_trip_and_prediction_dtypes() -> None:
    vocab = ["cat", "dog", "emu"]
    head = MultiClassHead(3, label_vocabulary=vocab)
    logits = torch.tensor([[0.0, 3.0, 1.0], [5.0, 0.0, 0.0]])
    assert float(head.loss(np.array([b"dog", b"cat"]), logits)) == pytest.approx(
        float(MultiClassHead(3).loss(torch.tensor([1, 0]), logits))
    )
    preds = head.predictions(logits)
    assert preds["classes"].tolist() == [[b"dog"], [b"cat"]]
    assert preds["all_classes"].tolist() == [[b"cat", b"dog", b"emu"]] * 2
    assert preds["all_class_ids"].dtype == torch.int32 and preds["class_ids"].dtype == torch.int64
    spec = head.create_estimator_spec({}, ModeKeys.PREDICT, logits)
    assert set(spec.export_outputs) == {"serving_default", "classification", "predict"}


def test_errors() -> None:
    with pytest.raises(InvalidArgumentError, match="n_classes must be > 2"):
        MultiClassHead(2)
    with pytest.raises(InvalidArgumentError, match="n_classes=3 entries"):
        MultiClassHead(3, label_vocabulary=["a", "b"])
    with pytest.raises(InputError, match="integer class ids"):
        MultiClassHead(3).loss(torch.tensor([0.5]), torch.zeros(1, 3))
    with pytest.raises(InputError, match=r"\[0, 2\]"):
        MultiClassHead(3).loss(torch.tensor([3]), torch.zeros(1, 3))
