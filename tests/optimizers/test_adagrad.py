"""The fast Adagrad (torchestimator/optimizers/adagrad.py) and sort-free sparse rows, against numpy oracles."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torchestimator.optimizers import Adagrad, get_optimizer
from torchestimator.optimizers.sparse_rows import SlotScratch, unique_rows


def _sparse(ids: np.ndarray, values: np.ndarray, rows: int) -> torch.Tensor:
    return torch.sparse_coo_tensor(
        torch.from_numpy(ids)[None], torch.from_numpy(values), (rows, values.shape[1])
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unique_rows_sums_duplicates_like_numpy(seed):
    rng = np.random.default_rng(seed)
    ids = rng.zipf(1.3, 300) % 50
    values = rng.standard_normal((300, 3)).astype(np.float32)
    scratch = SlotScratch()
    for _ in range(2):  # the scratch is reused without a reset
        rows, summed = unique_rows(_sparse(ids, values, 50), scratch)
        want_rows = np.unique(ids)
        want = np.zeros((50, 3), np.float32)
        np.add.at(want, ids, values)
        assert sorted(rows.tolist()) == want_rows.tolist()
        assert len(set(rows.tolist())) == rows.numel()
        np.testing.assert_allclose(summed.numpy(), want[rows.numpy()], rtol=1e-5, atol=1e-6)


def test_unique_rows_sums_each_row_in_input_order_on_every_thread_count():
    # a large, heavily duplicated gradient takes torch's parallel paths; the sums must still be the
    # input-order float32 sums (np.add.at adds one entry at a time), the same on 1 and 2 threads
    rng = np.random.default_rng(7)
    ids = (rng.zipf(1.2, 200_000) - 1) % 5000
    values = rng.standard_normal((200_000, 16)).astype(np.float32)
    want = np.zeros((5000, 16), np.float32)
    np.add.at(want, ids, values)
    saved = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            rows, summed = unique_rows(_sparse(ids, values, 5000), SlotScratch())
            assert sorted(rows.tolist()) == np.unique(ids).tolist()
            np.testing.assert_array_equal(summed.numpy(), want[rows.numpy()])
    finally:
        torch.set_num_threads(saved)


def test_unique_rows_of_a_coalesced_gradient_is_its_indices():
    g = _sparse(np.array([4, 1, 4]), np.ones((3, 2), np.float32), 6).coalesce()
    rows, summed = unique_rows(g)
    assert rows.tolist() == [1, 4] and summed.tolist() == [[1.0, 1.0], [2.0, 2.0]]


def _numpy_adagrad(w, acc, grads, lr, eps):
    """TF's ResourceSparseApplyAdagradV2 after duplicate rows are summed: touched rows only."""
    for ids, values in grads:
        g = np.zeros_like(w)
        np.add.at(g, ids, values)
        touched = np.unique(ids)
        acc[touched] += g[touched] ** 2
        w[touched] -= lr * g[touched] / (np.sqrt(acc[touched]) + eps)
    return w, acc


def test_sparse_steps_match_the_numpy_rule_and_leave_untouched_rows():
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((40, 4)).astype(np.float32)
    grads = [(rng.zipf(1.5, 64) % 40, rng.standard_normal((64, 4)).astype(np.float32)) for _ in range(5)]
    p = torch.nn.Parameter(torch.from_numpy(w0.copy()))
    opt = Adagrad([p], lr=0.05, initial_accumulator_value=0.1, eps=1e-7)
    for ids, values in grads:
        p.grad = _sparse(ids, values, 40)
        opt.step()
    w, acc = _numpy_adagrad(w0.astype(np.float64), np.full((40, 4), 0.1), grads, 0.05, 1e-7)
    np.testing.assert_allclose(p.detach().numpy(), w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(opt.state[p]["sum"].numpy(), acc, rtol=1e-5)
    assert float(opt.state[p]["step"]) == 5


def test_dense_and_sparse_match_torch_adagrad_and_keep_its_state_layout():
    def build():
        torch.manual_seed(0)
        return torch.nn.ModuleDict(
            {"bag": torch.nn.EmbeddingBag(100, 4, mode="sum", sparse=True), "lin": torch.nn.Linear(4, 1)}
        )

    models = [build(), build()]
    kw = {"lr": 0.05, "initial_accumulator_value": 0.1, "eps": 1e-7}
    opts = [torch.optim.Adagrad(models[0].parameters(), **kw), Adagrad(models[1].parameters(), **kw)]
    rng = np.random.default_rng(0)
    for _ in range(10):
        ids = torch.from_numpy(rng.zipf(1.3, 32) % 100)
        for m, o in zip(models, opts):
            o.zero_grad()
            m["lin"](m["bag"](ids, torch.arange(0, 32, 4))).square().sum().backward()
            o.step()
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    ref, ours = opts[0].state_dict()["state"], opts[1].state_dict()["state"]
    assert {k: sorted(v) for k, v in ref.items()} == {k: sorted(v) for k, v in ours.items()}


def test_options_outside_the_fast_path_use_torchs_step():
    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.randn(3))
    b = torch.nn.Parameter(a.detach().clone())
    kw = {"lr": 0.1, "lr_decay": 0.5, "weight_decay": 0.01}
    ref, ours = torch.optim.Adagrad([a], **kw), Adagrad([b], **kw)
    for _ in range(3):
        for p, o in ((a, ref), (b, ours)):
            p.grad = p.detach() * 2
            o.step()
    torch.testing.assert_close(a, b)


def test_get_optimizer_adagrad_is_the_fast_subclass():
    opt = get_optimizer("Adagrad", [torch.nn.Parameter(torch.zeros(1))])
    assert type(opt) is Adagrad and isinstance(opt, torch.optim.Adagrad)
