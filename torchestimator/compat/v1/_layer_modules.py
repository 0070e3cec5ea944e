"""The modules behind ``te.compat.v1.layers`` (TF's variable layouts and arithmetic) and TF's padding rules."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from torchestimator.compat.v1._ops import glorot_uniform_initializer, ones_initializer, zeros_initializer
from torchestimator.errors import InvalidArgumentError

__all__ = [
    "BatchNormModule",
    "Conv2DModule",
    "DenseModule",
    "check_padding",
    "from_nchw",
    "pad_same",
    "pair",
    "param",
    "same_padding",
    "to_nchw",
]


def param(init: Any, shape: Sequence[int], dtype: torch.dtype, default: Any, trainable: bool) -> nn.Parameter:
    value = (init or default)(shape, dtype)
    return nn.Parameter(torch.as_tensor(value, dtype=dtype), requires_grad=trainable)


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
        self.kernel = param(kernel_init, (in_dim, units), dtype, glorot_uniform_initializer(), trainable)
        self.bias = param(bias_init, (units,), dtype, zeros_initializer(), trainable) if use_bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.to(self.kernel.dtype) @ self.kernel  # (..., units)
        return y + self.bias if self.bias is not None else y


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
        self.gamma = param(gamma_i, (channels,), dtype, ones_initializer(), trainable) if scale else None
        self.beta = param(beta_i, (channels,), dtype, zeros_initializer(), trainable) if center else None
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


def pair(value: Any) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TF's 'same' padding: total ``max((ceil(n/s) - 1) s + (k - 1) d + 1 - n, 0)``, the extra one at the end."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def to_nchw(x: torch.Tensor, data_format: str) -> torch.Tensor:
    if data_format not in ("channels_last", "channels_first"):
        raise InvalidArgumentError(
            f"data_format must be 'channels_last' or 'channels_first'; received {data_format!r}."
        )
    return x.permute(0, 3, 1, 2) if data_format == "channels_last" else x


def from_nchw(x: torch.Tensor, data_format: str) -> torch.Tensor:
    return x.permute(0, 2, 3, 1) if data_format == "channels_last" else x


def pad_same(
    x: torch.Tensor,
    kernel: tuple[int, int],
    strides: tuple[int, int],
    dilation: tuple[int, int],
    value: float = 0.0,
) -> torch.Tensor:
    top, bottom = same_padding(x.shape[2], kernel[0], strides[0], dilation[0])
    left, right = same_padding(x.shape[3], kernel[1], strides[1], dilation[1])
    return F.pad(x, (left, right, top, bottom), value=value)


def check_padding(padding: str) -> str:
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
        self.kernel = param(kernel_init, shape, dtype, glorot_uniform_initializer(), trainable)
        self.bias = param(bias_init, (filters,), dtype, zeros_initializer(), trainable) if use_bias else None

    def forward(
        self, x: torch.Tensor, strides: tuple[int, int], padding: str, dilation: tuple[int, int]
    ) -> torch.Tensor:
        weight = self.kernel.permute(3, 2, 0, 1)  # (filters, in, kh, kw)
        if padding == "same":
            x = pad_same(x, (weight.shape[2], weight.shape[3]), strides, dilation)
        return F.conv2d(x, weight, self.bias, stride=strides, dilation=dilation)  # (B, filters, H', W')
