"""Pins the documented firing order of hooks and saving listeners (torchestimator/hooks/base.py)."""

from __future__ import annotations

import pytest
import torch
from estimator_support import TinyRegressor

import torchestimator as te
from torchestimator.hooks import CheckpointSaverListener, Hook


class Recorder(Hook):
    def __init__(self, log, name="hook"):
        self.log, self.name = log, name

    def begin(self, ctx):
        self.log.append(f"{self.name}.begin@{ctx.global_step}")

    def before_step(self, ctx):
        self.log.append(f"{self.name}.before_step@{ctx.global_step}")

    def after_step(self, ctx):
        self.log.append(f"{self.name}.after_step@{ctx.global_step}")

    def before_save(self, ctx):
        self.log.append(f"{self.name}.before_save@{ctx.global_step}")

    def after_save(self, ctx, path):
        self.log.append(f"{self.name}.after_save@{ctx.global_step}:{path.rsplit('-', 1)[-1]}")

    def end(self, ctx):
        self.log.append(
            f"{self.name}.end@{ctx.global_step}" + (f":{sorted(ctx.results)}" if ctx.results else "")
        )


class Listener(CheckpointSaverListener):
    def __init__(self, log):
        self.log = log

    def begin(self):
        self.log.append("listener.begin")

    def before_save(self, step):
        self.log.append(f"listener.before_save@{step}")

    def after_save(self, step):
        self.log.append(f"listener.after_save@{step}")

    def end(self, step):
        self.log.append(f"listener.end@{step}")


class WithSpecHook(TinyRegressor):
    def __init__(self, params=None):
        super().__init__(params)
        self.log = []

    def forward(self, features, labels=None, mode="train"):
        spec = super().forward(features, labels, mode)
        return spec.replace(
            training_hooks=[Recorder(self.log, "spec")], evaluation_hooks=[Recorder(self.log, "evalspec")]
        )


def test_train_firing_order(tmp_path, batches):
    log: list[str] = []
    est = te.Estimator(WithSpecHook, model_dir=str(tmp_path), config=te.RunConfig(save_checkpoints_steps=2))
    est.model.log = log
    est.train(lambda: batches, steps=3, hooks=[Recorder(log)], saving_listeners=[Listener(log)])
    assert log == [
        "hook.begin@0",
        "listener.begin",
        "hook.before_save@0",
        "listener.before_save@0",
        "listener.after_save@0",
        "hook.after_save@0:0",
        "hook.before_step@0",
        "spec.begin@0",
        "hook.after_step@1",
        "spec.after_step@1",
        "hook.before_step@1",
        "spec.before_step@1",
        "hook.after_step@2",
        "spec.after_step@2",
        "hook.before_save@2",
        "spec.before_save@2",
        "listener.before_save@2",
        "listener.after_save@2",
        "hook.after_save@2:2",
        "spec.after_save@2:2",
        "hook.before_step@2",
        "spec.before_step@2",
        "hook.after_step@3",
        "spec.after_step@3",
        "hook.before_save@3",
        "spec.before_save@3",
        "listener.before_save@3",
        "listener.after_save@3",
        "hook.after_save@3:3",
        "spec.after_save@3:3",
        "hook.end@3",
        "spec.end@3",
        "listener.end@3",
    ]


def test_evaluate_firing_order(tmp_path, batches):
    log: list[str] = []
    # evaluating initial weights (global step 0) is an explicit opt-in
    est = te.Estimator(WithSpecHook, model_dir=str(tmp_path), config=te.RunConfig(allow_untrained=True))
    est.model.log = log
    est.evaluate(lambda: batches[:2], hooks=[Recorder(log)])
    assert log == [
        "hook.begin@0",
        "hook.before_step@0",
        "evalspec.begin@0",
        "hook.after_step@0",
        "evalspec.after_step@0",
        "hook.before_step@0",
        "evalspec.before_step@0",
        "hook.after_step@0",
        "evalspec.after_step@0",
        "hook.end@0:['global_step', 'loss', 'mae']",
        "evalspec.end@0:['global_step', 'loss', 'mae']",
    ]


def test_listener_after_save_true_stops_training(tmp_path, batches):
    class StopAfterSecondSave(CheckpointSaverListener):
        saves = 0

        def after_save(self, step):
            self.saves += 1
            return self.saves == 2

    est = te.Estimator(TinyRegressor, model_dir=str(tmp_path), config=te.RunConfig(save_checkpoints_steps=2))
    est.train(lambda: batches * 5, steps=20, saving_listeners=[StopAfterSecondSave()])
    assert est.global_step == 2


def test_hook_request_stop_and_stop_at_step(tmp_path, batches):
    class StopAt(Hook):
        def after_step(self, ctx):
            if ctx.global_step == 4:
                ctx.request_stop()

    est = te.Estimator(TinyRegressor, model_dir=str(tmp_path))
    est.train(lambda: batches * 5, hooks=[StopAt()])
    assert est.global_step == 4
    est.train(lambda: batches * 5, hooks=[te.hooks.StopAtStepHook(num_steps=3)])
    assert est.global_step == 7
    with pytest.raises(te.errors.InvalidArgumentError, match="exactly one"):
        te.hooks.StopAtStepHook()


class NanAfter(TinyRegressor):
    def forward(self, features, labels=None, mode="train"):
        spec = super().forward(features, labels, mode)
        self.calls = getattr(self, "calls", 0) + 1
        return spec.replace(loss=spec.loss * (float("nan") if self.calls >= 3 else 1.0))


def test_nan_loss_raises_and_keeps_last_good_checkpoint(tmp_path, batches):
    est = te.Estimator(NanAfter, model_dir=str(tmp_path), config=te.RunConfig(save_checkpoints_steps=1))
    with pytest.raises(te.NanLossDuringTrainingError, match="step 3"):
        est.train(lambda: batches, steps=5)
    assert te.checkpoint.list_checkpoints(tmp_path) == [0, 1, 2]
    assert torch.isfinite(te.checkpoint.load_model_state(tmp_path)["layer.weight"]).all()


def test_nan_loss_can_stop_instead(tmp_path, batches):
    est = te.Estimator(NanAfter, model_dir=str(tmp_path), config=te.RunConfig(save_checkpoints_steps=1))
    est.train(lambda: batches, steps=5, hooks=[te.hooks.NanTensorHook(fail_on_nan_loss=False)])
    assert est.global_step == 3
    assert te.checkpoint.list_checkpoints(tmp_path) == [0, 1, 2]  # the NaN model is not saved
