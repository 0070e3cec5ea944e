"""te.data against TF 2.15: the same expression text, run with ``tf.`` -> ``te.``, gives TF's elements.

The fixture (scripts/fixtures/gen_data_fixtures.py) stores each expression with TF's elements. Where TF's
order is deterministic (no shuffle, or ``buffer_size=1``) values, dtypes, shapes and order must match;
with a shuffle, TF's order comes from TF's RNG, so the test compares the batch shapes, the multiset of
values and the epoch properties (coverage, reshuffling) that TF's own output also satisfies.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import torchestimator as te
from torchestimator.parsing import Ragged

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "data"
FIXTURE = json.loads((FIX / "datasets.json").read_text())
CASES = {c["name"]: c for c in FIXTURE["cases"]}


def namespace(tmp: str) -> dict[str, Any]:
    spec = {
        "x": te.io.FixedLenFeature([], "int64"),
        "f": te.io.FixedLenFeature([2], "float32", default_value=[0.0, 0.0]),
        "s": te.io.VarLenFeature("string"),
    }
    return {
        "D": te.data.Dataset,
        "data": te.data,
        "io": te.io,
        "split": te.data.string_split,
        "TensorSpec": te.data.TensorSpec,
        "int64": "int64",
        "string": "string",
        "np": np,
        "FIX": str(FIX),
        "TMP": tmp,
        "SPEC": spec,
    }


def _text(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if isinstance(value, str):
        return value.replace(str(FIX), "FIX")  # as the fixture stores file names
    if isinstance(value, list):
        return [_text(v) for v in value]
    return value


def encode(x: Any) -> Any:
    """Our element in the fixture's JSON form."""
    if isinstance(x, dict):
        return {"dict": {k: encode(v) for k, v in x.items()}}
    if isinstance(x, (tuple, list)):
        return {"tuple": [encode(v) for v in x]}
    if isinstance(x, Ragged):
        values = x.values
        dtype = "string" if values.dtype == object else values.dtype.name
        return {"ragged": _text([[v for v in row] for row in x.to_rows()]), "dtype": dtype}
    arr = np.asarray(x, dtype=object) if isinstance(x, (str, bytes)) else np.asarray(x)
    dtype = "string" if arr.dtype.kind in "OUS" else arr.dtype.name
    return {"dtype": dtype, "shape": list(arr.shape), "value": _text(arr.tolist())}


def run(expr: str, tmp_path: Path) -> Any:
    return eval(expr, namespace(str(tmp_path)))


def _normalise_floats(e: Any) -> Any:
    """JSON round trip, so float32 values compare as TF's did (both go through tolist())."""
    return json.loads(json.dumps(e))


ORDERED = [c["name"] for c in FIXTURE["cases"] if c["order"]]
UNORDERED = [c["name"] for c in FIXTURE["cases"] if not c["order"]]


@pytest.mark.parametrize("name", ORDERED)
def test_elements_equal_tf(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    ds = run(case["expr"], tmp_path)
    ours = _normalise_floats([encode(e) for e in ds])
    assert ours == case["elements"], case["expr"]
    if name.startswith("cache"):  # the second pass replays the cache
        assert _normalise_floats([encode(e) for e in ds]) == case["elements"]


@pytest.mark.parametrize("name", ORDERED + UNORDERED)
def test_cardinality_equals_tf(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    assert int(run(case["expr"], tmp_path).cardinality()) == case["cardinality"], case["expr"]


@pytest.mark.parametrize("case", FIXTURE["cardinality"], ids=lambda c: c["expr"])
def test_cardinality_of_infinite_and_unknown(case: dict[str, Any], tmp_path: Path) -> None:
    assert int(run(case["expr"], tmp_path).cardinality()) == case["cardinality"]


def _spec_json(s: Any) -> Any:
    if isinstance(s, dict):
        return {"dict": {k: _spec_json(v) for k, v in s.items()}}
    if isinstance(s, tuple):
        return {"tuple": [_spec_json(v) for v in s]}
    return {"shape": list(s.shape), "dtype": s.dtype}


@pytest.mark.parametrize("name", [c["name"] for c in FIXTURE["cases"] if "element_spec" in c])
def test_element_spec_equals_tf(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    assert _spec_json(run(case["expr"], tmp_path).element_spec) == case["element_spec"]


# ---- shuffled cases: shapes, multisets and epoch properties ----------------------------------------------


def _leaves(e: Any) -> list[Any]:
    if "dict" in e:
        return [v for x in e["dict"].values() for v in _leaves(x)]
    if "tuple" in e:
        return [v for x in e["tuple"] for v in _leaves(x)]
    return [e]


def _flat_values(elements: list[Any]) -> list[Counter]:
    """One Counter of scalar values per leaf position, over the whole stream."""
    per_leaf: list[Counter] = []
    for e in elements:
        for i, leaf in enumerate(_leaves(e)):
            if len(per_leaf) <= i:
                per_leaf.append(Counter())
            per_leaf[i].update(np.asarray(leaf["value"], dtype=object).reshape(-1).tolist())
    return per_leaf


def _shapes(elements: list[Any]) -> list[Any]:
    return [[leaf["shape"] for leaf in _leaves(e)] for e in elements]


def _scalars(elements: list[Any]) -> list[Any]:
    return [e["value"] for e in elements]


@pytest.mark.parametrize("name", UNORDERED)
def test_shuffled_shapes_and_multiset_equal_tf(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    ours = _normalise_floats([encode(e) for e in run(case["expr"], tmp_path)])
    assert _shapes(ours) == _shapes(case["elements"])
    assert _flat_values(ours) == _flat_values(case["elements"])


@pytest.mark.parametrize("source", ["tf", "te"])
def test_shuffle_then_repeat_reshuffles_each_epoch(source: str, tmp_path: Path) -> None:
    for name, reshuffled in (("shuffle_repeat", True), ("shuffle_repeat_same", False)):
        case = CASES[name]
        elements = case["elements"] if source == "tf" else [encode(e) for e in run(case["expr"], tmp_path)]
        values = _scalars(elements)
        epochs = [values[i : i + 10] for i in range(0, 30, 10)]
        assert all(sorted(ep) == list(range(10)) for ep in epochs)  # each epoch covers the data once
        assert (len({tuple(ep) for ep in epochs}) > 1) is reshuffled
        assert epochs[0] != list(range(10))


@pytest.mark.parametrize("source", ["tf", "te"])
def test_repeat_then_shuffle_mixes_epochs_within_the_buffer(source: str, tmp_path: Path) -> None:
    case = CASES["repeat_shuffle"]  # D.range(10).repeat(2).shuffle(4)
    elements = case["elements"] if source == "tf" else [encode(e) for e in run(case["expr"], tmp_path)]
    values = _scalars(elements)
    assert Counter(values) == Counter(list(range(10)) * 2)
    stream = list(range(10)) * 2
    # output p is drawn from a buffer holding input positions <= p + 3: a value's k-th output
    # occurrence cannot come before its k-th input occurrence minus the buffer's reach
    seen: Counter = Counter()
    for p, v in enumerate(values):
        seen[v] += 1
        kth_input = [i for i, s in enumerate(stream) if s == v][seen[v] - 1]
        assert kth_input <= p + 3


def test_vectorised_shuffle_keeps_rows_together(tmp_path: Path) -> None:
    case = CASES["slices_shuffle_batch"]  # {'x', 's'} and label 2x, shuffled through a buffer of 16
    for features, label in run(case["expr"], tmp_path):
        assert features["s"].tolist() == [str(x) for x in features["x"].tolist()]
        assert (label == 2 * features["x"]).all()


def test_unseeded_shuffle_follows_the_global_numpy_seed() -> None:
    np.random.seed(3)
    a = [int(x) for x in te.data.Dataset.range(50).shuffle(10)]
    np.random.seed(3)
    b = [int(x) for x in te.data.Dataset.range(50).shuffle(10)]
    assert a == b and a != list(range(50))


@pytest.mark.tf
@pytest.mark.slow
def test_fixture_is_what_tf_produces(tmp_path: Path) -> None:
    """Re-run the generator with TF 2.15: the committed fixture must be current."""
    import subprocess

    from tf_support import require_tf_python

    python = require_tf_python()
    script = Path(__file__).resolve().parents[2] / "scripts" / "fixtures" / "gen_data_fixtures.py"
    subprocess.run(
        [python, str(script), "--out", str(tmp_path)], check=True, capture_output=True, timeout=300
    )
    fresh = json.loads((tmp_path / "datasets.json").read_text())
    assert fresh["cases"] == FIXTURE["cases"]
    assert fresh["cardinality"] == FIXTURE["cardinality"]
