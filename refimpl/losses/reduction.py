"""Reductions shared by every loss: "none" | "mean" | "sum" and the gradient of each."""
from __future__ import annotations

import numpy as np

from ..core.errors import DTypeError, ShapeError

REDUCTIONS = ("none", "mean", "sum")


def apply_reduction(loss: np.ndarray, reduction: str):
    """Elementwise losses (...) -> ndarray for "none", Python float for "mean" / "sum"."""
    if reduction == "none":
        return loss
    if reduction == "sum":
        return float(loss.sum())
    with np.errstate(invalid="ignore", divide="ignore"):   # empty input: 0 / 0 = NaN, as torch
        return float(loss.sum() / loss.dtype.type(loss.size))


def reduction_backward(grad, shape: tuple, dtype: np.dtype, reduction: str) -> np.ndarray:
    """Upstream gradient of a reduced loss -> dL/dloss_elementwise of `shape` and `dtype`.

    grad: for "mean"/"sum" a scalar (Python/NumPy float or 0-d array); for "none" an array of `shape`.
    """
    if reduction == "none" and not (tuple(shape) == () and np.ndim(grad) == 0):
        if not isinstance(grad, np.ndarray) or grad.shape != tuple(shape):
            raise ShapeError(f"grad: reduction='none' needs an upstream gradient of the loss shape {tuple(shape)}, "
                             f"got {getattr(grad, 'shape', type(grad).__name__)}")
        if grad.dtype != dtype:
            raise DTypeError(f"grad: expected dtype {dtype} (the input dtype), got {grad.dtype}")
        return grad
    if np.ndim(grad) != 0:
        raise ShapeError(f"grad: reduction={reduction!r} gives a scalar loss, so grad must be a scalar, "
                         f"got shape {np.shape(grad)}")
    g = np.asarray(grad, dtype=dtype)                       # a scalar in the input dtype (no promotion)
    if reduction == "none":                                 # 0-d input: the loss is a scalar too
        return g
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            g = g / dtype.type(int(np.prod(shape)))         # d mean / d l_i = 1 / numel
    return np.broadcast_to(g, shape)                        # ()-> (...)
