"""What ``train`` / ``evaluate`` / ``predict`` check about ``model_dir`` before they start.

- ``train`` locks ``model_dir`` on the chief (:class:`~torchestimator.model_dir_lock.ModelDirLock`), and every
  DDP rank learns whether the chief could, so no rank trains into a ``model_dir`` another job owns.
- ``train`` picks the *input seed* of the call (recorded in its checkpoints; see :mod:`torchestimator.rng`).
- When checkpoints exist but none loads, ``train`` refuses (:func:`all_corrupt_error`) rather than start from
  step 0 over them; ``evaluate`` / ``predict`` with nothing to load raise :func:`nothing_to_load_error`.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from typing import TYPE_CHECKING, Any

import torch

from torchestimator import checkpoint as ckpt_lib
from torchestimator.errors import (
    CheckpointError,
    CheckpointNotFoundError,
    CorruptCheckpointError,
    InvalidArgumentError,
)
from torchestimator.model_dir_lock import ModelDirLock

logger = logging.getLogger("torchestimator")

if TYPE_CHECKING:
    from torchestimator.parallel.strategy import Strategy
    from torchestimator.run_config import RunConfig

__all__ = [
    "all_corrupt_error",
    "lock_for_training",
    "nothing_to_load_error",
    "resolve_model_dir",
    "training_input_seed_of",
]


def lock_for_training(strategy: Strategy, model_dir: str | os.PathLike[str]) -> ModelDirLock | None:
    """The chief locks ``model_dir`` for the whole ``train`` call; every rank learns whether it could.

    Returns:
        The held lock on the chief (release it when ``train`` ends), ``None`` on the other ranks.

    Raises:
        CheckpointError: another process holds the lock (on the chief: naming it).
    """
    lock, error = None, None
    if strategy.is_chief:
        lock = ModelDirLock(model_dir)
        try:
            lock.acquire()
        except CheckpointError as e:
            error = e
    failed = strategy.agree(error is not None) if strategy.world_size > 1 else error is not None
    if error is not None:
        raise error
    if failed:
        raise CheckpointError(
            f"the chief could not lock model_dir {os.fspath(model_dir)!r} (another process is training it); see "
            "the chief's log."
        )
    return lock


def training_input_seed_of(strategy: Strategy, config: RunConfig, recorded: int | None) -> int:
    """The seed of the input's unseeded shuffles for one ``train`` call.

    The one recorded by the interrupted call being resumed, else ``tf_random_seed``, else fresh entropy;
    under DDP the chief's, so every rank derives its own shuffle seeds from the same number.
    """
    if recorded is not None:
        return int(recorded)
    seed = config.tf_random_seed
    seed = int(seed) % 2**62 if seed is not None else secrets.randbits(62)
    if strategy.world_size > 1:
        shared = torch.tensor([seed if strategy.is_chief else 0], dtype=torch.int64)
        strategy.all_reduce_sum([shared])
        seed = int(shared.item())
    return seed


def _listing(failures: list[tuple[str, str]]) -> str:
    return "\n".join(f"  {path}: {why}" for path, why in failures)


def nothing_to_load_error(model_dir: str | os.PathLike[str]) -> CheckpointNotFoundError:
    """The error of ``evaluate`` / ``predict`` when no checkpoint loads and the weights are the initial ones."""
    failures = ckpt_lib.checkpoint_failures(model_dir)
    found = (
        f"none of its checkpoints loads:\n{_listing(failures)}\n" if failures else "it holds no checkpoint. "
    )
    return CheckpointNotFoundError(
        f"Could not find trained model in model_dir {os.fspath(model_dir)!r}: {found}Train first, pass "
        "checkpoint_path=, or set RunConfig(allow_untrained=True) to use the initial weights."
    )


def all_corrupt_error(model_dir: str | os.PathLike[str]) -> CorruptCheckpointError:
    """The error of ``train`` when checkpoints exist but none loads: never train from zero over them."""
    failures = ckpt_lib.checkpoint_failures(model_dir)
    return CorruptCheckpointError(
        f"model_dir {os.fspath(model_dir)!r} holds {len(failures)} checkpoint(s) and none of them loads:\n"
        f"{_listing(failures)}\nRefusing to train from step 0 over them. To start over, move those model.ckpt-* "
        "folders (and the 'checkpoint' file) out of model_dir, or train into a new model_dir; to recover, "
        "restore them from a backup."
    )


def resolve_model_dir(model_dir: Any, config: RunConfig) -> str:
    """The Estimator's model_dir: the constructor's or the RunConfig's (they must agree), else a temp dir.

    Raises:
        InvalidArgumentError: two different model_dirs, an empty path, or a path that is a file.
    """
    if model_dir is not None and config.model_dir is not None and os.fspath(model_dir) != config.model_dir:
        raise InvalidArgumentError(
            f"model_dir are set both in constructor and RunConfig, but with different values. In constructor: "
            f"{os.fspath(model_dir)!r}, in RunConfig: {config.model_dir!r}."
        )
    resolved = os.fspath(model_dir) if model_dir is not None else config.model_dir
    if resolved is None:
        resolved = tempfile.mkdtemp(prefix="torchestimator-")
        logger.warning("Using temporary folder as model directory: %s", resolved)
    if resolved == "":
        raise InvalidArgumentError("model_dir must be a non-empty path; received ''.")
    if os.path.exists(resolved) and not os.path.isdir(resolved):
        raise InvalidArgumentError(
            f"model_dir {resolved!r} exists and is a file; expected a directory (or a new path)."
        )
    return resolved
