"""TF-style function model_fns: ``model_fn(features, labels, mode, params, config)`` building layers inline.

:class:`FunctionModelFn` wraps such a function in the resident ``nn.Module``. Its ``forward`` calls the
function inside a :class:`LayerScope`; every layer the function creates through ``te.compat.v1.layers``,
``te.feature_column.input_layer`` / ``linear_model``, ``te.compat.v1.get_variable`` or
``te.compat.v1.layers.module`` goes through :func:`get_or_create`, which names it as TF names variables
(the variable scope, the layer's base name, ``_1``, ``_2`` ... in call order) and:

* on the **first** call (the build) creates it on the model's device and registers it as a submodule
  (``dense``, ``dense_1``, ``scope/dense``: state_dict keys ``dense.kernel``; TF's name is the key with
  ``.`` -> ``/``, see :meth:`FunctionModelFn.tf_variable_names`);
* on every later call, in any mode, returns the registered layer; a name the build never created, or a
  layer of another kind or configuration under the same name (the call order changed between modes),
  raises :class:`~torchestimator.errors.ModelFnError`.

The Estimator builds the module before anything needs its parameters (optimizers, checkpoint restore,
warm start, DDP): :func:`~torchestimator.estimator.build_function_model` runs one forward on the first
batch of the call's input_fn, in the call's mode, without gradients and without side effects (no running-metric update,
no batch-norm moving-average update, no summary)::

    Estimator.train/evaluate/predict/export ─► build_function_model (once per process)
        ─► input_fn's first batch ─► forward(mode) in a building LayerScope ─► layers registered
        ─► host column transform refreshed ─► restore / warm start / loop as for any nn.Module
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from torchestimator.errors import InvalidArgumentError, ModelFnError
from torchestimator.spec import EstimatorSpec, ModeKeys

__all__ = [
    "FunctionModelFn",
    "LayerScope",
    "active_scope",
    "current_scope",
    "get_or_create",
    "is_function_model_fn",
    "variable_scope",
]

_ARGS = ("features", "labels", "mode", "params", "config")


def _fn_args(fn: Callable[..., Any]) -> tuple[set[str], bool]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return set(), True
    names = {n for n, p in sig.parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    return names, any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())


def is_function_model_fn(model_fn: Any) -> bool:
    """True for a TF-style function: a plain callable (not a module or class) whose first argument is ``features``."""
    if isinstance(model_fn, (nn.Module, type)) or not callable(model_fn):
        return False
    names, _ = _fn_args(model_fn)
    return "features" in names


class LayerScope:
    """The state of one model_fn call: its mode, the names used so far, the variable-scope stack."""

    def __init__(self, model: FunctionModelFn, mode: str, building: bool) -> None:
        self.model = model
        self.mode = mode
        self.building = building  # the build call: create layers, touch no running state
        self.scopes: list[str] = []
        self.reuse: list[bool] = []
        self.counts: dict[str, int] = {}
        self.used: set[str] = set()
        self.minimized: list[torch.Tensor] = []  # losses passed to v1 Optimizer.minimize this call
        self.metric_calls: dict[str, int] = {}
        self.optimizer_calls = 0
        self.regularization_losses: list[torch.Tensor] = []  # kernel_regularizer terms of this call

    def unique_name(self, base: str) -> str:
        """TF's naming: ``base``, ``base_1``, ``base_2`` ... per variable scope, in call order."""
        prefix = "/".join(self.scopes)
        key = f"{prefix}/{base}" if prefix else base
        n = self.counts.get(key, 0)
        self.counts[key] = n + 1
        name = base if n == 0 else f"{base}_{n}"
        return f"{prefix}/{name}" if prefix else name

    def explicit_name(self, name: str) -> str:
        prefix = "/".join(self.scopes)
        return f"{prefix}/{name}" if prefix else name

    def metric_key(self, base: str) -> str:
        """A stable key for a running metric (its name, numbered by call order when repeated)."""
        n = self.metric_calls.get(base, 0)
        self.metric_calls[base] = n + 1
        return base if n == 0 else f"{base}_{n}"


_current: LayerScope | None = None


def active_scope() -> LayerScope | None:
    """The scope of the running function model_fn, or None outside one."""
    return _current


def current_scope(what: str = "this call") -> LayerScope:
    """The scope of the running function model_fn.

    Raises:
        ModelFnError: called outside a function model_fn (e.g. in an ``nn.Module`` forward).
    """
    if _current is None:
        raise ModelFnError(
            f"{what} creates or reads model state and must run inside a function model_fn passed to "
            "te.Estimator(model_fn=fn) (fn(features, labels, mode, params)); inside an nn.Module model_fn, "
            "create the layer in __init__ instead."
        )
    return _current


@contextlib.contextmanager
def variable_scope(name: str, reuse: bool | None = None) -> Iterator[None]:
    """``tf.compat.v1.variable_scope(name, reuse=...)``: prefixes the names of layers and variables created inside."""
    scope = current_scope("variable_scope")
    scope.scopes.append(str(name))
    scope.reuse.append(bool(reuse) or (bool(scope.reuse) and scope.reuse[-1]))
    try:
        yield
    finally:
        scope.scopes.pop()
        scope.reuse.pop()


def get_or_create(
    base: str,
    factory: Callable[[], nn.Module],
    signature: str,
    name: str | None = None,
    what: str = "",
    reuse: bool = False,
) -> nn.Module:
    """The layer named by TF's rules in the running model_fn: created on the build call, reused afterwards.

    Args:
        base: TF's default base name (``dense``, ``conv2d``, ``input_layer``).
        factory: builds the layer (on the CPU; it is moved to the model's device).
        signature: the layer's kind and configuration; a later call under the same name must match it.
        name: an explicit name (TF's ``name=``), used as is inside the current variable scope.
        what: the public function, for messages.
        reuse: TF's ``reuse=True`` on the layer call: share an earlier layer of this name in this call.

    Raises:
        ModelFnError: see the module docstring.
    """
    scope = current_scope(what or base)
    path = scope.explicit_name(name) if name else scope.unique_name(base)
    model = scope.model
    if path in scope.used and not reuse and not (scope.reuse and scope.reuse[-1]):
        raise ModelFnError(
            f"model_fn creates the layer {path!r} twice in one call; give the second one another name, or call "
            "it inside variable_scope(..., reuse=True) to share its variables."
        )
    scope.used.add(path)
    if path in model.layer_signatures:
        known = model.layer_signatures[path]
        if known != signature:
            raise ModelFnError(
                f"in mode {scope.mode!r} the model_fn's layer {path!r} is {signature}, but the first call "
                f"(mode {model.built_mode!r}) created {known} under that name: the order of layer calls changed "
                "between modes. Create the same layers in the same order in every mode, or name them (name=...)."
            )
        return model.get_submodule_path(path)
    if not scope.building:
        raise ModelFnError(
            f"in mode {scope.mode!r} the model_fn creates the layer {path!r} ({signature}), which its first call "
            f"(mode {model.built_mode!r}) did not create; layers are built once and shared by every mode. Create "
            f"every layer in every mode (compute it and use it only where needed). Layers built: "
            f"{sorted(model.layer_signatures) or 'none'}."
        )
    layer = factory().to(model.device)
    model.register_layer(path, layer, signature)
    return layer


class FunctionModelFn(nn.Module):
    """The resident module of a function model_fn (see the module docstring).

    Args:
        fn: ``fn(features, labels, mode, params, config)``, naming any subset (``features`` required).
        params: the Estimator's params (passed if ``fn`` names ``params``).
        config: the RunConfig (passed if ``fn`` names ``config``).

    Raises:
        InvalidArgumentError: ``fn`` does not take ``features``, or names an argument TF does not pass.
    """

    def __init__(self, fn: Callable[..., Any], params: dict[str, Any], config: Any) -> None:
        super().__init__()
        names, var_kw = _fn_args(fn)
        unknown = sorted(names - set(_ARGS))
        if "features" not in names or unknown:
            raise InvalidArgumentError(
                f"model_fn {getattr(fn, '__name__', fn)!r} must take `features` and may take only {list(_ARGS)}; "
                f"its arguments are {sorted(names)}."
            )
        self._fn = fn
        self.fn_name = getattr(fn, "__name__", type(fn).__name__)
        self._accepts = {n for n in _ARGS if n in names or var_kw}
        self._params, self._config = params, config
        self.layer_signatures: dict[str, str] = {}
        self.built_mode: str | None = None
        self.global_step_fn: Callable[[], int] = lambda: 0
        self.running_metrics: dict[str, dict[str, tuple[torch.Tensor, ...]]] = {}
        self.v1_optimizers: dict[str, torch.optim.Optimizer] = {}
        self.register_buffer("_device_probe", torch.zeros(0), persistent=False)

    @property
    def built(self) -> bool:
        return self.built_mode is not None

    @property
    def device(self) -> torch.device:
        probe = self._device_probe
        assert isinstance(probe, torch.Tensor)
        return probe.device

    def register_layer(self, path: str, layer: nn.Module, signature: str) -> None:
        """Register ``layer`` under ``path`` (``a/b/dense``: one submodule name; ``/`` is allowed, ``.`` is not)."""
        if "." in path:
            raise InvalidArgumentError(f"layer and scope names may not contain '.'; received {path!r}.")
        self.add_module(path, layer)
        self.layer_signatures[path] = signature

    def get_submodule_path(self, path: str) -> nn.Module:
        module = self._modules[path]
        assert module is not None
        return module

    def tf_variable_names(self) -> dict[str, str]:
        """TF variable name -> state_dict key (``dense/kernel`` -> ``dense.kernel``) for every tensor."""
        names = {
            key.replace(".", "/"): key
            for key, value in self.state_dict().items()
            if isinstance(value, torch.Tensor) and not key.startswith("_")
        }
        for path, module in self.named_modules():
            if getattr(
                module, "is_tf_variable", False
            ):  # get_variable's holder: TF's name is the path itself
                names[path] = names.pop(f"{path}/value")
        return names

    def train(self, mode: bool = True) -> FunctionModelFn:
        """As ``nn.Module.train``; a new training run (train() while training) or evaluation restarts the
        running values of ``te.compat.v1.metrics``, as TF's local variables restart with each session."""
        if mode and self.training:
            self.running_metrics.pop(ModeKeys.TRAIN, None)
        elif not mode:
            self.running_metrics.pop(ModeKeys.EVAL, None)
            self.running_metrics.pop(ModeKeys.PREDICT, None)
        return super().train(mode)

    def forward(
        self,
        features: Any,
        labels: Any = None,
        mode: str = ModeKeys.TRAIN,
        params: Any = None,
        config: Any = None,
    ) -> EstimatorSpec:
        return self.call(features, labels, mode, building=not self.built)

    def call(self, features: Any, labels: Any, mode: str, building: bool) -> EstimatorSpec:
        """Call the function in a :class:`LayerScope` (``building``: the build call of the module docstring)."""
        global _current
        kwargs: dict[str, Any] = {"features": features}
        if "labels" in self._accepts:
            kwargs["labels"] = labels
        elif labels is not None:
            raise InvalidArgumentError(
                f"model_fn {self.fn_name!r} does not take labels, but input_fn returns labels; add a `labels` "
                "argument or yield features only."
            )
        extra = {"mode": mode, "params": self._params, "config": self._config}
        kwargs.update({k: v for k, v in extra.items() if k in self._accepts})
        previous, _current = _current, LayerScope(self, mode, building)
        scope = _current
        try:
            spec = self._fn(**kwargs)
        finally:
            _current = previous
        if building and self.built_mode is None:
            self.built_mode = mode
        if isinstance(spec, EstimatorSpec) and mode == ModeKeys.TRAIN:
            _check_minimized_loss(scope, spec, self.fn_name)
        return spec

    def extra_repr(self) -> str:
        return f"fn={self.fn_name}"


def _check_minimized_loss(scope: LayerScope, spec: EstimatorSpec, fn_name: str) -> None:
    if scope.minimized and all(loss is not spec.loss for loss in scope.minimized):
        raise ModelFnError(
            f"model_fn {fn_name!r} calls optimizer.minimize(loss) on a tensor other than the EstimatorSpec's "
            "`loss`; the loop backpropagates the spec's loss, so pass the same tensor to both (add any "
            "regularization to the loss first)."
        )
