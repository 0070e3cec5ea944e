"""EstimatorSpec per-mode validation and ModeKeys values (reference §1.2)."""

from __future__ import annotations

import pytest
import torch

import torchestimator as te
from torchestimator.errors import InvalidArgumentError


def test_mode_keys_are_tfs():
    assert (te.ModeKeys.TRAIN, te.ModeKeys.EVAL, te.ModeKeys.PREDICT) == ("train", "eval", "infer")


def test_required_fields_per_mode():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    loss = torch.tensor(1.0)
    te.EstimatorSpec("train", loss=loss, train_op=opt)
    te.EstimatorSpec("eval", loss=loss)
    te.EstimatorSpec("infer", predictions={"p": loss})
    with pytest.raises(InvalidArgumentError, match="`train_op` in mode 'train'"):
        te.EstimatorSpec("train", loss=loss)
    with pytest.raises(InvalidArgumentError, match="`loss` in mode 'eval'"):
        te.EstimatorSpec("eval")
    with pytest.raises(InvalidArgumentError, match="`predictions` in mode 'infer'"):
        te.EstimatorSpec("infer")
    with pytest.raises(InvalidArgumentError, match=r"scalar .*received shape \[3\]"):
        te.EstimatorSpec("eval", loss=torch.ones(3))
    te.EstimatorSpec("eval", loss=torch.ones(1))  # shape [1] is allowed, as in TF
    with pytest.raises(InvalidArgumentError, match="mode must be one of"):
        te.EstimatorSpec("predict", predictions={})
    with pytest.raises(InvalidArgumentError, match=r"train_op.*containing \['int'\]"):
        te.EstimatorSpec("train", loss=loss, train_op=[3])


def test_replace_cannot_change_mode():
    spec = te.EstimatorSpec("eval", loss=torch.tensor(0.0))
    assert spec.replace(loss=torch.tensor(2.0)).loss.item() == 2.0
    with pytest.raises(InvalidArgumentError, match="cannot change mode"):
        spec.replace(mode="train")


def test_optimizers_named():
    p = torch.nn.Parameter(torch.zeros(1))
    a, b = torch.optim.SGD([p], lr=1), torch.optim.Adam([p])
    loss = torch.tensor(0.0)
    assert te.EstimatorSpec("train", loss=loss, train_op=a).optimizers() == {"optimizer": a}
    assert te.EstimatorSpec("train", loss=loss, train_op={"linear": a, "dnn": b}).optimizers() == {
        "linear": a,
        "dnn": b,
    }
