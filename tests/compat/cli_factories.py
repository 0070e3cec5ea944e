"""An Estimator factory named on the command line by test_cli.py (``--estimator cli_factories:linear``)."""

from __future__ import annotations

from typing import Any

from tf_checkpoint_cases import build


def linear(model_dir: str) -> Any:
    return build("linear_ftrl", model_dir)
