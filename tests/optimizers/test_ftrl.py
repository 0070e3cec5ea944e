"""FTRL: step by step against the published update rule (numpy) and TF 2.15's Ftrl (fixture)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.optimizers.conftest import set_grad
from torchestimator.errors import InvalidArgumentError
from torchestimator.optimizers import Ftrl


def _numpy_ftrl(w, n, z, g, lr, p, l1, l2, shrink, beta):
    """McMahan et al. FTRL-Proximal as TF's ApplyFtrlV2 documents it (float64)."""
    l2 = l2 + beta / (2 * lr)
    g_s = g + 2 * shrink * w
    n_new = n + g * g
    z = z + g_s - (n_new ** (-p) - n ** (-p)) / lr * w
    quad = n_new ** (-p) / lr + 2 * l2
    w = np.where(np.abs(z) > l1, (np.sign(z) * l1 - z) / quad, 0.0)
    return w, n_new, z


HYPER = [
    dict(lr=0.1, p=-0.5, l1=0.0, l2=0.0, shrink=0.0, beta=0.0),
    dict(lr=0.3, p=-0.5, l1=0.4, l2=0.2, shrink=0.05, beta=0.1),
    dict(lr=0.05, p=-0.3, l1=0.01, l2=0.0, shrink=0.0, beta=0.0),
    dict(lr=0.2, p=0.0, l1=0.0, l2=0.5, shrink=0.0, beta=0.0),
]


def _make(h: dict, w0: np.ndarray, init_acc: float = 0.1) -> tuple[torch.nn.Parameter, Ftrl]:
    param = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float64))
    opt = Ftrl(
        [param],
        learning_rate=h["lr"],
        learning_rate_power=h["p"],
        initial_accumulator_value=init_acc,
        l1_regularization_strength=h["l1"],
        l2_regularization_strength=h["l2"],
        l2_shrinkage_regularization_strength=h["shrink"],
        beta=h["beta"],
    )
    return param, opt


@pytest.mark.parametrize("h", HYPER)
def test_dense_steps_equal_published_rule(h: dict) -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.5, (4, 3))
    n, z = np.full_like(w, 0.1), np.zeros_like(w)
    param, opt = _make(h, w)
    for _ in range(8):
        g = rng.normal(size=w.shape)
        param.grad = torch.tensor(g)
        opt.step()
        w, n, z = _numpy_ftrl(w, n, z, g, **h)
        np.testing.assert_allclose(param.detach().numpy(), w, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(opt.state[param]["accumulator"].numpy(), n, rtol=1e-12)
    np.testing.assert_allclose(opt.state[param]["linear"].numpy(), z, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("h", HYPER[:2])
def test_sparse_steps_touch_only_present_rows_and_sum_duplicates(h: dict) -> None:
    rng = np.random.default_rng(1)
    w = rng.normal(0, 0.5, (6, 2))
    n, z = np.full_like(w, 0.1), np.zeros_like(w)
    param, opt = _make(h, w)
    for _ in range(6):
        rows = rng.integers(0, 6, size=4)
        values = rng.normal(size=(4, 2))
        dense = np.zeros_like(w)
        np.add.at(dense, rows, values)
        touched = np.unique(rows)
        param.grad = torch.sparse_coo_tensor(
            torch.from_numpy(rows[None, :]), torch.tensor(values), param.shape, check_invariants=True
        )
        opt.step()
        w_new, n_new, z_new = _numpy_ftrl(w[touched], n[touched], z[touched], dense[touched], **h)
        w, n, z = w.copy(), n.copy(), z.copy()
        w[touched], n[touched], z[touched] = w_new, n_new, z_new
        np.testing.assert_allclose(param.detach().numpy(), w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "name",
    ["dense_default", "dense_l1_l2_shrink_beta", "dense_power", "sparse_default", "sparse_l1_l2_shrink"],
)
def test_trajectory_matches_tf_keras_legacy_ftrl(tf_heads: dict, name: str) -> None:
    case = tf_heads["ftrl"][name]
    param = torch.nn.Parameter(torch.tensor(case["init"]))
    opt = Ftrl([param], **case["kwargs"])
    for i, grad in enumerate(case["grads"]):
        set_grad(param, grad, case["rows"][i] if case["rows"] else None)
        opt.step()
        np.testing.assert_allclose(param.detach().numpy(), case["weights"][i], rtol=1e-5, atol=1e-6)


def test_embedding_bag_sparse_gradient_trains_only_used_rows() -> None:
    bag = torch.nn.EmbeddingBag(10, 4, mode="sum", sparse=True)
    before = bag.weight.detach().clone()
    opt = Ftrl(bag.parameters(), learning_rate=0.5)
    bag(torch.tensor([1, 3, 3, 7]), torch.tensor([0, 2])).sum().backward()
    opt.step()
    changed = (bag.weight.detach() != before).any(dim=1).nonzero().flatten().tolist()
    assert changed == [1, 3, 7]


def test_invalid_arguments() -> None:
    p = [torch.nn.Parameter(torch.zeros(1))]
    with pytest.raises(InvalidArgumentError, match="learning_rate_power"):
        Ftrl(p, learning_rate_power=0.5)
    with pytest.raises(InvalidArgumentError, match="l1_regularization_strength"):
        Ftrl(p, l1_regularization_strength=-1.0)
