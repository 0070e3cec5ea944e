"""``DNNClassifier`` on Iris: hidden units [30, 10], 3 classes, batch 256, 5000 steps (TF's premade tutorial).

TF's version::

    columns = [tf.feature_column.numeric_column(k) for k in train.keys()]
    est = tf.estimator.DNNClassifier(feature_columns=columns, hidden_units=[30, 10], n_classes=3)
    est.train(input_fn=lambda: input_fn(train, train_y, training=True), steps=5000)
    est.evaluate(input_fn=lambda: input_fn(test, test_y, training=False))

where ``input_fn`` shuffles (buffer 1000), repeats and batches 256 for training, and batches 256
once for evaluation. Run::

    python examples/iris_dnn.py --seed 0
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

import torchestimator as te
from torchestimator import feature_column as fc
from torchestimator.inputs import make_csv_dataset
from torchestimator.premade import DNNClassifier

IRIS = {"iris_training.csv": te.datasets.iris()["train"], "iris_test.csv": te.datasets.iris()["test"]}
FEATURES = ["SepalLength", "SepalWidth", "PetalLength", "PetalWidth"]
SPECIES = ["Setosa", "Versicolor", "Virginica"]


def load(name: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """All rows of one CSV: float32 features and int64 labels."""
    features, labels = next(
        iter(make_csv_dataset(IRIS[name], 10_000, label_name="Species", num_epochs=1, shuffle=False))
    )
    return {k: np.asarray(features[k], np.float32) for k in FEATURES}, np.asarray(labels, np.int64)


def train_batches(
    features: dict[str, np.ndarray], labels: np.ndarray, seed: int, batch: int = 256
) -> Iterator[Any]:
    """Shuffle (the whole set fits the 1000-row buffer), repeat, batch: ``ds.shuffle(1000).repeat().batch(256)``."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    order = np.empty(0, np.int64)
    while True:
        while len(order) < batch:
            order = np.concatenate([order, rng.permutation(n)])
        take, order = order[:batch], order[batch:]
        yield {k: v[take] for k, v in features.items()}, labels[take]


def run(seed: int = 0, steps: int = 5000, model_dir: str | None = None) -> dict[str, Any]:
    """Train and return the evaluation metrics on iris_test.csv."""
    train, train_y = load("iris_training.csv")
    test, test_y = load("iris_test.csv")
    estimator = DNNClassifier(
        hidden_units=[30, 10],
        feature_columns=[fc.numeric_column(k) for k in FEATURES],
        n_classes=3,
        model_dir=model_dir or tempfile.mkdtemp(prefix="iris_dnn-"),
        config=te.RunConfig(tf_random_seed=seed, progress_bar=False, save_checkpoints_steps=5000),
    )
    estimator.train(lambda: train_batches(train, train_y, seed), steps=steps)
    return estimator.evaluate(lambda: [(test, test_y)])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=5000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(dict(sorted(run(args.seed, args.steps).items())))


if __name__ == "__main__":
    main()
