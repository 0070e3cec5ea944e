"""Multi-process DDP on CPU/gloo against a single-process run fed the same global batches.

Every launch runs under a timeout; the oracle is a plain single-process Estimator (no strategy) on
the full global batches, whose Adam updates DDP's gradient averaging must reproduce.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import torchestimator as te
from torchestimator.checkpoint import list_checkpoints, load_checkpoint
from torchestimator.parallel.launch import free_port, launch_env

HERE = Path(__file__).resolve().parent
WORKER = str(HERE / "ddp_worker.py")
sys.path.insert(0, str(HERE))
import ddp_worker  # noqa: E402

pytestmark = pytest.mark.slow
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]
LAUNCH_TIMEOUT = 120


def _full_input_fn() -> Any:
    for x, y in ddp_worker.global_batches():
        yield {"x": x}, y


def _oracle(tmp: Path, steps: int) -> te.Estimator:
    cfg = te.RunConfig(
        tf_random_seed=7,
        save_checkpoints_steps=None,
        save_checkpoints_secs=None,
        log_step_count_steps=None,
        save_summary_steps=None,
    )
    est = te.Estimator(ddp_worker.MLP, model_dir=str(tmp / "oracle"), config=cfg)
    est.train(_full_input_fn, max_steps=steps)
    return est


def _assert_params_equal(got: dict[str, list[Any]], module: torch.nn.Module) -> None:
    for name, value in module.state_dict().items():
        if not isinstance(value, torch.Tensor):
            continue  # feature-column specs (JSON extra state)
        torch.testing.assert_close(torch.tensor(got[name]), value, rtol=1e-5, atol=1e-6, msg=name)


def _run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=launch_env(), capture_output=True, text=True, timeout=LAUNCH_TIMEOUT, **kw)


def _read(out: Path, name: str) -> dict[str, Any]:
    return json.loads((out / f"{name}.json").read_text())  # type: ignore[no-any-return]


def test_two_process_ddp_matches_single_process(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    proc = _run(
        [*TORCHRUN, "--standalone", "--nproc-per-node=2", WORKER, "parity", str(tmp_path / "m"), str(out)]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = _read(out, "parity_rank0"), _read(out, "parity_rank1")
    oracle = _oracle(tmp_path, 12)
    for r in (r0, r1):
        assert r["world_size"] == 2 and r["global_step"] == 12
        _assert_params_equal(r["params"], oracle.model)
    # metrics reduced across ranks = the single-process evaluation of the same global batches
    expected = oracle.evaluate(_full_input_fn, steps=5)
    assert r0["eval"]["loss"] == pytest.approx(expected["loss"], rel=1e-5)
    assert r0["eval"] == r1["eval"]
    # a stop requested on rank 0 only reaches rank 1 through the loop's agreement
    assert r0["global_step_after_stop"] == r1["global_step_after_stop"] == 15
    # dropout-style randomness differs per rank (seed + rank)
    assert r0["random"] != r1["random"]
    # the chief's checkpoint at step 12 holds the same parameters
    _assert_params_equal(
        {k: v.tolist() for k, v in load_checkpoint(str(tmp_path / "m" / "model.ckpt-12")).model.items()},
        oracle.model,
    )


def test_two_process_ddp_premade_dnn_classifier_matches_single_process(tmp_path: Path) -> None:
    """The issue's check: a pre-made DNNClassifier (sparse embedding gradients, Adagrad) under 2-process DDP ends
    with the parameters of a single process fed the same global batches."""
    out = tmp_path / "out"
    out.mkdir()
    proc = _run(
        [*TORCHRUN, "--standalone", "--nproc-per-node=2", WORKER, "dnn", str(tmp_path / "m"), str(out)]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    cfg = te.RunConfig(
        tf_random_seed=7,
        save_checkpoints_steps=None,
        save_checkpoints_secs=None,
        log_step_count_steps=None,
        save_summary_steps=None,
    )
    oracle = ddp_worker.dnn_estimator(str(tmp_path / "oracle"), cfg)
    oracle.train(lambda: iter(ddp_worker.dnn_global_batches()), max_steps=20)
    expected = oracle.evaluate(lambda: iter(ddp_worker.dnn_global_batches()), steps=5)
    for rank in (0, 1):
        r = _read(out, f"dnn_rank{rank}")
        assert r["world_size"] == 2 and r["global_step"] == 20
        _assert_params_equal(r["params"], oracle.model)
        assert r["eval"]["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-6)
        assert r["eval"]["loss"] == pytest.approx(expected["loss"], rel=1e-5)


def test_two_nodes_c10d_rendezvous_on_loopback(tmp_path: Path) -> None:
    out, model_dir = tmp_path / "out", tmp_path / "m"
    out.mkdir()
    rdzv = [
        "--nnodes=2",
        "--nproc-per-node=1",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint=127.0.0.1:{free_port()}",
        "--rdzv-id=te2node",
    ]
    cmd = [*TORCHRUN, *rdzv, WORKER, "parity", str(model_dir), str(out)]
    nodes = [
        subprocess.Popen(cmd, env=launch_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    try:
        logs = [node.communicate(timeout=LAUNCH_TIMEOUT)[0] for node in nodes]
    finally:
        for node in nodes:
            node.kill()
    assert [n.returncode for n in nodes] == [0, 0], logs[0][-2000:] + logs[1][-2000:]
    oracle = _oracle(tmp_path, 12)
    for rank in (0, 1):
        r = _read(out, f"parity_rank{rank}")
        _assert_params_equal(r["params"], oracle.model)
    # one consistent model_dir: every indexed checkpoint verifies, one train event file, no temp dirs
    steps = list_checkpoints(model_dir)
    assert steps[-1] == 15
    for step in steps:
        assert load_checkpoint(str(model_dir / f"model.ckpt-{step}")).global_step == step
    assert len(list(model_dir.glob("events.out.tfevents.*"))) <= 1
    assert not list(model_dir.glob(".tmp*"))


def test_sigkill_worker_restarts_from_last_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    proc = _run(
        [
            *TORCHRUN,
            "--standalone",
            "--nproc-per-node=2",
            "--max-restarts=1",
            WORKER,
            "elastic",
            str(tmp_path / "m"),
            str(out),
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "exitcode: -9" in proc.stderr or "Signal 9" in proc.stderr or "SIGKILL" in proc.stderr
    oracle = _oracle(tmp_path, 12)
    for rank in (0, 1):
        r = _read(out, f"elastic_rank{rank}")
        assert r["restart_count"] == 1  # written by the restarted group only
        assert r["start_step"] == 6  # the last checkpoint before the kill at step 7
        assert r["global_step"] == 12
        # the resumed run reads the input from where the checkpoint left it: same result as uninterrupted
        _assert_params_equal(r["params"], oracle.model)


def test_train_and_evaluate_with_tf_config_cluster_and_evaluator(tmp_path: Path) -> None:
    out, model_dir = tmp_path / "out", tmp_path / "m"
    out.mkdir()
    cluster = {"chief": [f"127.0.0.1:{free_port()}"], "worker": ["127.0.0.1:1"]}
    procs = []
    for task_type in ("chief", "worker", "evaluator"):
        env = launch_env()
        env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": task_type, "index": 0}})
        env["WORKER_TAG"] = task_type
        cmd = [
            sys.executable,
            "-m",
            "torchestimator.parallel.launch",
            WORKER,
            "tae",
            str(model_dir),
            str(out),
        ]
        procs.append(
            subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        )
    try:
        logs = [p.communicate(timeout=LAUNCH_TIMEOUT)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [0, 0, 0], "\n".join(log[-1500:] for log in logs)
    chief, worker, evaluator = (_read(out, f"tae_{t}") for t in ("chief", "worker", "evaluator"))
    assert (chief["world_size"], worker["world_size"]) == (
        2,
        2,
    )  # TF_CONFIG's chief + worker became 2 DDP ranks
    assert chief["metrics"] is None and worker["metrics"] is None
    assert chief["global_step"] == worker["global_step"] == 12
    assert evaluator["task_type"] == "evaluator" and evaluator["metrics"]["global_step"] == 12
    # eval results exist only for checkpoints the chief wrote, each once, ending at max_steps
    from torchestimator.summaries import read_eval_results

    evaluated = sorted(read_eval_results(str(model_dir / "eval")))
    assert evaluated[-1] == 12 and set(evaluated) <= {0, 3, 6, 9, 12}
    exports = [json.loads(line) for line in (out / "exports.jsonl").read_text().splitlines()]
    assert [e["step"] for e in exports] == evaluated  # the evaluator exported after every evaluation
    assert [e["final"] for e in exports] == [False] * (len(exports) - 1) + [True]
    assert all(Path(e["ckpt"]).name == f"model.ckpt-{e['step']}" for e in exports)


def test_collective_timeout_raises_distributed_error(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    proc = _run(
        [*TORCHRUN, "--standalone", "--nproc-per-node=2", WORKER, "timeout", str(tmp_path / "m"), str(out)]
    )
    r0 = _read(out, "timeout_rank0")
    assert "timed out after 3s" in r0["error"] and "session_creation_timeout_secs" in r0["error"], r0
    assert "rank 0 of 2" in r0["error"], proc.stderr[-2000:]


def test_run_local_returns_each_rank_result(monkeypatch: pytest.MonkeyPatch) -> None:
    from torchestimator.parallel.launch import run_local

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    results = run_local(ddp_worker.rank_and_sum, nproc=2, args=(3.0,))
    assert results == {0: (0, 6.0), 1: (1, 6.0)}  # all_reduce_sum of 3.0 from each rank
