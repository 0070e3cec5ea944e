"""One plain test per raw exception the fuzz suite found (each raised a builtin error before the fix)."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Any

import pytest

from torchestimator.columns.serialization import deserialize_column
from torchestimator.errors import InputError, InvalidArgumentError
from torchestimator.inputs import make_csv_dataset

ONE_EPOCH: dict[str, Any] = {"num_epochs": 1, "shuffle": False, "prefetch_buffer_size": 0}


def _read(path: Path, **kwargs: Any) -> list[Any]:
    return list(make_csv_dataset(str(path), 2, **ONE_EPOCH, **kwargs))


def test_csv_header_with_invalid_utf8_is_an_input_error(tmp_path: Path) -> None:
    """Was a raw UnicodeDecodeError from reading the header."""
    path = tmp_path / "bad.csv"
    path.write_bytes(b"\x80a,b\n1,2\n")
    with pytest.raises(InputError, match=r"bad\.csv.*UTF-8"):
        _read(path)


def test_csv_type_inference_over_invalid_utf8_is_an_input_error(tmp_path: Path) -> None:
    """Was a raw UnicodeDecodeError from type inference (column names given, no header)."""
    path = tmp_path / "bad.csv"
    path.write_bytes(b"1,2\n3,\xff\n")
    with pytest.raises(InputError, match=r"bad\.csv"):
        _read(path, header=False, column_names=["a", "b"])


@pytest.mark.parametrize(
    ("compression", "payload"),
    [("GZIP", gzip.compress(b"a,b\n1,2\n")[:-6]), ("GZIP", b"not gzip"), ("ZLIB", b"not zlib")],
)
def test_corrupt_compressed_csv_is_an_input_error(tmp_path: Path, compression: str, payload: bytes) -> None:
    """Was a raw EOFError / BadGzipFile / zlib.error."""
    path = tmp_path / "bad.csv"
    path.write_bytes(payload)
    with pytest.raises(InputError, match=r"bad\.csv"):
        _read(path, compression_type=compression)
    with pytest.raises(InputError, match=r"bad\.csv"):
        _read(path, compression_type=compression, column_names=["a", "b"], column_defaults=[0, 0])


def test_truncated_zlib_csv_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(zlib.compress(b"a,b\n1,2\n")[:-3])
    with pytest.raises(InputError, match=r"bad\.csv"):
        _read(path, compression_type="ZLIB")


@pytest.mark.parametrize(
    "config",
    [
        [],
        {"type": "NumericColumn", "config": []},
        {"type": "NumericColumn", "config": {}},  # missing required fields: was a raw TypeError
        {"type": ["NumericColumn"], "config": {}},
        {"type": "NumericColumn", "config": {"key": "x", "normalizer_fn": {"callable": 3}}},
    ],
)
def test_malformed_serialised_column_is_an_invalid_argument(config: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        deserialize_column(config)


def test_deeply_nested_serialised_column_is_refused_not_recursion_error() -> None:
    nested: Any = "a"
    for _ in range(5000):
        nested = [nested]
    with pytest.raises(InvalidArgumentError, match="nested"):
        deserialize_column({"type": "CrossedColumn", "config": {"keys": nested, "hash_bucket_size": 3}})


def test_show_accepts_a_manifest_without_tags(tmp_path, trained_export):
    """The manifest reader defaults absent ``tags`` to ['serve']; ``show`` must agree (found by the fuzz suite)."""
    import json

    from torchestimator.serving.show import format_export

    target = Path(trained_export.copy(str(tmp_path)))
    manifest_path = target / "saved_model.json"
    manifest = json.loads(manifest_path.read_text())
    manifest.pop("tags", None)
    manifest_path.write_text(json.dumps(manifest))
    assert format_export(str(target)).startswith("MetaGraphDef with tag-set: 'serve' contains")
