"""An Estimator factory named on the command line by test_cli.py (``--estimator cli_factories:linear``)."""

from __future__ import annotations

from typing import Any

from tf_checkpoint_cases import build


def linear(model_dir: str) -> Any:
    return build("linear_ftrl", model_dir)


def custom(model_dir: str) -> Any:
    """A custom model_fn (not a pre-made): it needs --name-map."""
    import torch

    from torchestimator import Estimator

    class Bias(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.logit_bias = torch.nn.Parameter(torch.zeros(3))

    return Estimator(Bias, model_dir=model_dir)
