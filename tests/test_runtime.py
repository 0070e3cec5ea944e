"""The Runtime below the Estimator facade: the one input entrance, the chief gate, and the old private names."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import torchestimator as te
from torchestimator.estimator._runtime import Runtime, fire_hooks, open_stream
from torchestimator.hooks.base import Hook


class Linear(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=0.1)

    def forward(self, features, labels=None, mode=te.ModeKeys.TRAIN):
        y = self.layer(features["x"])
        if mode == te.ModeKeys.PREDICT:
            return te.EstimatorSpec(mode, predictions={"y": y})
        return te.EstimatorSpec(mode, loss=torch.nn.functional.mse_loss(y, labels), train_op=self.optimizer)


def _estimator(tmp_path: Path) -> te.Estimator:
    return te.Estimator(Linear, model_dir=str(tmp_path), config=te.RunConfig(log_step_count_steps=None))


def test_the_facade_reads_and_writes_the_runtime(tmp_path: Path) -> None:
    est = _estimator(tmp_path)
    rt = est.runtime
    assert isinstance(rt, Runtime) and rt.estimator is est
    assert est.model is rt.module and est.model_dir == rt.model_dir == str(tmp_path)
    est.train(lambda: ({"x": torch.ones(4, 1)}, torch.ones(4, 1)), steps=3)
    assert est.global_step == rt.global_step == 3
    assert est.latest_checkpoint() == rt.resident_checkpoint == str(tmp_path / "model.ckpt-3")
    # the Estimator's former private names resolve to the Runtime, for reading and for writing
    assert est._strategy is rt.strategy and est._module is rt.module and est._global_step == 3
    est._global_step = 7
    assert rt.global_step == 7 and est.global_step == 7
    with pytest.raises(AttributeError, match="no attribute '_nonexistent'"):
        _ = est._nonexistent


def test_input_stream_skips_batches_before_the_host_stage(tmp_path: Path) -> None:
    rt = _estimator(tmp_path).runtime
    batches = [({"x": [float(i)]}, None) for i in range(5)]
    with open_stream(rt.input_stream(lambda: batches, te.ModeKeys.EVAL, skip_batches=2)) as stream:
        got = [float(features["x"][0]) for features, _ in stream]
    assert got == [2.0, 3.0, 4.0]  # skipped from the raw input; the host stage made lists into tensors


def test_fire_hooks_calls_the_event_in_order_with_its_arguments(tmp_path: Path) -> None:
    calls: list[tuple[str, object]] = []

    class Recorder(Hook):
        def __init__(self, name: str) -> None:
            self.name = name

        def after_save(self, ctx, path):  # type: ignore[no-untyped-def]
            calls.append((self.name, path))

    ctx = _estimator(tmp_path).runtime.context(te.ModeKeys.TRAIN)
    fire_hooks([Recorder("a"), Recorder("b")], "after_save", ctx, "/p")
    assert calls == [("a", "/p"), ("b", "/p")]
    assert ctx.mode == te.ModeKeys.TRAIN and ctx.global_step == 0
