"""``tf.compat.v1.layers``: layers a function model_fn creates inline, built once and shared by every mode.

Each call site gets TF's name (``dense``, ``dense_1``, ``scope/conv2d`` ...; :mod:`torchestimator.function_model`)
and TF's variable layouts, so TF weights load by name without transposes::

    layer                 variables (TF layout)                              state_dict key
    dense                 kernel (in, units), bias (units,)                  dense.kernel, dense.bias
    conv2d                kernel (kh, kw, in, filters), bias (filters,)      conv2d.kernel, conv2d.bias
    batch_normalization   gamma, beta, moving_mean, moving_variance (C,)     batch_normalization.gamma ...
    module(name, factory) whatever the torch module holds                    <name>.<its keys>

The object forms (``Dense(10)(x)``, ``Conv2D``, ``BatchNormalization``, ``Dropout``, ``Flatten``, the poolings)
name and build their layer at the call, exactly as the functions. Inputs are channels-last as in TF (``data_format='channels_last'``). ``batch_normalization`` updates its moving
statistics itself in training (TF1 needs ``UPDATE_OPS`` wired into the train_op for that; a correctly wired TF1
program gives the same values). ``dropout`` / ``batch_normalization`` follow their ``training`` argument, not
``module.train()``, exactly as in TF.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from torchestimator.compat.v1._ops import glorot_uniform_initializer, ones_initializer, zeros_initializer
from torchestimator.errors import InvalidArgumentError
from torchestimator.function_model import current_scope, get_or_create

__all__ = [
    "AveragePooling2D",
    "BatchNormalization",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "MaxPooling2D",
    "average_pooling2d",
    "batch_normalization",
    "conv2d",
    "dense",
    "dropout",
    "flatten",
    "max_pooling2d",
    "module",
]

Activation = Callable[[torch.Tensor], torch.Tensor] | None


def _float_dtype(x: torch.Tensor) -> torch.dtype:
    return x.dtype if x.is_floating_point() else torch.float32


def _param(
    init: Any, shape: Sequence[int], dtype: torch.dtype, default: Any, trainable: bool
) -> nn.Parameter:
    value = (init or default)(shape, dtype)
    return nn.Parameter(torch.as_tensor(value, dtype=dtype), requires_grad=trainable)


def _regularize(regularizer: Any, weight: torch.Tensor) -> None:
    if regularizer is not None:
        current_scope("kernel_regularizer").regularization_losses.append(regularizer(weight))


class DenseModule(nn.Module):
    """``outputs = activation(inputs @ kernel + bias)`` over the last axis."""

    def __init__(
        self,
        in_dim: int,
        units: int,
        use_bias: bool,
        kernel_init: Any,
        bias_init: Any,
        trainable: bool,
        dtype: torch.dtype,
    ) -> None:
        super().__init__()
        self.kernel = _param(kernel_init, (in_dim, units), dtype, glorot_uniform_initializer(), trainable)
        self.bias = _param(bias_init, (units,), dtype, zeros_initializer(), trainable) if use_bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.to(self.kernel.dtype) @ self.kernel  # (..., units)
        return y + self.bias if self.bias is not None else y


def dense(
    inputs: torch.Tensor,
    units: int,
    activation: Activation = None,
    use_bias: bool = True,
    kernel_initializer: Any = None,
    bias_initializer: Any = None,
    kernel_regularizer: Any = None,
    bias_regularizer: Any = None,
    trainable: bool = True,
    name: str | None = None,
    reuse: Any = None,
    **unused: Any,
) -> torch.Tensor:
    """``tf.compat.v1.layers.dense``: kernel ``(in, units)`` (glorot uniform), bias zeros."""
    in_dim = int(inputs.shape[-1])
    layer = get_or_create(
        "dense",
        lambda: DenseModule(
            in_dim,
            int(units),
            use_bias,
            kernel_initializer,
            bias_initializer,
            trainable,
            _float_dtype(inputs),
        ),
        f"dense(in={in_dim}, units={int(units)}, use_bias={use_bias})",
        name=name,
        what="layers.dense",
        reuse=bool(reuse),
    )
    assert isinstance(layer, DenseModule)
    _regularize(kernel_regularizer, layer.kernel)
    if layer.bias is not None:
        _regularize(bias_regularizer, layer.bias)
    out = layer(inputs)
    return activation(out) if activation is not None else out


def dropout(
    inputs: torch.Tensor,
    rate: float = 0.5,
    noise_shape: Any = None,
    seed: int | None = None,
    training: Any = False,
    name: str | None = None,
) -> torch.Tensor:
    """``tf.compat.v1.layers.dropout``: drops ``rate`` of the inputs (scaled by ``1/(1-rate)``) only when ``training``."""
    if noise_shape is not None:
        raise InvalidArgumentError("layers.dropout: noise_shape is not supported; drop it.")
    return F.dropout(inputs, p=float(rate), training=bool(training))


class BatchNormModule(nn.Module):
    """TF's batch normalization over every axis but ``axis`` (moving statistics as buffers)."""

    def __init__(
        self,
        channels: int,
        center: bool,
        scale: bool,
        inits: Sequence[Any],
        trainable: bool,
        dtype: torch.dtype,
    ) -> None:
        super().__init__()
        beta_i, gamma_i, mean_i, var_i = inits
        self.gamma = _param(gamma_i, (channels,), dtype, ones_initializer(), trainable) if scale else None
        self.beta = _param(beta_i, (channels,), dtype, zeros_initializer(), trainable) if center else None
        self.register_buffer(
            "moving_mean", torch.as_tensor((mean_i or zeros_initializer())((channels,), dtype))
        )
        self.register_buffer(
            "moving_variance", torch.as_tensor((var_i or ones_initializer())((channels,), dtype))
        )

    def forward(
        self,
        x: torch.Tensor,
        axis: int,
        training: bool,
        momentum: float,
        epsilon: float,
        fused: bool,
        update: bool,
    ) -> torch.Tensor:
        moving_mean, moving_variance = self.moving_mean, self.moving_variance
        assert isinstance(moving_mean, torch.Tensor) and isinstance(moving_variance, torch.Tensor)
        axis = axis % x.dim()
        dims = [d for d in range(x.dim()) if d != axis]
        shape = [1] * x.dim()
        shape[axis] = x.shape[axis]
        if training:
            mean = x.mean(dim=dims)  # (C,)
            var = x.var(dim=dims, unbiased=False)  # (C,)
            if update:
                n = x.numel() / x.shape[axis]
                moving_var = (
                    var * (n / max(n - 1.0, 1.0)) if fused else var
                )  # fused kernels keep Bessel's correction
                with torch.no_grad():
                    moving_mean.sub_((moving_mean - mean.detach()) * (1.0 - momentum))
                    moving_variance.sub_((moving_variance - moving_var.detach()) * (1.0 - momentum))
        else:
            mean, var = moving_mean, moving_variance
        inv = torch.rsqrt(var + epsilon)
        if self.gamma is not None:
            inv = inv * self.gamma
        out = (x - mean.reshape(shape)) * inv.reshape(shape)
        return out + self.beta.reshape(shape) if self.beta is not None else out


def batch_normalization(
    inputs: torch.Tensor,
    axis: int = -1,
    momentum: float = 0.99,
    epsilon: float = 0.001,
    center: bool = True,
    scale: bool = True,
    beta_initializer: Any = None,
    gamma_initializer: Any = None,
    moving_mean_initializer: Any = None,
    moving_variance_initializer: Any = None,
    training: Any = False,
    trainable: bool = True,
    name: str | None = None,
    fused: bool | None = None,
    **unused: Any,
) -> torch.Tensor:
    """``tf.compat.v1.layers.batch_normalization`` (TF1 defaults: momentum 0.99, epsilon 1e-3)."""
    channels = int(inputs.shape[axis])
    inits = (beta_initializer, gamma_initializer, moving_mean_initializer, moving_variance_initializer)
    layer = get_or_create(
        "batch_normalization",
        lambda: BatchNormModule(channels, center, scale, inits, trainable, _float_dtype(inputs)),
        f"batch_normalization(channels={channels}, center={center}, scale={scale})",
        name=name,
        what="layers.batch_normalization",
    )
    is_fused = (fused is None or fused) and inputs.dim() == 4 and axis % 4 in (1, 3)
    update = not current_scope().building
    return layer(inputs, axis, bool(training), momentum, epsilon, is_fused, update)


def _pair(value: Any) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TF's 'same' padding: total ``max((ceil(n/s) - 1) s + (k - 1) d + 1 - n, 0)``, the extra one at the end."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _to_nchw(x: torch.Tensor, data_format: str) -> torch.Tensor:
    if data_format not in ("channels_last", "channels_first"):
        raise InvalidArgumentError(
            f"data_format must be 'channels_last' or 'channels_first'; received {data_format!r}."
        )
    return x.permute(0, 3, 1, 2) if data_format == "channels_last" else x


def _from_nchw(x: torch.Tensor, data_format: str) -> torch.Tensor:
    return x.permute(0, 2, 3, 1) if data_format == "channels_last" else x


def _pad_same(
    x: torch.Tensor,
    kernel: tuple[int, int],
    strides: tuple[int, int],
    dilation: tuple[int, int],
    value: float = 0.0,
) -> torch.Tensor:
    top, bottom = _same_padding(x.shape[2], kernel[0], strides[0], dilation[0])
    left, right = _same_padding(x.shape[3], kernel[1], strides[1], dilation[1])
    return F.pad(x, (left, right, top, bottom), value=value)


def _check_padding(padding: str) -> str:
    p = padding.lower()
    if p not in ("valid", "same"):
        raise InvalidArgumentError(f"padding must be 'valid' or 'same'; received {padding!r}.")
    return p


class Conv2DModule(nn.Module):
    """2-D convolution with TF's kernel layout ``(kh, kw, in, filters)``."""

    def __init__(
        self,
        kernel: tuple[int, int],
        in_ch: int,
        filters: int,
        use_bias: bool,
        kernel_init: Any,
        bias_init: Any,
        trainable: bool,
        dtype: torch.dtype,
    ) -> None:
        super().__init__()
        shape = (*kernel, in_ch, filters)
        self.kernel = _param(kernel_init, shape, dtype, glorot_uniform_initializer(), trainable)
        self.bias = _param(bias_init, (filters,), dtype, zeros_initializer(), trainable) if use_bias else None

    def forward(
        self, x: torch.Tensor, strides: tuple[int, int], padding: str, dilation: tuple[int, int]
    ) -> torch.Tensor:
        weight = self.kernel.permute(3, 2, 0, 1)  # (filters, in, kh, kw)
        if padding == "same":
            x = _pad_same(x, (weight.shape[2], weight.shape[3]), strides, dilation)
        return F.conv2d(x, weight, self.bias, stride=strides, dilation=dilation)  # (B, filters, H', W')


def conv2d(
    inputs: torch.Tensor,
    filters: int,
    kernel_size: Any,
    strides: Any = (1, 1),
    padding: str = "valid",
    data_format: str = "channels_last",
    dilation_rate: Any = (1, 1),
    activation: Activation = None,
    use_bias: bool = True,
    kernel_initializer: Any = None,
    bias_initializer: Any = None,
    kernel_regularizer: Any = None,
    trainable: bool = True,
    name: str | None = None,
    **unused: Any,
) -> torch.Tensor:
    """``tf.compat.v1.layers.conv2d`` on channels-last (default) or channels-first inputs."""
    x = _to_nchw(inputs, data_format)  # (B, C, H, W)
    kernel, stride, dilation = _pair(kernel_size), _pair(strides), _pair(dilation_rate)
    pad = _check_padding(padding)
    in_ch = int(x.shape[1])
    layer = get_or_create(
        "conv2d",
        lambda: Conv2DModule(
            kernel,
            in_ch,
            int(filters),
            use_bias,
            kernel_initializer,
            bias_initializer,
            trainable,
            _float_dtype(inputs),
        ),
        f"conv2d(kernel={kernel}, in={in_ch}, filters={int(filters)}, use_bias={use_bias})",
        name=name,
        what="layers.conv2d",
    )
    assert isinstance(layer, Conv2DModule)
    _regularize(kernel_regularizer, layer.kernel)
    out = _from_nchw(layer(x, stride, pad, dilation), data_format)
    return activation(out) if activation is not None else out


def max_pooling2d(
    inputs: torch.Tensor,
    pool_size: Any,
    strides: Any,
    padding: str = "valid",
    data_format: str = "channels_last",
    name: str | None = None,
) -> torch.Tensor:
    """``tf.compat.v1.layers.max_pooling2d`` (no variables)."""
    x, pool, stride = _to_nchw(inputs, data_format), _pair(pool_size), _pair(strides)
    if _check_padding(padding) == "same":
        x = _pad_same(x, pool, stride, (1, 1), value=float("-inf"))
    return _from_nchw(F.max_pool2d(x, pool, stride), data_format)


def average_pooling2d(
    inputs: torch.Tensor,
    pool_size: Any,
    strides: Any,
    padding: str = "valid",
    data_format: str = "channels_last",
    name: str | None = None,
) -> torch.Tensor:
    """``tf.compat.v1.layers.average_pooling2d``; 'same' averages over the real (unpadded) values, as TF."""
    x, pool, stride = _to_nchw(inputs, data_format), _pair(pool_size), _pair(strides)
    if _check_padding(padding) == "valid":
        return _from_nchw(F.avg_pool2d(x, pool, stride), data_format)
    ones = torch.ones_like(x[:, :1])  # (B, 1, H, W)
    total = F.avg_pool2d(_pad_same(x, pool, stride, (1, 1)), pool, stride, divisor_override=1)
    count = F.avg_pool2d(_pad_same(ones, pool, stride, (1, 1)), pool, stride, divisor_override=1)
    return _from_nchw(total / count, data_format)


def flatten(
    inputs: torch.Tensor, name: str | None = None, data_format: str = "channels_last"
) -> torch.Tensor:
    """``tf.compat.v1.layers.flatten``: ``(B, ...)`` -> ``(B, prod(...))`` in TF's (channels-last) order."""
    return inputs.reshape(inputs.shape[0], -1)


def module(name: str, factory: Callable[[], nn.Module]) -> nn.Module:
    """A plain ``torch.nn`` module built by ``factory()`` on the model's first call and reused after.

    Example (inside a function model_fn)::

        lstm = te.compat.v1.layers.module("encoder", lambda: torch.nn.LSTM(8, 16, batch_first=True))
        outputs, _ = lstm(x)

    Raises:
        InvalidArgumentError: ``factory`` does not return an ``nn.Module``.
    """

    def build() -> nn.Module:
        made = factory()
        if not isinstance(made, nn.Module):
            raise InvalidArgumentError(
                f"layers.module({name!r}, factory): factory must return an nn.Module; it returned "
                f"{type(made).__name__}."
            )
        return made

    return get_or_create(name, build, "module", name=name, what="layers.module")


class _LayerObject:
    """TF1's object form (``tf.compat.v1.layers.Dense(10)(x)``): the settings now, the layer at the call
    (named and built exactly as the function form)."""

    _function: Callable[..., torch.Tensor]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args, self._kwargs = args, kwargs

    def __call__(self, inputs: torch.Tensor, training: Any = None) -> torch.Tensor:
        kwargs = dict(self._kwargs)
        if training is not None:
            kwargs["training"] = training
        return type(self)._function(inputs, *self._args, **kwargs)

    def apply(self, inputs: torch.Tensor, training: Any = None) -> torch.Tensor:
        return self(inputs, training)


class DenseLayer(_LayerObject):
    """``tf.compat.v1.layers.Dense``."""

    _function = staticmethod(dense)


class DropoutLayer(_LayerObject):
    """``tf.compat.v1.layers.Dropout``."""

    _function = staticmethod(dropout)


class BatchNormalizationLayer(_LayerObject):
    """``tf.compat.v1.layers.BatchNormalization``."""

    _function = staticmethod(batch_normalization)


class Conv2DLayer(_LayerObject):
    """``tf.compat.v1.layers.Conv2D``."""

    _function = staticmethod(conv2d)


class MaxPooling2DLayer(_LayerObject):
    """``tf.compat.v1.layers.MaxPooling2D``."""

    _function = staticmethod(max_pooling2d)


class AveragePooling2DLayer(_LayerObject):
    """``tf.compat.v1.layers.AveragePooling2D``."""

    _function = staticmethod(average_pooling2d)


class FlattenLayer(_LayerObject):
    """``tf.compat.v1.layers.Flatten``."""

    _function = staticmethod(flatten)


# TF's class names (the functional names above are TF's function names)
Dense = DenseLayer
Dropout = DropoutLayer
BatchNormalization = BatchNormalizationLayer
Conv2D = Conv2DLayer
MaxPooling2D = MaxPooling2DLayer
AveragePooling2D = AveragePooling2DLayer
Flatten = FlattenLayer
