"""One tiny trained export shared by the security tests (built once per session, copied per test)."""

from __future__ import annotations

import os
import shutil
import warnings
from typing import Any

import numpy as np
import torch

from torchestimator.columns import (
    bucketized_column,
    categorical_column_with_vocabulary_file,
    crossed_column,
    make_parse_example_spec,
    numeric_column,
)
from torchestimator.export import build_parsing_serving_input_receiver_fn


def halve(x: torch.Tensor) -> torch.Tensor:
    """The normalizer the export names (``module:halve``); serving.load must be handed it."""
    return x / 2.0


class Export:
    """A trained LinearClassifier, its export folder and a batch of raw features + predictions."""

    def __init__(self, root: str) -> None:
        from torchestimator.premade import LinearClassifier

        vocab = os.path.join(root, "colors.txt")
        with open(vocab, "w", encoding="utf-8") as fh:
            fh.write("red\ngreen\nblue\n")
        rng = np.random.default_rng(0)
        n = 32
        self.features = {
            "x": rng.normal(size=n).astype(np.float32),
            "s": np.array(["red", "green", "blue", "pink"] * (n // 4), dtype=object),
            "t": np.array(["a", "b"] * (n // 2), dtype=object),
        }
        labels = (self.features["x"] > 0).astype(np.int64)
        x_buckets = bucketized_column(numeric_column("x", normalizer_fn=halve), [-0.5, 0.0, 0.5])
        columns = [
            numeric_column("x"),
            categorical_column_with_vocabulary_file("s", vocab),
            crossed_column([x_buckets, "t"], 16),
        ]
        est: Any = LinearClassifier(columns, model_dir=os.path.join(root, "model"))
        feats = self.features
        est.train(lambda: iter([(feats, labels)] * 3), steps=3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.export_dir = est.export_saved_model(
                os.path.join(root, "export"),
                build_parsing_serving_input_receiver_fn(make_parse_example_spec(columns)),
            )
        self.reference = next(est.predict(lambda: feats, yield_single_examples=False))
        self.custom_objects = {"halve": halve}

    def copy(self, dest: str) -> str:
        """A fresh copy of the export folder to tamper with."""
        target = os.path.join(dest, "exp")
        shutil.copytree(self.export_dir, target)
        return target
