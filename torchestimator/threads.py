"""The thread policy of a run: how many torch intra-op threads ``train`` / ``evaluate`` / ``predict`` use.

``RunConfig(num_threads='auto')`` (the default) gives each call::

    threads = max(1, min(torch threads when the call starts,        # torch's default or the user's setting
                         CPUs this process may use,                 # sched_getaffinity and the cgroup quota
                         ... minus CPUs busy with other processes)) # /proc/stat procs_running, own threads excluded

re-checked about once a second on the training thread (hysteresis: two agreeing checks), so a job that shares
its cores with busy neighbours drops to fewer threads instead of spin-waiting for preempted OpenMP workers
(on 2 shared cores torch's 2 intra-op threads ran 20x slower than 1 thread with two busy neighbours), and
climbs back when they finish. With ``'auto'`` on two or more CPUs free of other work when the call starts, a
model with feature-column transforms may move its host transform to a background thread (:func:`cpu_host_thread`)
and torch gets one thread less, so the host work overlaps the step instead of preceding it; it keeps the
thread only where that measures faster, else gives the core back (:func:`release_host_thread`,
:mod:`torchestimator.inputs.measured_prefetch`). ``RunConfig(num_threads=N)`` sets exactly N for the call. Either way the torch
thread count in force before the call is restored after it, as TF's ``session_config`` threads never leak
out of the session. ``inter_op_threads`` (``'auto'``: torch's) can only be set before torch starts inter-op
work (a torch rule); a later different value is reported in a warning, not applied.

Cgroup quotas: v2 ``cpu.max`` (``"max 100000"`` or ``"150000 100000"`` = 1.5 CPUs) and v1
``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (-1 = no quota); a fractional quota rounds up.

Example:
    >>> with threads_for_run(RunConfig(num_threads=1)):   # doctest: +SKIP
    ...     assert torch.get_num_threads() == 1
"""

from __future__ import annotations

import math
import os
import threading
import time
import warnings
from collections.abc import Iterator
from types import TracebackType
from typing import Any, TypeVar

import torch

from torchestimator.closing import close_iterator
from torchestimator.errors import InvalidArgumentError

__all__ = [
    "AUTO",
    "ThreadScope",
    "adapt_threads",
    "auto_threads",
    "busy_other_cpus",
    "cgroup_cpu_limit",
    "check_thread_setting",
    "cpu_host_thread",
    "release_host_thread",
    "scoped_threads",
    "threads_for_run",
    "usable_cpus",
]

AUTO = "auto"
RECHECK_SECONDS = 1.0
_sleep = time.sleep  # bound at import: code (and tests) that patch time.sleep never see our short naps
_monotonic = time.monotonic
_T = TypeVar("_T")
_local = threading.local()


def check_thread_setting(name: str, value: Any) -> None:
    """Raise unless ``value`` is ``'auto'`` or an int >= 1 (RunConfig's validation)."""
    if value == AUTO or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return
    raise InvalidArgumentError(f"{name} must be 'auto' or an int >= 1; received {value!r}.")


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        return None


def cgroup_cpu_limit(root: str = "/sys/fs/cgroup") -> float | None:
    """CPUs allowed by the cgroup quota under ``root`` (v2 ``cpu.max``, else v1 cfs), or None without a quota."""
    v2 = _read(os.path.join(root, "cpu.max"))
    if v2 is not None:
        parts = v2.split()
        if len(parts) == 2 and parts[0] != "max":
            try:
                return int(parts[0]) / int(parts[1])
            except (ValueError, ZeroDivisionError):
                return None
        return None
    for sub in ("cpu", "cpu,cpuacct", "cpuacct,cpu", ""):
        quota = _read(os.path.join(root, sub, "cpu.cfs_quota_us"))
        period = _read(os.path.join(root, sub, "cpu.cfs_period_us"))
        if quota is not None and period is not None:
            try:
                q, p = int(quota), int(period)
            except ValueError:
                return None
            return q / p if q > 0 and p > 0 else None
    return None


def usable_cpus(root: str = "/sys/fs/cgroup", affinity: set[int] | None = None) -> int:
    """CPUs this process may run on: its affinity set, capped by the cgroup quota (rounded up), at least 1."""
    if affinity is None:
        affinity = (
            os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
        )
    cpus = max(1, len(affinity))
    quota = cgroup_cpu_limit(root)
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota - 1e-9)))
    return cpus


def _own_running_threads() -> int:
    count = 0
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return 1
    for tid in tids:
        stat = _read(f"/proc/self/task/{tid}/stat")
        if stat is not None and stat[stat.rfind(")") + 2 : stat.rfind(")") + 3] == "R":
            count += 1
    return max(1, count)


def busy_other_cpus(stat_path: str = "/proc/stat", samples: int = 3) -> int:
    """Runnable threads of OTHER processes now (median of ``samples`` reads of ``procs_running``), 0 if unknown."""
    seen = []
    for i in range(samples):
        text = _read(stat_path)
        if text is None:
            return 0
        running = next(
            (int(line.split()[1]) for line in text.splitlines() if line.startswith("procs_running")), 0
        )
        seen.append(max(0, running - _own_running_threads()))
        if i + 1 < samples:
            _sleep(0.002)
    return sorted(seen)[len(seen) // 2]


def auto_threads(cap: int, usable: int, busy_others: int) -> int:
    """The ``'auto'`` choice: ``min(cap, usable - busy_others)``, at least 1."""
    return max(1, min(cap, usable - busy_others))


class ThreadScope:
    """Sets the run's torch threads on enter, re-checks ``'auto'`` on :meth:`maybe_adapt`, restores on exit."""

    def __init__(self, num_threads: int | str = AUTO, inter_op_threads: int | str = AUTO) -> None:
        self.num_threads = num_threads
        self.inter_op_threads = inter_op_threads
        self._saved = 0
        self._cap = 0
        self._usable = 1
        self._owner: int | None = None
        self._next_check = 0.0
        self._pending: int | None = None
        self._active = False
        self._host_thread = False
        self._cap_unclaimed = 0  # the cap before cpu_host_thread claimed a core
        self._free = 1  # CPUs free of other processes' work when the scope started ('auto')

    def __enter__(self) -> ThreadScope:
        self._saved = torch.get_num_threads()
        self._owner = threading.get_ident()
        _set_inter_op(self.inter_op_threads)
        if self.num_threads == AUTO:
            self._cap, self._usable = self._saved, usable_cpus()
            busy = busy_other_cpus()
            self._free = self._usable - busy
            torch.set_num_threads(auto_threads(self._cap, self._usable, busy))
            self._next_check = _monotonic() + RECHECK_SECONDS
        else:
            torch.set_num_threads(int(self.num_threads))
        stack = getattr(_local, "stack", [])
        stack.append(self)
        _local.stack = stack
        self._active = True
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        stack = getattr(_local, "stack", [])
        if self in stack:  # exited on the thread that entered it
            stack.remove(self)
        self._active = False
        torch.set_num_threads(self._saved)

    def maybe_adapt(self) -> None:
        """Re-check an ``'auto'`` count (at most once a second; changed after two agreeing checks)."""
        if not self._active or self.num_threads != AUTO or threading.get_ident() != self._owner:
            return
        now = _monotonic()
        if now < self._next_check:
            return
        self._next_check = now + RECHECK_SECONDS
        want = auto_threads(self._cap, self._usable, busy_other_cpus(samples=1))
        if want == torch.get_num_threads():
            self._pending = None
        elif self._pending == want:
            torch.set_num_threads(want)
            self._pending = None
        else:
            self._pending = want


def _owned_scope() -> ThreadScope | None:
    """The innermost active scope of this thread, when this thread entered it; else None."""
    stack = getattr(_local, "stack", None)
    if not stack or threading.get_ident() != stack[-1]._owner:
        return None
    return stack[-1]


def cpu_host_thread(check_only: bool = False) -> bool:
    """Whether a CPU run should move its column host transform to a background thread (and claim a core).

    True inside an ``'auto'`` scope on a process allowed two or more CPUs, two of them free of other
    processes' work when the scope started: the host transform (numpy, mostly single-threaded) then overlaps
    the torch step, and the scope gives torch one thread less (at least 1), so host + compute threads still
    fit the CPUs. Claimed once per scope; False otherwise. Beside busy neighbours the transform runs inline:
    two threads of one process sharing less than two cores hand the GIL back and forth across preemptions
    (census wide & deep beside two busy processes: 32k examples/s with the thread, 46k inline;
    ``scripts/bench_contention.py``). ``check_only``: answer without claiming (torch threads unchanged).
    """
    scope = _owned_scope()
    if scope is None or scope.num_threads != AUTO or scope._free < 2:
        return False
    if check_only:
        return True
    if not scope._host_thread:
        scope._host_thread = True
        scope._cap_unclaimed = scope._cap
        scope._cap = max(1, scope._cap - 1)
        torch.set_num_threads(max(1, min(scope._cap, torch.get_num_threads())))
    return True


def release_host_thread() -> None:
    """Give the core :func:`cpu_host_thread` claimed back to torch (the host transform runs inline again)."""
    scope = _owned_scope()
    if scope is not None and scope._host_thread:
        scope._host_thread = False
        scope._cap = scope._cap_unclaimed
        torch.set_num_threads(max(1, min(scope._cap, torch.get_num_threads() + 1)))


def _set_inter_op(value: int | str) -> None:
    if value == AUTO or torch.get_num_interop_threads() == value:
        return
    try:
        torch.set_num_interop_threads(int(value))
    except RuntimeError:
        warnings.warn(
            f"RunConfig(inter_op_threads={value}) not applied: torch allows setting inter-op threads only "
            f"before its first inter-op work, and it runs with {torch.get_num_interop_threads()}; set it at "
            "the start of the program (torch.set_num_interop_threads) or leave it 'auto'.",
            RuntimeWarning,
            stacklevel=3,
        )


def threads_for_run(config: Any) -> ThreadScope:
    """The scope for one train / evaluate / predict call under ``config`` (a RunConfig; missing fields: auto)."""
    return ThreadScope(getattr(config, "num_threads", AUTO), getattr(config, "inter_op_threads", AUTO))


def adapt_threads(stream: Iterator[_T]) -> Iterator[_T]:
    """``stream`` unchanged, re-checking the innermost active scope's ``'auto'`` threads before each item.

    Closing this generator closes ``stream`` (a prefetch thread stops, the input_fn's generator runs its
    ``finally``), as ``yield from`` would.
    """
    stack = getattr(_local, "stack", None)
    if not stack:
        yield from stream
        return
    scope = stack[-1]
    try:
        for item in stream:
            scope.maybe_adapt()
            yield item
    finally:
        close_iterator(stream)


def scoped_threads(config: Any, items: Iterator[_T]) -> Iterator[_T]:
    """``items`` (predict's generator) drawn under the run's threads: set at the first item, restored when
    the generator is exhausted or closed (between items the caller's code runs with the run's setting)."""
    with threads_for_run(config):
        yield from items
