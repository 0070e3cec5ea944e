"""The seed example: a ``LinearClassifier`` on the Titanic passengers, end to end.

TensorFlow's version of this program (TF 2.15, tf.estimator)::

    age = tf.feature_column.numeric_column("age")
    cls = tf.feature_column.categorical_column_with_vocabulary_list("class", ["First", "Second", "Third"])
    embark = tf.feature_column.categorical_column_with_hash_bucket("embark_town", 32)
    est = tf.estimator.LinearClassifier(feature_columns=[age, cls, embark])
    est.train(lambda: tf.data.experimental.make_csv_dataset(train_csv, 32, label_name="survived"), steps=200)
    print(est.evaluate(lambda: tf.data.experimental.make_csv_dataset(eval_csv, 32, label_name="survived",
                                                                      num_epochs=1, shuffle=False)))

The torchestimator version below is the same program line for line: the same columns (hashing is
bit-exact with TF), the same FTRL optimizer and learning rate, the same CSV reader semantics.

Run::

    python examples/titanic_linear.py --seed 0
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path
from typing import Any

import torch

import torchestimator as te
from torchestimator import feature_column as fc
from torchestimator.export import build_parsing_serving_input_receiver_fn
from torchestimator.inputs import make_csv_dataset
from torchestimator.premade import LinearClassifier

TITANIC = te.datasets.titanic()  # the bundled copy: runs from any install


def feature_columns() -> list[Any]:
    """age as a number, class from a fixed vocabulary, embark_town hashed into 32 buckets."""
    return [
        fc.numeric_column("age"),
        fc.categorical_column_with_vocabulary_list("class", ["First", "Second", "Third"]),
        fc.categorical_column_with_hash_bucket("embark_town", 32),
    ]


def train_input_fn(seed: int) -> Any:
    """Shuffled batches of 32 from train.csv, repeated forever (``train`` stops after ``steps``)."""
    return make_csv_dataset(TITANIC["train"], batch_size=32, label_name="survived", shuffle_seed=seed)


def eval_input_fn() -> Any:
    """One ordered pass over eval.csv."""
    return make_csv_dataset(
        TITANIC["eval"], batch_size=32, label_name="survived", num_epochs=1, shuffle=False
    )


def run(seed: int = 0, steps: int = 200, model_dir: str | None = None) -> dict[str, Any]:
    """Train, evaluate and predict; returns the evaluation metrics dict."""
    config = te.RunConfig(tf_random_seed=seed, progress_bar=False)
    estimator = LinearClassifier(
        feature_columns=feature_columns(),
        model_dir=model_dir or tempfile.mkdtemp(prefix="titanic_linear-"),
        config=config,
    )
    estimator.train(lambda: train_input_fn(seed), steps=steps)
    metrics = estimator.evaluate(eval_input_fn)
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for the weights' init and the shuffling")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--model_dir", default=None, help="default: a new temporary directory")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)

    model_dir = args.model_dir or tempfile.mkdtemp(prefix="titanic_linear-")
    metrics = run(args.seed, args.steps, model_dir)
    # the metrics dict as TF prints it: numpy-style floats, `global_step` as an int
    print({k: v for k, v in sorted(metrics.items())})

    # predict: the first five passengers of eval.csv, with TF's prediction keys
    estimator = LinearClassifier(
        feature_columns=feature_columns(), model_dir=model_dir
    )  # reloads the checkpoint
    first_rows = make_csv_dataset(
        TITANIC["eval"], batch_size=5, label_name="survived", num_epochs=1, shuffle=False
    )
    features, labels = next(iter(first_rows))
    predictions = estimator.predict(lambda: features)
    for i, pred in enumerate(predictions):
        print(
            f"passenger {i}: age {features['age'][i]:>4.0f} class {features['class'][i]:<6} "
            f"survived {int(labels[i])}  P(survived) {float(pred['probabilities'][1]):.3f}  "
            f"class_ids {pred['class_ids'].tolist()} classes {pred['classes'].tolist()}"
        )

    # export for serving: the model plus its feature-column preprocessing, fed serialized tf.Examples
    receiver_fn = build_parsing_serving_input_receiver_fn(fc.make_parse_example_spec(feature_columns()))
    export_dir = estimator.export_saved_model(str(Path(model_dir) / "export"), receiver_fn)
    print("exported to", export_dir)

    # serve it as TF Serving would: serialized tf.Examples into the `classification` signature (ONNX Runtime)
    from torchestimator import serving
    from torchestimator.inputs import encode_example

    examples = [
        encode_example({key: features[key][i] for key in ("age", "class", "embark_town")}) for i in range(5)
    ]
    scores = serving.load(export_dir).signatures["classification"](inputs=examples)["scores"]
    served = [float(s[1]) for s in scores]
    predicted = [float(p["probabilities"][1]) for p in estimator.predict(lambda: features)]
    print("served P(survived):", [f"{p:.3f}" for p in served])
    print("max |served - Estimator.predict| =", f"{max(abs(a - b) for a, b in zip(served, predicted)):.2e}")


if __name__ == "__main__":
    main()
