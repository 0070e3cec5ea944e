"""Warm-starting a new model from an existing checkpoint (tf.estimator's ``warm_start_from``).

Applied only when ``model_dir`` has no checkpoint yet (TF's rule). A path (model_dir or
checkpoint) copies every tensor whose name and shape match; others keep their initial values.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from torchestimator import checkpoint as ckpt_lib
from torchestimator.errors import InvalidArgumentError

__all__ = ["warm_start"]

logger = logging.getLogger("torchestimator")


def warm_start(module: torch.nn.Module, warm_start_from: Any) -> list[str]:
    """Initialise ``module`` from ``warm_start_from``; returns the names of the tensors copied."""
    if hasattr(warm_start_from, "ckpt_to_initialize_from"):
        raise InvalidArgumentError("WarmStartSettings are not supported yet; pass a model_dir or checkpoint path.")
    state = ckpt_lib.load_checkpoint(warm_start_from)
    own = module.state_dict()
    copied = {k: v for k, v in state.model.items() if k in own and isinstance(v, torch.Tensor) and v.shape == own[k].shape}
    module.load_state_dict(copied, strict=False)
    logger.info("Warm-started %d tensors from %s.", len(copied), state.path)
    return sorted(copied)
