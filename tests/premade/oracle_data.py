"""Data streams and TF 2.15 reference numbers shared by the pre-made estimator tests.

``file_order_batches`` is ``Dataset.from_tensor_slices(...).repeat().batch(32)`` (what the TF fixture
ran, see scripts/fixtures/gen_premade_fixtures.py); ``shuffled_epochs`` is TF's
``make_csv_dataset`` order with a buffer larger than the file: a fresh permutation per epoch,
epochs never mixed, batches running across epoch boundaries.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
TITANIC = ROOT / "data" / "titanic"
IRIS = ROOT / "data" / "iris"
FIXTURE = ROOT / "tests" / "fixtures" / "premade" / "tf215_premade.json"
CATEGORICAL = ["sex", "n_siblings_spouses", "parch", "class", "deck", "embark_town", "alone"]
IRIS_KEYS = ["SepalLength", "SepalWidth", "PetalLength", "PetalWidth"]


def tf_fixture() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())  # type: ignore[no-any-return]


def titanic(name: str) -> dict[str, np.ndarray]:
    """Columns with the dtypes the TF fixture used (float32 numbers, int32 counts, object strings)."""
    df = pd.read_csv(TITANIC / name)
    out: dict[str, np.ndarray] = {}
    for col in df.columns:
        if col in ("age", "fare"):
            out[col] = df[col].to_numpy(np.float32)
        elif col in ("survived", "n_siblings_spouses", "parch"):
            out[col] = df[col].to_numpy(np.int32)
        else:
            out[col] = df[col].to_numpy(object)
    return out


def iris(name: str) -> dict[str, np.ndarray]:
    df = pd.read_csv(IRIS / name)
    out = {k: df[k].to_numpy(np.float32) for k in IRIS_KEYS}
    out["Species"] = df["Species"].to_numpy(np.int64)
    return out


def file_order_batches(
    data: dict[str, np.ndarray], label: str, repeat: bool, batch: int = 32
) -> Iterator[Any]:
    """File order, repeated (``repeat=True``) or one pass; batches run across epoch boundaries."""
    n = len(data[label])
    start = 0
    while repeat or start < n:
        idx = np.arange(start, start + batch)
        idx = idx % n if repeat else idx[idx < n]
        start += batch
        yield {k: v[idx] for k, v in data.items() if k != label}, data[label][idx]


def shuffled_epochs(data: dict[str, np.ndarray], label: str, seed: int, batch: int = 32) -> Iterator[Any]:
    """A new permutation per epoch, repeated forever, batched across epoch boundaries."""
    rng = np.random.default_rng(seed)
    n = len(data[label])
    order = np.empty(0, np.int64)
    while True:
        while len(order) < batch:
            order = np.concatenate([order, rng.permutation(n)])
        take, order = order[:batch], order[batch:]
        yield {k: v[take] for k, v in data.items() if k != label}, data[label][take]
