"""Weight-normalised layers with torch's parametrization layout (torch.nn.utils.parametrizations.weight_norm).

    conv = torch.nn.utils.parametrizations.weight_norm(torch.nn.Conv1d(...), name="weight", dim=2)

moves the weight into `parametrizations.weight.original0` (g) and `.original1` (v); the layer's
weight is recomputed as g * v / ||v|| on every forward (refimpl.functional.weight_norm). The state-dict
keys are therefore `bias`, `parametrizations.weight.original0`, `parametrizations.weight.original1`,
in that order. The older hook API (torch.nn.utils.weight_norm) stored the same two arrays as
`weight_g` / `weight_v`; `WEIGHT_NORM_LEGACY_KEYS` maps those names to these.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..core.errors import ShapeError
from ..core.module import Module, ModuleDict
from ..core.parameter import Parameter
from ..core.validation import as_dtype, check_float, check_positive_int
from ..functional.conv import _ntuple, conv1d, conv1d_backward
from ..functional.weight_norm import weight_norm, weight_norm_backward, weight_norm_decompose
from .init import uniform_fan_in

__all__ = ["WeightNorm", "WeightNormConv1d", "WEIGHT_NORM_LEGACY_KEYS"]

# old key suffix (torch.nn.utils.weight_norm) -> parametrization key suffix
WEIGHT_NORM_LEGACY_KEYS = {"weight_g": "parametrizations.weight.original0",
                           "weight_v": "parametrizations.weight.original1"}


class WeightNorm(Module):
    """The parametrization itself: params original0 = g and original1 = v; forward() -> w = g v / ||v||.

    Built from an initial weight w (then g = ||w|| over all axes but `dim` and v = w, so forward() == w).
    forward() takes no input; backward(dw) accumulates dg, dv and returns nothing.
    """

    def __init__(self, weight: np.ndarray, dim: Optional[int] = 0):
        super().__init__()
        check_float(weight, "weight")
        self.dim = dim
        g, v = weight_norm_decompose(weight, dim)
        self.original0 = Parameter(g)                                   # magnitude g
        self.original1 = Parameter(v)                                   # direction v

    def forward(self) -> np.ndarray:
        return weight_norm(self.original1.data, self.original0.data, self.dim)     # v's shape

    def backward(self, dw: np.ndarray) -> None:
        dv, dg = weight_norm_backward(dw, self.original1.data, self.original0.data, self.dim)
        self.original0.accumulate(dg)
        self.original1.accumulate(dv)

    def extra_repr(self):
        return f"dim={self.dim}"


class WeightNormConv1d(Module):
    """torch.nn.Conv1d wrapped by parametrizations.weight_norm(conv, "weight", dim): y = conv1d(x, g v/||v||, b).

    x: (N, in_channels, L) -> (N, out_channels, L_out), module dtype (float64 by default).
    Params (torch's keys, in order): bias (out_channels,) unless bias=False,
    parametrizations.weight.original0 = g (weight's rank, size 1 off `dim`), .original1 = v
    (out_channels, in_channels/groups, kernel_size). Wav2Vec2 uses dim=2 (one norm per kernel tap).
    Initialised like torch.nn.Conv1d from `rng` (default seed 0), then decomposed (so w starts equal to it).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, *, dim: Optional[int] = 0, dtype=np.float64, rng=None):
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.groups = check_positive_int(groups, "groups")
        if in_channels % groups or out_channels % groups:
            raise ShapeError(f"groups: in_channels={in_channels} and out_channels={out_channels} must both be "
                             f"divisible by groups={groups}")
        self.kernel_size = _ntuple(kernel_size, 1, "kernel_size", minimum=1)
        self.stride = _ntuple(stride, 1, "stride", minimum=1)
        self.dilation = _ntuple(dilation, 1, "dilation", minimum=1)
        self.padding = padding if isinstance(padding, str) else _ntuple(padding, 1, "padding", minimum=0)
        dt = as_dtype(dtype)
        rng = rng if rng is not None else np.random.default_rng(0)
        fan_in = (in_channels // groups) * self.kernel_size[0]
        w = uniform_fan_in(rng, (out_channels, in_channels // groups) + self.kernel_size, fan_in, dt)
        self.register_parameter("bias", Parameter(uniform_fan_in(rng, (out_channels,), fan_in, dt)) if bias else None)
        self.parametrizations = ModuleDict({"weight": WeightNorm(w, dim)})   # registered after bias, as in torch

    @property
    def weight(self) -> np.ndarray:
        """The effective weight g v / ||v|| (computed, like torch's parametrized attribute)."""
        return self.parametrizations["weight"]()

    def _args(self, w):
        b = self.bias.data if self.bias is not None else None
        return w, b, self.stride, self.padding, self.dilation, self.groups

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float(x, "x", dtype=self.parametrizations["weight"].original1.dtype)
        if x.ndim != 3 or x.shape[1] != self.in_channels:
            raise ShapeError(f"x: expected shape (N, {self.in_channels}, L), got {x.shape}")
        w = self.parametrizations["weight"]()                           # (C_out, C_in/groups, K)
        self.save_for_backward(x, w)
        return conv1d(x, *self._args(w))                                # (N, C_out, L_out)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        x, w = self.saved()
        dx, dw, db = conv1d_backward(dy, x, *self._args(w))
        if self.bias is not None:
            self.bias.accumulate(db)
        self.parametrizations["weight"].backward(dw)                    # through w = g v / ||v||
        return dx

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding!r}, groups={self.groups}, dim={self.parametrizations['weight'].dim}")
