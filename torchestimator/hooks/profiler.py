"""``ProfilerHook``: TF's step profiler on ``torch.profiler``, writing Chrome-trace timelines.

As TF 2.15's ``ProfilerHook``, the first step only starts the timer; the step that brings the global step to
``last + save_steps`` (or the first after ``save_secs`` seconds) is traced, and its trace is written to
``output_dir/timeline-<global_step>.json``: with ``save_steps=3`` from step 0, ``timeline-3.json``,
``timeline-6.json``, ... (other DDP ranks add ``.rank<r>``). A trace covers the forward, backward and optimizer
step. The file is the Chrome trace
format: open it in ``chrome://tracing`` or https://ui.perfetto.dev; TensorBoard's profiler plugin
(``torch-tb-profiler``) reads the same traces from ``output_dir/plugins/profile/<run>/`` when
``tensorboard_trace=True`` also writes them there.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import time
from typing import Any

from torchestimator.hooks.session_run import (
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
    StepSession,
)
from torchestimator.hooks.timer import SecondOrStepTimer

__all__ = ["ProfilerHook"]

logger = logging.getLogger("torchestimator")


class ProfilerHook(SessionRunHook):
    """Captures a profile of one step every N steps or seconds.

    Args:
        save_steps: trace every N steps (exactly one of this and ``save_secs``).
        save_secs: trace every N seconds.
        output_dir: where ``timeline-<step>.json`` goes (default: the Estimator's ``model_dir``).
        show_dataflow: accepted for TF compatibility (torch traces have no dataflow arrows).
        show_memory: also record tensor allocations (``profile_memory``).
        tensorboard_trace: also write the trace where TensorBoard's PyTorch profiler plugin looks.
    """

    def __init__(
        self,
        save_steps: int | None = None,
        save_secs: float | None = None,
        output_dir: str = "",
        show_dataflow: bool = True,
        show_memory: bool = False,
        tensorboard_trace: bool = False,
    ) -> None:
        self._timer = SecondOrStepTimer(every_secs=save_secs, every_steps=save_steps)
        self._output_dir = os.fspath(output_dir)
        self._show_memory = show_memory
        self._tensorboard_trace = tensorboard_trace
        self._next_step: int | None = None
        self._request_summary = False
        self._profiler: Any = None
        self._suffix = ""
        self.written: list[str] = []  # trace files written, in order

    def begin(self) -> None:
        self._next_step = None
        self._timer.reset()

    def after_create_session(self, session: StepSession, coord: Any) -> None:
        if not self._output_dir:
            self._output_dir = session.estimator.model_dir
        strategy = session.estimator.runtime.strategy
        self._suffix = "" if strategy.is_chief else f".rank{strategy.rank}"  # DDP: one file per rank

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs:
        self._request_summary = self._next_step is not None and self._timer.should_trigger_for_step(
            self._next_step
        )
        if self._request_summary:
            import torch.profiler as tp

            activities = [tp.ProfilerActivity.CPU]
            import torch

            if torch.cuda.is_available():
                activities.append(tp.ProfilerActivity.CUDA)
            self._profiler = tp.profile(
                activities=activities, record_shapes=True, profile_memory=self._show_memory
            )
            self._profiler.__enter__()
        return SessionRunArgs({"global_step": "global_step"})

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        stale_global_step = int(run_values.results["global_step"])
        if self._next_step is None:
            self._timer.update_last_triggered_step(stale_global_step)
        global_step = stale_global_step + 1
        if self._request_summary and self._profiler is not None:
            profiler, self._profiler = self._profiler, None
            profiler.__exit__(None, None, None)
            global_step = int(run_context.session.run("global_step"))
            self._timer.update_last_triggered_step(global_step)
            self._save(profiler, global_step)
        self._next_step = global_step + 1

    def end(self, session: StepSession) -> None:
        if self._profiler is not None:  # a traced step that raised
            self._profiler.__exit__(None, None, None)
            self._profiler = None

    def _save(self, profiler: Any, step: int) -> None:
        os.makedirs(self._output_dir, exist_ok=True)
        path = os.path.join(self._output_dir, f"timeline-{step}{self._suffix}.json")
        logger.info("Saving timeline for %d into '%s'.", step, path)
        profiler.export_chrome_trace(path)
        self.written.append(path)
        if self._tensorboard_trace:
            run_dir = os.path.join(self._output_dir, "plugins", "profile", f"step_{step}")
            os.makedirs(run_dir, exist_ok=True)
            name = f"{socket.gethostname()}_{os.getpid()}.{int(time.time() * 1000)}.pt.trace.json"
            shutil.copyfile(path, os.path.join(run_dir, name))  # torch exports a trace once
