"""Census-style wide & deep (TF's ``census`` tutorial shape) on the bundled Titanic passengers.

The wide part is a ``LinearModel`` over sparse and crossed columns (FTRL), the deep part a DNN over embeddings
and numbers (Adagrad), as ``tf.estimator.DNNLinearCombinedClassifier`` builds them. Every column kind a census job
uses appears once: vocabulary lists, a hashed column, a bucketized number, two crosses, embeddings, an
indicator. TF's program is the same with ``tf.`` in place of ``te.``.

Run::

    python examples/wide_deep.py [--steps 500] [--model_dir DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from typing import Any

import torchestimator as te
from torchestimator import feature_column as fc
from torchestimator.inputs import make_csv_dataset

TITANIC = te.datasets.titanic()


def columns() -> tuple[list[Any], list[Any]]:
    """(wide columns, deep columns), census-tutorial style."""
    sex = fc.categorical_column_with_vocabulary_list("sex", ["male", "female"])
    klass = fc.categorical_column_with_vocabulary_list("class", ["First", "Second", "Third"])
    deck = fc.categorical_column_with_hash_bucket("deck", 16)
    town = fc.categorical_column_with_vocabulary_list(
        "embark_town", ["Southampton", "Cherbourg", "Queenstown"], num_oov_buckets=1
    )
    age = fc.numeric_column("age")
    age_buckets = fc.bucketized_column(age, [5, 18, 25, 30, 40, 50, 65])
    wide = [
        sex,
        klass,
        deck,
        town,
        age_buckets,
        fc.crossed_column([age_buckets, "sex"], hash_bucket_size=100),
        fc.crossed_column(["class", "embark_town"], hash_bucket_size=50),
    ]
    fare_buckets = fc.bucketized_column(fc.numeric_column("fare"), [7.9, 14.5, 31.0])  # quartiles
    deep = [
        fc.indicator_column(age_buckets),  # raw ages / fares (up to 512) would need scaling
        fc.indicator_column(fare_buckets),
        fc.numeric_column("n_siblings_spouses"),
        fc.numeric_column("parch"),
        fc.indicator_column(sex),
        fc.indicator_column(klass),
        fc.embedding_column(deck, dimension=4),
        fc.embedding_column(town, dimension=3),
    ]
    return wide, deep


def run(steps: int = 500, model_dir: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Train ``steps`` batches of 64 and return the eval metrics."""
    wide, deep = columns()
    est = te.DNNLinearCombinedClassifier(
        linear_feature_columns=wide,
        dnn_feature_columns=deep,
        dnn_hidden_units=[32, 16],
        model_dir=model_dir or tempfile.mkdtemp(prefix="wide_deep-"),
        config=te.RunConfig(tf_random_seed=seed),
    )
    est.train(
        lambda: make_csv_dataset(TITANIC["train"], 64, label_name="survived", shuffle_seed=seed), steps=steps
    )
    return est.evaluate(
        lambda: make_csv_dataset(TITANIC["eval"], 64, label_name="survived", num_epochs=1, shuffle=False)
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--model_dir", default=None)
    args = parser.parse_args()
    metrics = run(args.steps, args.model_dir)
    print(f"accuracy {metrics['accuracy']:.3f}  auc {metrics['auc']:.3f}  loss {metrics['loss']:.3f}")


if __name__ == "__main__":
    main()
