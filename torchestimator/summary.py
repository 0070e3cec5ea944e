"""``tf.summary.scalar`` / ``histogram`` for code inside a model_fn, written at TF's summary steps.

Model code calls :func:`scalar` / :func:`histogram` on every forward, as TF code does; the call records a detached
tensor only while a training step is being *recorded* (the steps :class:`~torchestimator.hooks.SummarySaverHook`
writes: the first step, then every ``save_summary_steps`` steps, as TF's ``SecondOrStepTimer``), and is a
no-op returning at once otherwise. Nothing is read back from the device until the hook writes, after the step::

    step:        1    2 .. 4    5    6 .. 8    9          (save_summary_steps=4)
    recording:   yes  no        yes  no        yes
    event file:  1              5              9          TF 2.15 writes the same steps

Guard costly summaries with :func:`is_recording`. The pre-made estimators write TF's canned summaries this way
(``bias``, ``fraction_of_zero_weights``; ``dnn/hiddenlayer_<i>/fraction_of_zero_values`` and ``.../activation``).

>>> import torch
>>> scalar("never_written", torch.tensor(1.0))   # outside a recorded step: nothing happens
>>> with recording() as rec:
...     scalar("bias", torch.tensor(0.5))
>>> rec.scalars["bias"].item()
0.5
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import torch

__all__ = [
    "Recording",
    "histogram",
    "is_recording",
    "recording",
    "scalar",
    "start_recording",
    "stop_recording",
    "zero_fraction",
]


@dataclasses.dataclass
class Recording:
    """What one recorded step collected: tag -> detached tensor."""

    scalars: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)
    histograms: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)


_active: Recording | None = None


def active_recording() -> Recording | None:
    """The recording collecting this step's summaries, or None when the step is not recorded."""
    return _active


def is_recording() -> bool:
    """True while the current training step's summaries will be written."""
    return _active is not None


@contextlib.contextmanager
def recording() -> Iterator[Recording]:
    """Collect the summaries model code emits inside the block (the summary hook wraps recorded steps)."""
    global _active
    previous, _active = _active, Recording()
    try:
        yield _active
    finally:
        _active = previous


def start_recording() -> Recording:
    """Begin collecting (for hooks whose begin and end are separate calls); pair with :func:`stop_recording`."""
    global _active
    _active = Recording()
    return _active


def stop_recording() -> None:
    """Stop collecting; model calls become no-ops again."""
    global _active
    _active = None


def scalar(name: str, data: torch.Tensor | float) -> None:
    """Record a scalar summary (``tf.summary.scalar(name, data)``) when the step is being recorded."""
    if _active is None:
        return
    value = data.detach().reshape(-1)[0] if isinstance(data, torch.Tensor) else torch.tensor(float(data))
    _active.scalars[name] = value


def histogram(name: str, data: torch.Tensor) -> None:
    """Record a histogram summary of ``data``'s values when the step is being recorded."""
    if _active is None:
        return
    _active.histograms[name] = data.detach().reshape(-1)


def zero_fraction(value: torch.Tensor) -> torch.Tensor:
    """Fraction of exact zeros in ``value`` (``tf.math.zero_fraction``)."""
    if value.numel() == 0:
        return value.new_zeros(())
    return (value == 0).float().mean()
