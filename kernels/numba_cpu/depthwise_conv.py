"""Numba CPU kernels: depthwise 2-d convolution (one kh x kw filter per channel), forward and backward.

    y[n, c, i, j]  = b[c] + sum_{a, e} w[c, a, e] * x[n, c, i*sh + a*dh - pt, j*sw + e*dw - pl]
    dx[n, c, r, q] = sum over (i, j, a, e) with r = i*sh + a*dh - pt, q = j*sw + e*dw - pl of dy[n, c, i, j] w[c, a, e]
    dw[c, a, e]    = sum_{n, i, j} dy[n, c, i, j] * x[n, c, i*sh + a*dh - pt, j*sw + e*dw - pl]
    db[c]          = sum_{n, i, j} dy[n, c, i, j]
(x outside [0, H) x [0, W) is the zero padding; it is never materialised.)

Tested against: refimpl.functional.depthwise_conv.depthwise_conv2d / depthwise_conv2d_backward
(tests/kernels/test_depthwise_conv_numba.py), with the same argument checks run before compiled code.

Layout: every (n, c) plane is independent, so planes run in parallel (numba prange over N*C). Inside
a plane the loops go tap row a -> output row i -> tap column e -> output column j, so the innermost
loop walks one row of y (and, for stride 1, one row of x) contiguously and vectorises. The backward
does dx and dw in the same sweep over dy; dw is accumulated per plane in float64 and summed over n
afterwards, so no two threads write the same memory.
"""
from __future__ import annotations

from typing import Optional

import numba
import numpy as np

from refimpl.functional.depthwise_conv import check_depthwise_conv_args, check_depthwise_conv_backward_args

__all__ = ["depthwise_conv2d", "depthwise_conv2d_backward"]


@numba.njit(cache=True, inline="always")
def _valid_cols(e_off, sw, W, Wo):
    """Output columns j whose input column j*sw + e_off lies in [0, W): returns [j0, j1)."""
    j0 = 0 if e_off >= 0 else (-e_off + sw - 1) // sw
    j1 = (W - 1 - e_off) // sw + 1 if W - 1 - e_off >= 0 else 0
    return j0, min(j1, Wo)


# 'contract' lets LLVM fuse multiply-adds, 'reassoc' lets it vectorise the dw sum; NaN/inf semantics stay
_FWD_MATH = {"contract"}
_BWD_MATH = {"contract", "reassoc"}


@numba.njit(parallel=True, cache=True, fastmath=_FWD_MATH)
def _forward(x, w, b, y, sh, sw, dh, dw, pt, pl):
    N, C, H, W = x.shape
    Ho, Wo = y.shape[2], y.shape[3]
    kh, kw = w.shape[1], w.shape[2]
    for p in numba.prange(N * C):
        n, c = p // C, p % C
        xp, yp = x[n, c], y[n, c]
        acc = np.empty(Wo, y.dtype)                               # one output row, stays in L1
        for i in range(Ho):
            acc[:] = b[c]
            for a in range(kh):
                r = i * sh + a * dh - pt                          # input row read by output row i at tap row a
                if r < 0 or r >= H:
                    continue
                x_row = xp[r]
                for e in range(kw):
                    wt = w[c, a, e]
                    off = e * dw - pl
                    j0, j1 = _valid_cols(off, sw, W, Wo)
                    if j1 <= j0:
                        continue
                    out = acc[j0:j1]
                    if sw == 1:                                   # unit stride: contiguous slices, vectorises
                        src = x_row[j0 + off:j1 + off]
                        for t in range(j1 - j0):
                            out[t] += wt * src[t]                 # y[i, j] += w[c, a, e] * x[r, j + off]
                    else:
                        for t in range(j1 - j0):
                            out[t] += wt * x_row[(j0 + t) * sw + off]   # y[i, j] += w[c, a, e] * x[r, j*sw + off]
            yp[i, :] = acc


@numba.njit(parallel=True, cache=True, fastmath=_BWD_MATH)
def _backward(dy, x, w, dx, dw_partial, sh, sw, dh, dw, pt, pl):
    N, C, H, W = x.shape
    Ho, Wo = dy.shape[2], dy.shape[3]
    kh, kw = w.shape[1], w.shape[2]
    for p in numba.prange(N * C):
        n, c = p // C, p % C
        xp, dyp, dxp = x[n, c], dy[n, c], dx[n, c]
        dxp[:, :] = 0.0
        for a in range(kh):
            for e in range(kw):
                wt = w[c, a, e]
                off = e * dw - pl
                j0, j1 = _valid_cols(off, sw, W, Wo)
                acc = 0.0                                          # float64 accumulator for dw[c, a, e]
                if j1 > j0:
                    for i in range(Ho):
                        r = i * sh + a * dh - pt
                        if r < 0 or r >= H:
                            continue
                        g_row = dyp[i, j0:j1]
                        if sw == 1:                                # unit stride: contiguous slices, vectorises
                            x_src = xp[r, j0 + off:j1 + off]
                            dx_dst = dxp[r, j0 + off:j1 + off]
                            for t in range(j1 - j0):
                                g = g_row[t]
                                dx_dst[t] += wt * g                # dL/dx[r, q] += w[c, a, e] * dy[i, j]
                                acc += g * x_src[t]                # dL/dw[c, a, e] += dy[i, j] * x[r, q]
                        else:
                            for t in range(j1 - j0):
                                g = g_row[t]
                                q = (j0 + t) * sw + off
                                dxp[r, q] += wt * g
                                acc += g * xp[r, q]
                dw_partial[n, c, a, e] = acc


def depthwise_conv2d(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray] = None, stride=1,
                     padding=0, dilation=1) -> np.ndarray:
    """Same contract as refimpl.functional.depthwise_conv.depthwise_conv2d: x (N, C, H, W), weight (C, 1, kh, kw),
    bias (C,) or None -> (N, C, H_out, W_out) in x's dtype."""
    (sh, sw), ((pt, _), (pl, _)), (dh, dw), out = check_depthwise_conv_args(x, weight, bias, stride, padding,
                                                                            dilation)
    N, C = x.shape[:2]
    y = np.empty((N, C) + out, dtype=x.dtype)                                     # (N, C, Ho, Wo)
    if y.size == 0:
        return y
    b = bias if bias is not None else np.zeros(C, x.dtype)
    _forward(np.ascontiguousarray(x), np.ascontiguousarray(weight[:, 0]), np.ascontiguousarray(b), y,
             sh, sw, dh, dw, pt, pl)
    return y


def depthwise_conv2d_backward(dy: np.ndarray, x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray] = None,
                              stride=1, padding=0, dilation=1):
    """Same contract as refimpl.functional.depthwise_conv.depthwise_conv2d_backward -> (dx, dweight, dbias)."""
    (sh, sw), ((pt, _), (pl, _)), (dh, dw), out = check_depthwise_conv_backward_args(
        dy, x, weight, bias, stride, padding, dilation)
    N, C = x.shape[:2]
    dx = np.empty_like(x, order="C")                                              # (N, C, H, W)
    dw_partial = np.zeros((N, C) + weight.shape[2:], dtype=np.float64)            # (N, C, kh, kw) per plane
    if dx.size and dy.size:
        _backward(np.ascontiguousarray(dy), np.ascontiguousarray(x), np.ascontiguousarray(weight[:, 0]), dx,
                  dw_partial, sh, sw, dh, dw, pt, pl)
    else:
        dx[...] = 0.0
    dweight = dw_partial.sum(axis=0).astype(x.dtype)[:, None]                     # (C, 1, kh, kw)
    dbias = dy.sum(axis=(0, 2, 3)) if bias is not None else None                  # (C,)
    return dx, dweight, dbias
