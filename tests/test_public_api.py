"""The public API is explicit (sorted __all__, every name importable) and importing stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import torchestimator as te

PACKAGES = [
    "torchestimator",
    "torchestimator.feature_column",
    "torchestimator.columns",
    "torchestimator.compat",
    "torchestimator.compat.v1",
    "torchestimator.compat.v1.estimator",
    "torchestimator.compat.v1.feature_column",
    "torchestimator.compat.v1.layers",
    "torchestimator.compat.v1.losses",
    "torchestimator.compat.v1.metrics",
    "torchestimator.compat.v1.nn",
    "torchestimator.compat.v1.summary",
    "torchestimator.compat.v1.train",
    "torchestimator.data",
    "torchestimator.data.experimental",
    "torchestimator.heads",
    "torchestimator.hooks",
    "torchestimator.inputs",
    "torchestimator.io",
    "torchestimator.metrics",
    "torchestimator.optimizers",
    "torchestimator.parallel",
    "torchestimator.errors",
    "torchestimator.estimator",
    "torchestimator.experimental",
    "torchestimator.export",
    "torchestimator.server",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_importable(name):
    module = __import__(name, fromlist=["__all__"])
    names = list(module.__all__)
    # isort-style order (ruff RUF022): CONSTANTS, then Classes, then functions / modules
    assert names == sorted(names, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n))
    assert len(set(names)) == len(names)
    for n in names:
        assert hasattr(module, n), f"{name}.{n}"


def test_import_pulls_in_no_optional_dependency():
    code = (
        "import sys, torchestimator\n"
        "heavy = [m for m in ('tensorflow', 'onnxruntime', 'onnx', 'torch_xla', 'torchvision', 'pandas', 'tensorboard', 'torchrec', 'fbgemm_gpu') "
        "if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def test_tf_names_are_exposed():
    for name in [
        "Estimator",
        "EstimatorSpec",
        "ModeKeys",
        "RunConfig",
        "BinaryClassHead",
        "MultiClassHead",
        "RegressionHead",
        "LinearSDCA",  # tf.estimator.experimental.LinearSDCA
        "KMeans",  # tf.compat.v1.estimator.experimental.KMeans
    ]:
        assert name in te.__all__
    fc = te.feature_column
    for name in [
        "numeric_column",
        "bucketized_column",
        "categorical_column_with_hash_bucket",
        "crossed_column",
        "embedding_column",
        "indicator_column",
        "make_parse_example_spec",
    ]:
        assert callable(getattr(fc, name))


def test_tf_data_names_are_exposed():
    for name in ["from_tensor_slices", "from_tensors", "from_generator", "range", "zip", "list_files"]:
        assert callable(getattr(te.data.Dataset, name))
    for name in [
        "map",
        "filter",
        "flat_map",
        "interleave",
        "shuffle",
        "repeat",
        "batch",
        "padded_batch",
        "unbatch",
        "take",
        "skip",
        "shard",
        "cache",
        "prefetch",
        "enumerate",
        "concatenate",
        "apply",
        "with_options",
        "as_numpy_iterator",
        "cardinality",
    ]:
        assert callable(getattr(te.data.Dataset.range(1), name))
    assert callable(te.data.experimental.make_csv_dataset) and callable(te.io.parse_example)
