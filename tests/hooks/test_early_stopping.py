"""Early stopping reads eval results and stops training when a metric stops improving."""

from __future__ import annotations

import pytest
import torch
from estimator_support import TinyRegressor

import torchestimator as te
from torchestimator.summaries import SummaryWriter


def _write_evals(eval_dir, values):
    w = SummaryWriter(str(eval_dir))
    for step, v in values.items():
        w.scalar("loss", v, step)
    w.close()


class Diverging(TinyRegressor):
    """lr so high that the eval loss gets worse after the first evaluations."""


def test_stop_if_no_decrease_stops_when_eval_loss_stops_improving(tmp_path, batches):
    torch.manual_seed(0)
    est = te.Estimator(Diverging, model_dir=str(tmp_path), params={"lr": 0.5})
    evaluator = te.hooks.InMemoryEvaluatorHook(est, lambda: batches, every_n_iter=2)
    stopper = te.hooks.stop_if_no_decrease_hook(
        est, "loss", max_steps_without_decrease=4, run_every_steps=1, run_every_secs=None
    )
    est.train(lambda: batches * 100, hooks=[evaluator, stopper])
    results = te.summaries.read_eval_results(est.eval_dir())
    steps = sorted(results)
    best_step = min(steps, key=lambda s: results[s]["loss"])
    # stopped as soon as 4 steps passed without a new best (oracle: the rule applied to what was written)
    assert est.global_step == best_step + 4
    assert est.global_step < 800


def test_no_decrease_rule_on_written_event_files(tmp_path):
    est = te.Estimator(TinyRegressor, model_dir=str(tmp_path))
    _write_evals(est.eval_dir(), {10: 1.0, 20: 0.5, 30: 0.6, 40: 0.7})
    hook = te.hooks.stop_if_no_decrease_hook(est, "loss", 20, run_every_steps=1, run_every_secs=None)
    ctx = te.hooks.RunContext(est, "train", global_step=0)
    hook.begin(ctx)
    ctx.global_step = 1
    hook.after_step(ctx)
    assert ctx.stop_requested  # best at 20, evaluated at 40: 40 - 20 >= 20
    hook2 = te.hooks.stop_if_no_decrease_hook(est, "loss", 21, run_every_steps=1, run_every_secs=None)
    ctx2 = te.hooks.RunContext(est, "train", global_step=0)
    hook2.begin(ctx2)
    ctx2.global_step = 1
    hook2.after_step(ctx2)
    assert not ctx2.stop_requested


@pytest.mark.parametrize(
    "factory, threshold, expect",
    [
        (te.hooks.stop_if_higher_hook, 0.9, True),
        (te.hooks.stop_if_higher_hook, 1.0, False),
        (te.hooks.stop_if_lower_hook, 0.55, True),
        (te.hooks.stop_if_lower_hook, 0.5, False),
    ],
)
def test_threshold_hooks(tmp_path, factory, threshold, expect):
    est = te.Estimator(TinyRegressor, model_dir=str(tmp_path))
    _write_evals(est.eval_dir(), {10: 1.0, 20: 0.5})
    hook = factory(est, "loss", threshold, run_every_steps=1, run_every_secs=None)
    ctx = te.hooks.RunContext(est, "train", global_step=0)
    hook.begin(ctx)
    ctx.global_step = 1
    hook.after_step(ctx)
    assert ctx.stop_requested is expect


def test_min_steps_and_unknown_metric(tmp_path):
    est = te.Estimator(TinyRegressor, model_dir=str(tmp_path))
    _write_evals(est.eval_dir(), {10: 1.0, 20: 0.5})
    hook = te.hooks.stop_if_lower_hook(est, "loss", 0.9, min_steps=30, run_every_steps=1, run_every_secs=None)
    ctx = te.hooks.RunContext(est, "train", global_step=1)
    hook.begin(ctx)
    ctx.global_step = 2
    hook.after_step(ctx)
    assert not ctx.stop_requested
    bad = te.hooks.stop_if_lower_hook(est, "auc", 0.9, run_every_steps=1, run_every_secs=None)
    bad.begin(ctx)
    ctx.global_step = 3
    with pytest.raises(te.errors.InvalidArgumentError, match=r"'auc' not found.*available: \['loss'\]"):
        bad.after_step(ctx)
