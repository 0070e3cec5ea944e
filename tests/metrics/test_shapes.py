"""Metrics squeeze a trailing size-1 dimension as TF does and never broadcast (B,) against (B, 1).

Oracles: ``tests/fixtures/metrics/tf215_shapes.json`` (tf.keras.metrics in TF 2.15, written by
``scripts/fixtures/gen_trust_input_fixtures.py``) and numpy.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from torchestimator.errors import InvalidArgumentError
from torchestimator.metrics import (
    AUC,
    Accuracy,
    AccuracyBaseline,
    AUCPrecisionRecall,
    BinaryAccuracy,
    Mean,
    Precision,
    Recall,
    broadcast_weights,
    remove_squeezable_dimensions,
)

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "metrics" / "tf215_shapes.json").read_text())
B = len(FIXTURE["labels"])
SHAPES = {"B": (B,), "B1": (B, 1), "B2": (B, 2)}
CLASSES = {
    "Accuracy": Accuracy,
    "BinaryAccuracy": BinaryAccuracy,
    "Precision": Precision,
    "Recall": Recall,
    "AUC": AUC,
    "AUCPrecisionRecall": AUCPrecisionRecall,
}


def _shaped(values: list, shape: str) -> torch.Tensor:
    t = torch.tensor(values)
    if shape == "B2":
        return t.reshape(B, 1).repeat(1, 2)
    return t.reshape(SHAPES[shape])


def _case_id(case: dict) -> str:
    return f"{case['metric']}-labels{case['labels']}-preds{case['predictions']}-w{case['weights']}"


@pytest.mark.parametrize("case", FIXTURE["cases"], ids=_case_id)
def test_metric_matches_keras_for_every_shape_combination(case: dict) -> None:
    metric = CLASSES[case["metric"]]
    labels = _shaped(FIXTURE["labels"], case["labels"])
    source = FIXTURE["class_ids"] if case["metric"] == "Accuracy" else FIXTURE["probabilities"]
    predictions = _shaped(source, case["predictions"])
    weights = None if case["weights"] is None else _shaped(FIXTURE["weights"], case["weights"])
    same_shape_value = next(
        c["value"]
        for c in FIXTURE["cases"]
        if c["metric"] == case["metric"]
        and c["labels"] == c["predictions"] == "B"
        and c["weights"] == case["weights"]
    )
    if case["predictions"] == "B2":  # TF refuses; we refuse with both shapes named
        assert str(case["value"]).startswith("error")
        with pytest.raises(
            InvalidArgumentError, match=rf"labels shape \[{B}\] and predictions shape \[{B}, 2\]"
        ):
            metric(labels, predictions, weights)
        return
    value = metric(labels, predictions, weights).result()
    if isinstance(case["value"], str):
        # Keras' Precision/Recall/AUC expand the weights against the unsqueezed (B, 1) predictions, then
        # squeeze the predictions, and fail; the data are unambiguous, so we give TF's value for them.
        assert "weights can not be broadcast" in case["value"]
        assert value == pytest.approx(same_shape_value, abs=1e-6)
    else:
        assert value == pytest.approx(case["value"], abs=1e-6)
        assert value == pytest.approx(same_shape_value, abs=1e-6)


def test_all_correct_predictions_score_one_not_a_broadcast_fraction() -> None:
    # the case: (B,) labels vs (B, 1) class ids used to broadcast to (B, B) and score 0.5
    labels = torch.tensor([1, 0, 1, 0])
    class_ids = labels.reshape(4, 1)
    assert Accuracy(labels, class_ids).result() == 1.0
    assert Accuracy(class_ids, labels).result() == 1.0
    assert Precision(labels, class_ids.double()).result() == 1.0
    assert Recall(class_ids, labels.double()).result() == 1.0


@pytest.mark.parametrize("case", FIXTURE["mean"], ids=lambda c: f"values{c['values']}-w{c['weights']}")
def test_mean_weights_squeeze_or_expand_like_keras(case: dict) -> None:
    values = _shaped(FIXTURE["probabilities"], case["values"])
    weights = _shaped(FIXTURE["weights"], case["weights"])
    assert Mean(values, weights).result() == pytest.approx(case["value"], abs=1e-6)


@pytest.mark.parametrize(
    "case", FIXTURE["multi_label"]["cases"], ids=lambda c: f"{c['metric']}-w{c['weights']}"
)
def test_per_example_weights_broadcast_over_classes_like_keras(case: dict) -> None:
    indicator = torch.tensor(FIXTURE["multi_label"]["indicator"])  # (B, n)
    scores = torch.tensor(FIXTURE["multi_label"]["scores"])  # (B, n)
    weights = _shaped(FIXTURE["weights"], case["weights"])  # (B,) or (B, 1) -> (B, n)
    value = CLASSES[case["metric"]](indicator, scores, weights).result()
    assert value == pytest.approx(case["value"], abs=1e-6)


@pytest.mark.parametrize("labels_shape", [(5,), (5, 1)])
@pytest.mark.parametrize("weights_shape", [None, (5,), (5, 1)])
def test_accuracy_baseline_against_numpy(labels_shape: tuple, weights_shape: tuple | None) -> None:
    y = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    w = np.array([0.5, 2.0, 1.0, 1.5, 1.0])
    weights = None if weights_shape is None else torch.tensor(w).reshape(weights_shape)
    mean = np.average(y, weights=None if weights_shape is None else w)
    value = AccuracyBaseline(torch.tensor(y).reshape(labels_shape), weights).result()
    assert value == pytest.approx(max(mean, 1 - mean))


@pytest.mark.parametrize(
    ("metric", "args"),
    [
        (Accuracy, (torch.zeros(4), torch.zeros(3))),
        (Accuracy, (torch.zeros(4, 1, 1), torch.zeros(4))),
        (BinaryAccuracy, (torch.zeros(4, 2), torch.zeros(4))),
        (Precision, (torch.zeros(4), torch.zeros(4, 3))),
        (Recall, (torch.zeros(4, 2), torch.zeros(2, 4))),
        (AUC, (torch.zeros(4), torch.zeros(4, 2))),
    ],
)
def test_other_label_prediction_mismatches_raise_naming_both_shapes(metric: type, args: tuple) -> None:
    labels, predictions = args
    with pytest.raises(InvalidArgumentError) as info:
        metric(labels, predictions)
    assert str(list(labels.shape)) in str(info.value) and str(list(predictions.shape)) in str(info.value)
    assert "never broadcast" in str(info.value)


@pytest.mark.parametrize(
    ("weights", "values"),
    [
        (torch.ones(3), torch.zeros(4)),
        (torch.ones(4, 2), torch.zeros(4)),
        (torch.ones(2, 4), torch.zeros(4, 1)),
    ],
)
def test_weights_that_do_not_fit_raise_naming_both_shapes(
    weights: torch.Tensor, values: torch.Tensor
) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        Mean(values, weights)
    message = str(info.value)
    assert (
        f"weights shape {list(weights.shape)}" in message
        and f"values of shape {list(values.shape)}" in message
    )


def test_remove_squeezable_dimensions_follows_tf_rule() -> None:
    def shapes(a: tuple, b: tuple) -> tuple:
        x, y = remove_squeezable_dimensions(torch.zeros(a), torch.zeros(b))
        return tuple(x.shape), tuple(y.shape)

    assert shapes((4,), (4, 1)) == ((4,), (4,))
    assert shapes((4, 1), (4,)) == ((4,), (4,))
    assert shapes((4, 1), (4, 1)) == ((4, 1), (4, 1))
    assert shapes((4,), (4, 2)) == ((4,), (4, 2))  # only a size-1 trailing dim is squeezed
    assert shapes((4, 1, 1), (4,)) == ((4, 1, 1), (4,))  # ranks two apart: untouched (then refused)


def test_broadcast_weights_scalar_and_per_class() -> None:
    values = torch.zeros(3, 2)
    assert broadcast_weights(2.0, values, "m").tolist() == [[2.0, 2.0]] * 3
    w = broadcast_weights(torch.tensor([1.0, 2.0, 3.0]), values, "m")  # (B,) -> (B, 1) -> (B, n)
    assert w.tolist() == [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]
