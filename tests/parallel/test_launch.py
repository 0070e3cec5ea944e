"""The launcher's TF_CONFIG -> torchrun translation and command line (no processes started)."""

from __future__ import annotations

import json
import sys

import pytest

from torchestimator.errors import DistributedError, InvalidArgumentError
from torchestimator.parallel.launch import main, torchrun_args_from_tf_config

CLUSTER = {"chief": ["10.0.0.1:2222"], "worker": ["10.0.0.2:2222", "10.0.0.3:2222"], "ps": ["10.0.0.4:2222"]}


def _tf_config(task_type: str, index: int, cluster: dict | None = None) -> str:
    return json.dumps({"cluster": cluster or CLUSTER, "task": {"type": task_type, "index": index}})


@pytest.mark.parametrize(
    ("task_type", "index", "node_rank"), [("chief", 0, 0), ("worker", 0, 1), ("worker", 1, 2)]
)
def test_chief_is_node_rank_0_workers_follow_in_tf_order(task_type: str, index: int, node_rank: int) -> None:
    args = torchrun_args_from_tf_config(_tf_config(task_type, index), nproc_per_node=2, max_restarts=1)
    assert args == [
        "--nnodes=3",  # chief + 2 workers; the ps task is not a DDP rank
        f"--node-rank={node_rank}",
        "--nproc-per-node=2",
        "--master-addr=10.0.0.1",
        "--master-port=2222",
        "--max-restarts=1",
    ]


def test_legacy_master_is_rank_0() -> None:
    cluster = {"master": ["m:1"], "worker": ["w:1"]}
    assert torchrun_args_from_tf_config(_tf_config("worker", 0, cluster))[:2] == [
        "--nnodes=2",
        "--node-rank=1",
    ]  # type: ignore[index]


@pytest.mark.parametrize("task_type", ["evaluator", "ps"])
def test_non_training_tasks_get_no_torchrun(task_type: str) -> None:
    assert torchrun_args_from_tf_config(_tf_config(task_type, 0)) is None
    assert torchrun_args_from_tf_config("") is None  # no cluster


def test_invalid_tf_config_raises_tf_error() -> None:
    with pytest.raises(DistributedError, match='must have one "chief" node'):
        torchrun_args_from_tf_config(_tf_config("worker", 0, {"worker": ["a:1"]}))
    with pytest.raises(DistributedError, match="must be 'host:port'"):
        torchrun_args_from_tf_config(_tf_config("chief", 0, {"chief": ["nohost"]}))


def test_cli_dry_run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert main(["--nproc", "2", "--dry-run", "train.py", "--lr", "0.1"]) == 0
    line = capsys.readouterr().out.split()
    assert line[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert line[3:] == ["--standalone", "--nproc-per-node=2", "--max-restarts=0", "train.py", "--lr", "0.1"]
    monkeypatch.setenv("TF_CONFIG", _tf_config("worker", 1))
    assert main(["--dry-run", "train.py"]) == 0
    assert "--node-rank=2" in capsys.readouterr().out
    monkeypatch.setenv("TF_CONFIG", _tf_config("evaluator", 0))
    assert main(["--dry-run", "train.py"]) == 0
    assert capsys.readouterr().out.split() == [sys.executable, "train.py"]


def test_cli_multi_node_needs_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(InvalidArgumentError, match="--rdzv-endpoint"):
        main(["--nnodes", "2", "--dry-run", "train.py"])
