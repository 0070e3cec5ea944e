"""The synthetic click-through benchmark shared by the performance scripts (issues 3, 4, 5, 7).

Deterministic for a seed: ``n_rows`` rows of 10 float features ``num_0..num_9`` (standard normal) and
10 int64 categorical features ``cat_0..cat_9`` whose vocabularies grow log-spaced from 10 to 100,000
ids, each Zipf-distributed (a few ids are very frequent, as in real logs). The binary label is drawn
from a logistic model over the numerics and a per-id effect of three categorical features, so a
model can learn it. Columns used by the benchmarks: ``numeric_column`` for ``num_*``,
``categorical_column_with_hash_bucket(cat_i, VOCAB_SIZES[i], dtype=int64)`` embedded with dimension
16, a DNN [256, 128, 64], batch 512, Adagrad.

Usage::

    from synthetic_data import make_synthetic, VOCAB_SIZES
    features, labels = make_synthetic(1_000_000, seed=0)
"""

from __future__ import annotations

import numpy as np

N_NUMERIC = 10
N_CATEGORICAL = 10
VOCAB_SIZES = [round(v) for v in np.logspace(1, 5, N_CATEGORICAL)]  # 10 ... 100000
EMBEDDING_DIM = 16
HIDDEN_UNITS = [256, 128, 64]
BATCH_SIZE = 512
NUMERIC_KEYS = [f"num_{i}" for i in range(N_NUMERIC)]
CATEGORICAL_KEYS = [f"cat_{i}" for i in range(N_CATEGORICAL)]


def make_synthetic(n_rows: int = 1_000_000, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Return ``(features, labels)``: a dict of 1-D numpy arrays and an int64 label vector."""
    rng = np.random.default_rng(seed)
    features: dict[str, np.ndarray] = {}
    for key in NUMERIC_KEYS:
        features[key] = rng.standard_normal(n_rows).astype(np.float32)
    for key, vocab in zip(CATEGORICAL_KEYS, VOCAB_SIZES):
        ranks = rng.zipf(1.2, n_rows) - 1  # Zipf over ranks 0, 1, 2, ...
        perm = rng.permutation(vocab)  # which id is frequent is arbitrary
        features[key] = perm[ranks % vocab].astype(np.int64)
    logit = 0.5 * features["num_0"] - 0.7 * features["num_1"] + 0.3 * features["num_2"]
    for key, vocab in zip(CATEGORICAL_KEYS[:3], VOCAB_SIZES[:3]):
        effect = np.random.default_rng(seed + vocab).standard_normal(vocab).astype(np.float32)
        logit = logit + effect[features[key]]
    labels = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    return features, labels


if __name__ == "__main__":
    f, y = make_synthetic(10_000)
    print({k: (v.dtype, v[:5].tolist()) for k, v in list(f.items())[:12]}, "label mean", y.mean())
