"""Conv1D: the affine layer of GPT-2 (transformers.pytorch_utils.Conv1D), weight stored as (in, out).

Despite its name it is no convolution: y = x W + b, a Linear whose weight is the TRANSPOSE of
nn.Linear's (in_features, out_features) instead of (out, in). GPT-2 checkpoints store c_attn, c_proj
and c_fc this way; refimpl keeps the layout so the checkpoint loads with no mapping table, and a
Linear-layout weight (out, in) fails loudly with a mis-shaped-key error instead of being silently
transposed (PITFALLS 3.1). The arithmetic is functional.linear with W^T.
"""
from __future__ import annotations

import numpy as np

from ..core.errors import ShapeError
from ..core.module import Module
from ..core.parameter import Parameter
from ..core.validation import as_dtype, check_float, check_positive_int
from ..functional.linear import linear, linear_backward
from .init import normal

__all__ = ["Conv1D"]


class Conv1D(Module):
    """y = x W + b with W of shape (nx, nf) = (in, out).

    Conv1D(nf, nx): argument order as transformers (nf = out features, nx = in features).
    x: (..., nx) -> y: (..., nf), the module dtype (float64 by default).
    Params: weight (nx, nf), bias (nf,). Initialised as transformers does: weight N(0, 0.02^2) from `rng`
    (default seed 0), bias 0; checkpoints overwrite both.
    backward(dy) -> dx (..., nx); accumulates dW = x^T dy (nx, nf) and db = sum dy (nf,).
    """

    def __init__(self, nf: int, nx: int, *, dtype=np.float64, rng=None):
        super().__init__()
        self.nf = check_positive_int(nf, "nf")
        self.nx = check_positive_int(nx, "nx")
        dt = as_dtype(dtype)
        rng = rng if rng is not None else np.random.default_rng(0)
        self.weight = Parameter(normal(rng, (self.nx, self.nf), 0.02, dt))
        self.bias = Parameter(np.zeros(self.nf, dt))

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float(x, "x", dtype=self.weight.dtype)
        if x.ndim < 1 or x.shape[-1] != self.nx:
            raise ShapeError(f"x: expected last dimension nx={self.nx} (Conv1D weight is (in, out) = "
                             f"{self.weight.shape}), got shape {x.shape}")
        self.save_for_backward(x)
        return linear(x, self.weight.data.T, self.bias.data)           # x W + b   (..., nf)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        (x,) = self.saved()
        # linear_backward works in Linear's (out, in) layout: dx = dy W^T, d(W^T) = dy^T x, db = sum dy
        dx, d_weight_t, dbias = linear_backward(dy, x, self.weight.data.T, self.bias.data)
        self.weight.accumulate(d_weight_t.T)                           # dL/dW = x^T dy   (nx, nf)
        self.bias.accumulate(dbias)                                    # dL/db = sum dy   (nf,)
        return dx                                                      # (..., nx)

    def extra_repr(self):
        return f"nf={self.nf}, nx={self.nx}"
