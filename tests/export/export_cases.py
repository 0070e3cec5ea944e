"""Trained pre-made estimators and their exports, shared by the export and serving tests (module-built once)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from torchestimator.columns import (
    bucketized_column,
    categorical_column_with_hash_bucket,
    categorical_column_with_vocabulary_list,
    crossed_column,
    embedding_column,
    indicator_column,
    make_parse_example_spec,
    numeric_column,
)
from torchestimator.export import build_parsing_serving_input_receiver_fn
from torchestimator.inputs import encode_example

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "data")
TITANIC_CATEGORICAL = ["sex", "n_siblings_spouses", "parch", "class", "deck", "embark_town", "alone"]


def titanic() -> tuple[dict[str, np.ndarray], np.ndarray]:
    df = pd.read_csv(os.path.join(ROOT, "titanic", "train.csv"))
    labels = df.pop("survived").to_numpy(np.int64)
    feats: dict[str, np.ndarray] = {}
    for key in df:
        col = df[key]
        if key in ("age", "fare"):
            feats[key] = col.to_numpy(np.float32)
        elif key in ("n_siblings_spouses", "parch"):
            feats[key] = col.to_numpy(np.int64)
        else:
            feats[key] = col.to_numpy(object)
    return feats, labels


def iris() -> tuple[dict[str, np.ndarray], np.ndarray]:
    df = pd.read_csv(os.path.join(ROOT, "iris", "iris_training.csv"), header=0)
    values = df.to_numpy(np.float32)
    names = ["SepalLength", "SepalWidth", "PetalLength", "PetalWidth"]
    return {n: values[:, i].copy() for i, n in enumerate(names)}, values[:, 4].astype(np.int64)


def input_fn(feats: dict[str, np.ndarray], labels: np.ndarray, batch: int = 64) -> Any:
    def fn() -> Iterator[Any]:
        for i in range(0, len(labels), batch):
            yield {k: v[i : i + batch] for k, v in feats.items()}, labels[i : i + batch]

    return fn


def to_examples(feats: dict[str, np.ndarray], n: int) -> list[bytes]:
    def scalar(v: Any) -> Any:
        return v.item() if hasattr(v, "item") else v

    return [encode_example({k: [scalar(v[i])] for k, v in feats.items()}) for i in range(n)]


def titanic_columns(feats: dict[str, np.ndarray]) -> tuple[list[Any], list[Any]]:
    """(seed LinearClassifier columns, full-feature extras: bucketized age and a cross)."""
    seed = [
        categorical_column_with_vocabulary_list(k, sorted(set(feats[k].tolist())))
        for k in TITANIC_CATEGORICAL
    ]
    seed += [numeric_column("age"), numeric_column("fare")]
    age_buckets = bucketized_column(numeric_column("age"), [5, 18, 25, 30, 40, 50, 65])
    return seed, [age_buckets, crossed_column([age_buckets, "sex"], 100)]


class Case:
    """One trained estimator, its data and its parsing export."""

    def __init__(
        self,
        name: str,
        est: Any,
        feats: dict[str, np.ndarray],
        labels: np.ndarray,
        columns: list[Any],
        export_dir: str,
    ) -> None:
        self.name = name
        self.est = est
        self.feats = feats
        self.labels = labels
        self.columns = columns
        self.export_dir = export_dir
        self.sample = {k: v[:48] for k, v in feats.items()}
        self.examples = to_examples(self.sample, 48)
        self.reference = next(est.predict(lambda: self.sample, yield_single_examples=False))


def _build(name: str, tmp: str) -> Case:
    from torchestimator.premade import DNNClassifier, DNNLinearCombinedClassifier, LinearClassifier

    if name == "titanic_linear":
        feats, labels = titanic()
        seed, extra = titanic_columns(feats)
        columns = seed + extra
        est: Any = LinearClassifier(columns, model_dir=os.path.join(tmp, name))
    elif name == "iris_dnn":
        feats, labels = iris()
        columns = [numeric_column(k) for k in feats]
        est = DNNClassifier([10, 10], columns, model_dir=os.path.join(tmp, name), n_classes=3)
    else:
        feats, labels = titanic()
        seed, extra = titanic_columns(feats)
        deep = [
            numeric_column("age"),
            numeric_column("fare"),
            indicator_column(seed[0]),
            embedding_column(seed[3], 4),
            embedding_column(categorical_column_with_hash_bucket("embark_town", 7), 3, combiner="sqrtn"),
        ]
        columns = seed + extra + deep
        est = DNNLinearCombinedClassifier(
            model_dir=os.path.join(tmp, name),
            linear_feature_columns=seed + extra,
            dnn_feature_columns=deep,
            dnn_hidden_units=[8],
        )
    est.train(input_fn(feats, labels), steps=12)
    spec = make_parse_example_spec(columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = est.export_saved_model(
            os.path.join(tmp, name, "export"), build_parsing_serving_input_receiver_fn(spec)
        )
    return Case(name, est, feats, labels, columns, path)


_CACHE: dict[str, Case] = {}


@pytest.fixture(scope="session")
def export_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("exports"))


def get_case(name: str, root: str) -> Case:
    if name not in _CACHE:
        _CACHE[name] = _build(name, root)
    return _CACHE[name]


CASES = ["titanic_linear", "iris_dnn", "wide_deep"]


@pytest.fixture(params=CASES)
def case(request: pytest.FixtureRequest, export_root: str) -> Case:
    return get_case(request.param, export_root)


@pytest.fixture
def titanic_case(export_root: str) -> Case:
    return get_case("titanic_linear", export_root)
