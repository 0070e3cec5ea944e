"""The vectorised decoder's key matching (length, first and last 8 bytes, then the words between for keys
over 16 bytes) finds exactly the spec's keys: keys that share a prefix, a suffix, a length, or all three
with one byte changed in the middle are told apart, as the protobuf runtime tells them apart."""

from __future__ import annotations

import numpy as np
import pytest

from torchestimator.inputs import example_fast
from torchestimator.inputs.example_parsing import _build_feature
from torchestimator.inputs.example_proto import decode_example, encode_example
from torchestimator.inputs.example_wire import SpecKeys
from torchestimator.parsing import Ragged, VarLenFeature


def _reference(records: list[bytes], spec: dict[str, VarLenFeature]) -> dict[str, Ragged]:
    decoded = [decode_example(r) for r in records]
    return {k: _build_feature(k, f, [d.get(k) for d in decoded]) for k, f in spec.items()}


def _near_misses(key: str) -> list[str]:
    """Keys one edit away from ``key``: a byte changed at the start, middle and end, one byte more or
    fewer at either end."""
    out = [key + "x", "x" + key, key[1:], key[:-1]] if key else ["x"]
    for pos in {0, len(key) // 2, len(key) - 1, 8, 9, 15, 16, 17, 23, 24} & set(range(len(key))):
        out.append(key[:pos] + ("#" if key[pos] != "#" else "$") + key[pos + 1 :])
    return [k for k in out if k != key]


LENGTHS = [1, 7, 8, 9, 15, 16, 17, 18, 23, 24, 25, 31, 33, 40]


@pytest.mark.parametrize("seed", [0, 1])
def test_keys_of_every_length_and_their_near_misses(seed: int) -> None:
    rng = np.random.default_rng(seed)
    alphabet = np.array(list("abcdefghij_"))
    spec = {"".join(rng.choice(alphabet, size=n)): VarLenFeature("int64") for n in LENGTHS}
    spec["abcdefgh" + "Q" * 9 + "ijklmnop"] = VarLenFeature("int64")  # 25 bytes: only a middle word differs
    spec["abcdefgh" + "R" * 9 + "ijklmnop"] = VarLenFeature("int64")
    names = list(spec)
    decoys = sorted({m for k in names for m in _near_misses(k)} - set(names))
    records = []
    for _ in range(60):
        features = {}
        for key in rng.permutation(names + decoys)[: int(rng.integers(0, len(names) + len(decoys)))]:
            features[str(key)] = rng.integers(-9, 10**6, size=int(rng.integers(0, 3)))
        records.append(encode_example(features))
    lengths = np.array([len(r) for r in records], dtype=np.int64)
    fast = example_fast.parse_records(b"".join(records), np.cumsum(lengths) - lengths, lengths, spec)
    assert fast is not None
    want = _reference(records, spec)
    for key in spec:
        np.testing.assert_array_equal(fast[key].row_splits, want[key].row_splits, err_msg=key)
        np.testing.assert_array_equal(fast[key].values, want[key].values, err_msg=key)
        assert want[key].values.size  # every spec key was present somewhere


def test_spec_key_codes_are_distinct() -> None:
    keys = SpecKeys(tuple(f"feature_{i:04d}_with_a_long_common_suffix" for i in range(500)))
    assert keys.unique and len(set(keys.codes.tolist())) == 500
