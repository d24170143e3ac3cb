"""Linear layer (torch.nn.Linear)."""
from __future__ import annotations

import numpy as np

from ..core.module import Module
from ..core.parameter import Parameter
from ..core.validation import as_dtype, check_float, check_positive_int
from ..functional.linear import linear, linear_backward
from .init import uniform_fan_in


class Linear(Module):
    """y = x W^T + b.

    x: (..., in_features) -> y: (..., out_features), dtype of the module (float64 by default).
    Params: weight (out_features, in_features), bias (out_features,) unless bias=False.
    Initialised like torch (U(-1/sqrt(in), 1/sqrt(in))) from `rng` (default seed 0) — checkpoints overwrite it.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, dtype=np.float64, rng=None):
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features")
        self.out_features = check_positive_int(out_features, "out_features")
        dt = as_dtype(dtype)
        rng = rng if rng is not None else np.random.default_rng(0)
        self.weight = Parameter(uniform_fan_in(rng, (out_features, in_features), in_features, dt))
        self.register_parameter("bias", Parameter(uniform_fan_in(rng, (out_features,), in_features, dt)) if bias else None)

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float(x, "x", dtype=self.weight.dtype)
        b = self.bias.data if self.bias is not None else None
        self.save_for_backward(x)
        return linear(x, self.weight.data, b)                # (..., out)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        (x,) = self.saved()
        b = self.bias.data if self.bias is not None else None
        dx, dweight, dbias = linear_backward(dy, x, self.weight.data, b)
        self.weight.accumulate(dweight)
        if self.bias is not None:
            self.bias.accumulate(dbias)
        return dx

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """y = x; backward passes the gradient through."""

    def forward(self, x):
        return x

    def backward(self, dy):
        return dy
