"""RNNClassifier / RNNEstimator against TF 2.15 (scripts/fixtures/gen_rnn_fixtures.py), plus masking by hand.

Each TF case is replayed from TF's own initial variables on the same ragged batches (serialized
tf.Examples parsed with the columns' parse spec, as TF's input_fn did): the loss of each of 20
steps, then TF's eval metrics and predictions on held-out rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from torchestimator import feature_column as fc
from torchestimator.errors import InvalidArgumentError
from torchestimator.heads import BinaryClassHead, RegressionHead
from torchestimator.heads.sequential import SequentialHeadWrapper
from torchestimator.hooks import Hook
from torchestimator.inputs import encode_example, parse_example
from torchestimator.parsing import FixedLenFeature, Ragged, VarLenFeature
from torchestimator.premade import RNNClassifier, RNNEstimator, RNNModelFn
from torchestimator.premade._rnn_layers import load_keras_weights
from torchestimator.spec import ModeKeys

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "premade" / "tf215_rnn.json"
BATCH = 8


@pytest.fixture(scope="module")
def tf_cases() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())  # type: ignore[no-any-return]


def sequence_columns() -> list[Any]:
    return [
        fc.sequence_numeric_column("x"),
        fc.embedding_column(fc.sequence_categorical_column_with_identity("tok", 10), 3),
    ]


def context_columns() -> list[Any]:
    return [
        fc.numeric_column("ctx", shape=(2,)),
        fc.embedding_column(fc.categorical_column_with_identity("c", 5), 2),
    ]


CASES: dict[str, tuple[str, bool, Any]] = {  # name -> (label key, context columns?, estimator factory)
    "simple_rnn": (
        "label",
        True,
        lambda s, c, d: RNNClassifier(s, c, units=[6], cell_type="simple_rnn", model_dir=d),
    ),
    "lstm_stacked": (
        "label",
        True,
        lambda s, c, d: RNNClassifier(s, c, units=[5, 4], cell_type="lstm", n_classes=3, model_dir=d),
    ),
    "gru_sum": (
        "label",
        False,
        lambda s, c, d: RNNClassifier(
            s, c, units=[6], cell_type="gru", model_dir=d, weight_column="w", loss_reduction="sum"
        ),
    ),
    "estimator_lstm_regression": (
        "target",
        True,
        lambda s, c, d: RNNEstimator(RegressionHead(), s, c, units=4, cell_type="lstm", model_dir=d),
    ),
    "gru_return_sequences": (
        "steps",
        False,
        lambda s, c, d: RNNClassifier(
            s, c, units=[5], cell_type="gru", return_sequences=True, weight_column="step_w", model_dir=d
        ),
    ),
}


def batches(rows: list[dict[str, Any]], label: str, columns: list[Any]) -> Iterator[Any]:
    """TF's input_fn: serialized Examples, batches of 8, parsed with the columns' spec."""
    spec = dict(fc.make_parse_example_spec(columns))
    spec[label] = (
        VarLenFeature("int64")
        if label == "steps"
        else FixedLenFeature((1,), "float32" if label == "target" else "int64")
    )
    spec["w"] = FixedLenFeature((1,), "float32")
    spec["step_w"] = VarLenFeature("float32")
    keys = ["x", "tok", "ctx", "c", "w", "step_w", label]
    serialized = [encode_example({k: r[k] for k in keys}) for r in rows]
    for start in range(0, len(serialized), BATCH):
        features = parse_example(serialized[start : start + BATCH], spec)
        yield features, features.pop(label)


def load_tf_init(model: RNNModelFn, init: dict[str, Any]) -> None:
    with torch.no_grad():
        seq = model.sequence_input
        seq.embeddings[seq.table_index("tok_embedding")].weight.copy_(
            torch.tensor(init["sequence_features/tok_embedding/embedding_weights"])
        )
        if model.context_input is not None:
            model.context_input.embedding_weights("c_embedding").copy_(
                torch.tensor(init["dense_features/c_embedding/embedding_weights"])
            )
        cells = sorted(n[: -len("/kernel")] for n in init if n.endswith("/kernel") and "/logits/" not in n)
        assert len(cells) == len(model.rnn.layers)
        for layer, cell in zip(model.rnn.layers, cells):
            load_keras_weights(
                layer, init[f"{cell}/kernel"], init[f"{cell}/recurrent_kernel"], init[f"{cell}/bias"]
            )
        model.logits_layer.weight.copy_(torch.tensor(init["rnn_model/logits/kernel"]).T)
        model.logits_layer.bias.copy_(torch.tensor(init["rnn_model/logits/bias"]))


class LossRecorder(Hook):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def after_step(self, ctx: Any) -> None:
        self.losses.append(float(ctx.loss))


@pytest.mark.parametrize("name", sorted(CASES))
def test_twenty_steps_match_tf_from_tf_initial_weights(
    tf_cases: dict[str, Any], name: str, tmp_path: Any
) -> None:
    """Per-step losses, eval metrics and every numeric prediction within 1e-5 of TF 2.15."""
    expected = tf_cases[name]
    label, with_context, make = CASES[name]
    seq, ctx = sequence_columns(), (context_columns() if with_context else [])
    est = make(seq, ctx or None, tmp_path)
    load_tf_init(est.model, expected["init"])
    recorder = LossRecorder()
    est.train(lambda: batches(expected["train_rows"], label, seq + ctx), steps=20, hooks=[recorder])
    np.testing.assert_allclose(recorder.losses, expected["losses"], rtol=1e-5, atol=1e-5)

    metrics = est.evaluate(lambda: batches(expected["eval_rows"], label, seq + ctx))
    assert sorted(metrics) == sorted(expected["metrics"])
    for key, value in expected["metrics"].items():
        assert metrics[key] == pytest.approx(value, rel=1e-5, abs=1e-5), key

    predictions = list(est.predict(lambda: (f for f, _ in batches(expected["eval_rows"], label, seq + ctx))))
    assert sorted(predictions[0]) == expected["prediction_keys"]
    for key, values in expected["predictions"].items():
        ours = [np.asarray(p[key], np.float64) for p in predictions]
        for i, (a, b) in enumerate(zip(ours, values)):
            np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-5, err_msg=f"{key}[{i}]")


def test_gradient_clipping_is_active_in_the_sum_case(tf_cases: dict[str, Any], tmp_path: Any) -> None:
    """The SUM case only pins TF's clipnorm if some variable's gradient norm exceeds 5 there."""
    expected = tf_cases["gru_sum"]
    seq = sequence_columns()
    est = CASES["gru_sum"][2](seq, None, tmp_path)
    load_tf_init(est.model, expected["init"])
    features, labels = next(batches(expected["train_rows"], "label", seq))
    spec = est.model(features, labels, ModeKeys.TRAIN)
    spec.loss.backward()
    norms = [
        float(p.grad.coalesce().values().norm() if p.grad.is_sparse else p.grad.norm())
        for p in est.model.parameters()
        if p.grad is not None
    ]
    assert max(norms) > 5.0


def _numpy_rnn(x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, b: np.ndarray) -> np.ndarray:
    h = np.zeros(w_hh.shape[0])
    outs = []
    for step in x:
        h = np.tanh(w_ih @ step + w_hh @ h + b)
        outs.append(h)
    return np.stack(outs) if outs else np.zeros((0, w_hh.shape[0]))


def test_ragged_batch_masks_padded_steps_like_keras() -> None:
    """Last output = output at each sequence's last step; per-step outputs carry past the end; length 0 -> 0."""
    torch.manual_seed(0)
    head = SequentialHeadWrapper(RegressionHead(), "sequence_mask")
    model = RNNModelFn(head, [fc.sequence_numeric_column("x", shape=(2,))], units=3, return_sequences=True)
    rows = [np.arange(8, dtype=np.float32) / 8, np.ones(2, np.float32), np.zeros(0, np.float32)]
    features = {"x": Ragged.from_rows([r.tolist() for r in rows], np.float32)}
    spec = model(features, mode=ModeKeys.PREDICT)
    logits = spec.predictions["predictions"].detach().numpy()  # (B, T=4, 1)
    assert logits.shape == (3, 4, 1)
    np.testing.assert_array_equal(
        spec.predictions["sequence_mask"].numpy(), [[1, 1, 1, 1], [1, 0, 0, 0], [0, 0, 0, 0]]
    )
    layer = model.rnn.layers[0]
    w_ih, w_hh = layer.weight_ih_l0.detach().numpy(), layer.weight_hh_l0.detach().numpy()
    b = (layer.bias_ih_l0 + layer.bias_hh_l0).detach().numpy()
    w_out, b_out = model.logits_layer.weight.detach().numpy(), model.logits_layer.bias.detach().numpy()
    for i, row in enumerate(rows):
        outs = _numpy_rnn(row.reshape(-1, 2).astype(np.float64), w_ih, w_hh, b)
        n = len(outs)
        padded = np.zeros((4, 3)) if n == 0 else outs[np.minimum(np.arange(4), n - 1)]
        np.testing.assert_allclose(logits[i], padded @ w_out.T + b_out, rtol=1e-5, atol=1e-6)
    last = RNNModelFn(RegressionHead(), [fc.sequence_numeric_column("x", shape=(2,))], units=3)
    last.load_state_dict(model.state_dict())
    out = last.logits(features).detach().numpy()  # (B, 1)
    np.testing.assert_allclose(out, logits[:, -1], rtol=1e-6, atol=1e-7)


def test_loss_and_metrics_count_only_valid_steps() -> None:
    head = SequentialHeadWrapper(BinaryClassHead(), "mask")
    logits = torch.tensor([[[1.0], [2.0], [9.0]], [[-1.0], [5.0], [7.0]]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    labels = np.array([[1, 0, 1], [0, 1, 1]])
    loss = head.loss(labels, logits, {"mask": mask})
    z, y = np.array([1.0, 2.0, -1.0]), np.array([1.0, 0.0, 0.0])
    expected = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    ragged = Ragged.from_rows([[1, 0], [0]], np.int64)
    assert float(head.loss(ragged, logits, {"mask": mask})) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(Exception, match="incompatible with the sequence mask"):
        head.loss(np.zeros((2, 2)), logits, {"mask": mask})


def test_keras_gru_gates_map_to_torch() -> None:
    """A GRU step from Keras-layout weights (z, r, h; reset_after) equals torch's layer after loading."""
    rng = np.random.default_rng(0)
    d, u = 3, 4
    kernel, rec, bias = rng.normal(size=(d, 3 * u)), rng.normal(size=(u, 3 * u)), rng.normal(size=(2, 3 * u))
    layer = nn.GRU(d, u, batch_first=True)
    load_keras_weights(layer, kernel, rec, bias)
    x, h = rng.normal(size=d), rng.normal(size=u)
    xk, hk = x @ kernel + bias[0], h @ rec + bias[1]

    def sig(v: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-v))

    z, r = sig(xk[:u] + hk[:u]), sig(xk[u : 2 * u] + hk[u : 2 * u])
    hh = np.tanh(xk[2 * u :] + r * hk[2 * u :])
    expected = z * h + (1 - z) * hh
    out, _ = layer(
        torch.tensor(x, dtype=torch.float32).view(1, 1, d), torch.tensor(h, dtype=torch.float32).view(1, 1, u)
    )
    np.testing.assert_allclose(out.detach().numpy().reshape(-1), expected, rtol=1e-5, atol=1e-6)


def test_named_optimizer_gets_tf_defaults_and_lstm_forget_bias(tmp_path: Any) -> None:
    est = RNNClassifier([fc.sequence_numeric_column("x")], units=[3], cell_type="lstm", model_dir=tmp_path)
    layer = est.model.rnn.layers[0]
    np.testing.assert_array_equal(layer.bias_ih_l0.detach().numpy(), [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    assert not layer.bias_hh_l0.requires_grad
    opt = est.model.optimizers()["optimizer"]
    assert isinstance(opt, torch.optim.Adagrad) and opt.defaults["lr"] == 0.05
    assert all(id(p) != id(layer.bias_hh_l0) for g in opt.param_groups for p in g["params"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"units": None}, "units must be an int"),
        ({"units": [4], "cell_type": "rnn"}, "cell_type must be one of"),
        ({"rnn_cell_fn": lambda: nn.LSTM(1, 2, batch_first=True), "units": [2]}, "must not be specified"),
        ({"units": [4], "optimizer": "adamw"}, "unsupported optimizer name"),
        ({"units": [4], "n_classes": 1}, "n_classes"),
    ],
)
def test_bad_arguments_raise_clear_errors(tmp_path: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        RNNClassifier([fc.sequence_numeric_column("x")], model_dir=tmp_path, **kwargs)


def test_rnn_cell_fn_takes_torch_layers(tmp_path: Any) -> None:
    est = RNNClassifier(
        [fc.sequence_numeric_column("x")],
        rnn_cell_fn=lambda: [nn.GRU(1, 4, batch_first=True), nn.GRU(4, 2, batch_first=True)],
        model_dir=tmp_path,
    )
    x = Ragged.from_rows([[0.5, 1.0], [2.0]], np.float32)
    est.train(lambda: ({"x": x}, np.array([1, 0])), steps=2)
    assert [layer.hidden_size for layer in est.model.rnn.layers] == [4, 2]


def test_return_sequences_needs_a_sequential_head(tmp_path: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="SequentialHeadWrapper"):
        RNNEstimator(BinaryClassHead(), [fc.sequence_numeric_column("x")], units=2, return_sequences=True)


def test_sequence_example_feature_lists_feed_the_rnn(tmp_path: Any) -> None:
    """parse_sequence_example's VarLenFeature lists (examples -> steps -> one value) read as the steps."""
    from torchestimator.errors import FeatureError
    from torchestimator.inputs import encode_sequence_example, parse_sequence_example

    records = [
        encode_sequence_example({"ctx": [1.0, 2.0]}, {"x": [[1.0], [2.0], [3.0]], "tok": [[1], [2], [3]]}),
        encode_sequence_example({"ctx": [0.5, 0.0]}, {"x": [[4.0]], "tok": [[5]]}),
    ]
    context_spec = {"ctx": FixedLenFeature((2,), "float32")}
    sequence_spec = {"x": VarLenFeature("float32"), "tok": VarLenFeature("int64")}
    context, sequences, _ = parse_sequence_example(records, context_spec, sequence_spec)
    columns = [
        fc.sequence_numeric_column("x"),
        fc.indicator_column(fc.sequence_categorical_column_with_identity("tok", 7)),
    ]
    est = RNNClassifier(columns, [fc.numeric_column("ctx", shape=(2,))], units=3, model_dir=tmp_path)
    est.train(lambda: ({**context, **sequences}, np.array([[1], [0]])), steps=2)
    from_lists = next(est.predict(lambda: {**context, **sequences}, yield_single_examples=False))
    flat = {
        **context,
        "x": Ragged.from_rows([[1.0, 2.0, 3.0], [4.0]], np.float32),
        "tok": Ragged.from_rows([[1, 2, 3], [5]], np.int64),
    }
    np.testing.assert_array_equal(
        from_lists["logits"], next(est.predict(lambda: flat, yield_single_examples=False))["logits"]
    )
    two_ids = [encode_sequence_example({"ctx": [0.0, 0.0]}, {"x": [[1.0]], "tok": [[1, 2]]})]
    context, sequences, _ = parse_sequence_example(two_ids, context_spec, sequence_spec)
    with pytest.raises(FeatureError, match="values in a step"):
        next(est.predict(lambda: {**context, **sequences}))


def test_resumed_training_keeps_adagrad_state_and_clipping(tf_cases: dict[str, Any], tmp_path: Any) -> None:
    """4 steps in one call == 2 + 2 steps in two estimators over one model_dir (weights, slots, clip hook)."""
    expected = tf_cases["gru_sum"]
    seq = sequence_columns()
    data = list(batches(expected["train_rows"], "label", seq))[:4]
    one = CASES["gru_sum"][2](seq, None, tmp_path / "one")
    load_tf_init(one.model, expected["init"])
    one.train(lambda: iter(data), steps=4)
    first = CASES["gru_sum"][2](seq, None, tmp_path / "two")
    load_tf_init(first.model, expected["init"])
    first.train(lambda: iter(data[:2]), steps=2)
    second = CASES["gru_sum"][2](seq, None, tmp_path / "two")
    recorder = LossRecorder()
    second.train(lambda: iter(data[2:]), steps=2, hooks=[recorder])
    np.testing.assert_allclose(recorder.losses, expected["losses"][2:4], rtol=1e-5, atol=1e-5)
    for (name, a), b in zip(one.model.state_dict().items(), second.model.state_dict().values()):
        if isinstance(a, torch.Tensor):
            torch.testing.assert_close(a, b, msg=name)
