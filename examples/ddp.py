"""The Titanic wide & deep model trained with DistributedDataParallel: one script, any number of processes.

Nothing in the model changes; ``train_distribute="ddp"`` and an ``input_fn`` that takes ``input_context`` (TF's
``tf.distribute.InputContext``) so each process reads its own shard. The chief (rank 0) writes checkpoints,
summaries and the final metrics. Run with torchrun, or without writing a torchrun line::

    python -m torchestimator.parallel.launch --nproc 2 examples/ddp.py --steps 200
    torchrun --standalone --nproc_per_node=2 examples/ddp.py --steps 200
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from wide_deep import TITANIC, columns

import torchestimator as te
from torchestimator.inputs import make_csv_dataset


def train_input_fn(input_context: te.InputContext | None = None, seed: int = 0) -> Any:
    """Shard the rows by process: each replica sees a different 1/N of every epoch."""
    shards = input_context.num_input_pipelines if input_context else 1
    index = input_context.input_pipeline_id if input_context else 0
    batches = make_csv_dataset(TITANIC["train"], 32, label_name="survived", shuffle_seed=seed)
    return (batch for i, batch in enumerate(batches) if i % shards == index)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--model_dir", default="runs/ddp_wide_deep")
    args = parser.parse_args()
    wide, deep = columns()
    est = te.DNNLinearCombinedClassifier(
        linear_feature_columns=wide,
        dnn_feature_columns=deep,
        dnn_hidden_units=[32, 16],
        model_dir=args.model_dir,
        config=te.RunConfig(train_distribute="ddp", tf_random_seed=0, progress_bar=False),
    )
    est.train(train_input_fn, steps=args.steps)
    metrics = est.evaluate(
        lambda: make_csv_dataset(TITANIC["eval"], 64, label_name="survived", num_epochs=1, shuffle=False)
    )
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps({k: float(v) for k, v in metrics.items()}, sort_keys=True))


if __name__ == "__main__":
    main()
