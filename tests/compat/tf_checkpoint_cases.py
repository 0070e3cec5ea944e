"""The TF 2.15 checkpoint fixtures (scripts/fixtures/gen_tf_checkpoint_fixtures.py) and our twin of each model.

Each case's estimator is built with the columns, architecture and optimizer (type and learning
rate) the TF model was trained with; ``batches`` is the fixture's ``Dataset.from_tensor_slices(...)
.repeat().batch(16)`` in the same order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from torchestimator import feature_column as fc
from torchestimator.heads import LossReduction
from torchestimator.optimizers import Adam, Ftrl, RMSProp
from torchestimator.premade import (
    BaselineClassifier,
    DNNClassifier,
    DNNLinearCombinedClassifier,
    DNNRegressor,
    LinearClassifier,
    LinearRegressor,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "compat"
FEATURES = ["x", "x2", "c", "d", "h"]
CASES = [
    "linear_ftrl",
    "dnn_adagrad",
    "combined",
    "shared_embedding",
    "dnn_regressor_adam",
    "linear_regressor_rmsprop",
    "baseline",
    "v1_linear_ftrl",
    "v1_dnn_adam",
]


@cache
def fixture() -> dict[str, Any]:
    return json.loads((FIXTURES / "tf215_checkpoints.json").read_text())  # type: ignore[no-any-return]


def _arrays(part: str) -> dict[str, np.ndarray]:
    raw = fixture()["data"][part]
    out: dict[str, np.ndarray] = {}
    for key, values in raw.items():
        if key in ("c", "d", "h"):
            out[key] = np.asarray(values, dtype=object)
        elif key in ("y2", "y3"):
            out[key] = np.asarray(values, dtype=np.int64)
        else:
            out[key] = np.asarray(values, dtype=np.float32)
    return out


def batches(part: str, label: str, repeat: bool) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray]]:
    """Batches of 16 in file order (``repeat``: forever, running across epoch boundaries)."""
    data = _arrays(part)
    n, batch, start = len(data[label]), int(fixture()["batch"]), 0
    while repeat or start < n:
        idx = np.arange(start, start + batch)
        idx = idx % n if repeat else idx[idx < n]
        yield {k: data[k][idx] for k in FEATURES}, data[label][idx]
        start += batch


def features_only(part: str, label: str) -> Callable[[], Iterator[dict[str, np.ndarray]]]:
    return lambda: (f for f, _ in batches(part, label, False))


def columns() -> dict[str, Any]:
    c = fc.categorical_column_with_vocabulary_list("c", ["a", "b", "c", "d"], num_oov_buckets=1)
    d = fc.categorical_column_with_vocabulary_list("d", ["w", "x", "y", "z"], num_oov_buckets=1)
    return {
        "x": fc.numeric_column("x"),
        "x2": fc.numeric_column("x2"),
        "c": c,
        "d": d,
        "h": fc.categorical_column_with_hash_bucket("h", 7),
    }


def _adagrad(lr: float) -> Callable[[Any], torch.optim.Optimizer]:
    return lambda params: torch.optim.Adagrad(params, lr=lr, initial_accumulator_value=0.1, eps=1e-7)


def build(case: str, model_dir: Any, **kwargs: Any) -> Any:
    """Our estimator for ``case`` (TF's architecture and optimizer)."""
    cols = columns()
    if case == "linear_ftrl":
        return LinearClassifier([cols["x"], cols["x2"], cols["c"], cols["h"]], model_dir=model_dir, **kwargs)
    if case in ("dnn_adagrad", "saved_model"):
        emb = [fc.embedding_column(cols["c"], 3), fc.embedding_column(cols["h"], 2)]
        return DNNClassifier(
            [4, 3],
            [cols["x"], *emb],
            model_dir=model_dir,
            optimizer=_adagrad(0.05),
            batch_norm=True,
            **kwargs,
        )
    if case == "combined":
        return DNNLinearCombinedClassifier(
            model_dir=model_dir,
            linear_feature_columns=[cols["x"], cols["c"], cols["h"]],
            linear_optimizer=lambda params: Ftrl(params, learning_rate=0.1),
            dnn_feature_columns=[cols["x2"], fc.embedding_column(cols["d"], 2)],
            dnn_optimizer=_adagrad(0.05),
            dnn_hidden_units=[4],
            n_classes=3,
            **kwargs,
        )
    if case == "shared_embedding":
        # TF 2.15's canned DNN never trains a shared embedding (no slot, unchanged by training): to continue
        # exactly as TF does, pass trainable=False
        frozen = kwargs.pop("shared_trainable", True) is False
        shared = fc.shared_embeddings([cols["c"], cols["d"]], 2, trainable=not frozen)
        return DNNClassifier(
            [3], [cols["x"], *shared], model_dir=model_dir, optimizer=_adagrad(0.05), **kwargs
        )
    if case == "dnn_regressor_adam":
        return DNNRegressor(
            [3],
            [cols["x"], cols["x2"], fc.embedding_column(cols["d"], 2)],
            model_dir=model_dir,
            optimizer=lambda params: Adam(params, learning_rate=0.01),
            **kwargs,
        )
    if case == "linear_regressor_rmsprop":
        return LinearRegressor(
            [cols["x"], cols["d"]],
            model_dir=model_dir,
            optimizer=lambda params: RMSProp(params, learning_rate=0.01),
            **kwargs,
        )
    if case == "baseline":
        return BaselineClassifier(model_dir=model_dir, n_classes=3, **kwargs)
    if case == "v1_linear_ftrl":  # tf.compat.v1.estimator: loss reduction SUM, FTRL at 0.2
        return LinearClassifier(
            [cols["x"], cols["c"], cols["h"]], model_dir=model_dir, loss_reduction=LossReduction.SUM, **kwargs
        )
    if case == "v1_dnn_adam":  # v1 optimizer='Adam': tf.compat.v1.train.AdamOptimizer(0.05), epsilon 1e-8
        return DNNRegressor(
            [3],
            [cols["x"], fc.embedding_column(cols["d"], 2)],
            model_dir=model_dir,
            optimizer=lambda params: Adam(params, learning_rate=0.05, epsilon=1e-8),
            loss_reduction=LossReduction.SUM,
            **kwargs,
        )
    if case == "partitioned_v1":  # tf.compat.v1.estimator.DNNClassifier: v1 loss reduction SUM
        return DNNClassifier(
            [3],
            [cols["x"], fc.embedding_column(cols["h"], 2)],
            model_dir=model_dir,
            loss_reduction=LossReduction.SUM,
            **kwargs,
        )
    raise KeyError(case)


def predictions(est: Any, label: str) -> dict[str, np.ndarray]:
    rows = list(est.predict(features_only("eval", label)))
    keys = [k for k in ("logits", "probabilities", "predictions", "class_ids") if k in rows[0]]
    return {k: np.stack([np.asarray(r[k], np.float64).reshape(-1) for r in rows]) for k in keys}


def expected_predictions(record: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, np.float64).reshape(len(v), -1) for k, v in record.items()}
