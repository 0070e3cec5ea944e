"""Sharded embedding tables (ShardedStrategy / 'ParameterServerStrategy'): 2 gloo processes on CPU against one
process fed the same global batches (the oracle is the plain single-process Estimator, no TorchRec involved)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import torchestimator as te
from torchestimator.errors import InvalidArgumentError
from torchestimator.parallel import resolve_strategy
from torchestimator.parallel.launch import launch_env

pytest.importorskip("torchrec", reason="pip install 'torchestimator[torchrec]' (CI installs it)")

HERE = Path(__file__).resolve().parent
ROOT = str(HERE.parents[1])
WORKER = str(HERE / "sharded_worker.py")
sys.path.insert(0, str(HERE))
import sharded_worker  # noqa: E402

TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]
LAUNCH_TIMEOUT = 180


def _env(**extra: str) -> dict[str, str]:
    env = launch_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def _torchrun(tmp: Path, mode: str, nproc: int, steps: int, model_dir: Path, *opts: str) -> dict[str, Any]:
    out = tmp / f"out_{mode}_{nproc}"
    out.mkdir(exist_ok=True)
    cmd = [*TORCHRUN, "--standalone", f"--nproc-per-node={nproc}", *opts, WORKER, mode, str(model_dir), str(out)]
    proc = subprocess.run(
        [*cmd, str(steps)], env=_env(), capture_output=True, text=True, timeout=LAUNCH_TIMEOUT
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads((out / f"{mode}.json").read_text())  # type: ignore[no-any-return]


def _oracle(tmp: Path, steps: int) -> te.Estimator:
    est = sharded_worker.estimator(str(tmp / "oracle"))
    est.train(sharded_worker.full_input_fn, max_steps=steps)
    return est


def test_parameter_server_strategy_names_resolve_to_the_sharded_strategy() -> None:
    from torchestimator.parallel.sharded import ShardedStrategy

    for name in ("ParameterServerStrategy", "ParameterServerStrategyV2", "sharded"):
        assert isinstance(resolve_strategy(name, None, 30), ShardedStrategy)
    with pytest.raises(InvalidArgumentError, match=r"'diagonal'.*row_wise"):
        ShardedStrategy(sharding={"c0": "diagonal"})


def test_optimizers_without_an_exact_fused_rule_are_refused() -> None:
    from torchestimator.optimizers import Adam, Ftrl
    from torchestimator.parallel.sharded._optim import fused_rule

    p = torch.nn.Parameter(torch.zeros(3, 2))
    rule = fused_rule(torch.optim.Adagrad([p], lr=0.05, initial_accumulator_value=0.1, eps=1e-7), p)
    assert rule.kind == "adagrad"
    assert rule.fused_params["learning_rate"] == 0.05
    assert torch.equal(rule.accumulator(), torch.full((3, 2), 0.1))  # TF's initial accumulator reaches FBGEMM
    assert fused_rule(torch.optim.SGD([p], lr=0.1), p).kind == "sgd"
    with pytest.raises(InvalidArgumentError, match=r"FTRL.*no FBGEMM kernel.*'ddp'"):
        fused_rule(Ftrl([p], learning_rate=0.1), p)
    with pytest.raises(InvalidArgumentError, match="only the rows a batch touches"):
        fused_rule(Adam([p], learning_rate=0.1), p)
    with pytest.raises(InvalidArgumentError, match="momentum"):
        fused_rule(torch.optim.SGD([p], lr=0.1, momentum=0.9), p)


@pytest.mark.slow
def test_two_process_sharded_dnn_matches_single_process(tmp_path: Path) -> None:
    """10 hashed columns, tables row-wise, table-wise and column-wise over 2 ranks; same predictions as one process."""
    steps = sharded_worker.N_BATCHES
    got = _torchrun(tmp_path, "train", 2, steps, tmp_path / "m")
    assert got["world_size"] == 2 and got["global_step"] == steps
    assert got["layouts"] == {f"{c}_embedding": kind for c, kind in sharded_worker.SHARDING.items()}
    oracle = _oracle(tmp_path, steps)
    np.testing.assert_allclose(got["probabilities"], sharded_worker.probabilities(oracle), atol=1e-5, rtol=0)
    # the chief's checkpoint holds the gathered tables and Adagrad accumulators of the uninterrupted run
    sharded = te.DNNClassifier([8], sharded_worker.columns(), model_dir=str(tmp_path / "m"))
    table = "input_layer.embedding_tables.dim4.weight"
    np.testing.assert_allclose(sharded.get_variable_value(table), oracle.get_variable_value(table), atol=1e-6)
