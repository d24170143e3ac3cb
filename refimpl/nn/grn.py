"""GlobalResponseNorm: ConvNeXt V2's GRN layer (transformers' ConvNextV2GRN), channels last.

y = weight * (x * Nx) + bias + x, Nx = ||x||_{H,W} / (mean_C ||x||_{H,W} + eps); the math and the
backward are in refimpl.functional.grn.
"""
from __future__ import annotations

import numpy as np

from ..core.module import Module
from ..core.parameter import Parameter
from ..core.validation import as_dtype, check_float, check_positive_int
from ..functional.grn import global_response_norm, global_response_norm_backward

__all__ = ["GlobalResponseNorm"]


class GlobalResponseNorm(Module):
    """GRN over a channels-last map.

    x: (N, H, W, dim) of the module dtype -> y: same shape and dtype.
    Params: weight (1, 1, 1, dim) = 0 and bias (1, 1, 1, dim) = 0 (transformers' shapes and init, so a
    fresh GRN is the identity). eps: 1e-6 as in ConvNextV2GRN (hard-coded there).
    """

    def __init__(self, dim: int, eps: float = 1e-6, *, dtype=np.float64):
        super().__init__()
        self.dim = check_positive_int(dim, "dim")
        self.eps = float(eps)
        dt = as_dtype(dtype)
        self.weight = Parameter(np.zeros((1, 1, 1, self.dim), dt))
        self.bias = Parameter(np.zeros((1, 1, 1, self.dim), dt))

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float(x, "x", dtype=self.weight.dtype)
        y = global_response_norm(x, self.weight.data, self.bias.data, self.eps)   # (N, H, W, C)
        self.save_for_backward(x)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        (x,) = self.saved()
        dx, dweight, dbias = global_response_norm_backward(dy, x, self.weight.data, self.bias.data, self.eps)
        self.weight.accumulate(dweight)
        self.bias.accumulate(dbias)
        return dx

    def extra_repr(self):
        return f"{self.dim}, eps={self.eps:g}"
