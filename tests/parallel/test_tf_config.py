"""TF_CONFIG parsing against TensorFlow 2.15's RunConfig (fixture from scripts/fixtures/gen_tf_config_fixtures.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from torchestimator.errors import DistributedError
from torchestimator.parallel.tf_config import parse_tf_config, training_tasks

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "parallel" / "tf215_tf_config.json"
CASES: dict[str, Any] = json.loads(FIXTURE.read_text())["cases"]
_FIELDS = [
    "cluster_spec",
    "task_type",
    "task_id",
    "master",
    "evaluation_master",
    "num_ps_replicas",
    "num_worker_replicas",
    "is_chief",
    "global_id_in_cluster",
    "model_dir",
]


def _raw(name: str) -> str | None:
    cfg = CASES[name]["tf_config"]
    return None if cfg is None else json.dumps(cfg)


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if "error" not in c["expected"]))
def test_derived_fields_match_tf(name: str) -> None:
    info = parse_tf_config(_raw(name))
    expected = CASES[name]["expected"]
    got = {field: getattr(info, field) for field in _FIELDS}
    assert got == {field: expected[field] for field in _FIELDS}


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if "error" in c["expected"]))
def test_validation_errors_match_tf(name: str) -> None:
    expected = CASES[name]["expected"]
    assert expected["error"] == "ValueError"
    with pytest.raises(DistributedError) as info:
        parse_tf_config(_raw(name))
    assert str(info.value) == expected["message"]


def test_run_config_reads_tf_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from torchestimator import RunConfig

    monkeypatch.setenv("TF_CONFIG", _raw("worker_1_of_chief_workers") or "")
    cfg = RunConfig()
    expected = CASES["worker_1_of_chief_workers"]["expected"]
    assert (cfg.task_type, cfg.task_id, cfg.is_chief, cfg.num_worker_replicas) == (
        expected["task_type"],
        expected["task_id"],
        expected["is_chief"],
        expected["num_worker_replicas"],
    )


def test_bad_json_names_the_variable() -> None:
    with pytest.raises(DistributedError, match="TF_CONFIG is not valid JSON"):
        parse_tf_config("{cluster:")


def test_training_tasks_rank_order_drops_ps_and_evaluator() -> None:
    cluster = CASES["chief_with_ps"]["expected"]["cluster_spec"]
    assert training_tasks(cluster) == [
        ("chief", 0, "host0:2222"),
        ("worker", 0, "host1:2222"),
        ("worker", 1, "host2:2222"),
    ]
    legacy = CASES["master_legacy"]["expected"]["cluster_spec"]
    assert [t[:2] for t in training_tasks(legacy)] == [("master", 0), ("worker", 0), ("worker", 1)]


def test_rank_order_agrees_with_tf_global_ids() -> None:
    """DDP ranks follow TF's global_id_in_cluster for the training tasks (chief 0, workers after)."""
    for name in ("chief_with_ps", "worker_0_with_ps", "worker_1_of_chief_workers", "master_legacy_worker"):
        exp = CASES[name]["expected"]
        order = [(t, i) for t, i, _ in training_tasks(exp["cluster_spec"])]
        assert order.index((exp["task_type"], exp["task_id"])) == exp["global_id_in_cluster"]
