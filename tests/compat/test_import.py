"""import_tf_checkpoint: TF 2.15-trained pre-mades predict, evaluate and keep training exactly as TF did."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from tf_checkpoint_cases import CASES, FIXTURES, batches, build, expected_predictions, fixture, predictions

from torchestimator import checkpoint as ckpt_lib
from torchestimator.compat import TFBundle, import_tf_checkpoint
from torchestimator.errors import CheckpointError, CheckpointMismatchError, InvalidArgumentError
from torchestimator.spec import ModeKeys

FROZEN_SHARED = {"shared_trainable": False}  # TF 2.15 never trains a canned DNN's shared embedding


def _build(case: str, model_dir: Any, **kwargs: Any) -> Any:
    return build(case, model_dir, **(FROZEN_SHARED if case == "shared_embedding" else {}), **kwargs)


def _assert_predictions(est: Any, record: dict[str, Any], key: str, atol: float) -> None:
    got = predictions(est, record["label"])
    for name, want in expected_predictions(record[key]).items():
        np.testing.assert_allclose(got[name], want, atol=atol, rtol=0, err_msg=name)


@pytest.mark.parametrize("case", [*CASES, "partitioned_v1"])
def test_imported_model_predicts_and_evaluates_as_tf(case: str, tmp_path: Path) -> None:
    record = fixture()[case]
    est = _build(case, tmp_path)
    report = import_tf_checkpoint(FIXTURES / case, est)
    assert report.global_step == record["steps"] and not report.left_initial and not report.unused_tf
    _assert_predictions(est, record, "predictions", atol=1e-5)
    metrics = est.evaluate(lambda: batches("eval", record["label"], False))
    expected = dict(record["metrics"])
    if case.startswith("v1_") or case == "partitioned_v1":
        # the v1 heads compute auc_precision_recall with careful_interpolation; ours follow the v2 heads
        expected.pop("auc_precision_recall", None)
        metrics.pop("auc_precision_recall", None)
    assert sorted(metrics) == sorted(expected)
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value, abs=1e-5), name


@pytest.mark.parametrize("case", CASES)
def test_training_continues_as_tfs_did(case: str, tmp_path: Path) -> None:
    """50 more steps after the import, on TF's batches, land where TF's 50 more steps did."""
    record = fixture()[case]
    est = _build(case, tmp_path)
    report = import_tf_checkpoint(FIXTURES / case, est)
    assert report.slots_loaded and not report.slots_left_initial
    assert not report.hyperparameter_mismatches  # the learning rates, betas, FTRL settings TF saved are ours
    est.train(lambda: batches("train", record["label"], True), steps=fixture()["more_steps"])
    assert est.global_step == record["steps"] + fixture()["more_steps"]
    _assert_predictions(est, record, "continued", atol=1e-4)


def test_without_the_slots_training_goes_elsewhere(tmp_path: Path) -> None:
    """The control for the test above: fresh Adagrad accumulators move the model visibly differently."""
    record = fixture()["dnn_adagrad"]
    est = build("dnn_adagrad", tmp_path)
    import_tf_checkpoint(FIXTURES / "dnn_adagrad", est, include_optimizer=False)
    est.train(lambda: batches("train", "y2", True), steps=fixture()["more_steps"])
    got = predictions(est, "y2")["logits"]
    want = expected_predictions(record["continued"])["logits"]
    assert np.abs(got - want).max() > 1e-3


def test_slots_land_in_the_fused_rows_and_adam_counts_tfs_steps(tmp_path: Path) -> None:
    bundle = TFBundle(FIXTURES / "dnn_regressor_adam")
    est = build("dnn_regressor_adam", tmp_path)
    import_tf_checkpoint(FIXTURES / "dnn_regressor_adam", est)
    model = est.model
    opt = model.optimizers()["optimizer"]
    table = model.input_layer.embedding_weights("d_embedding")
    key, start, rows = model.input_layer.table_rows("d_embedding")
    state = opt.state[model.input_layer.embedding_tables[key].weight]
    emb = "dnn/input_from_feature_columns/input_layer/d_embedding/embedding_weights"
    np.testing.assert_array_equal(table.detach().numpy(), bundle.read(emb))
    np.testing.assert_array_equal(
        state["m"][start : start + rows].numpy(), bundle.read(f"training/Adam/{emb}/m")
    )
    np.testing.assert_array_equal(
        state["v"][start : start + rows].numpy(), bundle.read(f"training/Adam/{emb}/v")
    )
    kernel_state = opt.state[model.tower.hidden_layers[0].weight]
    np.testing.assert_array_equal(
        kernel_state["m"].numpy(), bundle.read("training/Adam/dnn/hiddenlayer_0/kernel/m").T
    )  # TF (in, out) -> torch (out, in)
    assert kernel_state["step"] == 30  # tf.estimator sets Keras' iterations to global_step


def test_the_written_checkpoint_is_what_a_fresh_estimator_resumes(tmp_path: Path) -> None:
    record = fixture()["combined"]
    report = import_tf_checkpoint(FIXTURES / "combined", build("combined", tmp_path))
    assert report.checkpoint_path == str(tmp_path / "model.ckpt-30")
    state = ckpt_lib.load_checkpoint(tmp_path)
    assert state.global_step == 30 and sorted(state.optimizers) == ["dnn", "linear"]
    again = build("combined", tmp_path)  # a new process would do this
    _assert_predictions(again, record, "predictions", atol=1e-5)
    assert again.get_variable_value("global_step") == 30


def test_a_checkpoint_from_another_model_lists_every_mismatch(tmp_path: Path) -> None:
    est = build("dnn_adagrad", tmp_path)
    with pytest.raises(CheckpointMismatchError) as err:
        import_tf_checkpoint(FIXTURES / "linear_ftrl", est)
    message = str(err.value)
    for line in (
        "dnn/hiddenlayer_0/kernel: missing from the TF checkpoint (ours: tower.hidden_layers.0.weight [4, 6])",
        "dnn/input_from_feature_columns/input_layer/c_embedding/embedding_weights: missing",
        "linear/linear_model/c/weights: in the TF checkpoint [5, 1], not in the model",
        "linear/linear_model/bias_weights: in the TF checkpoint [1], not in the model",
    ):
        assert line in message
    assert ckpt_lib.list_checkpoints(tmp_path) == []  # nothing written


def test_a_shape_mismatch_names_tf_shape_and_ours(tmp_path: Path) -> None:
    from tf_checkpoint_cases import columns

    from torchestimator import feature_column as fc
    from torchestimator.premade import DNNClassifier

    cols = columns()
    wider = DNNClassifier(
        [5, 3],
        [cols["x"], fc.embedding_column(cols["c"], 3), fc.embedding_column(cols["h"], 2)],
        model_dir=tmp_path,
        batch_norm=True,
    )
    with pytest.raises(CheckpointMismatchError) as err:
        import_tf_checkpoint(FIXTURES / "dnn_adagrad", wider, strict=False)  # shapes are checked even so
    message = str(err.value)
    assert (
        "dnn/hiddenlayer_0/kernel: TF shape [6, 4] vs ours [5, 6] (tower.hidden_layers.0.weight)" in message
    )
    assert "dnn/hiddenlayer_1/kernel: TF shape [4, 3] vs ours [3, 5]" in message
    assert "dnn/hiddenlayer_0/batchnorm_0/gamma: TF shape [4] vs ours [5]" in message


def test_non_strict_loads_what_matches_and_reports_the_rest(tmp_path: Path) -> None:
    from tf_checkpoint_cases import columns

    from torchestimator import feature_column as fc
    from torchestimator.premade import DNNClassifier

    cols = columns()
    est = DNNClassifier(
        [4, 3],
        [cols["x"], fc.embedding_column(cols["c"], 3), fc.embedding_column(cols["d"], 2)],  # d, not h
        model_dir=tmp_path,
        batch_norm=True,
    )
    report = import_tf_checkpoint(FIXTURES / "dnn_adagrad", est, strict=False)
    assert report.unused_tf == ["dnn/input_from_feature_columns/input_layer/h_embedding/embedding_weights"]
    key, start, rows = est.model.input_layer.table_rows("d_embedding")  # alone in its dim-2 table
    assert report.left_initial == [f"input_layer.embedding_tables.{key}.weight[{start}:{start + rows}]"]
    assert "tower.hidden_layers.0.weight" in report.loaded
    assert "left at their initial value: 1" in str(report)


def test_refuses_a_model_dir_that_already_has_checkpoints(tmp_path: Path) -> None:
    est = build("baseline", tmp_path)
    est.train(lambda: batches("train", "y3", True), steps=1)
    with pytest.raises(CheckpointError, match="already holds torchestimator checkpoints"):
        import_tf_checkpoint(FIXTURES / "baseline", build("baseline", tmp_path))


class _Custom(torch.nn.Module):
    """A hand-written model_fn-style module reusing a TF DNN's hidden layer and logits."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = torch.nn.ModuleList([torch.nn.Linear(4, 3)])
        self.out = torch.nn.Linear(3, 1)
        self.extra = torch.nn.Parameter(torch.full((2,), 7.0))


def test_custom_module_with_a_name_map_and_its_report() -> None:
    bundle = TFBundle(FIXTURES / "dnn_regressor_adam")
    module = _Custom()
    opt = torch.optim.Adagrad(module.parameters())
    report = import_tf_checkpoint(
        FIXTURES / "dnn_regressor_adam",
        module,
        name_map={
            r"dnn/hiddenlayer_(\d+)/kernel": r"layers.\1.weight",
            r"dnn/hiddenlayer_(\d+)/bias": r"layers.\1.bias",
            r"dnn/logits/(kernel|bias)": r"out.\1",
            "dnn/logits/kernel": "out.weight",  # a literal name wins over the regex above
        },
        optimizers={"optimizer": opt},
    )
    np.testing.assert_array_equal(
        module.layers[0].weight.detach().numpy(), bundle.read("dnn/hiddenlayer_0/kernel").T
    )
    np.testing.assert_array_equal(module.out.bias.detach().numpy(), bundle.read("dnn/logits/bias"))
    assert report.loaded == {
        "layers.0.bias": "dnn/hiddenlayer_0/bias",
        "layers.0.weight": "dnn/hiddenlayer_0/kernel",
        "out.bias": "dnn/logits/bias",
        "out.weight": "dnn/logits/kernel",
    }
    assert report.left_initial == ["extra"] and torch.equal(module.extra, torch.full((2,), 7.0))
    assert report.unused_tf == ["dnn/input_from_feature_columns/input_layer/d_embedding/embedding_weights"]
    # TF trained with Adam: there is no Adagrad accumulator to bring, and the report says so
    assert "optimizer:layers.0.weight/sum" in report.slots_left_initial
    assert report.checkpoint_path is None


def test_custom_module_needs_a_name_map_and_a_valid_one() -> None:
    with pytest.raises(InvalidArgumentError, match="pass name_map"):
        import_tf_checkpoint(FIXTURES / "baseline", _Custom())
    with pytest.raises(InvalidArgumentError, match="match no variable"):
        import_tf_checkpoint(FIXTURES / "baseline", _Custom(), name_map={"dnn/nothing": "extra"})
    with pytest.raises(InvalidArgumentError, match="not a tensor of the model"):
        import_tf_checkpoint(FIXTURES / "baseline", _Custom(), name_map={"baseline/bias": "nope"})
    with pytest.raises(CheckpointMismatchError, match=r"baseline/bias: TF shape \[3\] vs ours \[2\]"):
        import_tf_checkpoint(FIXTURES / "baseline", _Custom(), name_map={"baseline/bias": "extra"})


def test_imported_module_outside_an_estimator(tmp_path: Path) -> None:
    record = fixture()["linear_ftrl"]
    model = build("linear_ftrl", tmp_path / "unused").model
    import_tf_checkpoint(FIXTURES / "linear_ftrl", model, model_dir=tmp_path / "out")
    features = next(batches("eval", "y2", False))[0]
    logits = model(features, mode=ModeKeys.PREDICT).predictions["logits"].detach().numpy()
    want = expected_predictions(record["predictions"])["logits"][: len(logits)]
    np.testing.assert_allclose(logits, want, atol=1e-5)
    assert ckpt_lib.list_checkpoints(tmp_path / "out") == [30]


def test_tf1_partitioned_checkpoint_and_per_partition_slots(tmp_path: Path) -> None:
    """tf.compat.v1 DNNClassifier, input layer split by fixed_size_partitioner(2): the table and its
    Adagrad slot (saved per partition as .../t_0/Adagrad, .../t_1/Adagrad) are reassembled, and 50
    more steps of TF 1's Adagrad(0.05) land where TF's did."""
    record = fixture()["partitioned_v1"]
    est = build(
        "partitioned_v1",
        tmp_path,
        optimizer=lambda params: torch.optim.Adagrad(
            params, lr=0.05, initial_accumulator_value=0.1, eps=1e-7
        ),
    )
    report = import_tf_checkpoint(FIXTURES / "partitioned_v1", est)
    table_slot = report.slots_loaded["optimizer:input_layer.embedding_tables.dim2.weight[0:7]/sum"]
    assert table_slot.count("/t_") == 2 and not report.slots_left_initial
    est.train(lambda: batches("train", "y2", True), steps=fixture()["more_steps"])
    _assert_predictions(est, record, "continued", atol=1e-4)


def test_tf1_adam_step_comes_from_its_scoped_beta1_power(tmp_path: Path) -> None:
    """TF 1 Adam keeps beta1 ** (t + 1) in dnn/head/beta1_power, and its slots as <var>/t_0/Adam{,_1}."""
    bundle = TFBundle(FIXTURES / "v1_dnn_adam")
    assert float(bundle.read("dnn/head/beta1_power")) == pytest.approx(0.9**31, rel=1e-5)
    est = build("v1_dnn_adam", tmp_path)
    report = import_tf_checkpoint(FIXTURES / "v1_dnn_adam", est)
    state = est.model.optimizers()["optimizer"].state[est.model.tower.logits.bias]
    assert state["step"] == 30
    np.testing.assert_array_equal(state["v"].numpy(), bundle.read("dnn/logits/bias/t_0/Adam_1"))
    assert report.slots_loaded["optimizer:tower.logits.bias/m"] == "dnn/logits/bias/t_0/Adam"


def test_an_optimizer_configured_unlike_tfs_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tf_checkpoint_cases import columns

    from torchestimator import feature_column as fc
    from torchestimator.premade import DNNClassifier

    cols = columns()
    est = DNNClassifier(  # the default Adagrad runs at 0.001; the TF model was trained at 0.05
        [4, 3],
        [cols["x"], fc.embedding_column(cols["c"], 3), fc.embedding_column(cols["h"], 2)],
        model_dir=tmp_path,
        batch_norm=True,
    )
    with caplog.at_level("WARNING", logger="torchestimator"):
        report = import_tf_checkpoint(FIXTURES / "dnn_adagrad", est)
    expected = "optimizer (Adagrad): learning_rate is 0.05 in TF (training/Adagrad/learning_rate), 0.001 here"
    assert report.hyperparameter_mismatches == [expected]
    assert expected in str(report) and expected in caplog.text
