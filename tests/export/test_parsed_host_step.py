"""HostStep.for_parsed: the host step planned for parse outputs gives exactly :class:`HostStep`'s arrays
(dtype, shape, values) and, on bad input, its error (class and message), for the inputs exports plan
(torch graph: host ids for every vocabulary; ONNX graph: in-graph vocabulary lookups)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from torchestimator import feature_column as fc
from torchestimator.columns import make_parse_example_spec
from torchestimator.columns.linear_model import LinearModel
from torchestimator.errors import FeatureError
from torchestimator.export.host_step import HostStep
from torchestimator.export.wire_plan import plan_wire
from torchestimator.inputs import encode_example, parse_example
from torchestimator.parsing import FixedLenFeature


def _columns() -> list[Any]:
    s = fc.numeric_column("s")
    s_buckets = fc.bucketized_column(s, [0.0, 1.0])
    return [
        fc.numeric_column("x", shape=[3]),
        s,
        fc.numeric_column("i64", dtype="int64"),
        s_buckets,
        fc.categorical_column_with_vocabulary_list("color", ["red", "green", "blue"]),
        fc.categorical_column_with_vocabulary_list("shade", ["dark", "light"], num_oov_buckets=2),
        fc.categorical_column_with_hash_bucket("tag", 10),
        fc.categorical_column_with_hash_bucket("hint", 7, dtype="int64"),
        fc.categorical_column_with_identity("slot", 5),
        fc.weighted_categorical_column(fc.categorical_column_with_identity("wid", 6), "wt"),
        fc.crossed_column(["color", s_buckets], 50),
    ]


def _records(rng: np.random.Generator, n: int, bad_slot: bool) -> list[bytes]:
    words = ["red", "green", "blue", "mauve", "dark", "light", "", "ünï"]

    def strings(most: int) -> np.ndarray:  # an object array, so an empty list is still a bytes list
        picks = rng.integers(0, len(words), size=int(rng.integers(0, most + 1)))
        return np.array([words[j].encode() for j in picks], dtype=object)

    out = []
    for i in range(n):
        k = int(rng.integers(0, 4))
        features: dict[str, Any] = {
            "x": rng.standard_normal(3).astype(np.float32),
            "s": [float(rng.choice([-1.0, 0.0, 0.5, 1.0, 3.0]))],
            "i64": [int(rng.integers(-5, 5))],
            "color": strings(2),
            "shade": strings(2),
            "tag": strings(3),
            "hint": rng.integers(-3, 100, size=int(rng.integers(0, 3))),
            "slot": rng.integers(0, 5, size=int(rng.integers(0, 3))),
            "wid": rng.integers(0, 6, size=k),
            "wt": rng.random(k).astype(np.float32),
        }
        if bad_slot and i == n - 1:
            features["slot"] = [7]
        out.append(encode_example(features))
    return out


def _outcome(step: Any, parsed: dict[str, Any]) -> Any:
    try:
        return step(parsed)
    except FeatureError as err:
        return err


def _assert_same(got: Any, want: Any) -> None:
    if isinstance(want, Exception):
        assert type(got) is type(want) and str(got) == str(want)
        return
    assert sorted(got) == sorted(want)
    for name, value in want.items():
        assert got[name].dtype == value.dtype and got[name].shape == value.shape, name
        assert got[name].flags.c_contiguous, name
        assert got[name].tolist() == value.tolist(), name


@pytest.mark.parametrize("graph", ["torch", "onnx"])
@pytest.mark.parametrize("n", [1, 2, 9, 40])
def test_planned_host_step_matches_host_step(graph: str, n: int) -> None:
    columns = _columns()
    plan = plan_wire(LinearModel(columns))
    inputs = plan.inputs if graph == "torch" else plan.onnx_inputs()
    spec = make_parse_example_spec(columns)
    host = HostStep(inputs)
    planned = host.for_parsed(spec)
    assert planned is not None
    rng = np.random.default_rng(n)
    errors = 0
    for trial in range(12):
        parsed = parse_example(_records(rng, n, bad_slot=trial % 4 == 3), spec)
        want = _outcome(host, parsed)
        errors += isinstance(want, Exception)
        _assert_same(_outcome(planned, parsed), want)
    assert errors == 3  # the out-of-range slot id: the same error from both


def test_scalar_dense_spec_is_planned_with_the_same_shape() -> None:
    columns = [fc.numeric_column("s")]
    host = HostStep(plan_wire(LinearModel(columns)).inputs)
    spec = {"s": FixedLenFeature([], "float64")}  # (B,) float64 from the parser, (B, 1) float32 to the graph
    planned = host.for_parsed(spec)
    assert planned is not None
    parsed = parse_example([encode_example({"s": [v]}) for v in (0.5, -2.0, 1e10)], spec)
    _assert_same(planned(parsed), host(parsed))


def test_specs_outside_the_plan_keep_the_general_step() -> None:
    columns = [fc.categorical_column_with_identity("slot", 5), fc.numeric_column("s", shape=[2])]
    host = HostStep(plan_wire(LinearModel(columns)).inputs)
    assert (
        host.for_parsed({"slot": FixedLenFeature([1], "int64"), "s": FixedLenFeature([2], "float32")}) is None
    )
    assert host.for_parsed({"s": FixedLenFeature([2], "float32")}) is None  # slot not in the spec
    assert host.for_parsed(make_parse_example_spec(columns)) is not None
    wrong_width = dict(make_parse_example_spec(columns), s=FixedLenFeature([3], "float32"))
    assert host.for_parsed(wrong_width) is None  # the general step raises the width error


def test_text_of_values_is_per_value_across_batches() -> None:
    """The bytes -> text memo kept across batches gives each value's own text: values that compare equal
    across types (1 and True, b'1' and '1') never share an entry, and bad UTF-8 raises every time."""
    from torchestimator.export.host_step import _as_text

    batches = [
        np.array([b"caf\xc3\xa9", "1", b"1", 1, True, 1.0, np.str_("x")], dtype=object),
        np.array([True, 1, "caf\xe9", b"1", "1", np.bytes_(b"x")], dtype=object),
        np.array([b"caf\xc3\xa9"], dtype=object),
    ]
    for values in batches * 2:
        want = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values.tolist()]
        got = _as_text(values)
        assert got.dtype == object and got.tolist() == want
        assert all(type(t) is str for t in got.tolist())
    for _ in range(2):
        with pytest.raises(UnicodeDecodeError):
            _as_text(np.array([b"ok", b"\xff\xfe"], dtype=object))
