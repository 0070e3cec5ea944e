"""Helpers for the input-pipeline tests: TF fixtures decoded from JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "inputs"


def tf_array(value: dict[str, Any]) -> np.ndarray:
    """A TF value stored by scripts/fixtures/gen_input_fixtures.py, back as numpy (bytes as object)."""
    if value["dtype"] == "bytes":
        arr = np.empty(len(value["values"]), dtype=object)
        arr[:] = [bytes.fromhex(h) for h in value["values"]]
        return arr.reshape(value["shape"])
    return np.asarray(value["values"], dtype=value["dtype"]).reshape(value["shape"])


def load(name: str) -> Any:
    with open(FIXTURES / name) as f:
        return json.load(f)
