"""The handful of ``tf.*`` ops and graph names TF1 model_fns use around their layers, on torch tensors.

Initializers are callables ``init(shape, dtype) -> tensor`` with TF's distributions; :func:`get_variable`
creates a parameter of the running function model_fn once (named by the variable scope) and returns it
on every later call.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from torchestimator.errors import InvalidArgumentError

__all__ = [
    "AUTO_REUSE",
    "GraphKeys",
    "argmax",
    "argmin",
    "bool_",
    "cast",
    "concat",
    "constant_initializer",
    "control_dependencies",
    "equal",
    "expand_dims",
    "float32",
    "float64",
    "get_collection",
    "get_variable",
    "glorot_normal_initializer",
    "glorot_uniform_initializer",
    "identity",
    "int32",
    "int64",
    "name_scope",
    "newaxis",
    "ones_initializer",
    "random_normal_initializer",
    "random_uniform_initializer",
    "reduce_max",
    "reduce_mean",
    "reduce_min",
    "reduce_sum",
    "reshape",
    "sigmoid",
    "square",
    "squeeze",
    "tanh",
    "truncated_normal_initializer",
    "variable_scope",
    "zeros_initializer",
]

Initializer = Callable[[Sequence[int], torch.dtype], torch.Tensor]

newaxis = None
float32, float64, int32, int64, bool_ = torch.float32, torch.float64, torch.int32, torch.int64, torch.bool
AUTO_REUSE = True  # tf.compat.v1.AUTO_REUSE: reuse if the layer exists


def zeros_initializer() -> Initializer:
    def init(shape: Sequence[int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.zeros(tuple(shape), dtype=dtype)

    return init


def ones_initializer() -> Initializer:
    def init(shape: Sequence[int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.ones(tuple(shape), dtype=dtype)

    return init


def constant_initializer(value: Any = 0) -> Initializer:
    def init(shape: Sequence[int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        v = torch.as_tensor(value, dtype=dtype)
        return v.expand(tuple(shape)).clone() if v.numel() == 1 else v.reshape(tuple(shape)).clone()

    return init


def _fans(shape: Sequence[int]) -> tuple[float, float]:
    """TF's fan_in / fan_out: the last two dims, times the receptive field for conv kernels."""
    if len(shape) < 1:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    receptive = math.prod(shape[:-2])
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


def glorot_uniform_initializer(seed: int | None = None) -> Initializer:
    """TF1's default kernel initializer: U(-l, l), ``l = sqrt(6 / (fan_in + fan_out))``."""

    def init(shape: Sequence[int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        fan_in, fan_out = _fans(shape)
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return torch.empty(tuple(shape), dtype=dtype).uniform_(-limit, limit)

    return init


def glorot_normal_initializer(seed: int | None = None) -> Initializer:
    """Truncated normal with ``stddev = sqrt(2 / (fan_in + fan_out)) / 0.8796`` (TF's variance scaling)."""

    def init(shape: Sequence[int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        fan_in, fan_out = _fans(shape)
        std = math.sqrt(2.0 / (fan_in + fan_out)) / 0.87962566103423978
        return torch.nn.init.trunc_normal_(
            torch.empty(tuple(shape), dtype=dtype), 0.0, std, -2 * std, 2 * std
        )

    return init


def truncated_normal_initializer(
    mean: float = 0.0, stddev: float = 1.0, seed: int | None = None
) -> Initializer:
    def init(shape: Sequence[int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        t = torch.empty(tuple(shape), dtype=dtype)
        return torch.nn.init.trunc_normal_(t, mean, stddev, mean - 2 * stddev, mean + 2 * stddev)

    return init


def random_normal_initializer(mean: float = 0.0, stddev: float = 1.0, seed: int | None = None) -> Initializer:
    def init(shape: Sequence[int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.empty(tuple(shape), dtype=dtype).normal_(mean, stddev)

    return init


def random_uniform_initializer(
    minval: float = -0.05, maxval: float = 0.05, seed: int | None = None
) -> Initializer:
    def init(shape: Sequence[int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.empty(tuple(shape), dtype=dtype).uniform_(minval, maxval)

    return init


def initial_value(
    initializer: Any, shape: Sequence[int] | None, dtype: torch.dtype, name: str
) -> torch.Tensor:
    """A variable's first value from a TF-style initializer, a tensor / number, or None (glorot uniform)."""
    if initializer is None:
        if shape is None:
            raise InvalidArgumentError(f"get_variable({name!r}): give a shape or an initializer value.")
        return glorot_uniform_initializer()(shape, dtype)
    if callable(initializer):
        if shape is None:
            raise InvalidArgumentError(f"get_variable({name!r}): an initializer function needs a shape.")
        return torch.as_tensor(initializer(shape, dtype), dtype=dtype)
    value = torch.as_tensor(initializer, dtype=dtype if not isinstance(initializer, torch.Tensor) else None)
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise InvalidArgumentError(
            f"get_variable({name!r}): the initial value has shape {list(value.shape)}, not the shape {list(shape)}."
        )
    return value.detach().clone()


def get_variable(
    name: str,
    shape: Sequence[int] | None = None,
    dtype: torch.dtype | None = None,
    initializer: Any = None,
    trainable: bool = True,
    **unused: Any,
) -> torch.nn.Parameter:
    """``tf.compat.v1.get_variable``: a parameter of the running function model_fn, created on its first call.

    The state_dict key is the TF name (``scope/name``). Raises ModelFnError outside a function model_fn.
    """
    from torchestimator.function_model import get_or_create

    resolved = dtype or (initializer.dtype if isinstance(initializer, torch.Tensor) else torch.float32)
    holder = get_or_create(
        name,
        lambda: _Variable(initial_value(initializer, shape, resolved, name), trainable),
        f"variable(shape={list(shape) if shape is not None else 'from initializer'}, dtype={resolved})",
        name=name,
        what="get_variable",
    )
    assert isinstance(holder, _Variable)
    return holder.value


class _Variable(torch.nn.Module):
    """Holds one variable (``<name>.value`` in the state_dict; TF's name is ``<name>``, see tf_variable_names)."""

    is_tf_variable = True

    def __init__(self, value: torch.Tensor, trainable: bool) -> None:
        super().__init__()
        self.value = torch.nn.Parameter(value, requires_grad=trainable and value.is_floating_point())


def variable_scope(
    name_or_scope: str, default_name: str | None = None, reuse: Any = None, **unused: Any
) -> Any:
    """``tf.compat.v1.variable_scope``: prefixes the layers and variables created inside (``scope/dense``)."""
    from torchestimator.function_model import variable_scope as scope

    return scope(name_or_scope or default_name or "", reuse=bool(reuse))


@contextlib.contextmanager
def name_scope(name: str, default_name: str | None = None, values: Any = None) -> Iterator[str]:
    """``tf.name_scope``: names ops, not variables; nothing to do here."""
    yield name


class GraphKeys:
    """The collection names TF1 code passes to :func:`get_collection`."""

    UPDATE_OPS = "update_ops"
    REGULARIZATION_LOSSES = "regularization_losses"
    LOSSES = "losses"
    TRAINABLE_VARIABLES = "trainable_variables"
    GLOBAL_STEP = "global_step"


def get_collection(key: str, scope: str | None = None) -> list[Any]:
    """``tf.compat.v1.get_collection``: UPDATE_OPS is empty (batch norm updates its moving statistics itself);
    REGULARIZATION_LOSSES holds this call's layer regularization terms; TRAINABLE_VARIABLES the model's parameters."""
    from torchestimator.function_model import current_scope

    state = current_scope("get_collection")
    if key == GraphKeys.UPDATE_OPS:
        return []
    if key == GraphKeys.REGULARIZATION_LOSSES:
        return list(getattr(state, "regularization_losses", []))
    if key == GraphKeys.TRAINABLE_VARIABLES:
        return [p for p in state.model.parameters() if p.requires_grad]
    raise InvalidArgumentError(
        f"get_collection({key!r}): supported keys are UPDATE_OPS, REGULARIZATION_LOSSES and TRAINABLE_VARIABLES."
    )


@contextlib.contextmanager
def control_dependencies(control_inputs: Any) -> Iterator[None]:
    """``tf.control_dependencies``: eager code runs in order already."""
    yield


def identity(x: Any, name: str | None = None) -> Any:
    return x


def argmax(
    input: torch.Tensor, axis: int | None = None, name: str | None = None, output_type: Any = None
) -> torch.Tensor:
    return torch.argmax(input, dim=0 if axis is None else axis)


def argmin(
    input: torch.Tensor, axis: int | None = None, name: str | None = None, output_type: Any = None
) -> torch.Tensor:
    return torch.argmin(input, dim=0 if axis is None else axis)


def cast(x: Any, dtype: torch.dtype, name: str | None = None) -> torch.Tensor:
    return torch.as_tensor(x).to(dtype)


def _reduce(fn: Callable[..., torch.Tensor], x: torch.Tensor, axis: Any, keepdims: bool) -> torch.Tensor:
    if axis is None:
        return fn(x) if not keepdims else fn(x).reshape([1] * x.dim())
    return fn(x, dim=axis, keepdim=keepdims)


def reduce_mean(
    input_tensor: torch.Tensor, axis: Any = None, keepdims: bool = False, name: str | None = None
) -> torch.Tensor:
    return _reduce(torch.mean, input_tensor, axis, keepdims)


def reduce_sum(
    input_tensor: torch.Tensor, axis: Any = None, keepdims: bool = False, name: str | None = None
) -> torch.Tensor:
    return _reduce(torch.sum, input_tensor, axis, keepdims)


def reduce_max(
    input_tensor: torch.Tensor, axis: Any = None, keepdims: bool = False, name: str | None = None
) -> torch.Tensor:
    return _reduce(torch.amax, input_tensor, axis, keepdims)


def reduce_min(
    input_tensor: torch.Tensor, axis: Any = None, keepdims: bool = False, name: str | None = None
) -> torch.Tensor:
    return _reduce(torch.amin, input_tensor, axis, keepdims)


def reshape(tensor: torch.Tensor, shape: Sequence[int], name: str | None = None) -> torch.Tensor:
    return torch.reshape(tensor, tuple(shape))


def squeeze(input: torch.Tensor, axis: Any = None, name: str | None = None) -> torch.Tensor:
    return input.squeeze() if axis is None else input.squeeze(axis)


def expand_dims(input: torch.Tensor, axis: int, name: str | None = None) -> torch.Tensor:
    return input.unsqueeze(axis)


def concat(values: Sequence[torch.Tensor], axis: int, name: str | None = None) -> torch.Tensor:
    return torch.cat(list(values), dim=axis)


def equal(x: torch.Tensor, y: Any, name: str | None = None) -> torch.Tensor:
    return torch.eq(x, torch.as_tensor(y, device=x.device))


def sigmoid(x: torch.Tensor, name: str | None = None) -> torch.Tensor:
    return torch.sigmoid(x)


def tanh(x: torch.Tensor, name: str | None = None) -> torch.Tensor:
    return torch.tanh(x)


def square(x: torch.Tensor, name: str | None = None) -> torch.Tensor:
    return torch.square(x)
