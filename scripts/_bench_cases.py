"""Data and feature columns of the same-run TF benchmarks, written once for both sides (numpy only).

The column functions take the feature-column module (``tf.feature_column`` or ``torchestimator.feature_column``:
the same API) and the int64 dtype object of that side, so TF's program and ours are the same lines.

- synthetic: ``scripts/synthetic_data.py`` (10 numeric + 10 hashed int64 columns, emb 16, DNN [256, 128, 64]).
- census: a census-income-shaped synthetic table (TF's wide & deep tutorial columns: vocabulary lists, a hashed
  occupation, bucketized age, 2 crosses; DNN [100, 75, 50, 25], batch 256). Generated, since the census file
  is not bundled (no downloads here); the label depends on several columns so the model has signal.
- titanic: ``data/titanic/train.csv`` with the full-feature LinearClassifier columns of the export tests.
"""

from __future__ import annotations

import csv
import os
import sys
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from synthetic_data import CATEGORICAL_KEYS, EMBEDDING_DIM, NUMERIC_KEYS, VOCAB_SIZES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CENSUS_BATCH = 256
CENSUS_HIDDEN = [100, 75, 50, 25]
_CENSUS_VOCABS = {
    "gender": ["Female", "Male"],
    "education": [
        "Bachelors", "HS-grad", "11th", "Masters", "9th", "Some-college", "Assoc-acdm", "Assoc-voc",
        "7th-8th", "Doctorate", "Prof-school", "5th-6th", "10th", "1st-4th", "Preschool", "12th",
    ],
    "marital_status": [
        "Married-civ-spouse", "Divorced", "Married-spouse-absent", "Never-married", "Separated",
        "Married-AF-spouse", "Widowed",
    ],
    "relationship": ["Husband", "Not-in-family", "Wife", "Own-child", "Unmarried", "Other-relative"],
    "workclass": [
        "Self-emp-not-inc", "Private", "State-gov", "Federal-gov", "Local-gov", "?", "Self-emp-inc",
        "Without-pay", "Never-worked",
    ],
}  # fmt: skip
_OCCUPATIONS = [f"occupation-{i}" for i in range(40)]
_COUNTRIES = [f"country-{i}" for i in range(42)]


def synthetic_columns(fc: Any, int64: Any, embedded: bool) -> list[Any]:
    """numeric_column x 10 + hash_bucket(cat_i, vocab_i, int64) x 10 (embedded with dim 16 for the DNN)."""
    cols: list[Any] = [fc.numeric_column(k) for k in NUMERIC_KEYS]
    for key, vocab in zip(CATEGORICAL_KEYS, VOCAB_SIZES):
        cat = fc.categorical_column_with_hash_bucket(key, vocab, dtype=int64)
        cols.append(fc.embedding_column(cat, EMBEDDING_DIM) if embedded else cat)
    return cols


def make_census(n_rows: int, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``n_rows`` census-shaped rows: unicode string columns, float32 numbers, an int64 label."""
    rng = np.random.default_rng(seed)
    feats: dict[str, np.ndarray] = {}
    logit = np.zeros(n_rows, np.float32)
    for key, vocab in {**_CENSUS_VOCABS, "occupation": _OCCUPATIONS, "native_country": _COUNTRIES}.items():
        p = rng.dirichlet(np.ones(len(vocab)) * 0.5)
        idx = rng.choice(len(vocab), n_rows, p=p)
        feats[key] = np.asarray(vocab, dtype=str)[idx]
        logit += rng.normal(0, 0.5, len(vocab)).astype(np.float32)[idx]
    feats["age"] = rng.integers(17, 90, n_rows).astype(np.float32)
    feats["education_num"] = rng.integers(1, 17, n_rows).astype(np.float32)
    feats["capital_gain"] = (rng.random(n_rows) < 0.08) * rng.exponential(5000, n_rows).astype(np.float32)
    feats["capital_loss"] = (rng.random(n_rows) < 0.05) * rng.exponential(1500, n_rows).astype(np.float32)
    feats["hours_per_week"] = rng.integers(1, 99, n_rows).astype(np.float32)
    for key in ("capital_gain", "capital_loss"):
        feats[key] = feats[key].astype(np.float32)
    logit += (
        0.03 * (feats["age"] - 40)
        + 0.2 * (feats["education_num"] - 10)
        + 0.02 * (feats["hours_per_week"] - 40)
    )
    labels = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return feats, labels


def census_columns(fc: Any) -> tuple[list[Any], list[Any]]:
    """(wide, deep) columns of TF's census wide & deep tutorial."""
    base = {k: fc.categorical_column_with_vocabulary_list(k, v) for k, v in _CENSUS_VOCABS.items()}
    occupation = fc.categorical_column_with_hash_bucket("occupation", hash_bucket_size=1000)
    age = fc.numeric_column("age")
    age_buckets = fc.bucketized_column(age, boundaries=[18, 25, 30, 35, 40, 45, 50, 55, 60, 65])
    wide = [
        *base.values(),
        occupation,
        age_buckets,
        fc.crossed_column(["education", "occupation"], hash_bucket_size=1000),
        fc.crossed_column([age_buckets, "education", "occupation"], hash_bucket_size=1000),
    ]
    deep = [
        age,
        fc.numeric_column("education_num"),
        fc.numeric_column("capital_gain"),
        fc.numeric_column("capital_loss"),
        fc.numeric_column("hours_per_week"),
        fc.indicator_column(base["workclass"]),
        fc.indicator_column(base["education"]),
        fc.indicator_column(base["marital_status"]),
        fc.indicator_column(base["relationship"]),
        fc.embedding_column(occupation, dimension=8),
    ]
    return wide, deep


TITANIC_CATEGORICAL = ["sex", "n_siblings_spouses", "parch", "class", "deck", "embark_town", "alone"]


def titanic() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``data/titanic/train.csv``: str / int64 / float32 columns and the int64 label."""
    with open(os.path.join(ROOT, "data", "titanic", "train.csv"), encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    feats: dict[str, np.ndarray] = {}
    for key in rows[0]:
        values = [r[key] for r in rows]
        if key in ("age", "fare"):
            feats[key] = np.asarray(values, np.float32)
        elif key in ("n_siblings_spouses", "parch", "survived"):
            feats[key] = np.asarray(values, np.int64)
        else:
            feats[key] = np.asarray(values, str)
    labels = feats.pop("survived")
    return feats, labels


def titanic_columns(fc: Any, feats: dict[str, np.ndarray]) -> list[Any]:
    """The export tests' full-feature LinearClassifier columns (vocabulary lists, numbers, buckets, a cross)."""
    cols: list[Any] = [
        fc.categorical_column_with_vocabulary_list(k, sorted(set(feats[k].tolist())))
        for k in TITANIC_CATEGORICAL
    ]
    cols += [fc.numeric_column("age"), fc.numeric_column("fare")]
    age_buckets = fc.bucketized_column(fc.numeric_column("age"), [5, 18, 25, 30, 40, 50, 65])
    return [*cols, age_buckets, fc.crossed_column([age_buckets, "sex"], 100)]
