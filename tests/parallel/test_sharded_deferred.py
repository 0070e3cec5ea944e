"""Tables built without their memory (sharded strategy): the same initial values and RNG stream as the eager build.

The oracle is the eager ``DenseFeatures`` build itself (torch's ``EmbeddingBag`` fill and ``trunc_normal_``): the
deferred build must leave the generator exactly where the eager build leaves it, hold no table, and draw any rows
equal to the eager table's.
"""

from __future__ import annotations

import torch

from torchestimator import feature_column as fc
from torchestimator.columns import DenseFeatures
from torchestimator.parallel.sharded._deferred import deferred_tables, draw_rows, is_placeholder, materialise


def _columns() -> list[object]:
    big = fc.categorical_column_with_hash_bucket("big", 5003, dtype="int64")
    small = fc.categorical_column_with_hash_bucket("small", 37, dtype="int64")
    return [fc.embedding_column(big, 8), fc.embedding_column(small, 8), fc.numeric_column("x")]


def _build(deferred: bool) -> tuple[DenseFeatures, torch.Tensor, torch.Tensor]:
    torch.manual_seed(11)
    if deferred:
        with deferred_tables():
            layer = DenseFeatures(_columns())
    else:
        layer = DenseFeatures(_columns())
    return layer, torch.get_rng_state(), torch.rand(4)  # the next draw (a dense layer built after the tables)


def test_deferred_build_consumes_the_same_stream_and_draws_the_same_rows() -> None:
    eager, eager_state, eager_next = _build(False)
    lazy, lazy_state, lazy_next = _build(True)
    assert torch.equal(lazy_state, eager_state) and torch.equal(lazy_next, eager_next)
    table = eager.embedding_tables["dim8"].weight
    placeholder = lazy.embedding_tables["dim8"].weight
    assert is_placeholder(placeholder) and placeholder.shape == table.shape
    assert placeholder.untyped_storage().nbytes() == 4  # no table held
    big, small = lazy.deferred_draws["dim8"]
    assert torch.equal(draw_rows(big, 1000, 2500), table[1000:3500])  # a rank's rows, drawn alone
    assert torch.equal(draw_rows(small, 30, 7), table[big.rows + 30 : big.rows + 37])
    materialise(lazy, "dim8")
    assert torch.equal(lazy.embedding_tables["dim8"].weight, table) and not lazy.deferred_draws


def test_a_deferred_table_loads_a_checkpoint_and_skips_a_placeholder() -> None:
    eager, _, _ = _build(False)
    lazy, _, _ = _build(True)
    state = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in eager.state_dict().items()}
    state["embedding_tables.dim8.weight"] += 1.0
    lazy.load_state_dict(state)  # a real table: the layer gets storage, the checkpoint's values win
    assert torch.equal(lazy.embedding_tables["dim8"].weight, state["embedding_tables.dim8.weight"])
    assert not lazy.deferred_draws
    again, _, _ = _build(True)
    state["embedding_tables.dim8.weight"] = torch.zeros(1).expand(5040, 8)  # a sharded restore's placeholder
    again.load_state_dict(state)  # no missing-key error; the table stays deferred for the shards to fill
    assert is_placeholder(again.embedding_tables["dim8"].weight) and "dim8" in again.deferred_draws


def test_a_deferred_table_used_unsharded_is_drawn_whole_on_first_use() -> None:
    eager, _, _ = _build(False)
    lazy, _, _ = _build(True)
    features = {
        "big": torch.tensor([3, 4999]).numpy(),
        "small": torch.tensor([1, 2]).numpy(),
        "x": [[0.5], [1.0]],
    }
    eager.eval()
    lazy.eval()
    assert torch.equal(lazy(features), eager(features))
