"""Shuffle then repeat, as TF's readers do: every epoch is a complete permutation, epochs never mix."""

from __future__ import annotations

import numpy as np
import pytest

from torchestimator.inputs import make_csv_dataset


@pytest.mark.parametrize("buffer", [1000, 7])
def test_epochs_do_not_mix(tmp_path, buffer):
    path = tmp_path / "rows.csv"
    path.write_text("id,y\n" + "".join(f"{i},{i % 2}\n" for i in range(50)))
    ds = make_csv_dataset(
        str(path),
        batch_size=8,
        label_name="y",
        num_epochs=3,
        shuffle=True,
        shuffle_buffer_size=buffer,
        shuffle_seed=1,
    )
    ids = np.concatenate([f["id"] for f, _ in ds])
    assert len(ids) == 150
    epochs = [ids[i * 50 : (i + 1) * 50] for i in range(3)]
    for e in epochs:
        assert sorted(e.tolist()) == list(range(50))  # complete epoch, no row from a neighbour
    assert not np.array_equal(epochs[0], epochs[1])  # reshuffled each epoch
    if buffer >= 50:
        assert not np.array_equal(epochs[0], np.arange(50))
