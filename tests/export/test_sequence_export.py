"""Sequence columns in export: an exported RNN serves ragged tf.Examples and padded raw tensors as predict does.

Both artifacts are checked against ``Estimator.predict`` on the same rows: ``model.onnx`` (native
ONNX RNN ops, any number of steps) and ``model.pt2`` (a ``scan`` over steps), with sequence
lengths the trace never saw.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

from torchestimator import feature_column as fc
from torchestimator import serving
from torchestimator.errors import FeatureError
from torchestimator.export import build_parsing_serving_input_receiver_fn, build_raw_serving_input_receiver_fn
from torchestimator.inputs import encode_example, parse_example
from torchestimator.premade import RNNClassifier

BACKENDS = ["onnxruntime", "torch"]


def rows(n: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        length = 1 + (i * 5) % 9  # 1..9 steps, longer than anything traced
        out.append(
            {
                "x": rng.normal(size=length).round(3).tolist(),
                "tok": rng.integers(0, 7, size=length).tolist(),
                "word": [["a", "bb", "ccc", "d"][k] for k in rng.integers(0, 4, size=length)],
                "ctx": rng.normal(size=2).round(3).tolist(),
                "label": int(rng.integers(0, 2)),
                "steps": rng.integers(0, 2, size=length).tolist(),
            }
        )
    return out


def seq_columns() -> list[Any]:
    return [
        fc.sequence_numeric_column("x"),
        fc.embedding_column(fc.sequence_categorical_column_with_identity("tok", 7), 3),
        fc.indicator_column(fc.sequence_categorical_column_with_hash_bucket("word", 5)),
    ]


CONTEXT = [fc.numeric_column("ctx", shape=(2,))]


def serialized(data: list[dict[str, Any]], keys: list[str]) -> list[bytes]:
    return [encode_example({k: r[k] for k in keys}) for r in data]


def train(est: Any, data: list[dict[str, Any]], label: str, columns: list[Any]) -> None:
    spec = dict(fc.make_parse_example_spec(columns))
    spec[label] = fc.sequence_numeric_column(label, dtype="int64").parse_example_spec[label]
    examples = serialized(data, [*spec])

    def input_fn() -> Any:
        for start in range(0, len(examples), 8):
            feats = parse_example(examples[start : start + 8], spec)
            labels = feats.pop(label)
            yield feats, (labels if label == "steps" else labels.values.reshape(-1, 1))

    est.train(input_fn, steps=6)


@pytest.fixture(scope="module")
def lstm_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, str, list[Any]]:
    tmp = str(tmp_path_factory.mktemp("rnn_export"))
    columns = seq_columns() + CONTEXT
    est = RNNClassifier(seq_columns(), CONTEXT, units=[5, 3], cell_type="lstm", model_dir=tmp)
    train(est, rows(48, 0), "label", columns)
    spec = fc.make_parse_example_spec(columns)
    path = est.export_saved_model(os.path.join(tmp, "export"), build_parsing_serving_input_receiver_fn(spec))
    return est, path, columns


@pytest.mark.slow  # a stacked-LSTM export (~15-20 s on 2 shared cores)
@pytest.mark.parametrize("backend", BACKENDS)
def test_serialized_examples_of_any_length_serve_as_predict(lstm_export: Any, backend: str) -> None:
    est, path, columns = lstm_export
    spec = fc.make_parse_example_spec(columns)
    examples = serialized(rows(12, 7), [*spec])
    expected = next(est.predict(lambda: parse_example(examples, spec), yield_single_examples=False))
    predictor = serving.load(path, backend=backend)
    got = predictor.signatures["predict"](examples=examples)
    for key in ("logits", "probabilities", "class_ids"):
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-6, err_msg=key)
    classify = predictor.signatures["serving_default"](inputs=examples)
    np.testing.assert_allclose(classify["scores"], expected["probabilities"], rtol=1e-5, atol=1e-6)
    single = predictor.signatures["predict"](examples=examples[3:4])  # one example: 4 steps, batch 1
    np.testing.assert_allclose(single["logits"], expected["logits"][3:4], rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # a stacked-LSTM export (~15-20 s on 2 shared cores)
@pytest.mark.parametrize("backend", BACKENDS)
def test_mismatched_sequence_lengths_are_a_feature_error(lstm_export: Any, backend: str) -> None:
    _, path, columns = lstm_export
    bad = rows(2, 3)
    bad[0]["tok"] = bad[0]["tok"] + [1]
    predictor = serving.load(path, backend=backend)
    with pytest.raises(FeatureError, match="same length"):
        predictor.signatures["predict"](examples=serialized(bad, [*fc.make_parse_example_spec(columns)]))


RAW_TOK = np.array([[1, 2, 3, -1, -1], [4, -1, -1, -1, -1], [0, 6, 5, 4, 3]], np.int64)  # -1 pads
RAW_CTX = np.array([[0.1, -0.2], [1.0, 0.5], [0.0, 0.0]], np.float32)


@pytest.fixture(scope="module")
def raw_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, str]:
    tmp = str(tmp_path_factory.mktemp("rnn_raw_export"))
    columns = [fc.embedding_column(fc.sequence_categorical_column_with_identity("tok", 7), 3)]
    est = RNNClassifier(columns, CONTEXT, units=4, cell_type="gru", model_dir=tmp)
    train(est, rows(32, 1), "label", columns + CONTEXT)
    receiver = build_raw_serving_input_receiver_fn({"tok": RAW_TOK[:1], "ctx": RAW_CTX[:1]})
    return est, est.export_saved_model(os.path.join(tmp, "export"), receiver)


@pytest.mark.parametrize("backend", BACKENDS)
def test_raw_receiver_takes_padded_tensors(raw_export: Any, backend: str) -> None:
    est, path = raw_export
    expected = next(est.predict(lambda: {"tok": RAW_TOK, "ctx": RAW_CTX}, yield_single_examples=False))
    got = serving.load(path, backend=backend).signatures["predict"](tok=RAW_TOK, ctx=RAW_CTX)
    np.testing.assert_allclose(got["logits"], expected["logits"], rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def sequences_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, str]:
    tmp = str(tmp_path_factory.mktemp("rnn_sequences_export"))
    columns = [fc.sequence_numeric_column("x")]
    est = RNNClassifier(columns, units=[4], cell_type="simple_rnn", return_sequences=True, model_dir=tmp)
    train(est, rows(32, 2), "steps", columns)
    spec = fc.make_parse_example_spec(columns)
    return est, est.export_saved_model(
        os.path.join(tmp, "export"), build_parsing_serving_input_receiver_fn(spec)
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_return_sequences_export_gives_per_step_predictions(sequences_export: Any, backend: str) -> None:
    est, path = sequences_export
    spec = fc.make_parse_example_spec([fc.sequence_numeric_column("x")])
    examples = serialized(rows(5, 9), ["x"])
    expected = next(est.predict(lambda: parse_example(examples, spec), yield_single_examples=False))
    assert expected["logits"].shape == (5, 7, 1)  # lengths 1, 6, 2, 7, 3
    got = serving.load(path, backend=backend).signatures["predict"](examples=examples)
    np.testing.assert_allclose(got["logits"], expected["logits"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got["sequence_mask"], expected["sequence_mask"])
