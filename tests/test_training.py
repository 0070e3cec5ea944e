"""TrainSpec / EvalSpec / train_and_evaluate against TF's documented semantics (tf_estimator_api.md §1.4)."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from estimator_support import TinyRegressor, make_batches

import torchestimator as te
from torchestimator.checkpoint import load_model_state
from torchestimator.errors import InvalidArgumentError
from torchestimator.estimator import EvalSpec, TrainSpec, train_and_evaluate
from torchestimator.summaries import read_eval_results

TRAIN = make_batches(n_batches=1000, batch=4, seed=0)
EVAL = make_batches(n_batches=3, batch=5, seed=1)


def train_input_fn() -> Any:
    return iter(TRAIN)


def eval_input_fn() -> Any:
    return iter(EVAL)


class RecordingExporter:
    """The Exporter duck type: records every call."""

    def __init__(self, name: str = "rec") -> None:
        self.name = name
        self.calls: list[dict[str, Any]] = []

    def export(
        self,
        estimator: Any,
        export_path: str,
        checkpoint_path: str | None,
        eval_result: dict,
        is_the_final_export: bool,
    ) -> str:
        self.calls.append(
            {
                "path": export_path,
                "ckpt": checkpoint_path,
                "step": eval_result["global_step"],
                "final": is_the_final_export,
            }
        )
        return f"{export_path}/{eval_result['global_step']}"


def _estimator(model_dir: Path, **cfg: Any) -> te.Estimator:
    config = te.RunConfig(log_step_count_steps=None, save_summary_steps=None, **cfg)
    return te.Estimator(TinyRegressor, model_dir=str(model_dir), config=config, params={"lr": 0.05})


def _oracle_loss(checkpoint: str) -> float:
    """Mean over EVAL batches of the batch MSE, from the checkpoint's weights (hand-written torch)."""
    state = load_model_state(checkpoint)
    w, b = state["layer.weight"], state["layer.bias"]  # (1, 3), (1,)
    losses = [torch.mean((f["x"] @ w.T + b - y) ** 2) for f, y in EVAL]
    return float(torch.stack(losses).mean())


# ---------------------------------------------------------------- spec validation (TF's messages)
def test_train_spec_validation() -> None:
    with pytest.raises(InvalidArgumentError, match=r"Must specify max_steps > 0, given: 0"):
        TrainSpec(train_input_fn, max_steps=0)
    with pytest.raises(InvalidArgumentError, match="`input_fn` must be callable"):
        TrainSpec("not callable")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="All hooks must be"):
        TrainSpec(train_input_fn, hooks=[object()])  # type: ignore[list-item]
    assert TrainSpec(train_input_fn).max_steps is None


def test_eval_spec_defaults_and_validation() -> None:
    spec = EvalSpec(eval_input_fn)
    assert (spec.steps, spec.name, spec.start_delay_secs, spec.throttle_secs, spec.exporters) == (
        100,
        None,
        120,
        600,
        (),
    )
    assert EvalSpec(eval_input_fn, throttle_secs=0).throttle_secs == 0
    with pytest.raises(InvalidArgumentError, match=r"Must specify steps > 0, given: 0"):
        EvalSpec(eval_input_fn, steps=0)
    with pytest.raises(InvalidArgumentError, match="`name` must be string"):
        EvalSpec(eval_input_fn, name=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match=r"Must specify throttle_secs >= 0, given: -1"):
        EvalSpec(eval_input_fn, throttle_secs=-1)
    with pytest.raises(InvalidArgumentError, match=r"Must specify start_delay_secs >= 0"):
        EvalSpec(eval_input_fn, start_delay_secs=-1)
    with pytest.raises(InvalidArgumentError, match="must have unique names"):
        EvalSpec(eval_input_fn, exporters=[RecordingExporter("a"), RecordingExporter("a")])
    with pytest.raises(InvalidArgumentError, match="cannot have a name that is `None` or empty"):
        EvalSpec(eval_input_fn, exporters=[RecordingExporter("")])
    with pytest.raises(InvalidArgumentError, match="must be an Exporter"):
        EvalSpec(eval_input_fn, exporters=[object()])
    single = RecordingExporter("one")
    assert EvalSpec(eval_input_fn, exporters=single).exporters == (single,)


# ---------------------------------------------------------------- local mode
def test_local_evaluates_after_every_checkpoint_and_exports(tmp_path: Path) -> None:
    est = _estimator(tmp_path, save_checkpoints_steps=5)
    exporter = RecordingExporter()
    metrics, exports = train_and_evaluate(
        est,
        TrainSpec(train_input_fn, max_steps=20),
        EvalSpec(eval_input_fn, steps=None, throttle_secs=0, exporters=[exporter]),
    )
    # TF: every checkpoint except the one written before the first step is evaluated
    evals = read_eval_results(est.eval_dir())
    assert sorted(evals) == [5, 10, 15, 20]
    for step, values in evals.items():
        assert values["loss"] == pytest.approx(_oracle_loss(str(tmp_path / f"model.ckpt-{step}")), rel=1e-5)
    assert [(c["step"], c["final"]) for c in exporter.calls] == [
        (5, False),
        (10, False),
        (15, False),
        (20, True),
    ]
    assert [Path(c["ckpt"]).name for c in exporter.calls] == [f"model.ckpt-{s}" for s in (5, 10, 15, 20)]
    assert {c["path"] for c in exporter.calls} == {os.path.join(str(tmp_path), "export", "rec")}
    assert metrics["global_step"] == 20
    assert metrics["loss"] == pytest.approx(_oracle_loss(str(tmp_path / "model.ckpt-20")), rel=1e-5)
    assert exports == [os.path.join(str(tmp_path), "export", "rec", "20")]


def test_local_throttle_skips_checkpoints_then_final_eval(tmp_path: Path) -> None:
    est = _estimator(tmp_path, save_checkpoints_steps=5)
    exporter = RecordingExporter()
    train_and_evaluate(
        est,
        TrainSpec(train_input_fn, max_steps=20),
        EvalSpec(eval_input_fn, throttle_secs=3600, exporters=exporter),
    )
    # first checkpoint evaluated (the timer has never fired), 10 and 15 throttled, the last step evaluated at the end
    assert sorted(read_eval_results(est.eval_dir())) == [5, 20]
    assert [(c["step"], c["final"]) for c in exporter.calls] == [(5, False), (20, True)]


def test_step_cadence_evaluates_every_n_steps(tmp_path: Path) -> None:
    est = _estimator(tmp_path, save_checkpoints_steps=4)
    metrics, _ = train_and_evaluate(
        est, TrainSpec(train_input_fn, max_steps=14), EvalSpec(eval_input_fn, name="cadence", every_n_steps=4)
    )
    evals = read_eval_results(est.eval_dir("cadence"))
    assert sorted(evals) == [4, 8, 12, 14]
    for step in (4, 8, 12):  # the live model at step k equals checkpoint k
        assert evals[step]["loss"] == pytest.approx(
            _oracle_loss(str(tmp_path / f"model.ckpt-{step}")), rel=1e-5
        )
    assert metrics["global_step"] == 14


def test_max_steps_already_reached_returns_none(tmp_path: Path) -> None:
    est = _estimator(tmp_path, save_checkpoints_steps=5)
    est.train(train_input_fn, max_steps=10)
    assert train_and_evaluate(est, TrainSpec(train_input_fn, max_steps=10), EvalSpec(eval_input_fn)) == (
        None,
        None,
    )


def test_checkpoint_cadence_needs_checkpoints(tmp_path: Path) -> None:
    est = _estimator(tmp_path, save_checkpoints_steps=None, save_checkpoints_secs=None)
    with pytest.raises(InvalidArgumentError, match="checkpointing is disabled"):
        train_and_evaluate(est, TrainSpec(train_input_fn, max_steps=3), EvalSpec(eval_input_fn))


def test_early_stopping_hook_ends_train_and_evaluate(tmp_path: Path) -> None:
    est = _estimator(tmp_path, save_checkpoints_steps=5)
    stop = te.hooks.make_early_stopping_hook(est, lambda: True, run_every_secs=None, run_every_steps=7)
    metrics, _ = train_and_evaluate(
        est, TrainSpec(train_input_fn, max_steps=100, hooks=[stop]), EvalSpec(eval_input_fn, throttle_secs=0)
    )
    assert metrics["global_step"] == 7
    assert sorted(read_eval_results(est.eval_dir())) == [5, 7]


# ---------------------------------------------------------------- roles from TF_CONFIG
def _set_tf_config(monkeypatch: pytest.MonkeyPatch, task_type: str, index: int = 0) -> None:
    cluster = {"chief": ["127.0.0.1:1"], "worker": ["127.0.0.1:2"], "ps": ["127.0.0.1:3"]}
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})
    )


def test_evaluator_follows_new_checkpoints_skips_unchanged_and_stops_at_max_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    trainer = _estimator(tmp_path, save_checkpoints_steps=5)
    trainer.train(train_input_fn, max_steps=10)
    sleeps: list[float] = []

    def fake_sleep(secs: float) -> None:  # the "chief" trains on while the evaluator sleeps
        sleeps.append(secs)
        if len(sleeps) == 2:
            monkeypatch.delenv("TF_CONFIG")
            trainer.train(train_input_fn, max_steps=20)
            _set_tf_config(monkeypatch, "evaluator")

    monkeypatch.setattr(time, "sleep", fake_sleep)
    _set_tf_config(monkeypatch, "evaluator")
    evaluator = _estimator(
        tmp_path, save_checkpoints_steps=5, train_distribute="ddp"
    )  # ddp: evaluator is single
    exporter = RecordingExporter()
    with caplog.at_level(logging.WARNING, logger="torchestimator"):
        metrics, exports = train_and_evaluate(
            evaluator,
            TrainSpec(train_input_fn, max_steps=20),
            EvalSpec(eval_input_fn, start_delay_secs=7, throttle_secs=0, exporters=exporter),
        )
    assert sleeps[0] == 7  # start_delay_secs
    assert [(c["step"], c["final"]) for c in exporter.calls] == [(10, False), (20, True)]
    assert "No new checkpoint ready for evaluation" in caplog.text
    evals = read_eval_results(evaluator.eval_dir())
    assert sorted(evals) == [10, 20]
    assert evals[20]["loss"] == pytest.approx(_oracle_loss(str(tmp_path / "model.ckpt-20")), rel=1e-5)
    assert metrics["global_step"] == 20 and len(exports) == 1


def test_ps_and_local_task_types(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _set_tf_config(monkeypatch, "ps")  # RunConfig reads TF_CONFIG when it is made, as TF's does
    est = _estimator(tmp_path, save_checkpoints_steps=5)
    assert train_and_evaluate(est, TrainSpec(train_input_fn, max_steps=3), EvalSpec(eval_input_fn)) == (
        None,
        None,
    )
    assert est.latest_checkpoint() is None  # a ps task trains nothing
    monkeypatch.setenv(
        "TF_CONFIG",
        json.dumps({"cluster": {"chief": ["a:1"], "local": ["b:1"]}, "task": {"type": "local", "index": 0}}),
    )
    est = _estimator(tmp_path / "local", save_checkpoints_steps=5)
    with pytest.raises(InvalidArgumentError, match="cannot be `local`"):
        train_and_evaluate(est, TrainSpec(train_input_fn, max_steps=3), EvalSpec(eval_input_fn))


def test_argument_types() -> None:
    with pytest.raises(InvalidArgumentError, match="`estimator` must have type"):
        train_and_evaluate(object(), TrainSpec(train_input_fn), EvalSpec(eval_input_fn))  # type: ignore[arg-type]
