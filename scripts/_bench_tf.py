"""The same-run TF comparison shared by the benchmarks: a TF 2.15 worker subprocess, interleaving, medians.

Every benchmark that compares with TF runs TF's side itself, in the same invocation: a persistent worker
(``scripts/_tf_worker.py``) in the TF venv (``TORCHESTIMATOR_TF_PYTHON``, else ``.tfvenv/bin/python`` of the
checkout, else ``/work/main/.tfvenv/bin/python``), fed one JSON command per line on stdin and answering one
JSON line on stdout. Its import and graph building are not timed; each side's examples/s is the steady rate
over the steps after ``warmup`` of a train call (input pipeline included on both sides), and the two sides are
timed interleaved: ours, TF, ours, TF, ... and the median of each is reported with the ratio.

    with TFWorker() as tf_side:
        tf_side.call(op="build", case="dnn", data=path, threads=0)
        rates = interleave({"ours": lambda: ..., "tf": lambda: tf_side.call(op="train", ...)["rate"]}, 3)
        print_rates("dnn", rates)
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent
ROOT = SCRIPTS.parent
if str(ROOT) not in sys.path:  # benchmark this checkout's package, not an installed one
    sys.path.insert(1, str(ROOT))


def tf_python() -> str:
    """The TF 2.15 venv's python: the env var, this checkout's ``.tfvenv``, or the shared one."""
    for candidate in (
        os.environ.get("TORCHESTIMATOR_TF_PYTHON", ""),
        str(ROOT / ".tfvenv" / "bin" / "python"),
        "/work/main/.tfvenv/bin/python",
    ):
        if candidate and os.path.exists(candidate):
            return candidate
    sys.exit(
        "no TF venv: set TORCHESTIMATOR_TF_PYTHON to a python with tensorflow 2.15 (scripts/setup_tf_venv.sh)"
    )


class TFWorker:
    """A persistent TF 2.15 worker process; ``call(**command)`` sends one command and returns its reply."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", **(env or {})}
        self.proc = subprocess.Popen(
            [tf_python(), str(SCRIPTS / "_tf_worker.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=full_env,
        )

    def call(self, **command: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            sys.exit(f"the TF worker exited on {command.get('op')!r}:\n{err[-3000:]}")
        reply = json.loads(line)
        if "error" in reply:
            sys.exit(f"the TF worker failed on {command.get('op')!r}:\n{reply['error']}")
        return reply

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def __enter__(self) -> TFWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def interleave(runners: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Call each runner in turn, ``repeats`` rounds; each returns one figure (examples/s or ms)."""
    out: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, fn in runners.items():
            out[name].append(fn())
    return out


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def fmt_all(values: list[float], unit: str = "") -> str:
    return ", ".join(f"{v:,.0f}{unit}" if v >= 100 else f"{v:.3f}{unit}" for v in values)


def print_rates(
    title: str, rates: dict[str, list[float]], ours: str, tf: str, higher_is_better: bool = True
) -> float:
    """Print each side's median and all values, and ``ours / tf`` of the medians (or tf / ours for latencies)."""
    print(f"[{title}]")
    for name, values in rates.items():
        print(f"  {name:<22} median {median(values):>12,.3f}   (all: {fmt_all(values)})")
    ratio = median(rates[ours]) / median(rates[tf])
    if higher_is_better:
        print(f"  {ours} / {tf} = {ratio:.2f}x  (medians of {len(rates[ours])} interleaved repeats)")
    else:
        print(f"  {ours} latency / {tf} latency = {ratio:.2f}x  (medians; lower is better)")
    return ratio


def machine() -> str:
    """One line naming the machine: CPU model, cores usable, torch version."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    import torch

    return f"{model}, {cores} cores usable, torch {torch.__version__}"


class SteadyRate:
    """Examples/s over the steps after ``warmup`` of one train call (a torchestimator hook)."""

    def __init__(self, warmup: int, batch: int) -> None:
        self.warmup, self.batch, self.steps = warmup, batch, 0
        self.t0 = self.t1 = 0.0

    def after_step(self, ctx: Any) -> None:
        self.steps += 1
        if self.steps == self.warmup:
            self.t0 = time.perf_counter()
        self.t1 = time.perf_counter()

    def rate(self) -> float:
        return (self.steps - self.warmup) * self.batch / (self.t1 - self.t0)


def hook(warmup: int, batch: int) -> Any:
    """A ``SteadyRate`` that is a torchestimator ``Hook`` (imported lazily so TF-only callers skip torch)."""
    from torchestimator.hooks import Hook

    class _Hook(SteadyRate, Hook):
        pass

    return _Hook(warmup, batch)
