"""numpy_input_fn / pandas_input_fn against TF 2.15's v1 queue-fed input_fns (fixtures)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from inputs_fixtures import load, tf_array

from torchestimator.errors import InvalidArgumentError
from torchestimator.inputs import numpy_input_fn, pandas_input_fn

CASES = load("numpy_input_fn.json")
X = {"a": np.arange(5, dtype=np.int64), "b": np.arange(10, dtype=np.float32).reshape(5, 2)}
Y = np.arange(5, dtype=np.int64) * 100


def _assert_same(got: Any, want: Any) -> None:
    if isinstance(want, dict) and "dtype" not in want:
        assert sorted(got) == sorted(want)
        for key in want:
            _assert_same(got[key], want[key])
    elif isinstance(want, list):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            _assert_same(g, w)
    else:
        expected = tf_array(want)
        got = np.asarray(got)
        assert got.shape == expected.shape
        assert got.tolist() == expected.tolist()


def _batches(input_fn: Any, limit: int = 20) -> list[Any]:
    out = []
    for batch in input_fn():
        out.append(list(batch) if isinstance(batch, tuple) else batch)
        if len(out) == limit:
            break
    return out


def test_batches_span_epochs_like_tf() -> None:
    _assert_same(_batches(numpy_input_fn(X, Y, batch_size=2, num_epochs=2, shuffle=False)), CASES["epochs2"])


def test_num_epochs_none_repeats_with_full_batches() -> None:
    got = _batches(numpy_input_fn(X, Y, batch_size=3, num_epochs=None, shuffle=False), limit=4)
    _assert_same(got, CASES["forever"])


def test_without_y_and_with_y_dict_and_x_array() -> None:
    _assert_same(_batches(numpy_input_fn(X, batch_size=4, num_epochs=1, shuffle=False)), CASES["no_y"])
    _assert_same(
        _batches(numpy_input_fn(X, {"y1": Y, "y2": Y + 1}, batch_size=4, num_epochs=1, shuffle=False)),
        CASES["y_dict"],
    )
    x_array = np.arange(6.0).reshape(3, 2)
    _assert_same(
        _batches(numpy_input_fn(x_array, Y[:3], batch_size=2, num_epochs=1, shuffle=False)), CASES["x_array"]
    )


def test_pandas_input_fn_like_tf() -> None:
    df = pd.DataFrame({"a": np.arange(5, dtype=np.int64), "s": list("vwxyz")}, index=np.arange(5) + 10)
    y = pd.Series(np.arange(5, dtype=np.int64), index=df.index)
    got = _batches(pandas_input_fn(df, y, batch_size=2, num_epochs=1, shuffle=False))
    for batch in got:  # TF gives bytes for string columns; we keep pandas' str
        batch[0]["s"] = np.array([s.encode() for s in batch[0]["s"]], dtype=object)
    _assert_same(got, CASES["pandas"])


def test_shuffle_must_be_explicit() -> None:
    with pytest.raises(InvalidArgumentError, match="shuffle must be provided and explicitly set as boolean"):
        numpy_input_fn(X, Y, batch_size=2)
    assert "shuffle must be provided" in CASES["errors"]["shuffle_none"]


def test_length_mismatch_and_duplicate_keys() -> None:
    with pytest.raises(InvalidArgumentError, match="Length of tensors in x and y is mismatched"):
        numpy_input_fn(X, Y[:3], batch_size=2, shuffle=False)
    with pytest.raises(InvalidArgumentError, match=r"duplicate keys are found in both x and y: \['a'\]"):
        numpy_input_fn(X, {"a": Y}, shuffle=False)
    with pytest.raises(InvalidArgumentError, match="x cannot be an empty dict"):
        numpy_input_fn({}, shuffle=False)


def test_pandas_errors() -> None:
    df = pd.DataFrame({"target": [1, 2]})
    with pytest.raises(InvalidArgumentError, match="Cannot use name 'target'"):
        pandas_input_fn(df, pd.Series([0, 1]), shuffle=False)
    with pytest.raises(InvalidArgumentError, match="Index for x and y are mismatched"):
        pandas_input_fn(pd.DataFrame({"a": [1, 2]}), pd.Series([0, 1], index=[5, 6]), shuffle=False)


def test_shuffle_is_a_seeded_permutation_per_epoch() -> None:
    fn = numpy_input_fn(X, Y, batch_size=5, num_epochs=3, shuffle=True, shuffle_seed=3)
    epochs = [batch[0]["a"].tolist() for batch in fn()]
    assert all(sorted(e) == [0, 1, 2, 3, 4] for e in epochs)
    assert epochs == [batch[0]["a"].tolist() for batch in fn()]
    assert len({tuple(e) for e in epochs}) > 1
    for features, labels in fn():
        np.testing.assert_array_equal(labels, features["a"] * 100)  # rows stay aligned
