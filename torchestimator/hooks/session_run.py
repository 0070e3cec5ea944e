"""TF's ``SessionRunHook`` protocol on top of the loops' :class:`~torchestimator.hooks.base.Hook` events.

A TF hook ports with its methods unchanged::

    TF (MonitoredSession)                      torchestimator loop event
    ----------------------------------------   ---------------------------------------------
    begin()                                    Hook.begin
    after_create_session(session, coord)       right after begin (the model is restored)
    before_run(run_context) -> SessionRunArgs  Hook.before_step (before the forward)
    after_run(run_context, run_values)         Hook.after_step (after the optimizer step)
    end(session)                               Hook.end

There is no graph, so ``SessionRunArgs.fetches`` name what to fetch (a string, or a list / tuple / dict of
them, as TF nests fetches); ``run_values.results`` has the same structure with numpy values. A name is
``loss``, ``global_step`` (in TRAIN the value *before* the step, as TF's ``stale_global_step``), a key of the
spec's ``predictions``, a ``te.summary.scalar`` / ``histogram`` tag recorded in the step, ``labels`` or a
feature key (TF's ``:0`` suffix is ignored). A hook a model_fn returns in ``training_hooks`` may also fetch
the tensors themselves (``LoggingTensorHook({'loss': loss})``): each is matched by identity, on the first
step, to the spec's loss / predictions / summaries and fetched by that name on every later step.
``run_context.session.run(fetches)`` reads the same names (``global_step`` after the step); at the end of
``evaluate`` (``end(session)``, e.g. :class:`FinalOpsHook`) also the names of the evaluation's results.
``SessionRunArgs.feed_dict`` replaces features by key (or ``labels``) for that step's forward.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
import torch

from torchestimator import summary
from torchestimator.errors import InvalidArgumentError
from torchestimator.hooks.base import CheckpointSaverListener, Hook, RunContext
from torchestimator.mode_keys import ModeKeys

__all__ = [
    "SessionRunArgs",
    "SessionRunContext",
    "SessionRunHook",
    "SessionRunValues",
    "StepSession",
    "as_loop_hooks",
    "as_saving_listeners",
    "is_session_run_hook",
]


class SessionRunArgs(NamedTuple):
    """What a hook asks of the coming step (tf.estimator.SessionRunArgs)."""

    fetches: Any
    feed_dict: Mapping[str, Any] | None = None
    options: Any = None


class SessionRunValues(NamedTuple):
    """What the step returned for a hook's fetches (tf.estimator.SessionRunValues)."""

    results: Any
    options: Any = None
    run_metadata: Any = None


class StepSession:
    """The ``session`` TF hooks receive: ``run(fetches)`` reads named values of the current step."""

    def __init__(self, ctx: RunContext, adapter: SessionRunHookAdapter) -> None:
        self._ctx = ctx
        self._adapter = adapter

    @property
    def estimator(self) -> Any:
        """The Estimator running the hooks."""
        return self._ctx.estimator

    @property
    def run_context(self) -> RunContext:
        """The loop's :class:`RunContext` (mode, global step, spec, features, labels)."""
        return self._ctx

    def run(self, fetches: Any, feed_dict: Any = None) -> Any:
        """Values of ``fetches`` (names, see the module docstring) now: ``global_step`` is the current step."""
        return self._adapter.resolve(fetches, self._ctx, stale=False)


class SessionRunContext:
    """Passed to ``before_run`` / ``after_run`` (tf.estimator.SessionRunContext)."""

    def __init__(self, original_args: SessionRunArgs, session: StepSession) -> None:
        self._original_args = original_args
        self._session = session
        self._stop_requested = False

    @property
    def original_args(self) -> SessionRunArgs:
        return self._original_args

    @property
    def session(self) -> StepSession:
        return self._session

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested

    def request_stop(self) -> None:
        """Ask the loop to stop after this step."""
        self._stop_requested = True


class SessionRunHook:
    """Base class of TF-style hooks (tf.estimator.SessionRunHook); override what you need."""

    def begin(self) -> None:
        """Before the first step."""

    def after_create_session(self, session: StepSession, coord: Any) -> None:
        """After the model is restored, before the first step (``coord`` is always None)."""

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs | None:
        """Before each step; return :class:`SessionRunArgs` to fetch named values or feed features."""
        return None

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        """After each step, with the fetched values in ``run_values.results``."""

    def end(self, session: StepSession) -> None:
        """After the last step."""


def is_session_run_hook(hook: Any) -> bool:
    """Whether ``hook`` follows TF's protocol (a :class:`SessionRunHook`, or ``before_run`` / ``after_run``)."""
    if isinstance(hook, SessionRunHook):
        return True
    return not isinstance(hook, Hook) and (hasattr(hook, "before_run") or hasattr(hook, "after_run"))


def as_loop_hooks(hooks: Iterable[Any] | None) -> list[Hook]:
    """The loop hooks for ``hooks``: :class:`Hook` as is, TF-style hooks wrapped in their adapter.

    Raises:
        InvalidArgumentError: an object that is neither (named in the message).
    """
    out: list[Hook] = []
    for hook in hooks or ():
        if isinstance(hook, Hook):
            out.append(hook)
        elif is_session_run_hook(hook):
            out.append(SessionRunHookAdapter(hook))
        else:
            raise InvalidArgumentError(
                f"hooks must be te.hooks.Hook or te.SessionRunHook instances; received {type(hook).__name__}."
            )
    return out


class _ListenerAdapter(CheckpointSaverListener):
    """A TF listener whose methods take ``(session, global_step)``: called with ``session=None``."""

    def __init__(self, listener: Any) -> None:
        self.listener = listener

    def _call(self, name: str, *args: Any) -> Any:
        method = getattr(self.listener, name, None)
        if method is None:
            return None
        return method(*args) if _arity(method) <= len(args) else method(None, *args)

    def begin(self) -> None:
        self._call("begin")

    def before_save(self, global_step: int) -> None:
        self._call("before_save", global_step)

    def after_save(self, global_step: int) -> bool | None:
        return bool(self._call("after_save", global_step))

    def end(self, global_step: int) -> None:
        self._call("end", global_step)


def _arity(method: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return 1
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


def _takes_session(listener: Any) -> bool:
    for name, arity in (("begin", 0), ("before_save", 1), ("after_save", 1), ("end", 1)):
        method = getattr(listener, name, None)
        if method is not None and _arity(method) > arity:
            return True
    return not isinstance(listener, CheckpointSaverListener)


def as_saving_listeners(listeners: Iterable[Any] | None) -> list[CheckpointSaverListener]:
    """Saving listeners with TF's ``(session, global_step)`` signatures adapted to the loop's ``(global_step)``."""
    return [_ListenerAdapter(x) if _takes_session(x) else x for x in listeners or ()]


def _strip(name: str) -> str:
    return name[:-2] if name.endswith(":0") else name


def _numpy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return value


class SessionRunHookAdapter(Hook):
    """Runs one :class:`SessionRunHook` at the loop's events (see the module docstring)."""

    def __init__(self, hook: Any) -> None:
        self.hook = hook
        self._args: SessionRunArgs | None = None
        self._run_context: SessionRunContext | None = None
        self._recording: summary.Recording | None = None
        self._own_recording = False
        self._names_by_id: dict[int, str] = {}
        self._prediction_keys: set[str] = set()  # seen in earlier steps: fetching them needs no recording

    def begin(self, ctx: RunContext) -> None:
        self.hook.begin()
        self.hook.after_create_session(StepSession(ctx, self), None)

    def before_step(self, ctx: RunContext) -> None:
        self._start_run(ctx, may_feed=True)

    def _start_run(self, ctx: RunContext, may_feed: bool) -> None:
        run_context = SessionRunContext(SessionRunArgs(fetches=None), StepSession(ctx, self))
        args = self.hook.before_run(run_context)
        if args is not None and not isinstance(args, SessionRunArgs):
            args = SessionRunArgs(fetches=args)  # TF accepts fetches alone
        self._args, self._run_context = args, run_context
        if args is not None and args.feed_dict and may_feed:
            self._feed(ctx, args.feed_dict)
        if args is not None and ctx.mode == ModeKeys.TRAIN and self._needs_recording(args.fetches, ctx):
            active = summary.active_recording()
            self._own_recording = active is None
            self._recording = active if active is not None else summary.start_recording()

    def _leaf_names(self, fetches: Any) -> list[str | None]:
        if isinstance(fetches, Mapping):
            return [n for v in fetches.values() for n in self._leaf_names(v)]
        if isinstance(fetches, (list, tuple)):
            return [n for v in fetches for n in self._leaf_names(v)]
        if isinstance(fetches, torch.Tensor):
            return [self._names_by_id.get(id(fetches))]  # None: not matched yet
        return [_strip(fetches)] if isinstance(fetches, str) else []

    def _needs_recording(self, fetches: Any, ctx: RunContext) -> bool:
        """Whether a fetch may be a te.summary tag: only then is the step's summary recording switched on."""
        known = {"loss", "global_step", "labels", *self._prediction_keys}
        if isinstance(ctx.features, Mapping):
            known.update(str(k) for k in ctx.features)
        return any(name is None or name not in known for name in self._leaf_names(fetches))

    def _feed(self, ctx: RunContext, feed_dict: Mapping[str, Any]) -> None:
        for key, value in feed_dict.items():
            key = _strip(str(key))
            if key == "labels":
                raise InvalidArgumentError(
                    "SessionRunArgs.feed_dict cannot replace the labels of a step (the loop already holds "
                    "them); feed feature keys only."
                )
            if not isinstance(ctx.features, dict) or key not in ctx.features:
                available = sorted(ctx.features) if isinstance(ctx.features, dict) else []
                raise InvalidArgumentError(
                    f"SessionRunArgs.feed_dict key {key!r} is not a feature of this step; features: {available}."
                )
            old = ctx.features[key]
            new = torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value)
            ctx.features[key] = new.to(old.device) if isinstance(old, torch.Tensor) else new

    def after_step(self, ctx: RunContext) -> None:
        if self._run_context is None:  # a spec's hook joins after its first forward: run it for that step too
            self._start_run(ctx, may_feed=False)
        run_context, args = self._run_context, self._args
        assert run_context is not None
        self._run_context = self._args = None
        results = None if args is None else self.resolve(args.fetches, ctx, stale=True)
        if ctx.spec is not None and isinstance(ctx.spec.predictions, Mapping):
            self._prediction_keys = {str(k) for k in ctx.spec.predictions}
        if self._recording is not None:
            if self._own_recording and summary.active_recording() is self._recording:
                summary.stop_recording()
            self._recording = None
        self.hook.after_run(run_context, SessionRunValues(results=results, options=args and args.options))
        if run_context.stop_requested:
            ctx.request_stop()

    def end(self, ctx: RunContext) -> None:
        self.hook.end(StepSession(ctx, self))

    # ------------------------------------------------------------------ fetching by name
    def resolve(self, fetches: Any, ctx: RunContext, stale: bool) -> Any:
        """``fetches`` with every name (or model tensor) replaced by its numpy value in this step."""
        if fetches is None:
            return None
        if isinstance(fetches, Mapping):
            return {k: self.resolve(v, ctx, stale) for k, v in fetches.items()}
        if isinstance(fetches, (list, tuple)):
            return type(fetches)(self.resolve(v, ctx, stale) for v in fetches)
        if isinstance(fetches, torch.Tensor):
            return self._value(self._name_of_tensor(fetches, ctx), ctx, stale)
        if isinstance(fetches, str):
            return self._value(_strip(fetches), ctx, stale)
        raise InvalidArgumentError(
            f"a fetch must be a name (str), a model tensor, or a list / dict of them; received "
            f"{type(fetches).__name__}."
        )

    def _candidates(self, ctx: RunContext) -> dict[str, Any]:
        spec = ctx.spec
        named: dict[str, Any] = {}
        if isinstance(ctx.features, Mapping):
            named.update({str(k): v for k, v in ctx.features.items()})
        if ctx.labels is not None:
            named["labels"] = ctx.labels
        if self._recording is not None:
            named.update(self._recording.histograms)
            named.update(self._recording.scalars)
        if spec is not None:
            if isinstance(spec.predictions, Mapping):
                named.update({str(k): v for k, v in spec.predictions.items()})
            elif spec.predictions is not None:
                named["predictions"] = spec.predictions
            if spec.loss is not None:
                named["loss"] = spec.loss
        if ctx.results:  # at the end of evaluate: the streamed metrics (what TF's FinalOpsHook reads)
            named.update({str(k): v for k, v in ctx.results.items() if k != "global_step"})
        return named

    def _name_of_tensor(self, tensor: torch.Tensor, ctx: RunContext) -> str:
        name = self._names_by_id.get(id(tensor))
        if name is not None:
            return name
        for key, value in self._candidates(ctx).items():
            if value is tensor:
                self._names_by_id[id(tensor)] = key
                return key
        raise InvalidArgumentError(
            f"{type(self.hook).__name__} fetches a tensor that is not the spec's loss, one of its predictions "
            "or a te.summary value of this step; return it in `predictions` (or record it with "
            "te.summary.scalar) and fetch it by that name."
        )

    def _value(self, name: str, ctx: RunContext, stale: bool) -> Any:
        if name == "global_step":
            step = ctx.global_step - 1 if (stale and ctx.mode == "train") else ctx.global_step
            return np.int64(step)
        candidates = self._candidates(ctx)
        if name not in candidates:
            raise InvalidArgumentError(
                f"{type(self.hook).__name__} fetches {name!r}, which this step does not have; available: "
                f"{sorted(['global_step', *candidates])}."
            )
        return _numpy(candidates[name])
