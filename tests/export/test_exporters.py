"""LatestExporter / BestExporter / FinalExporter semantics (TF exporter.py), with a recording estimator double."""

from __future__ import annotations

import os
from typing import Any

import pytest

from torchestimator.errors import InvalidArgumentError
from torchestimator.export.exporters import BestExporter, FinalExporter, LatestExporter
from torchestimator.summaries import SummaryWriter


class FakeEstimator:
    """Records export calls and creates <timestamp> dirs with increasing stamps."""

    def __init__(self, model_dir: str) -> None:
        self.model_dir = model_dir
        self.calls: list[tuple[str, str | None]] = []
        self._stamp = 1700000000

    def export_saved_model(
        self,
        base: str,
        receiver_fn: Any,
        assets_extra: Any = None,
        as_text: bool = False,
        checkpoint_path: str | None = None,
    ) -> str:
        self._stamp += 1
        path = os.path.join(base, str(self._stamp))
        os.makedirs(path)
        self.calls.append((path, checkpoint_path))
        return path


def test_latest_exporter_keeps_n_newest(tmp_path: Any) -> None:
    est = FakeEstimator(str(tmp_path))
    base = os.path.join(str(tmp_path), "export", "latest")
    exporter = LatestExporter("latest", lambda: None, exports_to_keep=2)
    os.makedirs(os.path.join(base, "temp-1600000000"))  # not a 10-digit export: never collected
    paths = [exporter.export(est, base, f"ckpt-{i}", {"loss": 1.0}, False) for i in range(4)]
    assert sorted(os.listdir(base)) == ["1700000003", "1700000004", "temp-1600000000"]
    assert paths[-1] == os.path.join(base, "1700000004")
    assert [c[1] for c in est.calls] == ["ckpt-0", "ckpt-1", "ckpt-2", "ckpt-3"]
    with pytest.raises(InvalidArgumentError, match="exports_to_keep"):
        LatestExporter("x", lambda: None, exports_to_keep=0)


def test_final_exporter_only_exports_at_the_end(tmp_path: Any) -> None:
    est = FakeEstimator(str(tmp_path))
    exporter = FinalExporter("final", lambda: None)
    assert exporter.export(est, str(tmp_path), None, {"loss": 1.0}, False) is None
    assert exporter.export(est, str(tmp_path), None, {"loss": 1.0}, True) is not None
    assert len(est.calls) == 1


def test_best_exporter_exports_on_improvement_only(tmp_path: Any) -> None:
    est = FakeEstimator(str(tmp_path))
    exporter = BestExporter(serving_input_receiver_fn=lambda: None, exports_to_keep=None)
    results = [{"loss": 3.0}, {"loss": 2.0}, {"loss": 2.5}, {"loss": 1.0}, {"loss": 1.0}]
    exported = [exporter.export(est, str(tmp_path), None, r, False) is not None for r in results]
    assert exported == [True, True, False, True, False]


def test_best_exporter_recovers_best_from_eval_events(tmp_path: Any) -> None:
    """After a restart the best so far comes from model_dir/eval event files (TF reads them the same way)."""
    writer = SummaryWriter(os.path.join(str(tmp_path), "eval"))
    for step, loss in ((10, 0.7), (20, 0.4), (30, 0.6)):
        writer.scalar("loss", loss, step)
    writer.close()
    est = FakeEstimator(str(tmp_path))
    exporter = BestExporter(serving_input_receiver_fn=lambda: None)
    assert exporter.export(est, str(tmp_path), None, {"loss": 0.5}, False) is None  # worse than 0.4
    assert exporter.export(est, str(tmp_path), None, {"loss": 0.3}, False) is not None


def test_best_exporter_custom_compare_fn(tmp_path: Any) -> None:
    est = FakeEstimator(str(tmp_path))
    exporter = BestExporter(
        serving_input_receiver_fn=lambda: None, compare_fn=lambda best, cur: cur["auc"] > best["auc"]
    )
    exported = [
        exporter.export(est, str(tmp_path), None, {"auc": a}, False) is not None for a in (0.6, 0.5, 0.7)
    ]
    assert exported == [True, False, True]
