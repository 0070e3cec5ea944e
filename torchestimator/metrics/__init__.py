"""Streaming metrics (additive sufficient statistics) used by heads and the eval loop."""

from torchestimator.metrics.base import Mean, Metric, accumulate

__all__ = ["Mean", "Metric", "accumulate"]
