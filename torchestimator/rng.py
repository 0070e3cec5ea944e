"""Random-number state: seeding (``RunConfig.tf_random_seed``) and the states a checkpoint carries.

A resumed run restores torch, CUDA, numpy and python generator states, so dropout and any global-RNG
shuffling continue the same stream as an uninterrupted run. Tensors (torch / CUDA states) go into the
checkpoint's safetensors file; numpy and python states are JSON. Under DDP every rank's state is
gathered to the chief at each save (:func:`rng_state_json`, stored under ``rng.ranks``) and each rank
restores its own.

Shuffles the user left unseeded (``shuffle_seed=None`` in the readers) draw their seed from
:func:`unseeded_shuffle_seed`: inside a ``train`` call it derives one from the call's *input seed*
(``tf_random_seed`` when set, else fresh entropy), which the checkpoint records, so a resumed call
replays the same order and skips exactly the batches already trained on. Outside ``train`` (evaluate,
predict, user code) it returns ``None``: fresh entropy, as before.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch

__all__ = [
    "restore_rng",
    "rng_state",
    "rng_state_json",
    "seed_everything",
    "training_input_seed",
    "unseeded_shuffle_seed",
]

logger = logging.getLogger("torchestimator")

_scope_lock = threading.Lock()
_scope: list[int] = []  # [input seed, rank, draws so far] while a train() call reads its input


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global generator and torch (``RunConfig.tf_random_seed``)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """torch / CUDA RNG states as tensors, numpy / python ones as JSON."""
    tensors = {"rng/torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = s
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, pstate, pgauss = random.getstate()
    return tensors, {
        "numpy": {
            "kind": kind,
            "keys": np.asarray(keys).tolist(),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": {"version": version, "state": list(pstate), "gauss": pgauss},
    }


def rng_state_json() -> dict[str, Any]:
    """This process's RNG states as JSON (torch / CUDA states as hex), for gathering across DDP ranks."""
    tensors, states = rng_state()
    states["torch"] = tensors["rng/torch"].numpy().tobytes().hex()
    states["cuda"] = [
        tensors[k].numpy().tobytes().hex() for k in sorted(tensors) if k.startswith("rng/cuda/")
    ]
    return states


def _from_hex(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(bytes.fromhex(text)), dtype=torch.uint8).clone()


def restore_rng(rng: Mapping[str, Any], rank: int = 0, world_size: int = 1) -> None:
    """Restore the RNG states captured at a save: this rank's own under DDP, else the chief's.

    Args:
        rng: ``CheckpointState.rng`` (:func:`rng_state` tensors and JSON, plus ``ranks`` under DDP).
        rank: this process's rank.
        world_size: the number of processes now; a checkpoint from another world size restores the
            chief's state on every rank (the per-rank streams then differ from the original run's).
    """
    ranks = rng.get("ranks") or {}
    own = ranks.get(str(rank))
    if ranks and len(ranks) != world_size:
        logger.warning(
            "The checkpoint holds the RNG states of %d ranks but %d are running: every rank restores the chief's "
            "state, so random streams (dropout) differ from the original run's.",
            len(ranks),
            world_size,
        )
    elif own is not None:
        own_cuda = {f"cuda/{i}": _from_hex(h) for i, h in enumerate(own.get("cuda", []))}
        rng = {"torch": _from_hex(own["torch"]), **own_cuda, "numpy": own["numpy"], "python": own["python"]}
    if "torch" in rng:
        torch.set_rng_state(rng["torch"])
    cuda_keys = sorted((k for k in rng if k.startswith("cuda/")), key=lambda k: int(k.split("/")[1]))
    if cuda_keys and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([rng[k] for k in cuda_keys])
    if "numpy" in rng:
        n = rng["numpy"]
        np.random.set_state(
            (n["kind"], np.asarray(n["keys"], dtype=np.uint32), n["pos"], n["has_gauss"], n["gauss"])
        )
    if "python" in rng:
        p = rng["python"]
        random.setstate((p["version"], tuple(p["state"]), p["gauss"]))


@contextlib.contextmanager
def training_input_seed(seed: int, rank: int = 0) -> Iterator[None]:
    """Within the block, unseeded shuffles derive their seeds from ``seed`` (a ``train`` call's input seed)."""
    with _scope_lock:
        saved = list(_scope)
        _scope[:] = [int(seed), int(rank), 0]
    try:
        yield
    finally:
        with _scope_lock:
            _scope[:] = saved


def unseeded_shuffle_seed() -> int | None:
    """The seed for a shuffle created without one: derived from the running ``train`` call's input seed
    (the n-th such shuffle of the call gets the n-th derived seed), or ``None`` outside ``train``."""
    with _scope_lock:
        if not _scope:
            return None
        seed, rank, draws = _scope
        _scope[2] += 1
    return int(np.random.SeedSequence([seed, rank, draws]).generate_state(1, dtype=np.uint64)[0])
