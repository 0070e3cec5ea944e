"""BinaryClassHead against TF 2.15's real head (fixture) and numpy."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from torchestimator.errors import InputError, InvalidArgumentError
from torchestimator.heads import (
    BinaryClassHead,
    ClassificationOutput,
    LossReduction,
    PredictOutput,
    RegressionOutput,
)
from torchestimator.metrics import accumulate
from torchestimator.spec import ModeKeys


def _case(case: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, dict, str | None]:
    logits, labels = torch.tensor(case["logits"]), torch.tensor(case["labels"])
    if case["weights"] is None:
        return logits, labels, {}, None
    return logits, labels, {"w": torch.tensor(case["weights"])}, "w"


@pytest.mark.parametrize("index", [0, 1, 2])
def test_loss_and_every_metric_match_tf(tf_heads: dict, index: int) -> None:
    case = tf_heads["binary"][index]
    logits, labels, features, weight_column = _case(case)
    head = BinaryClassHead(weight_column=weight_column, thresholds=[0.3, 0.7])
    assert float(head.loss(labels, logits, features)) == pytest.approx(
        case["loss_sum_over_batch_size"], rel=1e-5
    )
    head_sum = BinaryClassHead(weight_column=weight_column, loss_reduction=LossReduction.SUM)
    assert float(head_sum.loss(labels, logits, features)) == pytest.approx(case["loss_sum"], rel=1e-5)
    metrics = head.metrics(features, logits, labels)
    assert set(metrics) == set(case["metrics"])
    for name, expected in case["metrics"].items():
        tol = 1e-3 if name.startswith("auc") else 1e-5
        assert metrics[name].result() == pytest.approx(expected, abs=tol), name


def test_loss_and_metrics_match_numpy_formulas() -> None:
    rng = np.random.default_rng(3)
    z = rng.normal(size=(16, 1))
    y = (rng.random((16, 1)) < 0.5).astype(np.float64)
    w = rng.uniform(0.5, 2, size=(16,))  # [B] weights are expanded to [B, 1]
    per_example = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    head = BinaryClassHead(weight_column="w")
    features = {"w": w}
    loss = head.loss(y.astype(np.float32), torch.tensor(z, dtype=torch.float32), features)
    assert float(loss) == pytest.approx((per_example[:, 0] * w).sum() / 16, rel=1e-5)
    metrics = head.metrics(features, torch.tensor(z, dtype=torch.float32), torch.tensor(y))
    wc = w[:, None]
    p = 1 / (1 + np.exp(-z))
    assert metrics["average_loss"].result() == pytest.approx((per_example * wc).sum() / w.sum(), rel=1e-5)
    assert metrics["prediction/mean"].result() == pytest.approx((p * wc).sum() / w.sum(), rel=1e-5)
    assert metrics["label/mean"].result() == pytest.approx((y * wc).sum() / w.sum(), rel=1e-6)
    assert metrics["accuracy"].result() == pytest.approx(((y == (z > 0)) * wc).sum() / w.sum(), rel=1e-6)


def test_predictions_keys_dtypes_and_values() -> None:
    z = np.array([[1.5], [-0.5], [0.0]], dtype=np.float32)
    preds = BinaryClassHead().predictions(torch.tensor(z))
    assert list(preds) == [
        "logits",
        "logistic",
        "probabilities",
        "class_ids",
        "classes",
        "all_class_ids",
        "all_classes",
    ]
    p = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(preds["logistic"].numpy(), p, rtol=1e-6)
    np.testing.assert_allclose(preds["probabilities"].numpy(), np.hstack([1 - p, p]), rtol=1e-6)
    assert preds["class_ids"].dtype == torch.int64 and preds["class_ids"].tolist() == [[1], [0], [0]]
    assert preds["classes"].dtype == object and preds["classes"].tolist() == [[b"1"], [b"0"], [b"0"]]
    assert preds["all_class_ids"].tolist() == [[0, 1]] * 3
    assert preds["all_classes"].tolist() == [[b"0", b"1"]] * 3
    assert list(BinaryClassHead().predictions(torch.tensor(z), ["logistic"])) == ["logistic"]


def test_string_label_vocabulary_round_trips() -> None:
    head = BinaryClassHead(label_vocabulary=["no", "yes"])
    logits = torch.tensor([[2.0], [-1.0], [3.0]])
    labels_str = np.array([["yes"], ["no"], ["no"]])
    labels_bytes = [b"yes", b"no", b"no"]
    ids = torch.tensor([[1.0], [0.0], [0.0]])
    expected = float(BinaryClassHead().loss(ids, logits))
    assert float(head.loss(labels_str, logits)) == pytest.approx(expected)
    assert float(head.loss(labels_bytes, logits)) == pytest.approx(expected)
    preds = head.predictions(logits)
    assert preds["classes"].tolist() == [[b"yes"], [b"no"], [b"yes"]]
    assert preds["all_classes"].tolist() == [[b"no", b"yes"]] * 3
    with pytest.raises(InputError, match="'maybe' is not in label_vocabulary"):
        head.loss(["yes", "maybe", "no"], logits)


def test_streaming_over_batches_equals_one_shot(tf_heads: dict) -> None:
    case = tf_heads["binary"][1]
    logits, labels, features, _ = _case(case)
    head = BinaryClassHead(weight_column="w", thresholds=[0.3, 0.7])
    totals: dict = {}
    for lo in range(0, len(logits), 64):
        sl = slice(lo, lo + 64)
        head.update_metrics(totals, {"w": features["w"][sl]}, logits[sl], labels[sl])
    for name, expected in case["metrics"].items():
        assert totals[name].result() == pytest.approx(expected, abs=1e-3 if "auc" in name else 1e-5), name
    assert accumulate({}, head.metrics(features, logits, labels)).keys() == totals.keys()


def test_estimator_spec_per_mode() -> None:
    head = BinaryClassHead(name="h")
    logits = torch.tensor([[0.3], [-2.0]], requires_grad=True)
    labels = torch.tensor([1.0, 0.0])
    opt = torch.optim.SGD([logits], lr=0.1)
    train = head.create_estimator_spec({}, ModeKeys.TRAIN, logits, labels, optimizer=opt)
    assert train.train_op is opt and train.loss.requires_grad
    assert "classes" not in train.predictions  # no host copy per training step
    evaluation = head.create_estimator_spec({}, ModeKeys.EVAL, logits, labels)
    assert "auc/h" in evaluation.eval_metric_ops and "loss" not in evaluation.eval_metric_ops
    predict = head.create_estimator_spec({}, ModeKeys.PREDICT, logits)
    outs = predict.export_outputs
    assert set(outs) == {"serving_default", "classification", "regression", "predict"}
    assert isinstance(outs["classification"], ClassificationOutput)
    assert outs["classification"].outputs["classes"].tolist() == [[b"0", b"1"]] * 2
    assert isinstance(outs["regression"], RegressionOutput) and isinstance(outs["predict"], PredictOutput)
    with pytest.raises(InvalidArgumentError, match="cannot both be set"):
        head.create_estimator_spec(
            {}, ModeKeys.TRAIN, logits, labels, optimizer=opt, train_op_fn=lambda loss: None
        )


def test_invalid_arguments_are_rejected() -> None:
    with pytest.raises(InvalidArgumentError, match="loss_reduction"):
        BinaryClassHead(loss_reduction=LossReduction.NONE)
    with pytest.raises(InvalidArgumentError, match=r"\(0, 1\)"):
        BinaryClassHead(thresholds=[1.0])
    with pytest.raises(InputError, match="label_vocabulary"):
        BinaryClassHead().loss(["a", "b"], torch.zeros(2, 1))
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        BinaryClassHead().loss(torch.tensor([2.0, 0.0]), torch.zeros(2, 1))
    with pytest.raises(InvalidArgumentError, match="logits shape"):
        BinaryClassHead().loss(torch.tensor([1.0, 0.0]), torch.zeros(2, 2))
