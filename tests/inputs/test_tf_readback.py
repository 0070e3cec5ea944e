"""Files torchestimator writes are read back by TensorFlow 2.15 (a ``tf``-marked test: it runs TF in its own
venv through ``scripts/fixtures/gen_input_fixtures.py --verify``; set TORCHESTIMATOR_TF_PYTHON to that venv's
python; tests/conftest.py defaults it to .tfvenv, made by scripts/setup_tf_venv.sh)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from torchestimator.inputs import TFRecordWriter, encode_example

ROOT = Path(__file__).resolve().parents[2]
TF_PYTHON = os.environ.get("TORCHESTIMATOR_TF_PYTHON", "")

ROWS = [
    {"f": [1.5, -2.0], "i": [7], "s": [b"abc"], "v": [1, 2, 3]},
    {"f": [0.0, 3.25], "i": [-(2**40)], "s": [b"\x00\xff"], "v": np.array([], dtype=np.int64)},
    {"f": [1e-3, 1e30], "i": [2**63 - 1], "s": ["caf\u00e9"], "v": [-5]},
]


def _write(out_dir: str) -> None:
    for name, compression in (("ours.tfrecord", None), ("ours.tfrecord.gz", "GZIP")):
        with TFRecordWriter(os.path.join(out_dir, name), compression) as writer:
            for row in ROWS:
                writer.write(encode_example(row))
    f = np.array([1.5, -2.0, 0.0, 3.25, 1e-3, 1e30], dtype=np.float32).tolist()
    expected = {
        "spec": {
            "f": {"type": "FixedLenFeature", "dtype": "float32", "shape": [2]},
            "i": {"type": "FixedLenFeature", "dtype": "int64", "shape": []},
            "s": {"type": "FixedLenFeature", "dtype": "string", "shape": []},
            "v": {"type": "VarLenFeature", "dtype": "int64"},
        },
        "values": {
            "f": {"dtype": "float32", "shape": [3, 2], "values": f},
            "i": {"dtype": "int64", "shape": [3], "values": [7, -(2**40), 2**63 - 1]},
            "s": {
                "dtype": "bytes",
                "shape": [3],
                "values": [b"abc".hex(), b"\x00\xff".hex(), "café".encode().hex()],
            },
        },
    }
    with open(os.path.join(out_dir, "expected.json"), "w") as fh:
        json.dump(expected, fh)


@pytest.mark.tf
def test_tensorflow_reads_our_files(tmp_path: Path) -> None:
    from tf_support import require_tf_python

    require_tf_python()
    _write(str(tmp_path))
    script = ROOT / "scripts" / "fixtures" / "gen_input_fixtures.py"
    result = subprocess.run(
        [
            TF_PYTHON,
            str(script),
            "--verify",
            str(tmp_path / "ours.tfrecord"),
            str(tmp_path / "expected.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("OK: 3 records") == 2
