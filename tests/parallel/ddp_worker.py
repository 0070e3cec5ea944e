"""The training script the multi-process tests launch (torchrun / the launcher / run_local).

Usage: ``python ddp_worker.py MODE MODEL_DIR OUT_DIR``; every rank writes ``OUT_DIR/<mode>_rank<r>.json``.
The data and model are defined here and imported by the tests for the single-process oracle.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import torch

import torchestimator as te
from torchestimator.hooks.base import Hook, RunContext

GLOBAL_BATCH = 8
N_BATCHES = 40


class MLP(torch.nn.Module):
    """A small MLP regressor with Adam (stateful optimizer: a stronger parity check than SGD)."""

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
        self.optimizer = torch.optim.Adam(self.parameters(), lr=0.01)

    def forward(
        self,
        features: dict[str, torch.Tensor],
        labels: torch.Tensor | None = None,
        mode: str = te.ModeKeys.TRAIN,
    ) -> te.EstimatorSpec:
        y = self.net(features["x"])  # (B, 1)
        if mode == te.ModeKeys.PREDICT:
            return te.EstimatorSpec(mode, predictions={"y": y})
        loss = torch.mean((y - labels) ** 2)
        return te.EstimatorSpec(mode, loss=loss, train_op=self.optimizer)


class DropoutMLP(MLP):
    """MLP with dropout: each rank's RNG stream shapes the update, so a resume must restore every rank's."""

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Dropout(0.3), torch.nn.Linear(16, 1)
        )
        self.optimizer = torch.optim.Adam(self.parameters(), lr=0.01)


def global_batches(seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(N_BATCHES):
        x = torch.randn(GLOBAL_BATCH, 4, generator=g)  # (B, 4)
        out.append((x, torch.sin(x.sum(1, keepdim=True))))  # (B, 1)
    return out


def sharded_input_fn(input_context: Any = None) -> Any:
    """Each pipeline yields its contiguous slice of every global batch (per-replica batches)."""
    n = input_context.num_input_pipelines if input_context else 1
    i = input_context.input_pipeline_id if input_context else 0
    per = GLOBAL_BATCH // n
    for x, y in global_batches():
        yield {"x": x[i * per : (i + 1) * per]}, y[i * per : (i + 1) * per]


class StopOnChiefAt(Hook):
    """Requests a stop on rank 0 only: the loop's agreement must stop every rank."""

    def __init__(self, step: int) -> None:
        self.step = step

    def after_step(self, ctx: RunContext) -> None:
        if int(os.environ.get("RANK", "0")) == 0 and ctx.global_step >= self.step:
            ctx.request_stop()


class RecordRandom(Hook):
    """Records a draw from the per-rank RNG at the first step."""

    def __init__(self) -> None:
        self.values: list[float] | None = None

    def before_step(self, ctx: RunContext) -> None:
        if self.values is None:
            self.values = torch.rand(3).tolist()


class KillSelfAt(Hook):
    """SIGKILLs rank 1 at a step, in the first attempt only (elastic restart test)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def after_step(self, ctx: RunContext) -> None:
        first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"
        if first_attempt and int(os.environ.get("RANK", "0")) == 1 and ctx.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class FileExporter:
    """An exporter that appends its calls to a JSON-lines file."""

    name = "recorder"

    def __init__(self, path: str) -> None:
        self.path = path

    def export(
        self,
        estimator: Any,
        export_path: str,
        checkpoint_path: str | None,
        eval_result: dict[str, Any],
        is_the_final_export: bool,
    ) -> str:
        with open(self.path, "a") as f:
            f.write(
                json.dumps(
                    {
                        "step": eval_result["global_step"],
                        "ckpt": checkpoint_path,
                        "final": is_the_final_export,
                    }
                )
                + "\n"
            )
        return export_path


def dnn_columns() -> list[Any]:
    """Numeric columns and a hashed embedding: the embedding table gets sparse gradients through DDP."""
    from torchestimator import feature_column as fc

    cat = fc.categorical_column_with_hash_bucket("cat", 50, dtype="int64")
    return [fc.numeric_column("x", shape=(4,)), fc.embedding_column(cat, 4)]


def dnn_estimator(model_dir: str, config: te.RunConfig) -> te.Estimator:
    return te.DNNClassifier(
        hidden_units=[8, 4], feature_columns=dnn_columns(), model_dir=model_dir, config=config
    )


def dnn_global_batches(seed: int = 1) -> list[tuple[dict[str, Any], torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(N_BATCHES):
        x = torch.randn(GLOBAL_BATCH, 4, generator=g)  # (B, 4)
        cat = torch.randint(0, 30, (GLOBAL_BATCH,), generator=g)  # (B,)
        out.append(({"x": x.numpy(), "cat": cat.numpy()}, ((x[:, 0] + (cat % 3 == 0)) > 0.5).long().numpy()))
    return out


def dnn_sharded_input_fn(input_context: Any = None) -> Any:
    n = input_context.num_input_pipelines if input_context else 1
    i = input_context.input_pipeline_id if input_context else 0
    per = GLOBAL_BATCH // n
    for features, y in dnn_global_batches():
        yield {k: v[i * per : (i + 1) * per] for k, v in features.items()}, y[i * per : (i + 1) * per]


def params_of(module: torch.nn.Module) -> dict[str, list[Any]]:
    return {k: v.tolist() for k, v in module.state_dict().items() if isinstance(v, torch.Tensor)}


def rank_and_sum(value: float) -> tuple[int, float]:
    """For run_local: join the group, sum ``value`` over ranks, leave."""
    from torchestimator.parallel.ddp import DDPStrategy

    strategy = DDPStrategy()
    strategy.setup()
    total = torch.tensor([value])
    strategy.all_reduce_sum([total])
    rank = strategy.rank
    strategy.teardown()
    return rank, float(total)


def main() -> None:
    mode, model_dir, out_dir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    rank = int(os.environ.get("RANK", "0"))
    result: dict[str, Any] = {"world_size": int(os.environ.get("WORLD_SIZE", "1"))}
    if mode == "timeout":
        cfg = te.RunConfig(train_distribute="ddp", session_creation_timeout_secs=3, log_step_count_steps=None)
        est = te.Estimator(MLP, model_dir=model_dir, config=cfg)
        if rank == 1:
            time.sleep(12)
        try:
            est.train(sharded_input_fn, max_steps=2)
        except te.errors.DistributedError as e:
            result["error"] = str(e)
        (out_dir / f"{mode}_rank{rank}.json").write_text(json.dumps(result))
        os._exit(0)  # the peer is gone: skip the atexit teardown
    cfg = te.RunConfig(
        train_distribute="ddp",
        tf_random_seed=7,
        save_checkpoints_steps=3,
        log_step_count_steps=None,
        save_summary_steps=None,
    )
    if mode == "dnn":
        est = dnn_estimator(model_dir, cfg)
        est.train(dnn_sharded_input_fn, max_steps=20)
        result["params"] = params_of(est.model)
        result["global_step"] = est.global_step
        result["eval"] = est.evaluate(dnn_sharded_input_fn, steps=5)
        (out_dir / f"{mode}_rank{rank}.json").write_text(json.dumps(result))
        return
    if mode in ("dropout_ref", "dropout_killed"):  # no tf_random_seed: the per-rank streams come from entropy
        cfg = cfg.replace(tf_random_seed=None)
        torch.manual_seed(11)  # the same initial weights in both runs (rank 0's are broadcast)
        est = te.Estimator(DropoutMLP, model_dir=model_dir, config=cfg)
        est.train(sharded_input_fn, max_steps=12, hooks=[KillSelfAt(7)] if mode == "dropout_killed" else [])
        result["restart_count"] = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
        (out_dir / f"{mode}_rank{rank}.json").write_text(json.dumps(result))
        return
    est = te.Estimator(MLP, model_dir=model_dir, config=cfg)
    if mode == "parity":
        record = RecordRandom()
        est.train(sharded_input_fn, max_steps=12, hooks=[record])
        result["params"] = params_of(est.model)
        result["global_step"] = est.global_step
        result["random"] = record.values
        result["eval"] = est.evaluate(sharded_input_fn, steps=5)
        est.train(sharded_input_fn, max_steps=40, hooks=[StopOnChiefAt(15)])
        result["global_step_after_stop"] = est.global_step
    elif mode == "elastic":
        result["start_step"] = (
            est.global_step
            if est.latest_checkpoint() is None
            else te.checkpoint.load_checkpoint(est.latest_checkpoint()).global_step
        )
        result["restart_count"] = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
        est.train(sharded_input_fn, max_steps=12, hooks=[KillSelfAt(7)])
        result["params"] = params_of(est.model)
        result["global_step"] = est.global_step
    elif mode == "tae":
        from torchestimator.estimator import EvalSpec, TrainSpec, train_and_evaluate

        exporter = FileExporter(str(out_dir / "exports.jsonl"))
        metrics, _ = train_and_evaluate(
            est,
            TrainSpec(sharded_input_fn, max_steps=12),
            EvalSpec(sharded_input_fn, steps=5, start_delay_secs=0, throttle_secs=0, exporters=[exporter]),
        )
        result["task_type"] = cfg.task_type
        result["metrics"] = metrics
        result["global_step"] = est.global_step
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    tag = os.environ.get("WORKER_TAG", f"rank{rank}")
    (out_dir / f"{mode}_{tag}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
