"""Deprecated: moved to :mod:`torchestimator.export.exporters` (this module re-exports it with a ``DeprecationWarning``)."""

from __future__ import annotations

import warnings

from torchestimator.export.exporters import BestExporter, Exporter, FinalExporter, LatestExporter

warnings.warn(
    "torchestimator.exporters is deprecated: import from torchestimator.export.exporters instead.",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["BestExporter", "Exporter", "FinalExporter", "LatestExporter"]
