"""A list of EvalSpecs in train_and_evaluate: each evaluated into its own eval_<name> dir, results as lists."""

from __future__ import annotations

import pytest
import torch
from estimator_support import TinyRegressor, make_batches

import torchestimator as te
from torchestimator.errors import InvalidArgumentError
from torchestimator.summaries import read_eval_results


def _input(seed, n=4):
    data = make_batches(n_batches=n, seed=seed)
    return lambda: iter(data)


def _numpy_loss(est, seed):
    w, b = est.model.layer.weight.detach(), est.model.layer.bias.detach()
    losses = [torch.mean((f["x"] @ w.T + b - y) ** 2) for f, y in make_batches(n_batches=4, seed=seed)]
    return float(torch.stack(losses).mean())


def test_two_eval_specs(tmp_path):
    config = te.RunConfig(save_summary_steps=None, log_step_count_steps=None, progress_bar=False)
    est = te.Estimator(TinyRegressor, model_dir=str(tmp_path), config=config)
    final = te.FinalOpsHook("loss")  # a TF-style hook in an EvalSpec
    specs = [
        te.EvalSpec(_input(1), steps=None, name="a", every_n_steps=5, hooks=[final]),
        te.EvalSpec(_input(2), steps=None, name="b"),
    ]
    metrics, exports = te.train_and_evaluate(est, te.TrainSpec(_input(0, n=12), max_steps=10), specs)
    assert [m["global_step"] for m in metrics] == [10, 10] and exports == [[], []]
    assert metrics[0]["loss"] == pytest.approx(_numpy_loss(est, 1), rel=1e-5)
    assert metrics[1]["loss"] == pytest.approx(_numpy_loss(est, 2), rel=1e-5)
    for name in ("a", "b"):
        assert sorted(read_eval_results(est.eval_dir(name))) == [5, 10]
    assert final.final_ops_values is not None


def test_eval_specs_need_distinct_names(tmp_path):
    est = te.Estimator(TinyRegressor, model_dir=str(tmp_path))
    specs = [te.EvalSpec(_input(1), name="a"), te.EvalSpec(_input(2), name="a")]
    with pytest.raises(InvalidArgumentError, match="distinct names"):
        te.train_and_evaluate(est, te.TrainSpec(_input(0), max_steps=2), specs)
    with pytest.raises(InvalidArgumentError, match="EvalSpec"):
        te.train_and_evaluate(est, te.TrainSpec(_input(0), max_steps=2), [])
