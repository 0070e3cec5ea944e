"""``TrainSpec`` and ``EvalSpec``: what ``train_and_evaluate`` trains and evaluates on (validated eagerly).

Re-exported by :mod:`torchestimator.estimator` and the top-level package (``torchestimator.TrainSpec``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from torchestimator.errors import InvalidArgumentError
from torchestimator.hooks.base import CheckpointSaverListener, Hook
from torchestimator.hooks.session_run import as_loop_hooks, is_session_run_hook

__all__ = ["EvalSpec", "TrainSpec"]


def _check_input_fn(input_fn: Any) -> None:
    if not callable(input_fn):
        raise InvalidArgumentError(f"`input_fn` must be callable, given: {input_fn!r}")


def _check_hooks(hooks: Any) -> tuple[Hook, ...]:
    hooks = tuple(hooks or ())
    for hook in hooks:
        if not isinstance(hook, Hook) and not is_session_run_hook(hook):  # TF-style SessionRunHooks too
            raise InvalidArgumentError(f"All hooks must be `torchestimator.Hook` instances, given: {hook!r}")
    return tuple(as_loop_hooks(hooks))


def _check_exporters(exporters: Any) -> tuple[Any, ...]:
    if not exporters:
        return ()
    if hasattr(exporters, "export") and hasattr(exporters, "name"):
        exporters = [exporters]
    try:
        exporters = tuple(exporters)
    except TypeError:
        raise InvalidArgumentError(
            f"`exporters` must be an Exporter, an iterable of Exporter, or `None`, found {exporters!r}."
        ) from None
    names: list[Any] = [getattr(e, "name", None) for e in exporters]
    for exporter, name in zip(exporters, names):
        if not callable(getattr(exporter, "export", None)):
            raise InvalidArgumentError(
                f"`exporters` must be an Exporter, an iterable of Exporter, or `None`, found {exporter!r} (an "
                "exporter needs a `name` and an `export(estimator, export_path, checkpoint_path, eval_result, "
                "is_the_final_export)` method)."
            )
        if not name:
            raise InvalidArgumentError(
                f"An Exporter cannot have a name that is `None` or empty. All exporter names: {names}"
            )
        if not isinstance(name, str):
            raise InvalidArgumentError(f"An Exporter must have a string name. Given: {type(name)}")
    if len(set(names)) != len(names):
        raise InvalidArgumentError(
            f"`exporters` must have unique names. Such a name cannot be `None`. All exporter names: {names}"
        )
    return exporters


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """What to train on and for how long (tf.estimator.TrainSpec).

    Args:
        input_fn: the training ``input_fn``.
        max_steps: train until this global step; ``None`` trains until the input ends (under
            distribution the only reliable stop: with N ranks reading one epoch each, the input ends
            after N epochs of data).
        hooks: extra training hooks.
        saving_listeners: extra checkpoint saving listeners (they fire on the chief).

    Raises:
        InvalidArgumentError: a non-callable ``input_fn``, ``max_steps <= 0``, a hook that is not a
            :class:`~torchestimator.Hook`, a listener that is not a ``CheckpointSaverListener``.
    """

    input_fn: Callable[..., Any]
    max_steps: int | None = None
    hooks: Sequence[Hook] = ()
    saving_listeners: Sequence[CheckpointSaverListener] = ()

    def __post_init__(self) -> None:
        _check_input_fn(self.input_fn)
        if self.max_steps is not None and self.max_steps <= 0:
            raise InvalidArgumentError(f"Must specify max_steps > 0, given: {self.max_steps}")
        object.__setattr__(self, "hooks", _check_hooks(self.hooks))
        listeners = tuple(self.saving_listeners or ())
        for listener in listeners:
            if not isinstance(listener, CheckpointSaverListener):
                raise InvalidArgumentError(
                    f"All saving_listeners must be `CheckpointSaverListener` instances, given: {listener!r}"
                )
        object.__setattr__(self, "saving_listeners", listeners)


@dataclasses.dataclass(frozen=True)
class EvalSpec:
    """What to evaluate on, how often, and which exporters to run (tf.estimator.EvalSpec).

    Args:
        input_fn: the evaluation ``input_fn``.
        steps: evaluate this many batches (TF's default is 100); ``None`` evaluates until the input ends.
        name: evaluation name; results go to ``model_dir/eval_<name>`` (``model_dir/eval`` if ``None``).
        hooks: evaluation hooks.
        exporters: an exporter or an iterable of exporters with unique names.
        start_delay_secs: the evaluator process waits this long before its first evaluation
            (unused locally, as in TF).
        throttle_secs: evaluate again only after this many seconds (0: after every checkpoint).
        every_n_steps: torchestimator extension: evaluate every N global steps on the live model
            (every rank in step; no checkpoint needed) instead of after checkpoints subject to
            ``throttle_secs``. Exporters then get the latest checkpoint, so make
            ``save_checkpoints_steps`` divide N for the export to match the evaluated step.

    Raises:
        InvalidArgumentError: a bad ``input_fn``, ``steps``, ``name``, hooks, exporters, delay or
            throttle (TF's messages).
    """

    input_fn: Callable[..., Any]
    steps: int | None = 100
    name: str | None = None
    hooks: Sequence[Hook] = ()
    exporters: Any = ()
    start_delay_secs: float = 120
    throttle_secs: float = 600
    every_n_steps: int | None = None

    def __post_init__(self) -> None:
        _check_input_fn(self.input_fn)
        if self.steps is not None and self.steps <= 0:
            raise InvalidArgumentError(f"Must specify steps > 0, given: {self.steps}")
        if self.name is not None and not isinstance(self.name, str):
            raise InvalidArgumentError(f"`name` must be string, given: {self.name!r}")
        object.__setattr__(self, "hooks", _check_hooks(self.hooks))
        object.__setattr__(self, "exporters", _check_exporters(self.exporters))
        if self.start_delay_secs < 0:
            raise InvalidArgumentError(f"Must specify start_delay_secs >= 0, given: {self.start_delay_secs}")
        if self.throttle_secs < 0:
            raise InvalidArgumentError(f"Must specify throttle_secs >= 0, given: {self.throttle_secs}")
        if self.every_n_steps is not None and (
            isinstance(self.every_n_steps, bool) or self.every_n_steps <= 0
        ):
            raise InvalidArgumentError(
                f"every_n_steps must be a positive int or None; received {self.every_n_steps!r}."
            )
