"""Conv1d and Conv2d layers (torch.nn.Conv1d / Conv2d, padding_mode="zeros")."""
from __future__ import annotations

import numpy as np

from ..core.errors import ConfigError, ShapeError
from ..core.module import Module
from ..core.parameter import Parameter
from ..core.validation import as_dtype, check_float, check_positive_int
from ..functional.conv import _ntuple, conv1d, conv1d_backward, conv2d, conv2d_backward
from .init import uniform_fan_in


class _ConvNd(Module):
    """Shared constructor, validation and backward of Conv1d / Conv2d (n spatial axes)."""

    _n = 0

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", *, dtype=np.float64, rng=None):
        super().__init__()
        n = self._n
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.groups = check_positive_int(groups, "groups")
        if in_channels % groups:
            raise ConfigError(f"groups: in_channels={in_channels} is not divisible by groups={groups}")
        if out_channels % groups:
            raise ConfigError(f"groups: out_channels={out_channels} is not divisible by groups={groups}")
        self.kernel_size = _ntuple(kernel_size, n, "kernel_size", minimum=1)
        self.stride = _ntuple(stride, n, "stride", minimum=1)
        self.dilation = _ntuple(dilation, n, "dilation", minimum=1)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ConfigError(f"padding: expected an int, a tuple of {n} ints, 'same' or 'valid', got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ConfigError(f"padding: 'same' is only defined for stride 1, got stride={self.stride}")
            self.padding = padding
        else:
            self.padding = _ntuple(padding, n, "padding", minimum=0)
        if padding_mode != "zeros":
            raise ConfigError(f"padding_mode: only 'zeros' is implemented, got {padding_mode!r}")
        self.padding_mode = padding_mode
        dt = as_dtype(dtype)
        rng = rng if rng is not None else np.random.default_rng(0)
        # torch: kaiming_uniform(a=sqrt(5)) on the weight == U(+-1/sqrt(fan_in)); bias the same bound
        fan_in = (in_channels // groups) * int(np.prod(self.kernel_size))
        self.weight = Parameter(uniform_fan_in(rng, (out_channels, in_channels // groups) + self.kernel_size,
                                               fan_in, dt))
        self.register_parameter("bias", Parameter(uniform_fan_in(rng, (out_channels,), fan_in, dt)) if bias else None)

    def _args(self):
        b = self.bias.data if self.bias is not None else None
        return self.weight.data, b, self.stride, self.padding, self.dilation, self.groups

    def _check_input(self, x):
        layout = "(N, C_in, L)" if self._n == 1 else "(N, C_in, H, W)"
        check_float(x, "x", dtype=self.weight.dtype)
        if x.ndim != self._n + 2:
            raise ShapeError(f"x: expected {self._n + 2} dimensions {layout}, got shape {x.shape}")
        if x.shape[1] != self.in_channels:
            raise ShapeError(f"x: expected {self.in_channels} channels (axis 1), got shape {x.shape}")

    def _accumulate(self, dweight, dbias):
        self.weight.accumulate(dweight)
        if self.bias is not None:
            self.bias.accumulate(dbias)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
             f"padding={self.padding!r}")
        if any(d != 1 for d in self.dilation):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv1d(_ConvNd):
    """1-D convolution: y[n, o, l] = b[o] + sum_{c in group(o), k} w[o, c, k] * xpad[n, c, l*stride + k*dilation].

    x: (N, in_channels, L) -> y: (N, out_channels, L_out), module dtype (float64 by default).
    Params: weight (out_channels, in_channels/groups, kernel_size), bias (out_channels,) unless bias=False.
    padding: int, (p,), "valid" or "same" (stride 1). Initialised like torch from `rng` (default seed 0).
    """

    _n = 1

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        self.save_for_backward(x)
        return conv1d(x, *self._args())                                     # (N, C_out, L_out)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        (x,) = self.saved()
        dx, dweight, dbias = conv1d_backward(dy, x, *self._args())
        self._accumulate(dweight, dbias)
        return dx


class Conv2d(_ConvNd):
    """2-D convolution:
    y[n, o, i, j] = b[o] + sum_{c in group(o), a, e} w[o, c, a, e] * xpad[n, c, i*sh + a*dh, j*sw + e*dw].

    x: (N, in_channels, H, W) -> y: (N, out_channels, H_out, W_out), module dtype (float64 by default).
    Params: weight (out_channels, in_channels/groups, kh, kw), bias (out_channels,) unless bias=False.
    padding: int, (ph, pw), "valid" or "same" (stride 1; odd total padding goes bottom/right).
    groups == in_channels == out_channels is the depthwise hot path (replaceable by use_kernels).
    """

    _n = 2

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        self.save_for_backward(x)
        return conv2d(x, *self._args())                                     # (N, C_out, H_out, W_out)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        (x,) = self.saved()
        dx, dweight, dbias = conv2d_backward(dy, x, *self._args())
        self._accumulate(dweight, dbias)
        return dx
