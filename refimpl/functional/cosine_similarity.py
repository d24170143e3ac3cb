"""Cosine similarity along an axis (torch.nn.functional.cosine_similarity / torch.cosine_similarity).

    c = sum_d  x1_d / max(||x1||, eps) * x2_d / max(||x2||, eps)            along `axis`

x1 and x2 broadcast against each other (e.g. predictions (B, T, D) against candidates (K+1, B, T, D));
the output has the broadcast shape without `axis`. Each vector is divided by its own clamped norm
before the product (torch's order, which also keeps the product from overflowing).

Backward, with n = ||x1||, x1^ = x1 / max(n, eps) and likewise for x2:
    n > eps :  dc/dx1 = (x2^ - c x1^) / n                 (the component of x2^ orthogonal to x1^)
    n <= eps:  dc/dx1 = x2^ / eps                          (the clamped norm is a constant)
and symmetrically for x2; each gradient is summed back to its input's own (pre-broadcast) shape.
Values agree with torch everywhere, and gradients wherever a norm exceeds eps and for zero vectors.
For 0 < ||x1|| <= eps torch differentiates through the UNclamped norm and returns
(x2^ - c x1/||x1||) / eps; refimpl returns the exact derivative of the clamped function above.
"""
from __future__ import annotations

import numpy as np

from ..core.errors import ConfigError, ShapeError
from ..core.validation import check_float, check_same_dtype

__all__ = ["cosine_similarity", "cosine_similarity_backward"]


def _setup(x1, x2, axis, eps):
    check_float(x1, "x1")
    check_float(x2, "x2")
    check_same_dtype({"x1": x1, "x2": x2})
    try:
        shape = np.broadcast_shapes(x1.shape, x2.shape)
    except ValueError:
        raise ShapeError(f"x1, x2: shapes {x1.shape} and {x2.shape} do not broadcast") from None
    if not shape or isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) \
            or not -len(shape) <= axis < len(shape):
        raise ConfigError(f"axis: expected an axis of the broadcast shape {shape}, got {axis!r}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0:
        raise ConfigError(f"eps: expected a non-negative float, got {eps!r}")
    return shape, int(axis) % len(shape)


def _unit(x, axis, eps):
    """(x / max(||x||, eps), ||x||, max(||x||, eps)), norms kept as size-1 axes."""
    n = np.sqrt(np.sum(x * x, axis=axis, keepdims=True))                # (.., 1, ..)
    nc = np.maximum(n, x.dtype.type(eps))
    return x / nc, n, nc


def _ranked(x: np.ndarray, shape, axis: int) -> np.ndarray:
    """x with leading size-1 axes up to the broadcast rank; stretched along `axis` if it has size 1 there."""
    x = x.reshape((1,) * (len(shape) - x.ndim) + x.shape)
    if x.shape[axis] != shape[axis]:
        x = np.broadcast_to(x, x.shape[:axis] + (shape[axis],) + x.shape[axis + 1:])
    return x


def _sum_to(g: np.ndarray, shape) -> np.ndarray:
    """Undo broadcasting: sum g over the axes along which an input of `shape` was stretched."""
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead))) if lead else g
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def cosine_similarity(x1: np.ndarray, x2: np.ndarray, axis: int = 1, eps: float = 1e-8) -> np.ndarray:
    """Cosine similarity of x1 and x2 along `axis` (torch's default axis is 1), broadcast shape minus `axis`."""
    shape, axis = _setup(x1, x2, axis, eps)
    u1, _, _ = _unit(_ranked(x1, shape, axis), axis, eps)
    u2, _, _ = _unit(_ranked(x2, shape, axis), axis, eps)
    return np.asarray(np.sum(u1 * u2, axis=axis))                       # broadcast shape without `axis`


def cosine_similarity_backward(dc: np.ndarray, x1: np.ndarray, x2: np.ndarray, axis: int = 1, eps: float = 1e-8):
    """(dx1, dx2) of cosine_similarity for upstream dc (the output's shape); each in its input's shape."""
    shape, axis = _setup(x1, x2, axis, eps)
    out_shape = shape[:axis] + shape[axis + 1:]
    if out_shape == () and isinstance(dc, (float, np.floating)):
        dc = np.asarray(dc, dtype=x1.dtype)                             # a scalar cotangent of a 0-d output
    check_float(dc, "dc", dtype=x1.dtype)
    if dc.shape != out_shape:
        raise ShapeError(f"dc: expected the output's shape {out_shape}, got {dc.shape}")
    u1, n1, nc1 = _unit(_ranked(x1, shape, axis), axis, eps)
    u2, n2, nc2 = _unit(_ranked(x2, shape, axis), axis, eps)
    c = np.sum(u1 * u2, axis=axis, keepdims=True)                      # (.., 1, ..) broadcast
    g = np.expand_dims(dc, axis)                                        # (.., 1, ..)
    # dc/dx1 = (x2^ - c x1^) / ||x1||  where the norm is not clamped, x2^ / eps where it is
    d1 = g * np.where(n1 > eps, u2 - c * u1, u2) / nc1
    d2 = g * np.where(n2 > eps, u1 - c * u2, u1) / nc2
    return _sum_to(d1, x1.shape).reshape(x1.shape), _sum_to(d2, x2.shape).reshape(x2.shape)
