"""Child process for test_kill_resume: trains deterministically to max_steps, printing each step."""

from __future__ import annotations

import sys
import time

import torch
from estimator_support import TinyRegressor, make_batches

import torchestimator as te


class PrintStep(te.hooks.Hook):
    def __init__(self, delay: float) -> None:
        self.delay = delay

    def after_step(self, ctx):
        print(f"step {ctx.global_step}", flush=True)
        time.sleep(self.delay)


if __name__ == "__main__":
    model_dir, max_steps, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    torch.manual_seed(0)
    est = te.Estimator(
        TinyRegressor,
        model_dir=model_dir,
        config=te.RunConfig(tf_random_seed=3, save_checkpoints_steps=5),
        params={"optimizer": "adam", "dropout": 0.3},
    )
    batches = make_batches(n_batches=60, batch=8, seed=1)
    est.train(lambda: batches, max_steps=max_steps, hooks=[PrintStep(delay)])
    print("done", flush=True)
