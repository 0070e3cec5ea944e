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

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from torchestimator.compat.v1._layer_modules import (
    BatchNormModule,
    Conv2DModule,
    DenseModule,
    check_padding,
    from_nchw,
    pad_same,
    pair,
    to_nchw,
)
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


def _regularize(regularizer: Any, weight: torch.Tensor) -> None:
    if regularizer is not None:
        current_scope("kernel_regularizer").regularization_losses.append(regularizer(weight))


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
    x = to_nchw(inputs, data_format)  # (B, C, H, W)
    kernel, stride, dilation = pair(kernel_size), pair(strides), pair(dilation_rate)
    pad = check_padding(padding)
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
    out = from_nchw(layer(x, stride, pad, dilation), data_format)
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
    x, pool, stride = to_nchw(inputs, data_format), pair(pool_size), pair(strides)
    if check_padding(padding) == "same":
        x = pad_same(x, pool, stride, (1, 1), value=float("-inf"))
    return from_nchw(F.max_pool2d(x, pool, stride), data_format)


def average_pooling2d(
    inputs: torch.Tensor,
    pool_size: Any,
    strides: Any,
    padding: str = "valid",
    data_format: str = "channels_last",
    name: str | None = None,
) -> torch.Tensor:
    """``tf.compat.v1.layers.average_pooling2d``; 'same' averages over the real (unpadded) values, as TF."""
    x, pool, stride = to_nchw(inputs, data_format), pair(pool_size), pair(strides)
    if check_padding(padding) == "valid":
        return from_nchw(F.avg_pool2d(x, pool, stride), data_format)
    ones = torch.ones_like(x[:, :1])  # (B, 1, H, W)
    total = F.avg_pool2d(pad_same(x, pool, stride, (1, 1)), pool, stride, divisor_override=1)
    count = F.avg_pool2d(pad_same(ones, pool, stride, (1, 1)), pool, stride, divisor_override=1)
    return from_nchw(total / count, data_format)


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
