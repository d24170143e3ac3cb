"""linear: y = x @ W^T + b (torch.nn.functional.linear layout: W is (out, in))."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..core.errors import ShapeError
from ..core.validation import check_float, check_same_dtype


def linear(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray] = None) -> np.ndarray:
    """x: (..., in), weight: (out, in), bias: (out,) or None -> (..., out); one float dtype throughout."""
    check_float(x, "x")
    check_same_dtype({"x": x, "weight": weight, "bias": bias})
    if x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ShapeError(f"x: expected last dimension {weight.shape[1]} (weight is {weight.shape}), got shape {x.shape}")
    y = x @ weight.T                                        # (..., out)
    if bias is not None:
        y = y + bias
    return y


def linear_backward(dy: np.ndarray, x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray] = None):
    """Gradients (dx, dweight, dbias) of linear for upstream dy: (..., out). dbias is None without bias."""
    x2 = x.reshape(-1, x.shape[-1])                         # (N, in)
    dy2 = dy.reshape(-1, dy.shape[-1])                      # (N, out)
    dx = dy @ weight                                        # dL/dx = dy W          (..., in)
    dweight = dy2.T @ x2                                    # dL/dW = dy^T x        (out, in)
    dbias = dy2.sum(0) if bias is not None else None        # dL/db = sum_N dy      (out,)
    return dx, dweight, dbias
