"""MultiHead: weighted loss sum, split logits, prefixed metrics and exports."""

from __future__ import annotations

import pytest
import torch

from torchestimator.errors import InvalidArgumentError
from torchestimator.heads import BinaryClassHead, MultiHead, RegressionHead
from torchestimator.spec import ModeKeys


def _heads() -> tuple[BinaryClassHead, RegressionHead, MultiHead]:
    a, b = BinaryClassHead(name="clicked"), RegressionHead(label_dimension=2, name="value")
    return a, b, MultiHead([a, b], head_weights=[2.0, 0.5])


def test_loss_is_weighted_sum_of_head_losses() -> None:
    a, b, multi = _heads()
    logits = torch.tensor([[0.5, 1.0, 2.0], [-1.0, 0.0, 1.0]])
    labels = {"clicked": torch.tensor([1.0, 0.0]), "value": torch.tensor([[1.0, 1.0], [0.0, 2.0]])}
    expected = 2.0 * a.loss(labels["clicked"], logits[:, :1]) + 0.5 * b.loss(labels["value"], logits[:, 1:])
    assert float(multi.loss(labels, logits)) == pytest.approx(float(expected))
    metrics = multi.metrics({}, logits, labels)
    assert {"loss/clicked", "loss/value", "auc/clicked", "average_loss/value"} <= set(metrics)
    assert metrics["loss/value"].result() == pytest.approx(float(b.loss(labels["value"], logits[:, 1:])))
    preds = multi.predictions(logits)
    assert ("clicked", "logistic") in preds and ("value", "predictions") in preds


def test_predict_exports_merge_signatures() -> None:
    _, _, multi = _heads()
    spec = multi.create_estimator_spec({}, ModeKeys.PREDICT, torch.zeros(2, 3))
    outs = spec.export_outputs
    assert {
        "serving_default",
        "clicked",
        "clicked/classification",
        "value",
        "value/regression",
        "predict",
    } <= set(outs)
    assert "clicked/logistic" in outs["predict"].outputs and "value/predictions" in outs["predict"].outputs


def test_invalid_multi_heads() -> None:
    with pytest.raises(InvalidArgumentError, match="needs a name"):
        MultiHead([BinaryClassHead()])
    with pytest.raises(InvalidArgumentError, match="same length"):
        MultiHead([BinaryClassHead(name="a")], head_weights=[1.0, 2.0])
    _, _, multi = _heads()
    with pytest.raises(InvalidArgumentError, match="cannot split"):
        multi.loss({"clicked": [1.0], "value": [[1.0, 1.0]]}, torch.zeros(1, 4))
