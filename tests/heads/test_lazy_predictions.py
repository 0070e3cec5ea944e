"""TRAIN specs carry lazy predictions: TF's keys, nothing computed per step until a hook reads them."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from torchestimator.heads import (
    BinaryClassHead,
    MultiClassHead,
    MultiHead,
    MultiLabelHead,
    RegressionHead,
)
from torchestimator.heads.lazy_predictions import LazyPredictions
from torchestimator.spec import ModeKeys

LOGITS3 = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]])


def _train_spec(head: Any, logits: torch.Tensor, labels: Any) -> Any:
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    return head.create_estimator_spec({}, ModeKeys.TRAIN, logits, labels, optimizer=opt)


def test_binary_train_predictions_are_lazy_and_match_tf_formulas(monkeypatch: pytest.MonkeyPatch) -> None:
    head = BinaryClassHead()
    calls: list[Any] = []
    original = BinaryClassHead.predictions
    monkeypatch.setattr(
        BinaryClassHead, "predictions", lambda self, *a, **k: calls.append(a) or original(self, *a, **k)
    )
    logits = torch.tensor([[0.3], [-2.0]])
    spec = _train_spec(head, logits, torch.tensor([1.0, 0.0]))
    assert isinstance(spec.predictions, LazyPredictions) and calls == []
    assert list(spec.predictions) == ["logits", "logistic", "probabilities", "class_ids", "all_class_ids"]
    p = torch.sigmoid(logits)  # oracle: TF's sigmoid head
    torch.testing.assert_close(spec.predictions["logistic"], p)
    torch.testing.assert_close(spec.predictions["probabilities"], torch.cat([1 - p, p], dim=1))
    assert spec.predictions["class_ids"].tolist() == [[1], [0]]
    assert len(calls) == 1  # computed once for every key
    with pytest.raises(KeyError):
        spec.predictions["classes"]  # string keys stay out of TRAIN


def test_multi_class_train_predictions_equal_softmax_argmax() -> None:
    spec = _train_spec(MultiClassHead(3), LOGITS3, torch.tensor([2, 0]))
    preds = dict(spec.predictions)
    torch.testing.assert_close(preds["probabilities"], torch.softmax(LOGITS3, dim=1))
    assert preds["class_ids"].reshape(-1).tolist() == [2, 0]


@pytest.mark.parametrize(
    ("head", "labels"),
    [
        (MultiLabelHead(3), torch.tensor([[1, 0, 1], [0, 0, 1]])),
        (RegressionHead(label_dimension=3), torch.zeros(2, 3)),
    ],
)
def test_every_declared_key_is_computed(head: Any, labels: torch.Tensor) -> None:
    spec = _train_spec(head, LOGITS3, labels)
    evaluation = head.create_estimator_spec({}, ModeKeys.EVAL, LOGITS3, labels)
    assert list(spec.predictions) == list(evaluation.predictions)
    for key in spec.predictions:
        torch.testing.assert_close(spec.predictions[key], evaluation.predictions[key])


def test_multi_head_train_predictions_are_keyed_by_head() -> None:
    head = MultiHead([MultiClassHead(3, name="a"), BinaryClassHead(name="b")])
    logits = torch.cat([LOGITS3, torch.tensor([[0.2], [-0.1]])], dim=1)
    spec = _train_spec(head, logits, {"a": torch.tensor([0, 1]), "b": torch.tensor([1.0, 0.0])})
    assert isinstance(spec.predictions, LazyPredictions)
    assert ("a", "probabilities") in spec.predictions and ("b", "classes") not in spec.predictions
    torch.testing.assert_close(spec.predictions[("b", "logistic")], torch.sigmoid(logits[:, 3:]))
    torch.testing.assert_close(spec.predictions[("a", "probabilities")], torch.softmax(LOGITS3, dim=1))
