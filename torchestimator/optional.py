"""Optional dependencies, imported at the moment they are needed, with an install hint naming the extra.

``import torchestimator`` imports none of them (STYLE.md §2). A missing one raises :class:`MissingDependencyError`
(an ``ImportError``), which says what needed it and which ``pip install 'torchestimator[extra]'`` brings it:

>>> import_optional("json", extra="core", purpose="reading manifests").__name__
'json'
"""

from __future__ import annotations

import importlib
from types import ModuleType

from torchestimator.errors import MissingDependencyError

__all__ = ["MissingDependencyError", "import_optional"]


def import_optional(module: str, *, extra: str, purpose: str, alternative: str = "") -> ModuleType:
    """Import ``module`` or raise an error that says how to install it.

    Args:
        module: The module to import (``"onnxruntime"``).
        extra: The torchestimator extra that installs it (``"onnx"``).
        purpose: What needs it, completing "... needs <module>" (``"serving.load(backend='onnxruntime')"``).
        alternative: An optional sentence offering a way around it.

    Returns:
        The imported module.

    Raises:
        MissingDependencyError: the module (or one it imports) is not installed.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        top = module.split(".")[0]
        missing = err.name or top
        hint = f"pip install 'torchestimator[{extra}]'"
        message = f"{purpose} needs {top!r}, which is not installed ({missing!r} is missing): {hint}."
        if alternative:
            message += f" {alternative}"
        raise MissingDependencyError(message) from err
