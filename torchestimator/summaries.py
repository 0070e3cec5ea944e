"""TensorBoard event files: writing train / eval scalars and reading eval results back.

Train summaries go to ``model_dir`` at TF's steps (``loss`` and what the model records through
:mod:`torchestimator.summary` on the first step and every ``save_summary_steps`` after it; ``global_step/sec``
every ``log_step_count_steps``, see :class:`~torchestimator.hooks.timer.SecondOrStepTimer`); eval metrics to ``model_dir/eval[_name]`` at the evaluated global step,
with the checkpoint path as a text summary. Only the chief writes (the Estimator gates it).
``read_eval_results`` is what early-stopping hooks and ``BestExporter`` read.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["SummaryWriter", "read_eval_results", "read_scalars"]


class SummaryWriter:
    """A lazily opened TensorBoard writer for one directory (tensorboard is imported on first write)."""

    def __init__(self, logdir: str) -> None:
        self.logdir = logdir
        self._writer: Any = None
        self._hparams_written = False

    def _get(self) -> Any:
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter as _TBWriter

            os.makedirs(self.logdir, exist_ok=True)
            self._writer = _TBWriter(log_dir=self.logdir, max_queue=100, flush_secs=30)
        return self._writer

    def scalar(self, tag: str, value: float, step: int) -> None:
        self._get().add_scalar(tag, float(value), int(step))

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        w = self._get()
        for tag, value in values.items():
            w.add_scalar(tag, float(value), int(step))

    def histogram(self, tag: str, values: Any, step: int) -> None:
        self._get().add_histogram(tag, values, int(step))

    def hparams(self, values: Mapping[str, Any], metrics: Sequence[str]) -> None:
        """TensorBoard's HParams record for this run: ``values`` as hyperparameters, ``metrics`` as the scalar
        tags the HParams dashboard shows beside them (read from this run's own scalars)."""
        from torch.utils.tensorboard.summary import hparams

        if self._hparams_written:  # once per event file: every train() call shares the writer
            return
        self._hparams_written = True
        clean = {k: v for k, v in values.items() if isinstance(v, (bool, int, float, str))}
        experiment, start, end = hparams(clean, {m: 0.0 for m in metrics})
        writer = self._get().file_writer
        for record in (experiment, start, end):
            writer.add_summary(record)

    def text(self, tag: str, value: str, step: int) -> None:
        self._get().add_text(tag, value, int(step))

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def read_scalars(logdir: str) -> dict[str, list[tuple[int, float]]]:
    """All scalar summaries under ``logdir`` (this directory's event files only): tag -> [(step, value)]."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))):
        acc = EventAccumulator(path, size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags().get("scalars", []):
            out.setdefault(tag, []).extend((e.step, e.value) for e in acc.Scalars(tag))
    return out


def read_eval_results(eval_dir: str) -> dict[int, dict[str, float]]:
    """Eval metrics per global step from ``eval_dir``'s event files: ``{step: {metric: value}}``.

    The newest value wins when a step was evaluated more than once.
    """
    results: dict[int, dict[str, float]] = {}
    for tag, points in read_scalars(eval_dir).items():
        for step, value in points:
            results.setdefault(step, {})[tag] = value
    return dict(sorted(results.items()))
