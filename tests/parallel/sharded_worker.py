"""The training script of the sharded-table tests (torchrun, or plain processes with the operator's env).

Usage: ``python sharded_worker.py MODE MODEL_DIR OUT_DIR [STEPS [KILL_STEP]]``; rank 0 writes ``OUT_DIR/<mode>.json``.
Modes: ``train``; ``kill`` (checkpoints every 2 steps, rank 1 SIGKILLs itself at KILL_STEP in the first attempt);
``ps_name`` (``train_distribute='ParameterServerStrategy'``, layouts left to TorchRec's planner, SGD).
The data and model are defined here and imported by the tests for the single-process oracle.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

import torchestimator as te
from torchestimator.hooks.base import Hook, RunContext

GLOBAL_BATCH = 8
N_BATCHES = 12
N_COLUMNS = 10
# half the tables row-wise, half table-wise (and one column-wise): every layout takes part
SHARDING = {f"c{i}": ("row_wise" if i % 2 else "table_wise") for i in range(N_COLUMNS)}
SHARDING["c9"] = "column_wise"
if os.environ.get("SHARDED_TEST_LAYOUT"):  # one layout for every table (debugging)
    SHARDING = dict.fromkeys(SHARDING, os.environ["SHARDED_TEST_LAYOUT"])


def columns(buckets: int = 40, dim: int = 4) -> list[Any]:
    """Ten hashed int columns, each embedded in its own table."""
    from torchestimator import feature_column as fc

    return [
        fc.embedding_column(fc.categorical_column_with_hash_bucket(f"c{i}", buckets + i, dtype="int64"), dim)
        for i in range(N_COLUMNS)
    ]


def estimator(
    model_dir: str, distribute: Any = None, optimizer: str | None = None, save_steps: int = 1000
) -> te.Estimator:
    optimizer = optimizer or os.environ.get("SHARDED_TEST_OPTIMIZER", "Adagrad")  # SGD: a manual check
    cfg = te.RunConfig(
        tf_random_seed=7,
        train_distribute=distribute,
        save_checkpoints_steps=save_steps,
        log_step_count_steps=None,
        save_summary_steps=None,
    )
    return te.DNNClassifier(
        hidden_units=[8], feature_columns=columns(), model_dir=model_dir, config=cfg, optimizer=optimizer
    )


def global_batches(seed: int = 3) -> list[tuple[dict[str, np.ndarray], np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(N_BATCHES):
        feats = {f"c{i}": rng.integers(0, 1000, GLOBAL_BATCH) for i in range(N_COLUMNS)}
        label = (feats["c0"] % 3 == 0).astype(np.int64)
        out.append((feats, label))
    return out


def replica_input_fn(input_context: Any = None) -> Any:
    """Each pipeline yields its contiguous slice of every global batch."""
    n = input_context.num_input_pipelines if input_context else 1
    i = input_context.input_pipeline_id if input_context else 0
    per = GLOBAL_BATCH // n
    for feats, y in global_batches():
        yield {k: v[i * per : (i + 1) * per] for k, v in feats.items()}, y[i * per : (i + 1) * per]


def full_input_fn() -> Any:
    yield from global_batches()


def predict_features() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    return {f"c{i}": rng.integers(0, 1000, 16) for i in range(N_COLUMNS)}


def probabilities(est: te.Estimator) -> list[list[float]]:
    preds = est.predict(lambda: predict_features(), yield_single_examples=False)
    return np.concatenate([p["probabilities"] for p in preds]).tolist()


# the memory test's table: 400k x 16 float32 = 25.6 MB, as much again for Adagrad
BIG_ROWS = int(os.environ.get("SHARDED_BIG_ROWS", "400000"))


def big_estimator(model_dir: str, distribute: Any = None, rows: int | None = None) -> te.Estimator:
    """One large hashed column (row-wise sharded under the strategy) and one small one."""
    from torchestimator import feature_column as fc

    cols = [
        fc.embedding_column(
            fc.categorical_column_with_hash_bucket("big", rows or BIG_ROWS, dtype="int64"), 16
        ),
        fc.embedding_column(fc.categorical_column_with_hash_bucket("c0", 40, dtype="int64"), 4),
    ]
    cfg = te.RunConfig(
        tf_random_seed=7, train_distribute=distribute, log_step_count_steps=None, save_summary_steps=None
    )
    return te.DNNClassifier(hidden_units=[8], feature_columns=cols, model_dir=model_dir, config=cfg)


def big_input_fn(input_context: Any = None) -> Any:
    n = input_context.num_input_pipelines if input_context else 1
    i = input_context.input_pipeline_id if input_context else 0
    per = GLOBAL_BATCH // n
    for feats, y in global_batches()[:3]:
        big = {"big": feats["c1"] * 997, "c0": feats["c0"]}
        yield {k: v[i * per : (i + 1) * per] for k, v in big.items()}, y[i * per : (i + 1) * per]


def state_bytes(est: te.Estimator) -> int:
    """Bytes of every tensor storage reachable from the module, the optimizers and the sharded tables' shards."""
    seen: dict[int, int] = {}

    def add(t: Any) -> None:
        if isinstance(t, torch.Tensor) and t.device.type != "meta":
            storage = t.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()

    for t in [*est.model.parameters(), *est.model.buffers()]:
        add(t)
    for opt in est._optimizers.values():
        for slot in opt.state.values():
            for value in slot.values():
                add(value)
    total = sum(seen.values())
    for group in getattr(est._strategy, "groups", []):  # FBGEMM's shards (weights + accumulators)
        total += group.local_bytes()
    return total


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak_rss() -> int:
    """Reset the peak RSS (``VmHWM``) to the current RSS (Linux ``clear_refs`` 5); returns the current RSS in KiB."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kib("VmRSS")


class MeasureAtEnd(Hook):
    """Records :func:`state_bytes` and the peak RSS (KiB) when training ends (the shards still hold the tables)."""

    def __init__(self, est: te.Estimator) -> None:
        self.est, self.bytes, self.peak_kib = est, 0, 0

    def end(self, ctx: RunContext) -> None:
        self.bytes = state_bytes(self.est)
        self.peak_kib = _status_kib("VmHWM")


class KillSelfAt(Hook):
    """SIGKILLs rank 1 at a step, in the first attempt only (elastic restart test)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def after_step(self, ctx: RunContext) -> None:
        first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"
        if first_attempt and int(os.environ.get("RANK", "0")) == 1 and ctx.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    mode, model_dir, out_dir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    steps = int(sys.argv[4]) if len(sys.argv) > 4 else N_BATCHES
    from torchestimator.parallel.sharded import ShardedStrategy

    if mode == "memory":
        # a first run with a small table pays what does not grow with the table (imports, kernels, planner,
        # allocator pools); the peak RSS growth of the second run is then what the large table costs this rank
        warm = big_estimator(model_dir + "_warmup", ShardedStrategy(sharding={"big": "row_wise"}), rows=1000)
        warm.train(big_input_fn)
        baseline_kib = reset_peak_rss()
        est = big_estimator(model_dir, ShardedStrategy(sharding={"big": "row_wise"}))
        measure = MeasureAtEnd(est)
        est.train(big_input_fn, hooks=[measure])
        got = est._strategy.gather_json([measure.bytes, measure.peak_kib - baseline_kib])
        if est._strategy.rank == 0:
            result = {"state_bytes": [g[0] for g in got], "peak_growth_kib": [g[1] for g in got]}
            (out_dir / "memory.json").write_text(json.dumps(result))
        est._strategy.teardown()
        return
    strategy = ShardedStrategy(sharding=SHARDING) if mode != "ps_name" else "ParameterServerStrategy"
    optimizer = "SGD" if mode == "ps_name" else None  # the operator-env run also covers FBGEMM's EXACT_SGD
    est = estimator(model_dir, strategy, optimizer=optimizer, save_steps=2 if mode == "kill" else 1000)
    kill_at = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    hooks = [KillSelfAt(kill_at)] if mode == "kill" else []
    est.train(replica_input_fn, max_steps=steps, hooks=hooks)
    result: dict[str, Any] = {
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
        "global_step": est.global_step,
        "restarts": int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")),
    }
    strat = est._strategy
    if hasattr(strat, "groups"):
        result["layouts"] = {k: v for g in strat.groups for k, v in g.sharding_types().items()}
    result["probabilities"] = probabilities(est)
    if hasattr(strat, "groups"):  # every rank's shard bytes (weights + accumulators), gathered to the chief
        result["shard_bytes"] = strat.gather_json(sum(g.local_bytes() for g in strat.groups))
    if strat.rank == 0:
        (out_dir / f"{mode}.json").write_text(json.dumps(result))
    strat.teardown()


if __name__ == "__main__":
    main()
