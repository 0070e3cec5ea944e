"""Property-based fuzzing of every reader of untrusted bytes: exports, TFRecord framing, tf.Example, CSV.

Property: each input either loads or raises a :class:`~torchestimator.errors.TorchEstimatorError`; never
a raw ``KeyError`` / ``IndexError`` / ``RecursionError`` / ``struct.error`` / ``UnicodeDecodeError``,
never a hang (every example runs under an alarm), never a read outside the export folder (an audit hook
watches every ``open``). Settings are derandomized so CI is reproducible, and sized so the whole file
runs in well under two minutes.
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import io
import json
import os
import shutil
import signal
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from export_fixture import Export
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torchestimator import serving
from torchestimator.columns.serialization import deserialize_column
from torchestimator.errors import TorchEstimatorError
from torchestimator.inputs import (
    TFRecordWriter,
    decode_example,
    encode_example,
    make_csv_dataset,
    read_records,
)
from torchestimator.inputs.example_parsing import (
    parse_example,
    parse_example_slow,
    parse_single_sequence_example,
)
from torchestimator.inputs.example_proto import decode_sequence_example
from torchestimator.parsing import FixedLenFeature, FixedLenSequenceFeature, VarLenFeature
from torchestimator.serving.safe_pt2 import check_pt2_archive
from torchestimator.serving.show import format_export


def fuzz(max_examples: int) -> Any:
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
        ],
    )


@contextlib.contextmanager
def bounded(seconds: int = 20) -> Iterator[None]:
    """Run one example under an alarm: a hang fails the example instead of the CI job."""

    def expire(*_: Any) -> None:
        raise TimeoutError(f"reader still running after {seconds}s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    """``("ok", value)`` or ``("error", exc)`` for a library error; anything else propagates (the bug)."""
    with bounded():
        try:
            return "ok", fn()
        except TorchEstimatorError as exc:
            assert str(exc), "a library error must say what went wrong"
            return "error", exc


# ---------------------------------------------------------------- reads outside the export folder
_OPENED: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _OPENED is not None and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        _OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)


@contextlib.contextmanager
def watch_opens() -> Iterator[list[str]]:
    global _OPENED
    _OPENED = []
    try:
        yield _OPENED
    finally:
        _OPENED = None


# ---------------------------------------------------------------- mutations
EVIL_STRINGS = [
    "../outside.txt",
    "../../outside.txt",
    "/etc/passwd",
    "/dev/zero",
    "os:system",
    "builtins:eval",
    "",
    "\x00",
    "é\udcff",
    "a" * 300,
    "assets",
    "model.pt2",
    "VocabularyFileCategoricalColumn",
]
json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(EVIL_STRINGS),
    st.text(max_size=12),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def mutate_json(draw: Any, doc: Any, n: int) -> Any:
    """Replace / delete ``n`` random nodes of ``doc`` (a deep copy)."""
    doc = copy.deepcopy(doc)
    for _ in range(n):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_value)
    return doc


@st.composite
def mutated_bytes(draw: Any, data: bytes) -> bytes:
    """``data`` with a few bytes replaced, a slice removed or inserted, or truncated."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        pos = draw(st.integers(0, max(len(buf) - 1, 0)))
        if op == "flip" and buf:
            buf[pos] = draw(st.integers(0, 255))
        elif op == "cut":
            del buf[pos : pos + draw(st.integers(1, 16))]
        elif op == "insert":
            buf[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        else:
            del buf[pos:]
    return bytes(buf)


# ---------------------------------------------------------------- export manifests and model.pt2
@pytest.fixture(scope="module")
def export_copy(trained_export: Export, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("fuzz_export")
    export_dir = trained_export.copy(str(root))
    (root / "outside.txt").write_text("secret\n")
    manifest_path = Path(export_dir, "saved_model.json")
    return {
        "dir": export_dir,
        "manifest": json.loads(manifest_path.read_text()),
        "pt2": Path(export_dir, "model.pt2").read_bytes(),
        "custom_objects": trained_export.custom_objects,
    }


def _file_fields(manifest: Any) -> list[tuple[Any, ...]]:
    return [
        p for p in _paths(manifest) if p and p[-1] in ("file", "vocabulary_file", "asset_sha256", "callable")
    ]


@fuzz(250)
@given(data=st.data())
def test_fuzzed_manifest_loads_or_raises_export_error(export_copy: dict[str, Any], data: Any) -> None:
    manifest = mutate_json(data.draw, export_copy["manifest"], data.draw(st.integers(0, 3)))
    for path in data.draw(st.lists(st.sampled_from(_file_fields(manifest)), max_size=2)):
        parent = manifest
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = data.draw(st.one_of(st.sampled_from(EVIL_STRINGS), json_value))
    export_dir = export_copy["dir"]
    Path(export_dir, "saved_model.json").write_text(json.dumps(manifest))
    backend = data.draw(st.sampled_from(["onnxruntime", "torch"]))
    with watch_opens() as opened:
        outcome(lambda: serving.load(export_dir, backend, custom_objects=export_copy["custom_objects"]))
        outcome(lambda: format_export(export_dir))
    inside = os.path.realpath(export_dir) + os.sep
    parent = os.path.dirname(os.path.realpath(export_dir)) + os.sep
    for path in opened:
        real = os.path.realpath(path)
        assert not real.startswith("/dev/") and real != "/etc/passwd", path
        assert not real.startswith(parent) or real.startswith(inside), f"read outside the export: {path}"


@fuzz(300)
@given(data=st.data())
def test_fuzzed_pt2_graph_is_checked_or_refused(export_copy: dict[str, Any], data: Any) -> None:
    with zipfile.ZipFile(io.BytesIO(export_copy["pt2"])) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    name = data.draw(st.sampled_from(sorted(n for n in members if n.endswith(".json"))))
    doc = json.loads(members[name])
    members[name] = json.dumps(mutate_json(data.draw, doc, data.draw(st.integers(1, 3)))).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for member, content in members.items():
            zf.writestr(member, content)
    outcome(lambda: check_pt2_archive(buffer.getvalue(), "fuzz.pt2"))


@fuzz(200)
@given(data=st.data())
def test_fuzzed_pt2_bytes_are_checked_or_refused(export_copy: dict[str, Any], data: Any) -> None:
    raw = data.draw(st.one_of(mutated_bytes(export_copy["pt2"]), st.binary(max_size=512)))
    outcome(lambda: check_pt2_archive(raw, "fuzz.pt2"))


def test_audit_hook_sees_the_loader_read_the_vocabulary(export_copy: dict[str, Any]) -> None:
    """The outside-read property above is only as good as the hook: it must see the loader's reads."""
    Path(export_copy["dir"], "saved_model.json").write_text(json.dumps(export_copy["manifest"]))
    with watch_opens() as opened:
        serving.load(export_copy["dir"], "torch", custom_objects=export_copy["custom_objects"])
    assert any(p.endswith("colors.txt") for p in opened) and any(p.endswith("model.pt2") for p in opened)


@fuzz(300)
@given(data=st.data())
def test_fuzzed_serialised_columns_rebuild_or_raise(export_copy: dict[str, Any], data: Any) -> None:
    columns = [
        i["column"] for g in ("onnx", "torch") for i in export_copy["manifest"][g]["inputs"] if i["column"]
    ]
    column = mutate_json(data.draw, data.draw(st.sampled_from(columns)), data.draw(st.integers(1, 3)))
    outcome(lambda: deserialize_column(column, export_copy["custom_objects"]))


# ---------------------------------------------------------------- TFRecord framing
def _tfrecord_bytes(records: list[bytes], compression: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "r.tfrecord")
        with TFRecordWriter(path, compression) as writer:
            for record in records:
                writer.write(record)
        return Path(path).read_bytes()


@fuzz(300)
@given(
    records=st.lists(st.binary(max_size=64), max_size=5),
    compression=st.sampled_from(["", "GZIP", "ZLIB"]),
    data=st.data(),
)
def test_tfrecord_round_trips_and_corruption_is_a_library_error(
    records: list[bytes], compression: str, data: Any
) -> None:
    raw = _tfrecord_bytes(records, compression)
    corrupt = data.draw(st.booleans())
    if corrupt:
        raw = data.draw(st.one_of(mutated_bytes(raw), st.binary(max_size=64)))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "r.tfrecord")
        Path(path).write_bytes(raw)
        kind, value = outcome(lambda: list(read_records(path, compression)))
    if not corrupt:
        assert (kind, value) == ("ok", records)


# ---------------------------------------------------------------- tf.Example decoding
SPEC = {
    "f": FixedLenFeature([2], "float32", default_value=[0.5, 0.5]),
    "i": VarLenFeature("int64"),
    "s": VarLenFeature("string"),
    "k": FixedLenFeature([], "string", default_value=""),
}
example_values = st.fixed_dictionaries(
    {},
    optional={
        "f": st.lists(st.floats(width=32, allow_nan=False), min_size=2, max_size=2),
        "i": st.lists(st.integers(-(2**63), 2**63 - 1), max_size=3),
        "s": st.lists(st.binary(max_size=6), max_size=3),
        "k": st.lists(st.binary(max_size=6), min_size=1, max_size=1),
        "other": st.lists(st.integers(0, 9), max_size=2),
    },
)


@st.composite
def example_batches(draw: Any) -> list[bytes]:
    valid = [encode_example(v) for v in draw(st.lists(example_values, min_size=1, max_size=4))]
    return [draw(st.one_of(st.just(r), mutated_bytes(r), st.binary(max_size=40))) for r in valid]


def _same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        left, right = a[key], b[key]
        if hasattr(left, "row_splits"):
            np.testing.assert_array_equal(left.row_splits, right.row_splits)
            left, right = left.values, right.values
        np.testing.assert_array_equal(np.asarray(left), np.asarray(right), err_msg=key)


@fuzz(400)
@given(batch=example_batches())
def test_example_parsers_agree_or_raise_library_errors(batch: list[bytes]) -> None:
    fast = outcome(lambda: parse_example(batch, SPEC))
    slow = outcome(lambda: parse_example_slow(batch, SPEC))
    assert fast[0] == slow[0], (fast, slow)
    if fast[0] == "ok":
        _same(fast[1], slow[1])
    for record in batch:
        outcome(lambda record=record: decode_example(record))
        outcome(lambda record=record: decode_sequence_example(record))


@fuzz(200)
@given(raw=st.binary(max_size=80))
def test_sequence_example_parsing_raises_library_errors(raw: bytes) -> None:
    outcome(
        lambda: parse_single_sequence_example(
            raw,
            context_features={"c": FixedLenFeature([], "int64", default_value=0)},
            sequence_features={"t": FixedLenSequenceFeature([], "float32", allow_missing=True)},
        )
    )


# ---------------------------------------------------------------- CSV
csv_text = st.text(alphabet=st.sampled_from([*list('ab1.5-e,"\n\r \t'), "é", "\x00"]), max_size=120)


@fuzz(250)
@given(
    body=st.one_of(csv_text.map(lambda t: t.encode("utf-8")), st.binary(max_size=80)),
    header=st.booleans(),
    defaults=st.booleans(),
    compression=st.sampled_from(["", "GZIP"]),
)
def test_csv_reads_or_raises_library_errors(
    body: bytes, header: bool, defaults: bool, compression: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "d.csv")
        Path(path).write_bytes(gzip.compress(body) if compression else body)
        kwargs: dict[str, Any] = {"num_epochs": 1, "shuffle": False, "prefetch_buffer_size": 0}
        if not header:
            kwargs["column_names"] = ["a", "b"]
        if defaults:
            kwargs["column_defaults"] = [0.0, ""]
            kwargs.setdefault("column_names", ["a", "b"])
        outcome(
            lambda: list(
                make_csv_dataset(path, 3, header=header, compression_type=compression or None, **kwargs)
            )
        )


def test_zlib_garbage_is_a_library_error(tmp_path: Path) -> None:
    path = tmp_path / "r.tfrecord"
    path.write_bytes(zlib.compress(b"\x01" * 11)[:-3])
    with pytest.raises(TorchEstimatorError):
        list(read_records(str(path), "ZLIB"))
    shutil.rmtree(tmp_path, ignore_errors=True)
