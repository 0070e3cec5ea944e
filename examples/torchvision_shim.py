"""Import torchvision's pure-Python model zoo beside a CPU-only torch whose torchvision C++ ops are missing.

PyPI's torchvision wheels are CUDA builds; next to the CPU torch their ``_C`` extension does not load, so the
``torchvision::nms`` / ``torchvision::qnms`` operators are never defined and torchvision's own import fails in
``_meta_registrations`` (``operator torchvision::nms does not exist``). Defining those two schemas first (exactly
as torchvision's C++ defines them) lets the import finish. Nothing else changes: the model zoo (MobileNetV2,
ResNet, ...) is pure Python on torch ops; calling a detection op (``torchvision.ops.nms``) raises "no kernel"
instead of computing anything, so nothing runs silently wrong.
"""

from __future__ import annotations

import sys
from types import ModuleType

import torch

__all__ = ["import_torchvision"]

_SCHEMAS = {  # torchvision/csrc/ops/nms.cpp and quantized/cpu/qnms_kernel.cpp
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_library: torch.library.Library | None = None


def _define_missing_schemas() -> None:
    global _library
    _library = _library or torch.library.Library(
        "torchvision", "FRAGMENT"
    )  # kept alive: owns the definitions
    for name, schema in _SCHEMAS.items():
        if not hasattr(torch.ops.torchvision, name):
            _library.define(schema)


def import_torchvision() -> ModuleType:
    """``import torchvision``, defining the two missing operator schemas when its C++ ops cannot load.

    Raises:
        ImportError / RuntimeError: torchvision is not installed, or fails for another reason.
    """
    try:
        import torchvision
    except RuntimeError as err:
        if "torchvision::nms" not in str(err):
            raise
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]  # the half-imported package
        _define_missing_schemas()
        import torchvision
    return torchvision
