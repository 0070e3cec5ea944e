"""GraphSummaryHook: the model graph lands in model_dir's event files, once, and training is unchanged."""

from __future__ import annotations

import glob
import logging
import os

import numpy as np
import pytest
import torch

from torchestimator.hooks import GraphSummaryHook
from torchestimator.model_to_estimator import model_to_estimator
from torchestimator.run_config import RunConfig


class SmallNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3)
        self.norm = torch.nn.BatchNorm2d(4)
        self.drop = torch.nn.Dropout(0.5)
        self.head = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(torch.relu(self.norm(self.conv(x))))  # (B, 4, 6, 6)
        return self.head(h.mean(dim=(2, 3)))  # (B, 3)


def _input_fn():
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.standard_normal((64, 1, 8, 8), dtype=np.float32))
    y = torch.as_tensor(rng.integers(0, 3, 64))
    for i in range(0, 64, 16):
        yield x[i : i + 16], y[i : i + 16]


def _train(model_dir: str, hooks: list) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    est = model_to_estimator(
        SmallNet(),
        loss="sparse_categorical_crossentropy",
        optimizer="Adam",
        model_dir=model_dir,
        config=RunConfig(save_checkpoints_steps=1000, progress_bar=False),
    )
    est.train(_input_fn, steps=4, hooks=hooks)
    return {k: v.clone() for k, v in est.model.state_dict().items()}


def _graph_events(model_dir: str) -> list:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    graphs = []
    for path in glob.glob(os.path.join(model_dir, "events.out.tfevents.*")):
        acc = EventAccumulator(path)
        acc.Reload()
        if acc.Tags()["graph"]:
            graphs.append(acc.Graph())
    return graphs


def test_graph_is_written_once_and_training_is_bit_identical(tmp_path):
    hook = GraphSummaryHook()
    with_hook = _train(str(tmp_path / "with"), [hook])
    without = _train(str(tmp_path / "without"), [])
    graphs = _graph_events(str(tmp_path / "with"))
    assert len(graphs) == 1
    ops = {node.op for node in graphs[0].node}
    assert any("conv" in op.lower() for op in ops), sorted(ops)
    assert any("linear" in op.lower() or "addmm" in op.lower() for op in ops), sorted(ops)
    assert _graph_events(str(tmp_path / "without")) == []
    assert with_hook.keys() == without.keys()
    for key in with_hook:  # BatchNorm statistics and the dropout stream untouched by the trace
        assert torch.equal(with_hook[key], without[key]), key


def test_a_premade_estimator_gets_its_graph(tmp_path):
    import torchestimator as te

    columns = [
        te.feature_column.numeric_column("x"),
        te.feature_column.categorical_column_with_vocabulary_list("c", ["a", "b"]),
    ]
    est = te.LinearClassifier(columns, model_dir=str(tmp_path), config=RunConfig(progress_bar=False))

    def input_fn():
        features = {"x": np.arange(8, dtype=np.float32), "c": np.array(["a", "b"] * 4, dtype=object)}
        return te.data.Dataset.from_tensor_slices((features, np.arange(8) % 2)).batch(4)

    est.train(input_fn, steps=2, hooks=[GraphSummaryHook()])
    assert est.global_step == 2
    assert len(_graph_events(str(tmp_path))) == 1


class NamedNet(torch.nn.Module):
    """A model_fn module whose features carry strings the tracer cannot follow."""

    def __init__(self) -> None:
        super().__init__()
        self.dense = torch.nn.Linear(1, 1)

    def forward(self, features, labels=None, mode="train"):
        import torchestimator as te

        logits = self.dense(features["x"][:, None])  # (B, 1)
        loss = None if labels is None else torch.nn.functional.mse_loss(logits[:, 0], labels.float())
        train_op = torch.optim.SGD(self.parameters(), lr=0.01) if mode == "train" else None
        return te.EstimatorSpec(mode=mode, predictions={"logits": logits}, loss=loss, train_op=train_op)


def test_untraceable_features_warn_and_training_goes_on(tmp_path, caplog: pytest.LogCaptureFixture):
    import torchestimator as te

    def input_fn():
        for _ in range(3):
            yield {"x": torch.arange(4.0), "name": ["a", "b", "c", "d"]}, torch.arange(4.0)

    est = te.Estimator(NamedNet(), model_dir=str(tmp_path), config=RunConfig(progress_bar=False))
    with caplog.at_level(logging.WARNING, logger="torchestimator"):
        est.train(input_fn, steps=2, hooks=[GraphSummaryHook()])
    assert est.global_step == 2
    assert "GraphSummaryHook: no graph written" in caplog.text
    assert _graph_events(str(tmp_path)) == []
