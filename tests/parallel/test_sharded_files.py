"""Per-rank shard files in a checkpoint (no process group needed: the ranks' writes are made in turn here).

The full tables are split row-wise / column-wise the way TorchRec's shards are, written as two ranks' files,
adopted by the chief's save, and read back: the assembly must equal the original tables (an independent numpy
split), and a missing, altered or incomplete shard file makes the checkpoint corrupt (named) and skipped.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from torchestimator.checkpoint import latest_checkpoint, load_checkpoint, load_latest, save_checkpoint
from torchestimator.errors import CheckpointError, CorruptCheckpointError
from torchestimator.parallel.sharded._files import ShardSet, staging_dir, write_rank_files

KEY = "input_layer.embedding_tables.dim4.weight"
ROWS, DIM = 10, 4


def _tables() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(ROWS, DIM)).astype(np.float32), rng.uniform(0.1, 1, (ROWS, DIM)).astype(
        np.float32
    )


def _rank_pieces(rank: int, weight: np.ndarray, acc: np.ndarray) -> tuple[list[Any], dict[str, torch.Tensor]]:
    """Rank 0 holds rows 0-5 of the weight, rank 1 rows 6-9; the accumulator is split by columns instead."""
    rows = (0, 6) if rank == 0 else (6, ROWS)
    cols = (0, 2) if rank == 0 else (2, DIM)
    pieces, tensors = [], {}
    for kind, table, (r0, r1), (c0, c1) in (
        ("weight", weight, rows, (0, DIM)),
        ("accumulator", acc, (0, ROWS), cols),
    ):
        name = f"{KEY}/{kind}/{len(tensors)}"
        tensors[name] = torch.from_numpy(table[r0:r1, c0:c1].copy())
        pieces.append(
            {"tensor": name, "table": KEY, "kind": kind, "offsets": [r0, c0], "sizes": [r1 - r0, c1 - c0]}
        )
    return pieces, tensors


def _save(model_dir: Path, step: int, world_size: int = 2) -> str:
    weight, acc = _tables()
    staging = staging_dir(model_dir, step)
    for rank in range(world_size):
        write_rank_files(staging, rank, world_size, step, *_rank_pieces(rank, weight, acc))
    tables = {KEY: {"shape": [ROWS, DIM], "optimizer": "optimizer", "index": 1, "step": 3.0}}
    dense = {"dense.weight": torch.ones(2, 2), KEY: torch.zeros(1).expand(ROWS, DIM)}  # the released table
    optimizer = {
        "state": {0: {"step": torch.tensor(3.0), "sum": torch.ones(2, 2)}},
        "param_groups": [{"params": [0, 1]}],
    }
    return save_checkpoint(
        model_dir, step, dense, {"optimizer": optimizer}, shards=ShardSet(staging, world_size, step, tables)
    )


def test_shard_files_assemble_into_the_full_tables_and_optimizer_state(tmp_path: Path) -> None:
    path = Path(_save(tmp_path, 5))
    files = json.loads((path / "meta.json").read_text())["content"]["files"]
    assert {f"shards/rank-{r}.{ext}" for r in (0, 1) for ext in ("safetensors", "json")} <= set(files)
    assert not list(tmp_path.glob(".shards-staging-*"))  # adopted: nothing left beside the checkpoint
    from safetensors import safe_open

    with safe_open(str(path / "model.safetensors"), framework="pt") as f:
        assert KEY not in f.keys()  # noqa: SIM118 - the table lives in the shard files only
    state = load_checkpoint(path)
    weight, acc = _tables()
    np.testing.assert_array_equal(state.model[KEY].numpy(), weight)
    np.testing.assert_array_equal(state.model["dense.weight"].numpy(), np.ones((2, 2)))
    slot = state.optimizers["optimizer"]["state"][1]
    np.testing.assert_array_equal(slot["sum"].numpy(), acc)
    assert float(slot["step"]) == 3.0
    assert float(state.optimizers["optimizer"]["state"][0]["step"]) == 3.0


@pytest.mark.parametrize("damage", ["missing", "altered"])
def test_a_missing_or_altered_shard_file_makes_the_checkpoint_corrupt_and_skipped(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    _save(tmp_path, 2)
    newest = Path(_save(tmp_path, 4))
    target = newest / "shards" / "rank-1.safetensors"
    if damage == "missing":
        target.unlink()
    else:
        data = bytearray(target.read_bytes())
        data[-1] ^= 0xFF
        target.write_bytes(bytes(data))
    with pytest.raises(CorruptCheckpointError, match=r"shards/rank-1\.safetensors"):
        load_checkpoint(newest)
    with caplog.at_level(logging.WARNING, logger="torchestimator"):
        assert latest_checkpoint(tmp_path) == str(tmp_path / "model.ckpt-2")  # never silently loaded
        state = load_latest(tmp_path)
    assert state is not None and state.global_step == 2 and "rank-1.safetensors" in caplog.text


def test_shard_pieces_that_do_not_cover_the_table_are_corrupt(tmp_path: Path) -> None:
    path = Path(_save(tmp_path, 3))
    index_file = path / "shards" / "rank-1.json"
    index = json.loads(index_file.read_text())
    index["pieces"] = index["pieces"][1:]  # rank 1's weight rows are gone
    index_file.write_text(json.dumps(index))
    from torchestimator.parallel.sharded._files import assemble

    content = json.loads((path / "meta.json").read_text())["content"]
    with pytest.raises(CorruptCheckpointError, match=r"cover 24 of 40 values"):
        assemble(path, content["shards"], {}, {})


def test_a_rank_file_of_another_save_is_never_published(tmp_path: Path) -> None:
    """A stale file left by an earlier world size / step: the save fails and no checkpoint appears."""
    weight, acc = _tables()
    staging = staging_dir(tmp_path, 7)
    write_rank_files(staging, 0, 2, 7, *_rank_pieces(0, weight, acc))
    write_rank_files(staging, 1, 3, 7, *_rank_pieces(1, weight, acc))  # written by a 3-rank run
    tables = {KEY: {"shape": [ROWS, DIM], "optimizer": None, "index": 0, "step": None}}
    with pytest.raises(CheckpointError, match=r"rank-1\.json is for step 7 of 3 ranks, expected step 7 of 2"):
        save_checkpoint(tmp_path, 7, {}, {}, shards=ShardSet(staging, 2, 7, tables))
    assert not (tmp_path / "model.ckpt-7").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def test_a_rank_reads_only_its_region_across_the_writers_pieces(tmp_path: Path) -> None:
    """Re-sharding on load: any row / column region is cut from the overlapping pieces of every writer."""
    from torchestimator.parallel.sharded._files import read_region

    path = Path(_save(tmp_path, 1))
    state = load_checkpoint(path, assemble_shards=False)
    assert state.shards_deferred and state.model[KEY].shape == (ROWS, DIM)
    assert state.model[KEY].untyped_storage().nbytes() == 4  # a placeholder, not the table
    entry = state.meta["shards"]
    weight, acc = _tables()
    for (r0, c0), (nr, nc) in [((4, 0), (4, DIM)), ((0, 1), (ROWS, 2)), ((9, 3), (1, 1))]:
        got = read_region(path, entry, KEY, "weight", (r0, c0), (nr, nc))
        np.testing.assert_array_equal(got.numpy(), weight[r0 : r0 + nr, c0 : c0 + nc])
        got = read_region(path, entry, KEY, "accumulator", (r0, c0), (nr, nc))
        np.testing.assert_array_equal(got.numpy(), acc[r0 : r0 + nr, c0 : c0 + nc])
    with pytest.raises(CorruptCheckpointError, match=r"cover 40 of the 44 values"):
        read_region(path, entry, KEY, "weight", (0, 0), (ROWS + 1, DIM))


def test_a_changed_learning_rate_of_a_fused_table_is_refused() -> None:
    """FBGEMM keeps the rate it got at the start: a schedule must not silently stop reaching the tables."""
    import torch

    from torchestimator.errors import InvalidArgumentError
    from torchestimator.parallel.sharded._optim import FusedRule, check_learning_rates

    table = torch.nn.Parameter(torch.zeros(8, 4))
    dense = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.Adagrad([{"params": [dense]}, {"params": [table], "lr": 0.05}], lr=0.1)
    rule = FusedRule("adagrad", {"learning_rate": 0.05}, opt, table)
    check_learning_rates([rule], ["dnn/emb"])  # unchanged: fine
    opt.param_groups[0]["lr"] = 0.01  # the dense group's rate may change
    check_learning_rates([rule], ["dnn/emb"])
    opt.param_groups[1]["lr"] = 0.025
    with pytest.raises(InvalidArgumentError, match=r"'dnn/emb' changed from 0.05 to 0.025"):
        check_learning_rates([rule], ["dnn/emb"])
