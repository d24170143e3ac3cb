"""Pooling layers (torch.nn.MaxPool2d, AvgPool2d, AdaptiveAvgPool1d, AdaptiveAvgPool2d).

They hold no parameters, so they take float32 and float64 inputs alike (the output keeps the input's
dtype). Inputs must be batched: (N, C, H, W), or (N, C, L) for the 1-D pool.
"""
from __future__ import annotations

import numpy as np

from ..core.errors import ShapeError
from ..core.module import Module
from ..core.validation import check_float
from ..functional.pooling import (adaptive_output_size, adaptive_avg_pool1d, adaptive_avg_pool1d_backward,
                                  adaptive_avg_pool2d, adaptive_avg_pool2d_backward, avg_pool2d,
                                  avg_pool2d_backward, max_pool2d, max_pool2d_scatter, pool_args)


def _check_dy(dy, x_dtype, shape):
    check_float(dy, "dy", dtype=x_dtype)
    if dy.shape != shape:
        raise ShapeError(f"dy: expected the output shape {shape}, got {dy.shape}")


class MaxPool2d(Module):
    """y[n, c, i, j] = max over the (dilated) window at (i*sh - ph, j*sw - pw), padding counting as -inf.

    x: (N, C, H, W) -> y: (N, C, H_out, W_out) (and int64 flat argmax indices h*W + w if return_indices).
    stride None = kernel_size; padding <= kernel_size // 2; ceil_mode keeps a last partial window when it
    starts inside the input or the left padding. backward sends each dy to its window's first maximum.
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.dilation = pool_args(kernel_size, stride, padding, dilation)
        self.return_indices = bool(return_indices)
        self.ceil_mode = bool(ceil_mode)

    def forward(self, x: np.ndarray):
        y, idx = max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            return_indices=True)                   # (N, C, H_out, W_out) each
        self.save_for_backward(idx, x.shape, x.dtype)
        return (y, idx) if self.return_indices else y

    def backward(self, dy: np.ndarray, d_indices=None) -> np.ndarray:
        idx, x_shape, x_dtype = self.saved()
        _check_dy(dy, x_dtype, idx.shape)
        return max_pool2d_scatter(dy, idx, x_shape)              # (N, C, H, W)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """y[n, c, i, j] = sum of the zero-padded window at (i*sh - ph, j*sw - pw) / divisor.

    divisor: window size within the padded input (count_include_pad=True), real elements only (False),
    or divisor_override. x: (N, C, H, W) -> y: (N, C, H_out, W_out).
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size, self.stride, self.padding, _ = pool_args(kernel_size, stride, padding, 1)
        self.ceil_mode = bool(ceil_mode)
        self.count_include_pad = bool(count_include_pad)
        self.divisor_override = divisor_override

    def _kw(self):
        return dict(kernel_size=self.kernel_size, stride=self.stride, padding=self.padding, ceil_mode=self.ceil_mode,
                    count_include_pad=self.count_include_pad, divisor_override=self.divisor_override)

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = avg_pool2d(x, **self._kw())                           # (N, C, H_out, W_out)
        self.save_for_backward(x)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        (x,) = self.saved()
        return avg_pool2d_backward(dy, x, **self._kw())          # (N, C, H, W)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AdaptiveAvgPool(Module):
    """Shared forward/backward of the adaptive average pools: subclasses set output_size, _fn and _bwd."""

    _fn = None            # forward function: _fn(x, output_size)
    _bwd = None           # backward function: _bwd(dy, x, output_size)

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = self._fn(x, self.output_size)                        # (N, C, *output_size)
        self.save_for_backward(x)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        (x,) = self.saved()
        return self._bwd(dy, x, self.output_size)                # x's shape

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveAvgPool):
    """y[n, c, i] = mean(x[n, c, floor(i*L/out) : ceil((i+1)*L/out)]). x: (N, C, L) -> (N, C, out)."""

    _fn = staticmethod(adaptive_avg_pool1d)
    _bwd = staticmethod(adaptive_avg_pool1d_backward)

    def __init__(self, output_size):
        super().__init__()
        (self.output_size,) = adaptive_output_size(output_size, (1,), 1)


class AdaptiveAvgPool2d(_AdaptiveAvgPool):
    """Mean over row windows [floor(i*H/oh), ceil((i+1)*H/oh)) x column windows (the same rule).

    x: (N, C, H, W) -> (N, C, oh, ow). output_size: int or (oh, ow); a None entry keeps that input size.
    """

    _fn = staticmethod(adaptive_avg_pool2d)
    _bwd = staticmethod(adaptive_avg_pool2d_backward)

    def __init__(self, output_size):
        super().__init__()
        adaptive_output_size(output_size, (1, 1), 2)                  # validate now; None entries resolve per input
        self.output_size = output_size
