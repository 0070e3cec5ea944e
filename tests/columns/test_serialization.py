"""Every column type round-trips through JSON; column layer state survives safetensors + JSON."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
import torch
from columns_fixtures import FIXTURES
from safetensors.torch import load_file, save_file

from torchestimator import feature_column as fc
from torchestimator.columns.serialization import register_callable
from torchestimator.errors import CheckpointMismatchError, InvalidArgumentError


@register_callable  # names read back from JSON are never imported
def double(x: torch.Tensor) -> torch.Tensor:
    return x * 2.0


AGE = fc.numeric_column("age", shape=(2,), default_value=0.5, dtype="float64", normalizer_fn=double)
AGE_B = fc.bucketized_column(AGE, [0.0, 1.0, 5.0])
COLOR = fc.categorical_column_with_vocabulary_list("color", ["r", "g"], num_oov_buckets=2)
NUM = fc.categorical_column_with_vocabulary_list("n", [3, 1, 2, 9], default_value=0)
FILE = fc.categorical_column_with_vocabulary_file("w", str(FIXTURES / "vocab.txt"), num_oov_buckets=1)
HASHED = fc.categorical_column_with_hash_bucket("h", 100, dtype="int64")
IDENT = fc.categorical_column_with_identity("k", 10, default_value=3)
WEIGHTED = fc.weighted_categorical_column(COLOR, "cw")
CROSS = fc.crossed_column([fc.crossed_column(["a", AGE_B], 10), IDENT], 1000, hash_key=7)
SHARED = fc.shared_embeddings([COLOR, NUM], 4, combiner="sqrtn", max_norm=2.0)
ALL = [
    AGE,
    AGE_B,
    COLOR,
    NUM,
    FILE,
    HASHED,
    IDENT,
    WEIGHTED,
    CROSS,
    fc.indicator_column(CROSS),
    fc.embedding_column(WEIGHTED, 8, combiner="sum", trainable=False),
    *SHARED,
]


@pytest.mark.parametrize("column", ALL, ids=lambda c: f"{type(c).__name__}:{c.name}")
def test_json_round_trip(column: fc.FeatureColumn) -> None:
    text = json.dumps(fc.serialize_column(column))
    back = fc.deserialize_column(json.loads(text))
    assert back == column and hash(back) == hash(column) and back.name == column.name
    assert back is not column


def test_derived_names_follow_tf() -> None:
    assert AGE_B.name == "age_bucketized"
    assert WEIGHTED.name == "color_weighted_by_cw"
    assert CROSS.name == "a_X_age_bucketized_X_k"
    assert fc.indicator_column(COLOR).name == "color_indicator"
    assert fc.embedding_column(COLOR, 2).name == "color_embedding"
    assert SHARED[0].table_name == "color_n_shared_embedding"


def test_lambda_normalizer_needs_custom_objects() -> None:
    col = fc.numeric_column("x", normalizer_fn=lambda t: t + 1)
    data = json.loads(json.dumps(fc.serialize_column(col)))
    with pytest.raises(InvalidArgumentError, match="custom_objects"):
        fc.deserialize_column(data)
    fn = lambda t: t + 1  # noqa: E731
    back = fc.deserialize_column(
        data, custom_objects={"test_lambda_normalizer_needs_custom_objects.<locals>.<lambda>": fn}
    )
    assert back.normalizer_fn is fn


def _save(module: torch.nn.Module, path: pathlib.Path) -> None:
    state = module.state_dict()
    tensors = {k: v.contiguous() for k, v in state.items() if isinstance(v, torch.Tensor)}
    extra = {k: v for k, v in state.items() if not isinstance(v, torch.Tensor)}
    save_file(tensors, str(path / "model.safetensors"))
    (path / "extra.json").write_text(json.dumps(extra))


def _load(module: torch.nn.Module, path: pathlib.Path) -> None:
    state: dict[str, object] = dict(load_file(str(path / "model.safetensors")))
    state.update(json.loads((path / "extra.json").read_text()))
    module.load_state_dict(state)


def _model(columns: list[fc.FeatureColumn]) -> torch.nn.Module:
    return torch.nn.ModuleDict(
        {"dnn": fc.DenseFeatures(columns), "linear": fc.LinearModel([AGE_B, COLOR, CROSS], 2)}
    )


def test_layer_state_survives_safetensors_and_json(tmp_path: pathlib.Path) -> None:
    cols = [
        AGE,
        fc.embedding_column(COLOR, 3),
        fc.embedding_column(FILE, 3, combiner="sum"),
        fc.indicator_column(IDENT),
    ]
    src = _model(cols)
    with torch.no_grad():
        src["linear"].sparse_weights.weight.normal_()
    _save(src, tmp_path)
    dst = _model(cols)
    assert not torch.equal(
        dst["dnn"].embedding_tables["dim3"].weight, src["dnn"].embedding_tables["dim3"].weight
    )
    _load(dst, tmp_path)
    for key, value in src.state_dict().items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(dst.state_dict()[key], value), key
    feats = {"age": np.ones((2, 2)), "color": ["r", "q"], "w": ["apple", "x"], "k": [1, 2], "a": ["s", "t"]}
    torch.testing.assert_close(dst["dnn"](feats), src["dnn"](feats))
    torch.testing.assert_close(dst["linear"](feats), src["linear"](feats))


def test_restore_into_different_columns_fails_clearly(tmp_path: pathlib.Path) -> None:
    _save(_model([AGE, fc.embedding_column(COLOR, 3)]), tmp_path)
    other_color = fc.categorical_column_with_vocabulary_list("color", ["r", "g", "b"], num_oov_buckets=1)
    dst = _model([AGE, fc.embedding_column(other_color, 3)])
    with pytest.raises(CheckpointMismatchError, match="color_embedding"):
        _load(dst, tmp_path)


def test_state_dict_names_are_stable() -> None:
    keys = set(_model([AGE, fc.embedding_column(COLOR, 3)]).state_dict())
    assert {
        "dnn.embedding_tables.dim3.weight",
        "dnn._extra_state",
        "linear.sparse_weights.weight",
        "linear.bias",
        "linear._extra_state",
    } <= keys
