"""get_optimizer defaults and the Keras-legacy Adagrad / Adam / RMSProp / SGD rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tests.optimizers.conftest import set_grad
from torchestimator.errors import InvalidArgumentError
from torchestimator.optimizers import (
    Adam,
    Ftrl,
    RMSProp,
    dnn_linear_combined_linear_learning_rate,
    get_optimizer,
    linear_default_learning_rate,
)


def test_adagrad_step_is_tf_formula_with_init_acc_and_eps() -> None:
    w0, g = np.array([0.5, -1.0]), np.array([0.2, 3.0])
    param = torch.nn.Parameter(torch.tensor(w0))
    opt = get_optimizer("Adagrad", [param], learning_rate=0.1)
    param.grad = torch.tensor(g)
    opt.step()
    acc = 0.1 + g**2
    np.testing.assert_allclose(param.detach().numpy(), w0 - 0.1 * g / (np.sqrt(acc) + 1e-7), rtol=1e-12)


def test_adam_step_is_tf_formula_not_torch_eps_placement() -> None:
    w0, g1, g2 = np.array([0.5]), np.array([1e-4]), np.array([-2e-4])
    param = torch.nn.Parameter(torch.tensor(w0))
    opt = get_optimizer("Adam", [param], learning_rate=0.01)
    w, m, v = w0.copy(), 0.0, 0.0
    for t, g in enumerate([g1, g2], start=1):
        param.grad = torch.tensor(g)
        opt.step()
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        lr_t = 0.01 * math.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        w = w - lr_t * m / (np.sqrt(v) + 1e-7)
        np.testing.assert_allclose(param.detach().numpy(), w, rtol=1e-12)


@pytest.mark.parametrize("name", ["Adagrad", "Adam", "RMSProp", "SGD"])
@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_trajectory_matches_tf_keras_legacy(tf_heads: dict, name: str, kind: str) -> None:
    case = tf_heads["optimizers"][f"{name}_{kind}"]
    param = torch.nn.Parameter(torch.tensor(case["init"]))
    opt = get_optimizer(name, [param], learning_rate=0.05)
    for i, grad in enumerate(case["grads"]):
        set_grad(param, grad, case["rows"][i] if case["rows"] else None)
        opt.step()
        np.testing.assert_allclose(param.detach().numpy(), case["weights"][i], rtol=1e-5, atol=1e-6)


def test_lazy_adam_moves_only_touched_rows() -> None:
    param = torch.nn.Parameter(torch.ones(5, 2))
    opt = Adam([param], learning_rate=0.1, lazy=True)
    for rows in ([0, 2], [2, 4]):
        param.grad = torch.sparse_coo_tensor(
            torch.tensor([rows]), torch.ones(2, 2), param.shape, check_invariants=True
        )
        opt.step()
    assert (param.detach()[[1, 3]] == 1).all() and (param.detach()[[0, 2, 4]] < 1).all()


def test_rmsprop_momentum_uses_eps_inside_sqrt() -> None:
    param = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = RMSProp([param], learning_rate=0.1, momentum=0.5, epsilon=0.01)
    param.grad = torch.tensor([2.0], dtype=torch.float64)
    opt.step()
    ms = 0.1 * 4.0
    assert float(param.detach()) == pytest.approx(1.0 - 0.1 * 2.0 / math.sqrt(ms + 0.01), rel=1e-12)


def test_names_defaults_instances_classes_and_callables() -> None:
    params = [torch.nn.Parameter(torch.zeros(2))]
    assert get_optimizer("sgd", params).defaults["lr"] == 0.01
    assert get_optimizer("Ftrl", params).defaults["lr"] == 0.001
    ftrl = get_optimizer("Ftrl", params, default_learning_rate=linear_default_learning_rate(100))
    assert isinstance(ftrl, Ftrl) and ftrl.defaults["lr"] == pytest.approx(0.1)
    assert ftrl.defaults["initial_accumulator_value"] == 0.1 and ftrl.defaults["learning_rate_power"] == -0.5
    rms = get_optimizer("RMSProp", params)
    assert rms.defaults["rho"] == 0.9 and rms.defaults["eps"] == 1e-7
    assert get_optimizer("Adam", params).defaults["eps"] == 1e-7
    instance = torch.optim.SGD(params, lr=0.5)
    assert get_optimizer(instance, params) is instance
    assert get_optimizer(torch.optim.SGD, params, learning_rate=0.3).defaults["lr"] == 0.3
    assert isinstance(get_optimizer(lambda p: Adam(p, learning_rate=0.2), params), Adam)
    assert linear_default_learning_rate(1) == 0.2 and dnn_linear_combined_linear_learning_rate(4) == 0.005
    assert dnn_linear_combined_linear_learning_rate(10**6) == pytest.approx(0.001)
    with pytest.raises(InvalidArgumentError, match="did you mean 'Adagrad'"):
        get_optimizer("Adagrd", params)
    with pytest.raises(InvalidArgumentError, match=r"must return a torch\.optim\.Optimizer"):
        get_optimizer(lambda p: 3, params)
