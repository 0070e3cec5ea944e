"""make_csv_dataset against TF 2.15's make_csv_dataset on the same files (shuffle=False)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from inputs_fixtures import FIXTURES, load

from torchestimator.errors import InputError, InvalidArgumentError
from torchestimator.inputs import make_csv_dataset
from torchestimator.parallel.input_context import InputContext

CASES = load("csv/expected.json")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _in_fixture_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)  # the JSON's file patterns are relative to tests/fixtures/inputs


def _expected_column(want: dict[str, Any]) -> tuple[str, list[Any]]:
    if want["dtype"] == "bytes":  # TF gives bytes; we give str for CSV text
        return "object", [bytes.fromhex(h).decode() for h in want["values"]]
    return want["dtype"], want["values"]


def _assert_batch(got: Any, want: dict[str, Any]) -> None:
    features, label = got if "label" in want else (got, None)
    assert list(features) == list(want["features"])  # same columns, in file order
    for key, column in want["features"].items():
        dtype, values = _expected_column(column)
        assert str(features[key].dtype) == dtype, key
        if dtype.startswith("float"):
            np.testing.assert_array_equal(features[key], np.asarray(values, dtype=dtype))
        else:
            assert features[key].tolist() == values, key
    if label is not None:
        dtype, values = _expected_column(want["label"])
        assert str(label.dtype) == dtype
        assert label.tolist() == values


OK_CASES = sorted(k for k, v in CASES.items() if k != "titanic" and "error" not in v)
ERROR_CASES = sorted(k for k, v in CASES.items() if k != "titanic" and "error" in v)


@pytest.mark.parametrize("case", OK_CASES)
def test_matches_tf(case: str) -> None:
    spec = CASES[case]
    batches = list(make_csv_dataset(spec["files"], **spec["kwargs"]))
    assert len(batches) == len(spec["batches"])
    for got, want in zip(batches, spec["batches"]):
        _assert_batch(got, want)


@pytest.mark.parametrize("case", ERROR_CASES)
def test_tf_errors_are_input_errors_naming_file_and_line(case: str) -> None:
    spec = CASES[case]
    with pytest.raises(InputError, match=r"types\.csv.* at line \d+"):
        list(make_csv_dataset(spec["files"], **spec["kwargs"]))


def test_bad_value_error_names_line_and_column() -> None:
    with pytest.raises(InputError, match=r"'mixed' \(field 5\) in 'csv/types.csv' at line 8: 'x7'"):
        list(
            make_csv_dataset(
                "csv/types.csv",
                7,
                select_columns=["mixed"],
                column_defaults=[0.0],
                shuffle=False,
                num_epochs=1,
            )
        )


def test_malformed_row_error_and_ignore_errors(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n3\n4,5\n6,7,8\n9,10\n")
    with pytest.raises(InputError, match=rf"{path.name}' at line 3: expected 2 fields but got 1"):
        list(make_csv_dataset(str(path), 10, shuffle=False, num_epochs=1))
    with caplog.at_level(logging.WARNING):
        (batch,) = list(make_csv_dataset(str(path), 10, shuffle=False, num_epochs=1, ignore_errors=True))
    assert batch["a"].tolist() == [1, 4, 9]
    assert batch["b"].tolist() == [2, 5, 10]
    assert "skipped 2 malformed row(s)" in caplog.text


def test_argument_errors() -> None:
    with pytest.raises(InvalidArgumentError, match="did you mean 'label'"):
        make_csv_dataset("csv/types.csv", 2, label_name="lable")
    with pytest.raises(InvalidArgumentError, match="No files match"):
        make_csv_dataset("csv/nothing-*.csv", 2)
    with pytest.raises(InvalidArgumentError, match="column_defaults has 2 entries but 10"):
        make_csv_dataset("csv/types.csv", 2, column_defaults=[0, 0])
    with pytest.raises(InvalidArgumentError, match="column_names must be given"):
        make_csv_dataset("csv/noheader.psv", 2, header=False)
    with pytest.raises(InvalidArgumentError, match=r"\['nmae'\].*did you mean 'name'"):
        make_csv_dataset("csv/types.csv", 2, select_columns=["nmae"])


def _titanic() -> str:
    return str(ROOT / "data" / "titanic" / "train.csv")


def test_titanic_input_fn_like_the_seed() -> None:
    """The seed's input_fn: make_csv_dataset(file, batch_size=32, label_name="survived")."""
    if not os.path.exists(_titanic()):
        pytest.fail(f"Titanic CSV not found at {_titanic()}")
    want = CASES["titanic"]
    batches = list(
        make_csv_dataset(_titanic(), batch_size=32, label_name="survived", shuffle=False, num_epochs=1)
    )
    assert len(batches) == want["n_batches"]
    _assert_batch(batches[0], want["first"])
    _assert_batch(batches[-1], want["last"])
    # the seed's own call (shuffle=True, repeat forever): batches of 32, same dtypes
    dataset = make_csv_dataset(_titanic(), batch_size=32, label_name="survived", shuffle_seed=1)
    iterator = iter(dataset)
    for _ in range(3 * want["n_batches"]):  # three epochs
        features, label = next(iterator)
        assert len(label) == 32 and label.dtype == np.int32
        assert {k: str(v.dtype) for k, v in features.items()} == {
            k: ("object" if v["dtype"] == "bytes" else v["dtype"])
            for k, v in want["first"]["features"].items()
        }
    iterator.close()


def _all_rows(dataset: Any) -> list[tuple[Any, ...]]:
    rows = []
    for features, label in dataset:
        rows.extend(zip(features["small_int"].tolist(), features["name"].tolist(), label.tolist()))
    return rows


@pytest.mark.parametrize("files", [["csv/types.csv"], ["csv/part-0.csv", "csv/part-1.csv"]])
@pytest.mark.parametrize("num_shards", [2, 3])
def test_shards_partition_the_rows_exactly(files: list[str], num_shards: int) -> None:
    kwargs: dict[str, Any] = dict(
        batch_size=2, label_name="label", na_value="NA", num_epochs=1, shuffle=False
    )
    everything = _all_rows(make_csv_dataset(files, **kwargs))
    assert len(everything) == 7
    shards = [
        _all_rows(make_csv_dataset(files, **kwargs, input_context=InputContext(num_shards, i)))
        for i in range(num_shards)
    ]
    merged = sorted(row for shard in shards for row in shard)
    assert merged == sorted(everything)  # no row lost or duplicated
    assert all(shards)


def test_same_seed_same_order_different_seed_different_order() -> None:
    kwargs: dict[str, Any] = dict(
        batch_size=3, label_name="label", na_value="NA", num_epochs=4, shuffle_buffer_size=5
    )
    first = _all_rows(make_csv_dataset("csv/types.csv", **kwargs, shuffle_seed=7))
    again = _all_rows(make_csv_dataset("csv/types.csv", **kwargs, shuffle_seed=7))
    other = _all_rows(make_csv_dataset("csv/types.csv", **kwargs, shuffle_seed=8))
    assert first == again
    assert first != other
    assert (
        sorted(first)
        == sorted(other)
        == sorted(_all_rows(make_csv_dataset("csv/types.csv", **{**kwargs, "shuffle": False})))
    )
    dataset = make_csv_dataset("csv/types.csv", **kwargs, shuffle_seed=7)
    assert _all_rows(dataset) == _all_rows(dataset)  # re-iterable: each iter() starts over


def test_titanic_batches_train_a_torch_model_fn() -> None:
    """The issue's done-when: the seed's input_fn feeds a model that learns (a logistic-regression model_fn
    stand-in until the premade LinearClassifier lands). Oracle: the majority-class baseline on eval.csv."""
    import torch

    def encode(features: dict[str, np.ndarray]) -> torch.Tensor:
        columns = [
            (features["sex"] == "male").astype(np.float32),
            features["age"] / 80.0,
            np.log1p(features["fare"]) / 5.0,
            features["n_siblings_spouses"].astype(np.float32) / 8.0,
            features["parch"].astype(np.float32) / 6.0,
            (features["class"] == "First").astype(np.float32),
            (features["class"] == "Second").astype(np.float32),
            (features["alone"] == "y").astype(np.float32),
        ]
        return torch.from_numpy(np.stack(columns, axis=1).astype(np.float32))  # (B, 8)

    torch.manual_seed(0)
    model = torch.nn.Linear(8, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    train = iter(make_csv_dataset(_titanic(), batch_size=32, label_name="survived", shuffle_seed=0))
    for _ in range(600):
        features, label = next(train)
        logits = model(encode(features)).squeeze(1)  # (B,)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(label).float())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    train.close()
    eval_path = _titanic().replace("train.csv", "eval.csv")
    correct = total = positives = 0
    for features, label in make_csv_dataset(
        eval_path, 64, label_name="survived", shuffle=False, num_epochs=1
    ):
        with torch.no_grad():
            predicted = (model(encode(features)).squeeze(1) > 0).numpy()
        correct += int((predicted == (label == 1)).sum())
        total += len(label)
        positives += int(label.sum())
    baseline = max(positives, total - positives) / total
    assert correct / total > baseline + 0.1, (correct / total, baseline)


def test_bad_value_line_number_in_a_later_batch(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    rows = "".join(f"{i},{i}\n" for i in range(150_000))  # > pyarrow's 1 MiB block: several batches
    path.write_text("a,b\n" + rows + "6,x\n")  # the bad int is on line 150002
    with pytest.raises(InputError, match=r"'b' \(field 1\) in .* at line 150002: 'x' is not a valid int32"):
        list(
            make_csv_dataset(
                str(path), 10, column_defaults=[0, 0], shuffle=False, num_epochs=1, ignore_errors=False
            )
        )
