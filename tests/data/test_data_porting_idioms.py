"""The four idioms of docs/porting.md, as written there, through the Estimator.

Oracles: the text-line idiom must feed the model exactly what the independent CSV reader feeds it (same
evaluation metrics), and the TFRecord idiom's per-record and per-batch parsing must give equal batches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import torchestimator as te
from torchestimator import feature_column as fc

ROOT = Path(__file__).resolve().parents[2]
IRIS = ROOT / "data" / "iris" / "iris_training.csv"
COLUMNS = ["SepalLength", "SepalWidth", "PetalLength", "PetalWidth", "Species"]


def parse_csv(line):
    fields = te.io.decode_csv(line, record_defaults=[[0.0], [0.0], [0.0], [0.0], [0]])
    features = dict(zip(COLUMNS, fields))
    return features, features.pop("Species")


def _iris_estimator(tmp_path: Path) -> te.DNNClassifier:
    columns = [fc.numeric_column(k) for k in COLUMNS[:4]]
    config = te.RunConfig(tf_random_seed=0, progress_bar=False)
    return te.DNNClassifier(
        hidden_units=[8], feature_columns=columns, n_classes=3, model_dir=str(tmp_path), config=config
    )


def test_text_lines_parsed_in_map(tmp_path: Path) -> None:
    est = _iris_estimator(tmp_path)
    est.train(
        lambda: te.data.TextLineDataset(str(IRIS)).skip(1).map(parse_csv).shuffle(500).batch(32), steps=5
    )
    per_line = est.evaluate(lambda: te.data.TextLineDataset(str(IRIS)).skip(1).map(parse_csv).batch(32))
    per_batch = est.evaluate(lambda: te.data.TextLineDataset(str(IRIS)).skip(1).batch(32).map(parse_csv))
    reader = est.evaluate(
        lambda: te.inputs.make_csv_dataset(
            str(IRIS),
            32,
            label_name="Species",
            num_epochs=1,
            shuffle=False,
            column_defaults=[0.0, 0.0, 0.0, 0.0, 0],
        )
    )
    for key in ("accuracy", "average_loss", "loss"):
        assert per_line[key] == pytest.approx(reader[key], rel=1e-6)
        assert per_batch[key] == pytest.approx(reader[key], rel=1e-6)


def test_make_csv_dataset_with_a_label_transform(tmp_path: Path) -> None:
    path = tmp_path / "clicks.csv"
    pd.DataFrame({"x": np.linspace(-1, 1, 40), "clicked": np.arange(40) % 4}).to_csv(path, index=False)
    ds = te.data.experimental.make_csv_dataset(str(path), batch_size=64, label_name="clicked", num_epochs=1)
    ds = ds.map(lambda features, label: (features, (label > 0).astype(np.int32)))
    (_, label), *rest = list(ds)
    assert (
        not rest
        and label.dtype == np.int32
        and sorted(label.tolist()) == sorted(int(c > 0) for c in np.arange(40) % 4)
    )
    est = te.LinearClassifier([fc.numeric_column("x")], model_dir=str(tmp_path / "m"))
    est.train(lambda: ds, steps=1)
    assert est.evaluate(lambda: ds)["label/mean"] == pytest.approx(0.75)


def test_tfrecords_parsed_per_record_or_per_batch(tmp_path: Path) -> None:
    files = []
    for part in range(2):
        path = str(tmp_path / f"part-{part}.tfrecord")
        with te.io.TFRecordWriter(path) as writer:
            for i in range(10):
                tags = [b"t%d" % j for j in range(i % 3)]
                example = {"x": float(i + 10 * part), "label": i % 2}
                if tags:
                    example["tags"] = tags
                writer.write(te.inputs.encode_example(example))
        files.append(path)
    spec = {
        "x": te.io.FixedLenFeature([], "float32"),
        "tags": te.io.VarLenFeature("string"),
        "label": te.io.FixedLenFeature([], "int64"),
    }

    def parse_fn(record):
        features = te.io.parse_single_example(record, spec)
        return features, features.pop("label")

    def parse_batch(records):
        features = te.io.parse_example(records, spec)
        return features, features.pop("label")

    per_record = te.data.TFRecordDataset(files).map(parse_fn, num_parallel_calls=te.data.AUTOTUNE)
    per_record = per_record.batch(6).prefetch(te.data.AUTOTUNE)
    per_batch = te.data.TFRecordDataset(files).batch(6).map(parse_batch).prefetch(te.data.AUTOTUNE)
    a, b = list(per_record), list(per_batch)
    assert [len(y) for _, y in a] == [6, 6, 6, 2]
    for (fa, ya), (fb, yb) in zip(a, b):
        assert fa["x"].tolist() == fb["x"].tolist() and ya.tolist() == yb.tolist()
        assert fa["tags"].to_rows() == fb["tags"].to_rows()
    est = te.LinearClassifier(
        [fc.numeric_column("x"), fc.categorical_column_with_hash_bucket("tags", 8)],
        model_dir=str(tmp_path / "m"),
    )
    est.train(lambda: per_batch, steps=2)
    assert est.evaluate(lambda: per_record)["loss"] == pytest.approx(est.evaluate(lambda: per_batch)["loss"])
