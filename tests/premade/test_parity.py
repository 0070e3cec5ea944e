"""Parity with TF 2.15 on the bundled data (data/README.md): medians over seeds, same columns/batches/steps.

TF's figures (2-core CPU, median of 3 seeds): seed example accuracy 0.731 / AUC 0.763; nine features
0.792 / 0.872; + age x sex cross 0.826; Iris DNN 0.867. The deterministic, step-for-step comparisons
with TF live in test_linear.py / test_dnn.py; these check the end-to-end numbers.

* The seed example runs exactly as examples/titanic_linear.py (``make_csv_dataset``).
* The nine-feature runs feed TF's ``make_csv_dataset`` order (a fresh permutation per epoch, epochs
  never mixed; see ``oracle_data.shuffled_epochs``).
* Iris: the median over seeds 0-10. Three seeds are too few for this model: its accuracy after 5000
  Adagrad(0.001) steps ranges 0.67-0.97 with the initial draw (TF's own run spans 0.867-0.933), while
  test_dnn.py shows the same training from TF's initial weights matches TF to 1e-5.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from typing import Any

import numpy as np
import pytest
from oracle_data import ROOT, file_order_batches, iris, shuffled_epochs, titanic

import torchestimator as te
from torchestimator.premade import LinearClassifier

sys.path.insert(0, str(ROOT / "scripts"))
import iris_dnn
import titanic_full
import titanic_linear

SEEDS = (0, 1, 2)


@pytest.fixture(autouse=True)
def _quiet() -> Any:
    logging.disable(logging.WARNING)
    yield
    logging.disable(logging.NOTSET)


def test_titanic_seed_example() -> None:
    runs = [titanic_linear.run(seed, model_dir=tempfile.mkdtemp()) for seed in SEEDS]
    assert np.median([m["accuracy"] for m in runs]) >= 0.70
    assert np.median([m["auc"] for m in runs]) >= 0.74


def _titanic_full(seed: int, cross: bool) -> dict[str, Any]:
    train, evaluation = titanic("train.csv"), titanic("eval.csv")
    est = LinearClassifier(
        titanic_full.feature_columns(cross),
        model_dir=tempfile.mkdtemp(),
        config=te.RunConfig(tf_random_seed=seed, progress_bar=False),
    )
    est.train(lambda: shuffled_epochs(train, "survived", seed), steps=200)
    return est.evaluate(lambda: file_order_batches(evaluation, "survived", False))


@pytest.mark.slow
def test_titanic_all_nine_features() -> None:
    runs = [_titanic_full(seed, cross=False) for seed in SEEDS]
    assert np.median([m["accuracy"] for m in runs]) >= 0.77
    assert np.median([m["auc"] for m in runs]) >= 0.85


@pytest.mark.slow
def test_titanic_with_age_x_sex_cross() -> None:
    runs = [_titanic_full(seed, cross=True) for seed in SEEDS]
    assert np.median([m["accuracy"] for m in runs]) >= 0.80


@pytest.mark.slow
def test_iris_dnn() -> None:
    runs = [iris_dnn.run(seed, model_dir=tempfile.mkdtemp()) for seed in range(11)]
    assert np.median([m["accuracy"] for m in runs]) >= 0.85
    assert iris("iris_test.csv")["Species"].size == 30
