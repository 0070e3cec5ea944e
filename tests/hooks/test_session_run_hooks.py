"""TF's SessionRunHook protocol and basic hooks: firing steps as TF 2.15's basic_session_run_hooks document."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from estimator_support import TinyRegressor, make_batches

import torchestimator as te
from torchestimator.errors import InvalidArgumentError
from torchestimator.hooks import Hook
from torchestimator.summaries import read_scalars

TF = json.loads((Path(__file__).parents[1] / "fixtures" / "hooks_compat" / "tf_hook_steps.json").read_text())


def _input(n=10):
    data = make_batches(n_batches=n)
    for i, (features, _) in enumerate(data):
        features["i"] = torch.full((4,), i, dtype=torch.int64)  # the batch index, as the TF fixture logs
    return lambda: iter(data)


def _est(tmp_path, **kw):
    config = te.RunConfig(save_summary_steps=None, log_step_count_steps=None, progress_bar=False, **kw)
    return te.Estimator(TinyRegressor, model_dir=str(tmp_path / "m"), config=config)


class LossRecorder(Hook):
    def __init__(self):
        self.losses = []

    def after_step(self, ctx):
        self.losses.append(float(ctx.loss))


def test_logging_tensor_hook_fires_at_tf_iterations(tmp_path, caplog):
    est = _est(tmp_path)
    rec = LossRecorder()
    hook = te.LoggingTensorHook(
        {"i": "i", "loss": "loss", "step": "global_step"}, every_n_iter=3, at_end=True
    )
    with caplog.at_level("INFO", logger="torchestimator"):
        est.train(_input(), hooks=[rec, hook], steps=10)
    tf_batches = TF["logging_tensor_hook_every_3_at_end_batches_logged"]
    logged = [int(values["i"][0]) for _, values in hook.logged]
    assert logged[:-1] == tf_batches[:-1] == [0, 3, 6, 9]
    assert len(logged) == len(tf_batches)  # plus the at_end line
    # a run's fetches are that run's values; global_step is the value before the step (TF's stale step)
    for it, values in hook.logged[:-1]:
        assert values["loss"] == pytest.approx(rec.losses[it], rel=1e-6)
        assert int(values["step"]) == it
    assert int(hook.logged[-1][1]["step"]) == 10  # at_end reads the global step after the last step, as TF
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("i = ")]
    timed = [line.endswith(" sec)") for line in lines]
    assert timed == TF["logging_tensor_hook_line_has_elapsed_time"]


def test_logging_tensor_hook_argument_errors():
    with pytest.raises(InvalidArgumentError, match="at_end"):
        te.LoggingTensorHook(["loss"])
    with pytest.raises(InvalidArgumentError, match="every_n_iter"):
        te.LoggingTensorHook(["loss"], every_n_iter=0)


def test_unknown_fetch_names_what_is_available(tmp_path):
    est = _est(tmp_path)
    with pytest.raises(InvalidArgumentError, match=r"'nope'.*available.*'loss'"):
        est.train(_input(), hooks=[te.LoggingTensorHook(["nope"], every_n_iter=1)], steps=2)


def test_step_counter_hook_records_at_tf_steps(tmp_path):
    est = _est(tmp_path)
    out = str(tmp_path / "counter")
    hook = te.StepCounterHook(every_n_steps=4, output_dir=out)
    est.train(_input(), hooks=[hook], steps=10)
    # step 1 starts the clock; then global steps 5 and 9 (TF: should_trigger_for_step(stale + 1))
    tf_steps = TF["step_counter_every_4_summary_steps"]
    assert [s for s, _ in hook.recorded] == tf_steps == [5, 9]
    est._writer(out).flush()
    assert [s for s, _ in read_scalars(out)["global_step/sec"]] == tf_steps


def test_checkpoint_saver_hook_steps_and_listener_with_tf_signature(tmp_path):
    est = _est(tmp_path)
    calls = []

    class TFListener:  # TF's signatures: (session, global_step)
        def before_save(self, session, global_step):
            calls.append(("before", global_step))

        def after_save(self, session, global_step):
            calls.append(("after", global_step))

    other = tmp_path / "other"
    hook = te.CheckpointSaverHook(str(other), save_steps=4, listeners=[TFListener()])
    est.train(_input(), hooks=[hook], steps=10)
    tf_steps = TF["checkpoint_saver_every_4_saved_steps"]
    assert hook.saved_steps == tf_steps == [0, 4, 8, 10]
    written = [p.name for p in other.iterdir() if p.name.startswith("model.ckpt-")]
    assert sorted(int(n.rsplit("-", 1)[1]) for n in written) == tf_steps
    assert calls[:2] == [("before", 0), ("after", 0)] and calls[-1] == ("after", 10)
    # the saved weights are the model's at that step
    state = te.checkpoint.load_checkpoint(str(other / "model.ckpt-10"))
    assert torch.equal(state.model["layer.weight"], est.model.layer.weight.detach())


def test_checkpoint_saver_hook_replaces_the_estimators_saver_and_takes_its_listeners(tmp_path):
    """TF's Estimator adds its own CheckpointSaverHook only when none is among the hooks, and then hands
    ``saving_listeners`` to the user's (estimator.py ``_train_with_estimator_spec``)."""
    est = _est(tmp_path, save_checkpoints_steps=2)
    model_dir = tmp_path / "m"
    seen = []

    class Listener(te.CheckpointSaverListener):
        def after_save(self, global_step_value):
            seen.append(global_step_value)

    hook = te.CheckpointSaverHook(str(model_dir), save_steps=3)
    est.train(_input(), hooks=[hook], steps=7, saving_listeners=[Listener()])
    steps = sorted(
        int(p.name.rsplit("-", 1)[1]) for p in model_dir.iterdir() if p.name.startswith("model.ckpt-")
    )
    assert steps == hook.saved_steps == [0, 3, 6, 7]  # not the RunConfig cadence (0, 2, 4, 6, 7)
    assert seen == [0, 3, 6, 7]
    # without the hook, the RunConfig cadence
    est2 = _est(tmp_path / "b", save_checkpoints_steps=2)
    est2.train(_input(), steps=7)
    names = (tmp_path / "b" / "m").iterdir()
    assert sorted(int(p.name.rsplit("-", 1)[1]) for p in names if p.name.startswith("model.ckpt-")) == [
        0,
        2,
        4,
        6,
        7,
    ]


def test_tf_style_saving_listener_in_train(tmp_path):
    est = _est(tmp_path, save_checkpoints_steps=5)
    seen = []

    class TFListener:
        def after_save(self, session, global_step_value):
            seen.append(global_step_value)
            return global_step_value >= 5  # TF: True requests a stop

    est.train(_input(), steps=10, saving_listeners=[TFListener()])
    assert seen == [0, 5] and est.global_step == 5


def test_profiler_hook_writes_chrome_traces_at_tf_steps(tmp_path):
    est = _est(tmp_path)
    out = tmp_path / "prof"
    hook = te.ProfilerHook(save_steps=3, output_dir=str(out))
    est.train(_input(), hooks=[hook], steps=7)
    assert sorted(p.name for p in out.iterdir()) == TF["profiler_every_3_of_7_files"]
    trace = json.loads((out / "timeline-3.json").read_text())
    names = {e.get("name", "") for e in trace["traceEvents"]}
    assert any("addmm" in n or "linear" in n for n in names), sorted(names)[:20]


def test_final_ops_hook_in_evaluate(tmp_path):
    est = _est(tmp_path)
    est.train(_input(), steps=2)
    hook = te.FinalOpsHook({"loss": "loss", "mae": "mae", "const": lambda: 7})
    rec = LossRecorder()
    results = est.evaluate(_input(3), hooks=[rec, hook])
    # as TF's evaluate, the final values are the streamed results
    assert hook.final_ops_values["loss"] == pytest.approx(results["loss"], rel=1e-9)
    assert hook.final_ops_values["loss"] == pytest.approx(np.mean(rec.losses), rel=1e-6)
    assert hook.final_ops_values["mae"] == results["mae"]
    assert hook.final_ops_values["const"] == 7


def test_feed_fn_hook_replaces_features(tmp_path):
    est = _est(tmp_path)
    est.train(_input(), steps=2)
    hook = te.FeedFnHook(lambda: {"x": np.zeros((4, 3), np.float32)})
    preds = list(est.predict(_input(2), hooks=[hook]))
    bias = float(est.model.layer.bias.detach())
    assert all(p["y"][0] == pytest.approx(bias) for p in preds)
    with pytest.raises(InvalidArgumentError, match="'nope' is not a feature"):
        list(est.predict(_input(1), hooks=[te.FeedFnHook(lambda: {"nope": 1})]))


def test_global_step_waiter_hook(tmp_path):
    est = _est(tmp_path)
    est.train(_input(), steps=5)
    est2 = _est(tmp_path)  # same model_dir: step 5 already written
    est2.train(_input(), hooks=[te.GlobalStepWaiterHook(5, poll_secs=0.01)], steps=1)
    assert est2.global_step == 6


def test_custom_session_run_hook_requests_stop_and_sees_events(tmp_path):
    est = _est(tmp_path)
    events = []

    class Stopper(te.SessionRunHook):
        def begin(self):
            events.append("begin")

        def after_create_session(self, session, coord):
            events.append(f"session@{session.run('global_step')}")

        def before_run(self, run_context):
            return te.SessionRunArgs(["global_step", "y"] if False else "global_step")

        def after_run(self, run_context, run_values):
            events.append(int(run_values.results))
            if run_values.results >= 2:
                run_context.request_stop()

        def end(self, session):
            events.append("end")

    est.train(_input(), hooks=[Stopper()], steps=10)
    assert events == ["begin", "session@0", 0, 1, 2, "end"]
    assert est.global_step == 3


class WithSpecHooks(TinyRegressor):
    def forward(self, features, labels=None, mode=te.ModeKeys.TRAIN):
        spec = super().forward(features, labels, mode)
        if mode == te.ModeKeys.TRAIN:
            hook = te.LoggingTensorHook({"loss": spec.loss}, every_n_iter=2)
            return spec.replace(training_hooks=[hook])
        if mode == te.ModeKeys.PREDICT:
            return spec.replace(prediction_hooks=[_COUNT])
        return spec


class _Counter(Hook):
    def __init__(self):
        self.n = 0

    def after_step(self, ctx):
        self.n += 1


_COUNT = _Counter()


def test_spec_hooks_fetch_tensors_by_identity_and_prediction_hooks_run(tmp_path):
    est = te.Estimator(
        WithSpecHooks,
        model_dir=str(tmp_path / "m"),
        config=te.RunConfig(save_summary_steps=None, log_step_count_steps=None, progress_bar=False),
    )
    rec = LossRecorder()
    seen = []

    class Grab(Hook):
        def after_step(self, ctx):
            if not seen:
                seen.append(ctx.spec.training_hooks[0].hook)

    est.train(_input(), hooks=[rec, Grab()], steps=6)
    logged = seen[0].logged
    assert [i for i, _ in logged] == [0, 2, 4]
    for it, values in logged:
        assert values["loss"] == pytest.approx(rec.losses[it], rel=1e-6)
    _COUNT.n = 0
    list(est.predict(_input(3)))
    assert _COUNT.n == 3


def test_hooks_must_be_hooks(tmp_path):
    est = _est(tmp_path)
    with pytest.raises(InvalidArgumentError, match="received int"):
        est.train(_input(), hooks=[3], steps=1)


def test_profiler_default_dir_is_model_dir_and_tensorboard_layout(tmp_path):
    est = _est(tmp_path)
    est.train(_input(), hooks=[te.ProfilerHook(save_steps=2, tensorboard_trace=True)], steps=3)
    assert os.path.exists(os.path.join(est.model_dir, "timeline-2.json"))
    run_dir = Path(est.model_dir) / "plugins" / "profile" / "step_2"
    (trace,) = list(run_dir.glob("*.pt.trace.json"))  # torch-tb-profiler's file pattern
    assert json.loads(trace.read_text())["traceEvents"]


def test_summary_saver_hook_with_tf_arguments(tmp_path):
    est = _est(tmp_path)
    out = str(tmp_path / "summaries")
    hook = te.SummarySaverHook(save_steps=3, output_dir=out, summary_op=object())
    est.train(_input(), hooks=[hook], steps=10)
    est._writer(out).flush()
    assert [s for s, _ in read_scalars(out)["loss"]] == [1, 4, 7, 10]  # SecondOrStepTimer from the first step


class NanModel(TinyRegressor):
    def forward(self, features, labels=None, mode=te.ModeKeys.TRAIN):
        spec = super().forward(features, labels, mode)
        return spec.replace(loss=spec.loss * float("nan")) if mode == te.ModeKeys.TRAIN else spec


def test_nan_tensor_hook_tf_signature(tmp_path):
    est = te.Estimator(NanModel, model_dir=str(tmp_path), config=te.RunConfig(progress_bar=False))
    hook = te.NanTensorHook("loss", False)  # TF: NanTensorHook(loss_tensor, fail_on_nan_loss=False)
    assert hook.fail_on_nan_loss is False
    est.train(_input(), hooks=[hook], steps=5)  # stops instead of raising
    assert est.global_step == 1
    assert te.NanTensorHook(torch.tensor(0.0)).fail_on_nan_loss is True


class WithSummary(TinyRegressor):
    def forward(self, features, labels=None, mode=te.ModeKeys.TRAIN):
        spec = super().forward(features, labels, mode)
        te.summary.scalar("x_mean", features["x"].mean())
        return spec


def test_fetch_summary_tags_in_train_and_predictions_in_predict(tmp_path):
    est = te.Estimator(
        WithSummary,
        model_dir=str(tmp_path / "m"),
        config=te.RunConfig(save_summary_steps=None, log_step_count_steps=None, progress_bar=False),
    )
    train_hook = te.LoggingTensorHook(["x_mean"], every_n_iter=2)
    est.train(_input(), hooks=[train_hook], steps=4)
    data = make_batches(n_batches=4)
    assert [float(v["x_mean"]) for _, v in train_hook.logged] == pytest.approx(
        [float(data[i][0]["x"].mean()) for i in (0, 2)], rel=1e-6
    )
    predict_hook = te.LoggingTensorHook({"y": "y"}, every_n_iter=1)
    preds = list(est.predict(_input(2), hooks=[predict_hook], yield_single_examples=False))
    assert len(predict_hook.logged) == 2
    np.testing.assert_allclose(predict_hook.logged[1][1]["y"], preds[1]["y"])


class RecordingProbe(TinyRegressor):
    def __init__(self, params=None):
        super().__init__(params)
        self.recording = []

    def forward(self, features, labels=None, mode=te.ModeKeys.TRAIN):
        self.recording.append(te.summary.is_recording())
        return super().forward(features, labels, mode)


def test_fetching_known_names_does_not_switch_summaries_on(tmp_path):
    est = te.Estimator(
        RecordingProbe,
        model_dir=str(tmp_path / "m"),
        config=te.RunConfig(save_summary_steps=None, log_step_count_steps=None, progress_bar=False),
    )
    est.train(
        _input(),
        hooks=[te.StepCounterHook(every_n_steps=2), te.LoggingTensorHook(["loss"], every_n_iter=1)],
        steps=3,
    )
    assert est.model.recording == [False, False, False]  # costly summaries stay off
