"""``LinearClassifier`` on all nine Titanic features of TF's linear-model tutorial (+ an age x sex cross).

The tutorial's columns: ``sex``, ``n_siblings_spouses``, ``parch``, ``class``, ``deck``,
``embark_town`` and ``alone`` as vocabulary lists (the values seen in train.csv), ``age`` and
``fare`` as numbers; ``--cross`` adds ``crossed_column(['age', 'sex'], hash_bucket_size=100)`` on the
raw keys, as the tutorial's "derived feature" step does (TF casts the float ``age`` to int64 before
hashing the cross). Batches of 32 from ``make_csv_dataset`` (shuffled, repeated), 200 steps, FTRL.

Run::

    python examples/titanic_full.py --seed 0 [--cross]
"""

from __future__ import annotations

import argparse
import tempfile
from typing import Any

import numpy as np
import torch

import torchestimator as te
from torchestimator import feature_column as fc
from torchestimator.inputs import make_csv_dataset
from torchestimator.premade import LinearClassifier

TITANIC = te.datasets.titanic()  # the bundled copy: runs from any install
CATEGORICAL = ["sex", "n_siblings_spouses", "parch", "class", "deck", "embark_town", "alone"]
NUMERIC = ["age", "fare"]


def feature_columns(cross: bool = False) -> list[Any]:
    """The tutorial's nine base columns, plus the age x sex cross when ``cross``."""
    features, _ = next(iter(make_csv_dataset(TITANIC["train"], 1000, label_name="survived", num_epochs=1)))
    columns: list[Any] = []
    for name in CATEGORICAL:
        vocabulary = list(
            dict.fromkeys(np.asarray(features[name]).tolist())
        )  # first-seen order, like .unique()
        columns.append(fc.categorical_column_with_vocabulary_list(name, vocabulary))
    columns += [fc.numeric_column(name) for name in NUMERIC]
    if cross:
        columns.append(fc.crossed_column(["age", "sex"], hash_bucket_size=100))
    return columns


def run(seed: int = 0, cross: bool = False, steps: int = 200, model_dir: str | None = None) -> dict[str, Any]:
    """Train for ``steps`` batches of 32 and return the evaluation metrics on eval.csv."""
    estimator = LinearClassifier(
        feature_columns=feature_columns(cross),
        model_dir=model_dir or tempfile.mkdtemp(prefix="titanic_full-"),
        config=te.RunConfig(tf_random_seed=seed, progress_bar=False),
    )
    train_csv, eval_csv = TITANIC["train"], TITANIC["eval"]
    estimator.train(
        lambda: make_csv_dataset(train_csv, 32, label_name="survived", shuffle_seed=seed), steps=steps
    )
    return estimator.evaluate(
        lambda: make_csv_dataset(eval_csv, 32, label_name="survived", num_epochs=1, shuffle=False)
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cross", action="store_true", help="add crossed_column(['age', 'sex'], 100)")
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(dict(sorted(run(args.seed, args.cross, args.steps).items())))


if __name__ == "__main__":
    main()
