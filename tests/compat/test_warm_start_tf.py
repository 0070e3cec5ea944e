"""warm_start_from / WarmStartSettings with a TF checkpoint or a TF SavedModel (read without TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tf_checkpoint_cases import FIXTURES, build, columns, expected_predictions, fixture, predictions

from torchestimator import feature_column as fc
from torchestimator.compat import TFBundle
from torchestimator.errors import CheckpointMismatchError
from torchestimator.premade import DNNClassifier
from torchestimator.warm_start import VocabInfo, WarmStartSettings, warm_start

SAVED_MODEL = FIXTURES / "saved_model"
EMB_C = "dnn/input_from_feature_columns/input_layer/c_embedding/embedding_weights"


def test_saved_model_path_warm_starts_the_trainable_variables(tmp_path: Path) -> None:
    est = build("dnn_adagrad", tmp_path, warm_start_from=str(SAVED_MODEL))
    bundle = TFBundle(SAVED_MODEL)
    predictions(est, "y2")  # the first predict warm-starts (no checkpoint in model_dir)
    tower = est.model.tower
    np.testing.assert_array_equal(
        tower.hidden_layers[1].weight.detach().numpy(), bundle.read("dnn/hiddenlayer_1/kernel").T
    )
    np.testing.assert_array_equal(
        est.model.input_layer.embedding_weights("c_embedding").detach().numpy(), bundle.read(EMB_C)
    )
    # a regex string selects trainable variables only (TF's rule): the moving statistics stay as initialised
    assert torch.count_nonzero(tower.batch_norms[0].moving_mean) == 0
    assert torch.equal(tower.batch_norms[0].moving_variance, torch.ones(4))


def test_saved_model_with_every_variable_predicts_as_tf(tmp_path: Path) -> None:
    record = fixture()["dnn_adagrad"]
    assert record["saved_model"]["path"] == "saved_model"
    settings = WarmStartSettings(SAVED_MODEL, vars_to_warm_start=[".*"])  # a list: buffers too
    est = build("dnn_adagrad", tmp_path, warm_start_from=settings)
    got = predictions(est, "y2")
    for name, want in expected_predictions(record["predictions"]).items():
        np.testing.assert_allclose(got[name], want, atol=1e-5, err_msg=name)
    assert est.global_step == 0  # a warm start begins a new run; it does not resume TF's step


def test_tf_model_dir_with_a_regex_and_a_vocab_info(tmp_path: Path) -> None:
    cols = columns()
    new_c = fc.categorical_column_with_vocabulary_list("c", ["d", "c", "b", "a", "new"], num_oov_buckets=1)
    est = DNNClassifier(
        [4, 3],
        [cols["x"], fc.embedding_column(new_c, 3), fc.embedding_column(cols["h"], 2)],
        model_dir=tmp_path,
        batch_norm=True,
    )
    name = "input_layer/c_embedding/embedding_weights"
    info = VocabInfo(["d", "c", "b", "a", "new"], 5, 1, ["a", "b", "c", "d"])
    settings = WarmStartSettings(
        FIXTURES / "dnn_adagrad", vars_to_warm_start="input_layer/c_", var_name_to_vocab_info={name: info}
    )
    kernel_before = est.model.tower.hidden_layers[0].weight.detach().clone()
    assert warm_start(est.model, settings) == [name]
    old = TFBundle(FIXTURES / "dnn_adagrad").read(EMB_C)  # rows a, b, c, d, OOV
    new = est.model.input_layer.embedding_weights("c_embedding").detach().numpy()
    np.testing.assert_array_equal(new[:4], old[[3, 2, 1, 0]])  # d, c, b, a
    np.testing.assert_array_equal(new[4:], np.zeros((2, 3), np.float32))  # 'new' and the OOV row: TF's zeros
    assert torch.equal(est.model.tower.hidden_layers[0].weight, kernel_before)  # not selected


def test_a_tf_name_as_the_previous_name_of_a_custom_variable() -> None:
    module = torch.nn.Module()
    module.b = torch.nn.Parameter(torch.zeros(3))
    settings = WarmStartSettings(
        FIXTURES / "dnn_regressor_adam",
        vars_to_warm_start="b",
        var_name_to_prev_var_name={"b": "dnn/hiddenlayer_0/bias"},
    )
    assert warm_start(module, settings) == ["b"]
    np.testing.assert_array_equal(
        module.b.detach().numpy(), TFBundle(FIXTURES / "dnn_regressor_adam").read("dnn/hiddenlayer_0/bias")
    )


def test_a_variable_the_tf_checkpoint_lacks_is_an_error(tmp_path: Path) -> None:
    cols = columns()
    est = DNNClassifier(
        [4, 3], [cols["x"], fc.embedding_column(cols["d"], 3)], model_dir=tmp_path, batch_norm=True
    )
    with pytest.raises(
        CheckpointMismatchError, match=r"input_layer/d_embedding/embedding_weights.*is not in checkpoint"
    ):
        warm_start(est.model, str(FIXTURES / "dnn_adagrad"))


def test_embedding_column_ckpt_to_load_from_a_tf_checkpoint(tmp_path: Path) -> None:
    """TF's own embedding_column(ckpt_to_load_from=..., tensor_name_in_ckpt=...) argument, on a TF model_dir."""
    cols = columns()
    emb = fc.embedding_column(
        cols["c"], 3, ckpt_to_load_from=str(FIXTURES / "dnn_adagrad"), tensor_name_in_ckpt=EMB_C
    )
    est = DNNClassifier([2], [emb], model_dir=tmp_path)
    np.testing.assert_array_equal(
        est.model.input_layer.embedding_weights("c_embedding").detach().numpy(),
        TFBundle(FIXTURES / "dnn_adagrad").read(EMB_C),
    )
    with pytest.raises(ValueError, match="cannot read 'nope'"):
        DNNClassifier(
            [2],
            [
                fc.embedding_column(
                    cols["c"], 3, ckpt_to_load_from=str(FIXTURES / "dnn_adagrad"), tensor_name_in_ckpt="nope"
                )
            ],
        )


def test_linear_warm_start_assembles_the_dense_kernel_from_tf_columns(tmp_path: Path) -> None:
    """LinearModel keeps x and x2 in one dense_kernel; TF has one variable each: warm start joins them."""
    record = fixture()["linear_ftrl"]
    est = build("linear_ftrl", tmp_path, warm_start_from=str(FIXTURES / "linear_ftrl"))
    got = predictions(est, "y2")
    for name, want in expected_predictions(record["predictions"]).items():
        np.testing.assert_allclose(got[name], want, atol=1e-5, err_msg=name)
    bundle = TFBundle(FIXTURES / "linear_ftrl")
    kernel = est.model.linear_model.dense_kernel.detach().numpy()  # rows: x, x2 (sorted names)
    np.testing.assert_array_equal(kernel[0], bundle.read("linear/linear_model/x/weights")[0])
    np.testing.assert_array_equal(kernel[1], bundle.read("linear/linear_model/x2/weights")[0])
