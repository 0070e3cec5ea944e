"""``te.compat.v1`` layers, losses and optimizers against TF 2.15's ``tf.compat.v1`` (tests/fixtures/compat_v1,
scripts/fixtures/gen_compat_v1_fixtures.py: layers / losses / optimizers cases)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import torchestimator as te
from torchestimator.function_model import FunctionModelFn

v1 = te.compat.v1
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "compat_v1"


def _record() -> dict:
    return json.loads((FIXTURES / "tf215_compat_v1.json").read_text())


def test_layers_match_tf():
    case = _record()["layers"]
    image = torch.tensor(case["image"])
    k, b = v1.constant_initializer(np.array(case["kernel"])), v1.constant_initializer(np.array(case["bias"]))
    dense_k = v1.constant_initializer(np.array(case["dense_kernel"]))

    def fn(features, mode):
        x = features["image"]
        layers = v1.layers
        return {
            "conv_same_s2": layers.conv2d(
                x,
                4,
                (3, 2),
                strides=2,
                padding="same",
                kernel_initializer=k,
                bias_initializer=b,
                activation=v1.nn.relu,
            ),
            "conv_valid": layers.conv2d(
                x, 4, (3, 2), padding="valid", kernel_initializer=k, bias_initializer=b
            ),
            "max_same": layers.max_pooling2d(x, 3, 2, padding="same"),
            "avg_same": layers.average_pooling2d(x, 3, 2, padding="same"),
            "avg_valid": layers.average_pooling2d(x, 2, 2),
            "flatten": layers.flatten(x),
            "dense_rank3": layers.dense(features["seq"], 2, kernel_initializer=dense_k),
            "bn_train": layers.batch_normalization(features["bn_in"], training=True, momentum=0.9),
        }

    model = FunctionModelFn(fn, {}, None)
    features = {"image": image, "seq": torch.tensor(case["seq"]), "bn_in": torch.tensor(case["bn_in"])}
    with torch.no_grad():
        model(features, mode="train")  # the build call: creates the layers, updates nothing
        out = model(features, mode="train")  # one training call: one moving-average update, as TF's one run
    for key, expected in case["outputs"].items():
        np.testing.assert_allclose(out[key].numpy(), np.asarray(expected), rtol=1e-5, atol=1e-5, err_msg=key)
    state = model.state_dict()
    for name, expected in case["bn_moving"].items():
        key = name.replace("batch_normalization/", "batch_normalization.")
        np.testing.assert_allclose(state[key].numpy(), expected, rtol=1e-5, err_msg=name)


def _loss(case: dict, kind: str, red: str) -> torch.Tensor:
    labels, logits, probs = (torch.tensor(case[k]) for k in ("labels", "logits", "probs"))
    ids, weights = torch.tensor(case["ids"]), torch.tensor(case["weights"])
    ex_weights = weights[:, 0]
    L = v1.losses
    if kind == "default":
        return L.sparse_softmax_cross_entropy(ids, logits, ex_weights)  # SUM_BY_NONZERO_WEIGHTS
    if kind == "sparse_softmax":
        return L.sparse_softmax_cross_entropy(ids, logits, ex_weights, reduction=red)
    if kind == "softmax":
        return L.softmax_cross_entropy(labels, logits, ex_weights, label_smoothing=0.1, reduction=red)
    if kind == "sigmoid":
        return L.sigmoid_cross_entropy(labels, logits, weights, label_smoothing=0.2, reduction=red)
    if kind == "hinge":
        return L.hinge_loss(labels, logits, weights, reduction=red)
    if kind == "huber":
        return L.huber_loss(labels, logits, weights, delta=0.7, reduction=red)
    fn = {"mse": L.mean_squared_error, "abs": L.absolute_difference, "log": L.log_loss}[kind]
    return fn(labels, probs, weights, reduction=red)


def test_losses_match_tf():
    case = _record()["losses"]
    assert len(case["values"]) == 41  # 8 losses x 5 reductions + the default reduction
    for key, expected in case["values"].items():
        got = _loss(case, *key.split("/"))
        np.testing.assert_allclose(got.numpy(), np.asarray(expected), rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.mark.parametrize(
    "name",
    [
        "GradientDescent",
        "Momentum",
        "MomentumNesterov",
        "Adagrad",
        "Adam",
        "Ftrl",
        "RMSProp",
        "RMSPropMomentumCentered",
    ],
)
def test_v1_optimizers_step_as_tf(name):
    case = _record()["optimizers"]
    x, y = torch.tensor(case["x"]), torch.tensor(case["y"])
    w = torch.nn.Parameter(torch.tensor(case["w0"]))
    train = v1.train
    make = {
        "GradientDescent": lambda: train.GradientDescentOptimizer(0.05),
        "Momentum": lambda: train.MomentumOptimizer(0.05, 0.9),
        "MomentumNesterov": lambda: train.MomentumOptimizer(0.05, 0.9, use_nesterov=True),
        "Adagrad": lambda: train.AdagradOptimizer(0.1),
        "Adam": lambda: train.AdamOptimizer(0.1),
        "Ftrl": lambda: train.FtrlOptimizer(
            0.1, l1_regularization_strength=0.01, l2_regularization_strength=0.1
        ),
        "RMSProp": lambda: train.RMSPropOptimizer(0.01),
        "RMSPropMomentumCentered": lambda: train.RMSPropOptimizer(0.01, momentum=0.5, centered=True),
    }[name]
    opt = make().build([w])
    for step, expected in enumerate(case["trails"][name]):
        opt.zero_grad()
        ((x @ w - y) ** 2).sum().backward()
        opt.step()
        np.testing.assert_allclose(
            w.detach().numpy(), expected, rtol=1e-5, atol=1e-5, err_msg=f"{name} step {step + 1}"
        )


@pytest.mark.parametrize("weight", [1.0, 2.5, 0.0])
def test_scalar_weights_reduce_as_tensor_weights(weight):
    losses = torch.tensor([[0.5, 1.5], [2.0, 0.25], [1.0, 3.0]])
    for red in v1.losses.Reduction.all():
        got = v1.losses.compute_weighted_loss(losses, weight, reduction=red)
        expected = v1.losses.compute_weighted_loss(losses, torch.full((3, 2), weight), reduction=red)
        torch.testing.assert_close(got, expected, rtol=1e-6, atol=0, msg=red)
