"""``SecondOrStepTimer``: TF's trigger rule for hooks that act every N steps or every N seconds.

It fires on the first step it sees, then once ``every_steps`` steps (or ``every_secs`` seconds) have passed since
it last fired, counting from the step at which it fired, not from multiples of N. With ``every_steps=100``, a
summary hook that asks after each step writes at global steps 1, 101, 201, ... and a run resumed at step 500
writes at 501, 601, ... (TF 2.15's event files: ``tests/fixtures/summaries/tf_summary_steps.json``).

>>> t = SecondOrStepTimer(every_steps=4)
>>> fired = []
>>> for step in range(1, 11):
...     if t.should_trigger_for_step(step):
...         _ = t.update_last_triggered_step(step)
...         fired.append(step)
>>> fired
[1, 5, 9]
"""

from __future__ import annotations

import time

from torchestimator.errors import InvalidArgumentError

__all__ = ["SecondOrStepTimer"]


class SecondOrStepTimer:
    """Triggers every ``every_secs`` seconds or every ``every_steps`` steps (exactly one of them).

    Raises:
        InvalidArgumentError: both or neither of ``every_secs`` / ``every_steps`` are given, or one is < 0.
    """

    def __init__(self, every_secs: float | None = None, every_steps: int | None = None) -> None:
        if (every_secs is None) == (every_steps is None):
            raise InvalidArgumentError(
                "SecondOrStepTimer needs exactly one of every_secs and every_steps; received "
                f"every_secs={every_secs!r}, every_steps={every_steps!r}."
            )
        if (every_secs is not None and every_secs < 0) or (every_steps is not None and every_steps < 0):
            raise InvalidArgumentError(
                f"every_secs / every_steps must be >= 0; received {every_secs!r} / {every_steps!r}."
            )
        self._every_secs = every_secs
        self._every_steps = every_steps
        self.reset()

    def reset(self) -> None:
        """Forget the last trigger: the next step asked about fires."""
        self._last_triggered_step: int | None = None
        self._last_triggered_time: float | None = None

    def should_trigger_for_step(self, step: int) -> bool:
        """Whether ``step`` is due: the first step seen, or enough steps / seconds since the last trigger."""
        if self._last_triggered_step is None:
            return True
        if self._last_triggered_step == step:
            return False
        if self._every_secs is not None:
            assert self._last_triggered_time is not None  # set together with the step
            return time.time() >= self._last_triggered_time + self._every_secs
        assert self._every_steps is not None  # exactly one is set (checked in __init__)
        return step >= self._last_triggered_step + self._every_steps

    def update_last_triggered_step(self, step: int) -> tuple[float | None, int | None]:
        """Record a trigger at ``step``; returns (seconds, steps) since the previous one, or (None, None)."""
        now = time.time()
        if self._last_triggered_time is None:
            elapsed: tuple[float | None, int | None] = (None, None)
        else:
            assert self._last_triggered_step is not None
            elapsed = (now - self._last_triggered_time, step - self._last_triggered_step)
        self._last_triggered_time, self._last_triggered_step = now, step
        return elapsed

    def last_triggered_step(self) -> int | None:
        """The step of the last trigger, or None."""
        return self._last_triggered_step
