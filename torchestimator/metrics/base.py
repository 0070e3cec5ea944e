"""Streaming metrics as additive sufficient statistics.

A :class:`Metric` is the contribution of one batch: a tuple of tensors whose elementwise **sum**
over batches (and over processes) is all that is needed to compute the final value. The eval loop
adds them up on the device (no host sync per batch), all-reduces the sums once at the end under
distribution, and calls :meth:`Metric.compute` on the totals. This is how TF's streaming metrics
work too (``total``/``count`` variables, AUC confusion-matrix buckets), minus the graph.

::

    batch 1:  Mean(state=(sum=3.0, count=2.0))
    batch 2:  Mean(state=(sum=1.0, count=2.0))
    total  :  (4.0, 4.0)  ->  compute -> 1.0

Subclasses implement ``compute(state) -> float`` as a static function of the summed state, so the
metric a head returns per batch carries no Python state the loop would need to keep.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["Mean", "Metric", "accumulate"]


class Metric:
    """One batch's additive contribution to a streaming metric.

    Args:
        state: tensors to be summed elementwise across batches and processes.
    """

    def __init__(self, state: Sequence[torch.Tensor]) -> None:
        self.state = tuple(torch.as_tensor(s).detach() for s in state)

    @staticmethod
    def compute(state: Sequence[torch.Tensor]) -> float:
        """Final value from the summed state."""
        raise NotImplementedError

    def result(self) -> float:
        """The value of this metric over this one batch (handy outside the loop)."""
        return self.compute(self.state)

    def merge(self, other: Metric) -> Metric:
        """A metric of the same kind whose state is the sum of both."""
        if other is self:  # a Keras-style metric returned every batch: it accumulates itself
            return self
        if type(other) is not type(self) or len(other.state) != len(self.state):
            raise TypeError(f"cannot merge {type(other).__name__} into {type(self).__name__}")
        merged = object.__new__(type(self))
        merged.__dict__.update(self.__dict__)
        merged.state = tuple(a + b.to(a.device) for a, b in zip(self.state, other.state))
        return merged

    def __repr__(self) -> str:
        return f"{type(self).__name__}({[tuple(s.shape) for s in self.state]})"


class Mean(Metric):
    """Weighted mean of ``values`` (tf.compat.v1.metrics.mean); weights follow Keras' rules
    (:func:`~torchestimator.metrics.shapes.broadcast_weights`: squeezed or expanded by one trailing
    dimension, never broadcast ``(B,)`` against ``(B, 1)``).

    >>> import torch
    >>> Mean(torch.tensor([1.0, 3.0])).result()
    2.0
    """

    def __init__(self, values: torch.Tensor, weights: torch.Tensor | None = None) -> None:
        values = torch.as_tensor(values, dtype=torch.float64 if _is_double(values) else torch.float32)
        if weights is None:
            total, count = values.sum(), torch.tensor(float(values.numel()), device=values.device)
        else:
            from torchestimator.metrics.shapes import broadcast_weights

            weights = broadcast_weights(weights, values, "Mean").to(values.dtype)
            total, count = (values * weights).sum(), weights.sum()
        super().__init__((total.double(), count.double()))

    @staticmethod
    def compute(state: Sequence[torch.Tensor]) -> float:
        total, count = (float(s) for s in state)
        return total / count if count else 0.0


def _is_double(x: object) -> bool:
    return isinstance(x, torch.Tensor) and x.dtype == torch.float64


def accumulate(totals: dict[str, Metric], batch: dict[str, Metric]) -> dict[str, Metric]:
    """Add one batch of metrics into ``totals`` (in place) and return it."""
    for name, metric in batch.items():
        totals[name] = metric if name not in totals else totals[name].merge(metric)
    return totals
