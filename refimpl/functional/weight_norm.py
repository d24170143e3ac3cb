"""Weight normalisation (Salimans & Kingma, 2016): a weight written as a direction times a magnitude.

    w = g * v / ||v||          the norm taken over every axis EXCEPT `dim` (torch's norm_except_dim)

v (original1 in torch.nn.utils.parametrizations.weight_norm, weight_v in the old hook API) has the
weight's shape; g (original0 / weight_g) has the weight's rank with size 1 on every axis but `dim`.
dim=None normalises the whole tensor: g is then 0-d (as torch stores it) or all ones in shape. As in
torch.nn.utils.(parametrizations.)weight_norm, dim=-1 means the same (NOT the last axis); other negative
axes are refused. Wav2Vec2's positional convolution uses dim=2: one norm per kernel tap, taken over
(out_channels, in_channels / groups).

Backward, with n = ||v|| (per slice along `dim`) and s = sum over the normalised axes of dw * v:

    dg = s / n
    dv = (g / n) * dw - (g * s / n^3) * v  =  (g / n) * (dw - v * s / n^2)
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from ..core.errors import ConfigError, ShapeError
from ..core.validation import check_float, check_same_dtype

__all__ = ["weight_norm", "weight_norm_backward", "weight_norm_decompose", "norm_except_dim"]


def _reduce_axes(ndim: int, dim: Optional[int], name: str = "dim") -> Tuple[int, ...]:
    """The axes the norm runs over: all but `dim` (all of them when dim is None)."""
    if dim is None or (not isinstance(dim, bool) and isinstance(dim, (int, np.integer)) and dim == -1):
        return tuple(range(ndim))                                       # torch: -1 means the whole tensor
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 0 <= dim < ndim:
        raise ConfigError(f"{name}: expected None / -1 (the whole tensor, as torch reads -1) or an axis in "
                          f"[0, {ndim}) of the weight, got {dim!r}")
    return tuple(a for a in range(ndim) if a != dim)


def _g_shape(v_shape, dim) -> tuple:
    axes = _reduce_axes(len(v_shape), dim)
    return tuple(1 if a in axes else s for a, s in enumerate(v_shape))


def _check(v, g, dim):
    check_float(v, "v")
    if v.ndim < 1:
        raise ShapeError(f"v: expected a weight with at least 1 dimension, got shape {v.shape}")
    check_float(g, "g")
    check_same_dtype({"v": v, "g": g})
    axes = _reduce_axes(v.ndim, dim)
    want = _g_shape(v.shape, dim)
    if g.shape != want and not (len(axes) == v.ndim and g.shape == ()):
        raise ShapeError(f"g: expected shape {want} (size 1 on every axis but dim={dim}) for v of shape {v.shape}, "
                         f"got {g.shape}")
    return axes, g.reshape(want)


def norm_except_dim(v: np.ndarray, dim: Optional[int] = 0) -> np.ndarray:
    """||v|| over every axis but `dim`, kept as size-1 axes (the shape of g)."""
    check_float(v, "v")
    axes = _reduce_axes(v.ndim, dim)
    return np.sqrt(np.sum(v * v, axis=axes, keepdims=True))             # (1, .., D_dim, .., 1)


def weight_norm(v: np.ndarray, g: np.ndarray, dim: Optional[int] = 0) -> np.ndarray:
    """w = v * (g / ||v||), norm over every axis but `dim`. v: any float array; g: v's rank, size 1 off `dim`.

    Returns w with v's shape and dtype. A slice of v that is all zeros gives NaN (0/0), as in torch.
    """
    axes, g = _check(v, g, dim)
    n = np.sqrt(np.sum(v * v, axis=axes, keepdims=True))                # (1, .., D_dim, .., 1)
    return v * (g / n)                                                  # v's shape (torch's order of operations)


def weight_norm_backward(dw: np.ndarray, v: np.ndarray, g: np.ndarray, dim: Optional[int] = 0):
    """(dv, dg) for w = weight_norm(v, g, dim) and upstream dw (v's shape); dg has g's shape."""
    g_in_shape = g.shape
    axes, g = _check(v, g, dim)
    check_float(dw, "dw")
    if dw.shape != v.shape or dw.dtype != v.dtype:
        raise ShapeError(f"dw: expected shape {v.shape} and dtype {v.dtype} (those of v), got {dw.shape} {dw.dtype}")
    n = np.sqrt(np.sum(v * v, axis=axes, keepdims=True))                # (1, .., D_dim, .., 1)
    s = np.sum(dw * v, axis=axes, keepdims=True)                        # <dw, v> per slice
    dg = s / n                                                          # dL/dg = <dw, v> / ||v||
    dv = (g / n) * (dw - v * (s / (n * n)))                             # dL/dv = g/||v|| (dw - v <dw,v>/||v||^2)
    return dv, dg.reshape(g_in_shape)


def weight_norm_decompose(w: np.ndarray, dim: Optional[int] = 0):
    """(g, v) with weight_norm(v, g, dim) == w: g = ||w|| (over all axes but dim), v = w (torch's right_inverse)."""
    check_float(w, "w")
    axes = _reduce_axes(w.ndim, dim, "dim")
    g = np.sqrt(np.sum(w * w, axis=axes, keepdims=len(axes) < w.ndim))  # 0-d for the whole tensor, as torch
    return np.asarray(g, dtype=w.dtype), w.copy()
