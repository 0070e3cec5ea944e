"""Train / evaluate / predict on the XLA CPU device and compare with eager torch (run by xla_check.sh).

Usage (inside the torch 2.9 + torch-xla venv): ``PJRT_DEVICE=CPU python scripts/xla_check.py``.
Prints the losses of both runs and exits non-zero if they differ beyond tolerance.
"""

from __future__ import annotations

import sys
import tempfile
import time
from typing import Any

import numpy as np
import torch

import torchestimator as te

STEPS = 30


class EmbeddingMLP(torch.nn.Module):
    """Embedding bag of categorical ids + dense features -> MLP -> logit (a DNNClassifier-shaped model_fn)."""

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.emb = torch.nn.EmbeddingBag(50, 8, mode="mean")
        self.net = torch.nn.Sequential(torch.nn.Linear(8 + 4, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
        self.optimizer = torch.optim.Adagrad(self.parameters(), lr=0.05)

    def forward(
        self,
        features: dict[str, torch.Tensor],
        labels: torch.Tensor | None = None,
        mode: str = te.ModeKeys.TRAIN,
    ) -> te.EstimatorSpec:
        h = torch.cat([self.emb(features["ids"]), features["dense"]], dim=1)  # (B, 12)
        logits = self.net(h)  # (B, 1)
        if mode == te.ModeKeys.PREDICT:
            return te.EstimatorSpec(mode, predictions={"logistic": torch.sigmoid(logits)})
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
        return te.EstimatorSpec(mode, loss=loss, train_op=self.optimizer)


def batches() -> list[tuple[dict[str, torch.Tensor], torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(STEPS):
        ids = torch.randint(0, 50, (16, 3), generator=g)  # (B, 3)
        dense = torch.randn(16, 4, generator=g)  # (B, 4)
        labels = ((ids[:, 0] % 2).float() + dense[:, 0] > 0.5).float().unsqueeze(1)  # (B, 1)
        out.append(({"ids": ids, "dense": dense}, labels))
    return out


def run(strategy: str | None) -> dict[str, Any]:
    cfg = te.RunConfig(
        tf_random_seed=0,
        train_distribute=strategy,
        save_checkpoints_steps=10,
        log_step_count_steps=10,
        save_summary_steps=None,
    )
    est = te.Estimator(EmbeddingMLP, model_dir=tempfile.mkdtemp(), config=cfg)
    data = batches()
    start = time.perf_counter()
    est.train(lambda: iter(data), max_steps=STEPS)
    train_s = time.perf_counter() - start
    metrics = est.evaluate(lambda: iter(data[:5]))
    preds = np.concatenate(
        [
            p["logistic"]
            for p in est.predict(lambda: iter([f for f, _ in data[:5]]), yield_single_examples=False)
        ]
    )
    return {
        "device": str(est._strategy.device),
        "train_s": train_s,
        "eval_loss": metrics["loss"],
        "preds": preds,
    }


def main() -> int:
    # torch's autograd engine sizes its per-device queues once, at the first backward of the process:
    # the XLA runtime must be up before the eager run's backward, or XLA backward hits an internal assert
    from torchestimator.parallel.xla import XLAStrategy

    XLAStrategy().setup()
    eager = run(None)
    xla = run("xla")
    print(f"eager ({eager['device']}): eval loss {eager['eval_loss']:.6f}, train {eager['train_s']:.2f}s")
    print(f"xla   ({xla['device']}): eval loss {xla['eval_loss']:.6f}, train {xla['train_s']:.2f}s")
    max_diff = float(np.abs(eager["preds"] - xla["preds"]).max())
    print(f"max |prediction difference| = {max_diff:.2e}")
    ok = (
        xla["device"].startswith("xla")
        and abs(eager["eval_loss"] - xla["eval_loss"]) <= 1e-4 * max(1.0, abs(eager["eval_loss"]))
        and max_diff < 1e-4
    )
    print("XLA CHECK PASSED" if ok else "XLA CHECK FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
