"""Sharded embedding tables (ShardedStrategy / 'ParameterServerStrategy'): 2 gloo processes on CPU against one
process fed the same global batches (the oracle is the plain single-process Estimator, no TorchRec involved)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import torchestimator as te
from torchestimator.errors import InvalidArgumentError
from torchestimator.parallel import resolve_strategy
from torchestimator.parallel.launch import launch_env

try:
    with warnings.catch_warnings():  # FBGEMM's own deprecation notices at import
        warnings.simplefilter("ignore", DeprecationWarning)
        import torchrec  # noqa: F401
except (
    ImportError,
    OSError,
) as _err:  # OSError: FBGEMM's libraries do not load (see scripts/setup_torchrec.sh)
    pytest.skip(
        f"torchrec 1.8.0 + fbgemm-gpu-cpu 1.8.0 needed (pip install 'torchestimator[torchrec]' then "
        f"bash scripts/setup_torchrec.sh; CI does both): {_err}",
        allow_module_level=True,
    )

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


def _torchrun(
    tmp: Path,
    mode: str,
    nproc: int,
    steps: int,
    model_dir: Path,
    *opts: str,
    kill_at: int = 3,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    out = tmp / f"out_{mode}_{nproc}"
    out.mkdir(exist_ok=True)
    cmd = [
        *TORCHRUN,
        "--standalone",
        f"--nproc-per-node={nproc}",
        *opts,
        WORKER,
        mode,
        str(model_dir),
        str(out),
    ]
    proc = subprocess.run(
        [*cmd, str(steps), str(kill_at)],
        env=_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=LAUNCH_TIMEOUT,
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
    with pytest.raises(InvalidArgumentError, match=r"FTRL.*no FBGEMM kernel.*stays replicated"):
        fused_rule(Ftrl([p], learning_rate=0.1), p)
    with pytest.raises(InvalidArgumentError, match="only the rows a batch touches"):
        fused_rule(Adam([p], learning_rate=0.1), p)
    with pytest.raises(InvalidArgumentError, match="momentum"):
        fused_rule(torch.optim.SGD([p], lr=0.1, momentum=0.9), p)


@pytest.mark.slow
def test_two_process_sharded_dnn_matches_single_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """10 hashed columns, tables row-wise, table-wise and column-wise over 2 ranks; same predictions as one process.

    Its checkpoint then serves ``get_variable_value``, an export equal to the unsharded export, and a resume in one
    plain process (2 -> 1) that continues exactly as the single-process run does.
    """
    steps = sharded_worker.N_BATCHES
    got = _torchrun(tmp_path, "train", 2, steps, tmp_path / "m")
    assert got["world_size"] == 2 and got["global_step"] == steps
    assert got["layouts"] == {f"{c}_embedding": kind for c, kind in sharded_worker.SHARDING.items()}
    # each rank's training state holds its share of the tables: the shards (weights + Adagrad accumulators)
    # partition the full tables, none larger than 60% (row-/column-wise split evenly, whole tables assigned)
    full = 2 * sum(40 + i for i in range(sharded_worker.N_COLUMNS)) * 4 * 4  # (weights + accumulator) float32
    assert sum(got["shard_bytes"]) == full and max(got["shard_bytes"]) <= 0.6 * full, got["shard_bytes"]
    oracle = _oracle(tmp_path, steps)
    np.testing.assert_allclose(got["probabilities"], sharded_worker.probabilities(oracle), atol=1e-5, rtol=0)
    # the chief's checkpoint holds the gathered tables and Adagrad accumulators of the uninterrupted run
    sharded = te.DNNClassifier([8], sharded_worker.columns(), model_dir=str(tmp_path / "m"))
    table = "input_layer.embedding_tables.dim4.weight"
    np.testing.assert_allclose(sharded.get_variable_value(table), oracle.get_variable_value(table), atol=1e-6)
    # the export of the sharded run (tables gathered) serves what the unsharded export serves
    from torchestimator import serving
    from torchestimator.export import build_raw_serving_input_receiver_fn

    sample = sharded_worker.predict_features()
    receiver = build_raw_serving_input_receiver_fn({k: v[:2] for k, v in sample.items()})
    outputs = [
        serving.load(est.export_saved_model(str(tmp_path / f"export_{i}"), receiver))(sample)["probabilities"]
        for i, est in enumerate((sharded, oracle))
    ]
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-6, rtol=0)
    np.testing.assert_allclose(outputs[0], got["probabilities"], atol=1e-5, rtol=0)
    # 2 -> 1: the sharded checkpoint (weights and Adagrad accumulators) resumes in one plain process
    shutil.copytree(tmp_path / "m", tmp_path / "m_resharded")
    for est in (sharded, oracle):
        est.train(sharded_worker.full_input_fn, max_steps=steps + 4)
    np.testing.assert_allclose(
        sharded_worker.probabilities(sharded), sharded_worker.probabilities(oracle), atol=1e-5, rtol=0
    )
    np.testing.assert_allclose(sharded.get_variable_value(table), oracle.get_variable_value(table), atol=1e-6)
    # 2 -> 1 sharded: one rank of ShardedStrategy re-cuts its shards from the two ranks' shard files (no assembly)
    from torchestimator.parallel.launch import free_port
    from torchestimator.parallel.sharded import ShardedStrategy

    for key, value in {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "RANK": "0"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("WORLD_SIZE", "1")
    strategy = ShardedStrategy(sharding=sharded_worker.SHARDING)
    try:
        resharded = sharded_worker.estimator(str(tmp_path / "m_resharded"), strategy)
        resharded.train(sharded_worker.replica_input_fn, max_steps=steps + 4)
        assert (
            strategy.groups and strategy.groups[0].opt_step == steps + 4
        )  # Adagrad's step count carried over
        np.testing.assert_allclose(
            sharded_worker.probabilities(resharded), sharded_worker.probabilities(oracle), atol=1e-5, rtol=0
        )
    finally:
        strategy.teardown()


@pytest.mark.slow
def test_resume_on_another_world_size_and_after_sigkill_gives_the_uninterrupted_weights(
    tmp_path: Path,
) -> None:
    """1 -> 2 processes: train(max_steps=K) then train(max_steps=N) equals the same calls in one process (2 -> 1:
    the parity test above).

    The 1 -> 2 run also loses rank 1 to SIGKILL (3 steps in, checkpoints every 2 steps) under
    ``torchrun --max-restarts=1``: the restarted group resumes from the last complete checkpoint (input position
    included) and still ends with the uninterrupted run's predictions.
    """
    first, total = sharded_worker.N_BATCHES // 2, sharded_worker.N_BATCHES
    oracle = sharded_worker.estimator(str(tmp_path / "oracle"))
    oracle.train(sharded_worker.full_input_fn, max_steps=first)
    oracle.train(sharded_worker.full_input_fn, max_steps=total)
    expected = sharded_worker.probabilities(oracle)
    # 1 -> 2: a single-process checkpoint is re-sharded over 2 ranks (weights and Adagrad accumulators)
    single = sharded_worker.estimator(str(tmp_path / "one_two"))
    single.train(sharded_worker.full_input_fn, max_steps=first)
    got = _torchrun(tmp_path, "kill", 2, total, tmp_path / "one_two", "--max-restarts=1", kill_at=first + 3)
    assert got["restarts"] == 1 and got["global_step"] == total
    np.testing.assert_allclose(got["probabilities"], expected, atol=1e-5, rtol=0)


def test_tf_config_ps_tasks_become_ranks_of_the_sharded_strategy(monkeypatch: pytest.MonkeyPatch) -> None:
    from torchestimator.parallel.launch import main, torchrun_args_from_tf_config
    from torchestimator.parallel.sharded import ShardedStrategy

    cluster = {"chief": ["h0:2222"], "worker": ["h1:2222"], "ps": ["h2:2222", "h3:2222"]}
    ps1 = json.dumps({"cluster": cluster, "task": {"type": "ps", "index": 1}})
    assert torchrun_args_from_tf_config(ps1) is None  # DDP: nothing for a ps task to do
    args = torchrun_args_from_tf_config(ps1, include_ps=True)
    assert args is not None and args[:2] == ["--nnodes=4", "--node-rank=3"] and "--master-addr=h0" in args
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("TF_CONFIG", ps1)
    assert main(["--dry-run", "train.py"]) == 0  # without --sharded the ps task exits 0
    assert main(["--sharded", "--dry-run", "train.py"]) == 0
    # the ps task's script resolves ParameterServerStrategy to the sharded strategy (not a bystander process)
    assert isinstance(resolve_strategy("ParameterServerStrategy"), ShardedStrategy)
    assert type(resolve_strategy("ddp")).__name__ == "SingleDeviceStrategy"


@pytest.mark.slow
def test_kubeflow_pytorchjob_environment_three_processes_write_one_model_dir(tmp_path: Path) -> None:
    """The Kubeflow training operator starts each replica with MASTER_ADDR, MASTER_PORT, WORLD_SIZE and RANK
    only (no torchrun): 3 such processes train ParameterServerStrategy and leave one consistent model_dir."""
    from torchestimator.checkpoint import list_checkpoints, load_checkpoint
    from torchestimator.parallel.launch import free_port

    model_dir, out = tmp_path / "m", tmp_path / "out"
    out.mkdir()
    port = str(free_port())
    steps = 4
    procs = []
    for rank in range(3):
        env = _env(MASTER_ADDR="127.0.0.1", MASTER_PORT=port, WORLD_SIZE="3", RANK=str(rank))
        for key in ("LOCAL_RANK", "TORCHELASTIC_RUN_ID", "GROUP_RANK", "LOCAL_WORLD_SIZE"):
            env.pop(key, None)
        cmd = [sys.executable, WORKER, "ps_name", str(model_dir), str(out), str(steps)]
        procs.append(
            subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    for p in procs:
        _, err = p.communicate(timeout=LAUNCH_TIMEOUT)
        assert p.returncode == 0, err[-4000:]
    got = json.loads((out / "ps_name.json").read_text())
    assert got["world_size"] == 3 and got["global_step"] == steps
    assert list_checkpoints(model_dir)[-1] == steps
    state = load_checkpoint(str(model_dir))  # verified: checksums, step, files inside the folder
    assert state.global_step == steps
    assert state.model["input_layer.embedding_tables.dim4.weight"].shape == (445, 4)  # the whole table
    assert not [p.name for p in model_dir.iterdir() if p.name.startswith(".tmp")]  # nothing half-written left
    reloaded = sharded_worker.estimator(str(model_dir), optimizer="SGD")
    np.testing.assert_allclose(
        sharded_worker.probabilities(reloaded), got["probabilities"], atol=1e-6, rtol=0
    )
    # and it trained as one process fed the 3 x 2 examples the ranks read of each global batch (fused EXACT_SGD)
    used = 3 * (sharded_worker.GLOBAL_BATCH // 3)
    batches = [({k: v[:used] for k, v in f.items()}, y[:used]) for f, y in sharded_worker.global_batches()]
    oracle = sharded_worker.estimator(str(tmp_path / "oracle"), optimizer="SGD")
    oracle.train(lambda: iter(batches), max_steps=steps)
    np.testing.assert_allclose(sharded_worker.probabilities(oracle), got["probabilities"], atol=1e-5, rtol=0)


def test_gradient_clip_norm_is_refused_with_sharded_tables(tmp_path: Path) -> None:
    """The tables' gradients never leave FBGEMM, so they could not join the clipped global norm."""
    from torchestimator.parallel.sharded import ShardedStrategy

    est = sharded_worker.estimator(str(tmp_path))
    with pytest.raises(InvalidArgumentError, match="gradient_clip_norm cannot be combined"):
        ShardedStrategy().prepare(est.model, te.RunConfig(gradient_clip_norm=1.0))
    assert "optimizer" in ShardedStrategy().prepare(est.model, te.RunConfig())


@pytest.mark.parametrize("multivalent", [False, True])
def test_example_major_bags_become_the_key_major_jagged_tensor(multivalent: bool) -> None:
    """The host's example-major bags -> KJT layout, checked against a plain loop over (column, example)."""
    from torchestimator.columns.base import CategoricalIds
    from torchestimator.columns.fused_bag import pack_bags
    from torchestimator.parallel.sharded._tables import key_major

    rng = np.random.default_rng(0)
    batch, buckets, starts = 5, [7, 9, 4], [0, 7, 16]
    columns = []
    for c, nb in enumerate(buckets):
        lengths = rng.integers(0, 4, batch) if multivalent else np.ones(batch, np.int64)
        splits = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        ids = CategoricalIds(rng.integers(0, nb, int(splits[-1])).astype(np.int64), splits)
        columns.append((f"c{c}", ids, starts[c], nb, "mean" if multivalent else "sum"))
    packed = pack_bags(columns, example_major=True)
    weights = None if packed.weights is None else torch.from_numpy(packed.weights)
    values, lengths, w = key_major(
        torch.from_numpy(packed.ids), torch.from_numpy(packed.offsets), weights, torch.tensor(starts)
    )
    exp_values, exp_lengths, exp_w = [], [], []
    for _, ids, _, _, _ in columns:
        for b in range(batch):
            row = ids.values[ids.row_splits[b] : ids.row_splits[b + 1]]
            exp_values += row.tolist()
            exp_lengths.append(len(row))
            exp_w += [1.0 / max(len(row), 1) if multivalent else 1.0] * len(row)
    assert values.tolist() == exp_values and lengths.tolist() == exp_lengths
    np.testing.assert_allclose(w.numpy(), exp_w, rtol=1e-6)


def test_tables_without_an_exact_fused_rule_stay_replicated_or_stop_when_strict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """FTRL tables (and dimensions FBGEMM cannot run) are never approximated: replicated under DDP with a
    warning, or an error with strict=True."""
    from torchestimator.parallel.launch import free_port
    from torchestimator.parallel.sharded import ShardedStrategy

    for key, value in {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "RANK": "0"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("WORLD_SIZE", "1")
    est = sharded_worker.estimator(str(tmp_path), optimizer="Ftrl")
    odd = te.DNNClassifier([4], sharded_worker.columns(dim=6), model_dir=str(tmp_path / "odd"))
    strict = ShardedStrategy(strict=True)
    try:
        strict.prepare(est.model)
        with pytest.raises(InvalidArgumentError, match=r"FTRL.*no FBGEMM kernel"):
            strict.wrap(est.model)
        strict.prepare(odd.model)
        with pytest.raises(InvalidArgumentError, match="dimension 6 is not a multiple of 4"):
            strict.wrap(odd.model)
    finally:
        strict.teardown()
    lenient = ShardedStrategy()
    try:
        with caplog.at_level("WARNING", logger="torchestimator"):
            lenient.prepare(est.model)
            lenient.wrap(est.model)
        assert lenient.groups == [] and "stays replicated" in caplog.text
    finally:
        lenient.teardown()


@pytest.mark.slow
def test_each_rank_holds_about_half_of_a_large_table_and_its_accumulator(tmp_path: Path) -> None:
    """A 400k x 16 Adagrad table on 1 and on 2 ranks.

    * Every tensor a rank holds while training (module, optimizers, FBGEMM's shards): about half of what one plain
      process holds (the full table and its full Adagrad accumulator).
    * Peak RSS: what building and training the table adds to a rank's peak (after a warm-up run with a small table;
      ``VmHWM`` reset) is at most 0.6x on each of 2 ranks of what it adds to a single rank: no rank materialises the
      full table or accumulator at any point (built without its memory, shards drawn in place, shard files
      streamed).
    * The trained checkpoint holds each rank's half in its shard files and the whole table for readers.
    """
    single = sharded_worker.big_estimator(str(tmp_path / "single"))
    single.train(sharded_worker.big_input_fn)
    one = sharded_worker.state_bytes(single)
    table = sharded_worker.BIG_ROWS * 16 * 4
    assert one > 2 * table  # the full table and its full Adagrad accumulator
    # glibc's allocator with a fixed mmap threshold returns freed blocks at once: the peak RSS follows what is live
    malloc = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_ARENA_MAX": "2"}
    alone = _torchrun(tmp_path, "memory", 1, 3, tmp_path / "m1", env=malloc)
    got = _torchrun(tmp_path, "memory", 2, 3, tmp_path / "m", env=malloc)
    print(f"state bytes: 1 process {one:,}; 2 ranks {got['state_bytes']}")
    print(f"peak RSS growth (KiB): 1 rank {alone['peak_growth_kib']}; 2 ranks {got['peak_growth_kib']}")
    assert all(b <= 0.6 * one for b in got["state_bytes"]), (got["state_bytes"], one)
    assert sum(got["state_bytes"]) >= 2 * table  # the two ranks together hold the whole table and accumulator
    (peak_alone,) = alone["peak_growth_kib"]
    assert peak_alone * 1024 >= 2 * table  # one rank: at least the whole table and accumulator
    assert all(k <= 0.6 * peak_alone for k in got["peak_growth_kib"]), (got["peak_growth_kib"], peak_alone)
    ckpt = tmp_path / "m" / "model.ckpt-3"
    shard_files = sorted(p.name for p in (ckpt / "shards").iterdir())
    assert shard_files == ["rank-0.json", "rank-0.safetensors", "rank-1.json", "rank-1.safetensors"]
    from safetensors import safe_open

    key = "input_layer.embedding_tables.dim16.weight"
    with safe_open(str(ckpt / "model.safetensors"), framework="pt") as f:
        assert key not in f.keys()  # noqa: SIM118 - the big table lives in the shard files only
    rows = [json.loads((ckpt / "shards" / f"rank-{r}.json").read_text())["pieces"] for r in (0, 1)]
    held = [sum(p["sizes"][0] * p["sizes"][1] for p in pieces if p["table"] == key) for pieces in rows]
    # weights + accumulator, row-wise: each rank writes half of each (the rows it holds), no more
    assert held == [sharded_worker.BIG_ROWS * 16] * 2, held
    restored = sharded_worker.big_estimator(str(tmp_path / "m"))
    assert restored.get_variable_value(key).shape == (sharded_worker.BIG_ROWS, 16)
