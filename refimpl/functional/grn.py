"""Global response normalisation (GRN, ConvNeXt V2, Woo et al. 2023) and its backward.

On a channels-last feature map x: (N, H, W, C), per sample n and channel c:

    G[n, c]  = sqrt(sum_{h, w} x[n, h, w, c]^2)              the channel's L2 norm over space
    Nx[n, c] = G[n, c] / (mean_c' G[n, c'] + eps)            its size relative to the other channels
    y        = weight * (x * Nx) + bias + x                  (the "+ x" is GRN's built-in residual)

weight and bias have transformers' shape (1, 1, 1, C); eps is 1e-6 in ConvNextV2GRN.
Backward, with D = mean_c G + eps and s[n, c] = sum_{h, w} dy * weight * x:

    dweight = sum_{n, h, w} dy * x * Nx,     dbias = sum_{n, h, w} dy
    dNx     = s
    dG      = dNx / D - (1/C) sum_c' dNx[c'] G[c'] / D^2     (Nx depends on every G of its sample)
    dx      = dy * (1 + weight * Nx) + dG * x / G            (dG * x / G := 0 where G == 0, as torch's norm)
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from ..core.errors import ConfigError, ShapeError
from ..core.validation import check_float

__all__ = ["global_response_norm", "global_response_norm_backward"]


def _check(x, weight, bias, eps):
    check_float(x, "x")
    if x.ndim != 4:
        raise ShapeError(f"x: expected 4 dimensions (N, H, W, C) (channels last), got shape {x.shape}")
    c = x.shape[-1]
    for name, p in (("weight", weight), ("bias", bias)):
        check_float(p, name, dtype=x.dtype)
        if p.shape != (1, 1, 1, c):
            raise ShapeError(f"{name}: expected shape (1, 1, 1, {c}) for x with {c} channels (last axis), "
                             f"got {p.shape}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating, np.integer)) or not eps >= 0:
        raise ConfigError(f"eps: expected a non-negative float, got {eps!r}")
    return float(eps)


def _norms(x, eps):
    g = np.sqrt((x * x).sum(axis=(1, 2), keepdims=True))              # (N, 1, 1, C)
    d = g.mean(axis=-1, keepdims=True) + x.dtype.type(eps)             # (N, 1, 1, 1)
    return g, d


def global_response_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """y = weight * (x * Nx) + bias + x, Nx = ||x||_{H,W} / (mean_C ||x||_{H,W} + eps).

    x: (N, H, W, C) float32/float64; weight, bias: (1, 1, 1, C) of x's dtype -> y: x's shape and dtype.
    """
    eps = _check(x, weight, bias, eps)
    g, d = _norms(x, eps)
    nx = g / d                                                         # (N, 1, 1, C)
    return weight * (x * nx) + bias + x                                # (N, H, W, C)


def global_response_norm_backward(dy: np.ndarray, x: np.ndarray, weight: np.ndarray, bias: np.ndarray,
                                  eps: float = 1e-6) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dx, dweight, dbias) of global_response_norm for upstream dy: (N, H, W, C)."""
    eps = _check(x, weight, bias, eps)
    check_float(dy, "dy", dtype=x.dtype)
    if dy.shape != x.shape:
        raise ShapeError(f"dy: expected the output shape {x.shape}, got {dy.shape}")
    c = x.shape[-1]
    g, d = _norms(x, eps)
    nx = g / d                                                                     # (N, 1, 1, C)
    dweight = (dy * x * nx).sum(axis=(0, 1, 2), keepdims=True)                     # dL/dw = sum dy x Nx
    dbias = dy.sum(axis=(0, 1, 2), keepdims=True)                                  # dL/db = sum dy
    dnx = (dy * weight * x).sum(axis=(1, 2), keepdims=True)                        # dL/dNx = sum_hw dy w x
    # dL/dG = dNx / D - (1/C) sum_c' dNx G / D^2  (D = mean G + eps couples the channels)
    dg = dnx / d - (dnx * g).sum(axis=-1, keepdims=True) / (c * d * d)             # (N, 1, 1, C)
    safe = np.where(g > 0, g, 1)
    dx_norm = np.where(g > 0, dg / safe, 0) * x                                    # dG/dx = x / G (0 at G = 0)
    dx = dy * (1 + weight * nx) + dx_norm                                          # direct path + through Nx
    return dx.astype(x.dtype, copy=False), dweight, dbias
