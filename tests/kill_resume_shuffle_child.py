"""Child process for test_resume_shuffle: trains on numpy_input_fn with the default (unseeded) shuffle.

Usage: ``kill_resume_shuffle_child.py MODEL_DIR MAX_STEPS DELAY SEED`` (SEED ``none``: no tf_random_seed).
Prints ``step N ids i,j,...`` after every step: the row ids that step trained on.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
from estimator_support import TinyRegressor

import torchestimator as te

ROWS, BATCH = 48, 8


class PrintRows(te.hooks.Hook):
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.ids: list[int] = []

    def before_step(self, ctx):
        self.ids = ctx.features["id"].reshape(-1).tolist()

    def after_step(self, ctx):
        print(f"step {ctx.global_step} ids {','.join(map(str, self.ids))}", flush=True)
        time.sleep(self.delay)


def data() -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(ROWS, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32) + 0.3).astype(np.float32)
    return {"x": x, "id": np.arange(ROWS)}, y


if __name__ == "__main__":
    model_dir, max_steps, delay, seed = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    torch.manual_seed(0)
    est = te.Estimator(
        TinyRegressor,
        model_dir=model_dir,
        config=te.RunConfig(
            tf_random_seed=None if seed == "none" else int(seed),
            save_checkpoints_steps=5,
            log_step_count_steps=None,
            save_summary_steps=None,
        ),
        params={"optimizer": "adam", "dropout": 0.3},
    )
    x, y = data()
    input_fn = te.inputs.numpy_input_fn(x, y, batch_size=BATCH, num_epochs=None, shuffle=True)
    est.train(input_fn, max_steps=max_steps, hooks=[PrintRows(delay)])
    print("done", flush=True)
