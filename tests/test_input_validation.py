"""Bad input fails at the batch that carries it, named: NaN labels / weights / features, negative weights,
empty batches, mismatched batch sizes, labels of the wrong structure (torchestimator/batch_checks.py,
input_fn.host_batches). Before, each ended in "NaN loss during training at step 1", a silently wrong
metric, or a raw numpy / torch error."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import torchestimator as te
from torchestimator import feature_column as fc
from torchestimator.batch_checks import check_batch, describe_bad_weights, describe_non_finite, nan_count
from torchestimator.errors import FeatureError, InputError, InvalidArgumentError
from torchestimator.parsing import Ragged


class CountingRegressor(torch.nn.Module):
    """y = w·x + b on features['x'] (B, 3); counts forward calls."""

    calls = 0

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(3, 1)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=0.01)

    def forward(self, features: Any, labels: Any = None, mode: str = te.ModeKeys.TRAIN) -> te.EstimatorSpec:
        type(self).calls += 1
        y = self.layer(features["x"])  # (B, 1)
        if mode == te.ModeKeys.PREDICT:
            return te.EstimatorSpec(mode, predictions={"y": y})
        return te.EstimatorSpec(mode, loss=torch.mean((y - labels) ** 2), train_op=self.optimizer)


def _batches(n: int = 4, batch: int = 4) -> list[tuple[dict[str, torch.Tensor], torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [({"x": torch.randn(batch, 3, generator=g)}, torch.randn(batch, 1, generator=g)) for _ in range(n)]


def _custom(tmp_path: Any) -> te.Estimator:
    CountingRegressor.calls = 0
    return te.Estimator(CountingRegressor, model_dir=str(tmp_path))


def test_nan_label_raises_at_its_batch_not_as_a_nan_loss(tmp_path: Any) -> None:
    batches = _batches()
    batches[2][1][3, 0] = float("nan")
    with pytest.raises(InputError, match=r"^batch 2: labels has 1 NaN value \(first in row 3\)"):
        _custom(tmp_path).train(lambda: batches, steps=10)
    assert CountingRegressor.calls == 2  # batches 0 and 1 trained; batch 2 never reached the model


def test_nan_feature_in_a_custom_model_names_the_feature(tmp_path: Any) -> None:
    batches = _batches()
    batches[1][0]["x"][0, 2] = float("nan")
    with pytest.raises(FeatureError, match=r"^batch 1: feature 'x' has 1 NaN value \(first in row 0\)"):
        _custom(tmp_path).train(lambda: batches, steps=10)


def test_nan_feature_in_dict_labels_and_numpy_input(tmp_path: Any) -> None:
    features = {"x": np.ones((4, 3), dtype=np.float32)}
    labels = {"y": np.array([1.0, 2.0, np.nan, np.nan])}
    with pytest.raises(InputError, match=r"^batch 0: labels\['y'\] has 2 NaN values \(first in row 2\)"):
        check_batch(features, labels, 0)


def _linear(tmp_path: Any, **kwargs: Any) -> te.LinearClassifier:
    age = fc.numeric_column("age")
    columns = [age, fc.bucketized_column(age, [30.0, 50.0])]
    return te.LinearClassifier(columns, model_dir=str(tmp_path), **kwargs)


def _linear_batches(n: int = 3) -> list[tuple[dict[str, np.ndarray], np.ndarray]]:
    return [
        (
            {"age": np.array([20.0, 35.0, 60.0, 45.0]), "w": np.array([1.0, 2.0, 1.0, 0.5])},
            np.array([0, 1, 1, 0]),
        )
        for _ in range(n)
    ]


def test_nan_into_feature_columns_names_the_feature_and_batch(tmp_path: Any) -> None:
    batches = _linear_batches()
    batches[1][0]["age"] = np.array([20.0, np.nan, 60.0, 45.0])
    with pytest.raises(FeatureError, match=r"^batch 1: feature 'age' has 1 NaN value \(first in row 1\)"):
        _linear(tmp_path).train(lambda: batches, steps=5)


def test_nan_a_normalizer_imputes_is_legitimate(tmp_path: Any) -> None:
    age = fc.numeric_column("age", normalizer_fn=lambda t: torch.nan_to_num(t, nan=40.0))
    est = te.LinearClassifier([age], model_dir=str(tmp_path))
    batches = _linear_batches()
    batches[1][0]["age"] = np.array([20.0, np.nan, 60.0, 45.0])
    est.train(lambda: batches, steps=3)
    assert est.get_variable_value("global_step") == 3


@pytest.mark.parametrize(
    ("weights", "problem"),
    [
        (np.array([1.0, -1.0, 1.0, 1.0]), "1 negative value (min -1)"),
        (np.array([1.0, np.nan, 1.0, 1.0]), "1 NaN value"),
    ],
)
def test_negative_or_nan_weights_raise_naming_column_count_and_batch(
    tmp_path: Any, weights: np.ndarray, problem: str
) -> None:
    batches = _linear_batches()
    batches[2][0]["w"] = weights
    expected = rf"^batch 2: weight_column 'w' has {problem} among 4 examples"
    est = _linear(tmp_path, weight_column="w")
    with pytest.raises(InvalidArgumentError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        est.train(lambda: batches, steps=5)
    # evaluation never reports a weighted metric outside its range (the accuracy 2.0)
    est.train(lambda: batches[:2], steps=2)
    with pytest.raises(InvalidArgumentError, match="weight_column 'w'"):
        est.evaluate(lambda: batches)


def test_empty_batch_raises_and_is_not_a_step(tmp_path: Any) -> None:
    batches = _batches(3)
    batches[1] = ({"x": torch.zeros(0, 3)}, torch.zeros(0, 1))
    with pytest.raises(InputError, match=r"^batch 1 is empty \(0 rows\)"):
        _custom(tmp_path).train(lambda: batches, steps=10)
    assert CountingRegressor.calls == 1


def test_feature_label_batch_mismatch_in_a_custom_model_is_named(tmp_path: Any) -> None:
    batches = _batches(2)
    batches[1] = (
        {"x": torch.zeros(3, 3)},
        torch.zeros(4, 1),
    )  # torch would broadcast (3,1)-(4,1)... or fail deep
    with pytest.raises(InputError, match=r"^batch 1: feature 'x' has 3 rows but labels has 4"):
        _custom(tmp_path).train(lambda: batches, steps=10)


def test_two_features_of_different_batch_sizes_are_named(tmp_path: Any) -> None:
    est = _custom(tmp_path)
    est.train(lambda: _batches(1), steps=1)
    features = {"x": np.zeros((4, 3), np.float32), "z": np.zeros(5, np.float32)}
    with pytest.raises(InputError, match=r"^batch 0: feature 'z' has 5 rows but feature 'x' has 4"):
        list(est.predict(lambda: features))


def test_labels_dict_for_a_single_head_estimator_names_the_head(tmp_path: Any) -> None:
    features, labels = _linear_batches(1)[0]
    with pytest.raises(
        InvalidArgumentError, match=r"BinaryClassHead expects labels as .*received a dict with keys \['y'\]"
    ):
        _linear(tmp_path).train(lambda: (features, {"y": labels}), steps=1)


def test_nan_loss_error_names_non_finite_inputs(tmp_path: Any) -> None:
    batches = _batches()
    batches[1][0]["x"][2, 0] = float("inf")  # not NaN: passes the host check, makes the loss inf
    with pytest.raises(te.NanLossDuringTrainingError) as info:
        _custom(tmp_path).train(lambda: batches, steps=10)
    assert "at step 2" in str(info.value) and "feature 'x' has 1 non-finite value" in str(info.value)
    assert info.value.cause == "feature 'x' has 1 non-finite value"


# ---- the checks themselves -----------------------------------------------------------------------
def test_nan_count_reads_numpy_tensors_ragged_and_lists() -> None:
    assert nan_count(np.array([1.0, np.nan, np.nan])) == 2
    assert nan_count(np.array([np.inf, -np.inf])) == 0  # inf - inf is not a NaN input
    assert nan_count(torch.tensor([[np.nan, 1.0]], dtype=torch.bfloat16)) == 1
    assert nan_count(torch.tensor([np.nan], requires_grad=True)) == 1
    assert nan_count(Ragged(np.array([1.0, np.nan]), np.array([0, 1, 2]))) == 1
    assert nan_count([1.5, float("nan")]) == 1
    assert nan_count(np.array(["nan"])) == 0 and nan_count(np.array([1, 2])) == 0


def test_describe_bad_weights_and_non_finite() -> None:
    assert describe_bad_weights(np.array([0.0, 1.0])) is None
    assert describe_bad_weights(torch.tensor([-1, 2, -5])) == "2 negative values (min -5)"
    assert (
        describe_non_finite({"a": torch.ones(2)}, torch.tensor([np.nan, np.inf]))
        == "labels has 2 non-finite values"
    )
    assert describe_non_finite({"a": np.ones(2)}, None) is None


def test_scalar_and_string_features_do_not_trip_the_size_check() -> None:
    check_batch({"x": np.ones((2, 3)), "lr": 0.1, "s": ["a", "b"]}, np.ones(2), 0)
    with pytest.raises(InputError, match="feature 's' has 3 rows but labels has 2"):
        check_batch({"x": np.ones((2, 3)), "s": ["a", "b", "c"]}, np.ones(2), 0)
