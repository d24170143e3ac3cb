"""Pooling over spatial windows (torch.nn.functional semantics): max_pool2d, avg_pool2d,
adaptive_avg_pool1d, adaptive_avg_pool2d, each with its backward.

Window placement for max/avg pooling, per spatial axis (input length L, kernel k, stride s, padding p,
dilation d): output i reads positions i*s - p + t*d, t = 0..k-1, and

    L_out = floor_or_ceil((L + 2p - d*(k-1) - 1) / s) + 1,
    with ceil_mode: drop the last window if it would start at or beyond L + p (it must start inside
    the input or the left padding) — torch's rule; padding must be <= k // 2.

Adaptive pooling of L -> L_out averages window i = [floor(i*L/L_out), ceil((i+1)*L/L_out)), which tiles
the input exactly when L_out divides L and overlaps (or repeats elements, when L_out > L) otherwise.
"""
from __future__ import annotations

import itertools
from typing import Optional, Sequence, Tuple, Union

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..core.errors import ConfigError, ShapeError
from ..core.validation import check_float
from .conv import _ntuple, _tap_slices

IntOrPair = Union[int, Sequence[int]]


# ---------------------------------------------------------------------------------------- geometry
def _check_x(x, ndim: int, layout: str, name: str = "x"):
    check_float(x, name)
    if x.ndim != ndim:
        raise ShapeError(f"{name}: expected {ndim} dimensions {layout}, got shape {x.shape}")
    if any(s < 1 for s in x.shape[2:]):
        raise ShapeError(f"{name}: spatial sizes must be positive, got shape {x.shape}")


def pool_output_size(L: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """Number of windows along one axis (see the module docstring)."""
    span = L + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= L + p:   # the last window would start in the right padding
        out -= 1
    return out


def pool_args(kernel_size, stride, padding, dilation):
    """Validate pooling arguments (no input needed); return (kernel, stride, padding, dilation) as 2-tuples."""
    kernel = _ntuple(kernel_size, 2, "kernel_size", minimum=1)
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        stride = kernel                                      # torch: stride defaults to the kernel size
    else:
        stride = _ntuple(stride, 2, "stride", minimum=1)
    pad = _ntuple(padding, 2, "padding", minimum=0)
    dil = _ntuple(dilation, 2, "dilation", minimum=1)
    if any(p > k // 2 for p, k in zip(pad, kernel)):
        raise ConfigError(f"padding: must be at most half the kernel size (kernel_size // 2 = "
                          f"{tuple(k // 2 for k in kernel)}), got padding={pad} for kernel_size={kernel}")
    return kernel, stride, pad, dil


def _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Validate pooling arguments; return (kernel, stride, padding, dilation, out) as 2-tuples."""
    kernel, stride, pad, dil = pool_args(kernel_size, stride, padding, dilation)
    out = tuple(pool_output_size(L, k, s, p, d, bool(ceil_mode))
                for L, k, s, p, d in zip(x.shape[2:], kernel, stride, pad, dil))
    if any(o < 1 for o in out):
        raise ShapeError(f"x: spatial size {x.shape[2:]} is too small for kernel_size={kernel} with "
                         f"padding={pad}, dilation={dil}, stride={stride} (output size would be {out})")
    return kernel, stride, pad, dil, out


def _padded(x, pad, kernel, stride, dil, out, value):
    """x padded by `pad` on the left/top and enough on the right/bottom for every (ceil-mode) window."""
    widths = []
    for L, k, s, p, d, o in zip(x.shape[2:], kernel, stride, pad, dil, out):
        need = (o - 1) * s + d * (k - 1) + 1                 # padded length the last window reaches
        widths.append((p, max(0, need - L - p)))
    return np.pad(x, ((0, 0), (0, 0)) + tuple(widths), constant_values=value)


# ---------------------------------------------------------------------------------------- max pool
def _max_pool2d_argmax(x, kernel_size, stride, padding, dilation, ceil_mode):
    """(y, idx): window maxima and the flat input index (h*W + w) of each, -1 for an all-padding window."""
    _check_x(x, 4, "(N, C, H, W)")
    kernel, stride, pad, dil, out = _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
    N, C, H, W = x.shape
    kh, kw = kernel
    xp = _padded(x, pad, kernel, stride, dil, out, -np.inf)  # implicit -inf padding never wins a max
    reach = (dil[0] * (kh - 1) + 1, dil[1] * (kw - 1) + 1)
    win = sliding_window_view(xp, reach, axis=(2, 3))[:, :, ::stride[0], ::stride[1], ::dil[0], ::dil[1]]
    win = win[:, :, :out[0], :out[1]].reshape(N, C, out[0], out[1], kh * kw)  # (N, C, Ho, Wo, kh*kw)
    # np.argmax takes the first maximum in row-major window order, as torch does on ties
    a = win.argmax(axis=-1)                                  # (N, C, Ho, Wo)
    y = np.take_along_axis(win, a[..., None], axis=-1)[..., 0]
    # window offset -> input coordinates
    oh = np.arange(out[0])[:, None] * stride[0] - pad[0]     # (Ho, 1)
    ow = np.arange(out[1])[None, :] * stride[1] - pad[1]     # (1, Wo)
    ih = oh + (a // kw) * dil[0]                             # (N, C, Ho, Wo)
    iw = ow + (a % kw) * dil[1]
    inside = (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
    if not inside.all():
        # only when every element of the window is -inf (or padding): torch then reports the first
        # element of the window that lies in the input, which is what receives the gradient
        ih, iw, inside = _first_valid(ih, iw, inside, oh, ow, kernel, dil, H, W)
    idx = np.where(inside, ih * W + iw, -1)
    return np.ascontiguousarray(y), idx


def _first_valid(ih, iw, inside, oh, ow, kernel, dil, H, W):
    kh, kw = kernel
    # first tap along each axis that lands inside the input (rows and columns are independent)
    th = np.array([next((t for t in range(kh) if 0 <= o + t * dil[0] < H), -1) for o in oh[:, 0]])
    tw = np.array([next((t for t in range(kw) if 0 <= o + t * dil[1] < W), -1) for o in ow[0, :]])
    fh = np.where(th >= 0, oh[:, 0] + th * dil[0], -1)[:, None]       # (Ho, 1)
    fw = np.where(tw >= 0, ow[0, :] + tw * dil[1], -1)[None, :]       # (1, Wo)
    ok = (fh >= 0) & (fw >= 0)                                        # (Ho, Wo): window touches the input
    ih = np.where(inside, ih, fh)
    iw = np.where(inside, iw, fw)
    return ih, iw, inside | ok


def max_pool2d(x: np.ndarray, kernel_size: IntOrPair, stride: Optional[IntOrPair] = None, padding: IntOrPair = 0,
               dilation: IntOrPair = 1, ceil_mode: bool = False, return_indices: bool = False):
    """y[n, c, i, j] = max_{a, e} xpad[n, c, i*sh - ph + a*dh, j*sw - pw + e*dw], padding counted as -inf.

    x: (N, C, H, W) float -> y: (N, C, H_out, W_out), same dtype; stride None means kernel_size.
    return_indices: also return the argmax as flat indices h*W + w into each (H, W) plane (int64),
    the first maximum in window order on ties (torch's choice).
    """
    y, idx = _max_pool2d_argmax(x, kernel_size, stride, padding, dilation, ceil_mode)
    return (y, idx) if return_indices else y


def max_pool2d_scatter(dy: np.ndarray, idx: np.ndarray, x_shape: Tuple[int, ...]) -> np.ndarray:
    """dL/dx[n, c, idx[n, c, i, j]] += dy[n, c, i, j] (idx from max_pool2d(..., return_indices=True))."""
    N, C, H, W = x_shape
    if dy.shape != idx.shape:
        raise ShapeError(f"dy: expected the output shape {idx.shape}, got {dy.shape}")
    keep = idx >= 0
    plane = (np.arange(N * C).reshape(N, C, 1, 1) * (H * W))   # offset of each (n, c) plane
    flat = (plane + idx)[keep]
    # windows may overlap (stride < kernel), so one input element can collect several gradients
    dx = np.bincount(flat, weights=dy[keep], minlength=N * C * H * W)
    return dx.astype(dy.dtype, copy=False).reshape(x_shape)


def max_pool2d_backward(dy: np.ndarray, x: np.ndarray, kernel_size: IntOrPair, stride: Optional[IntOrPair] = None,
                        padding: IntOrPair = 0, dilation: IntOrPair = 1, ceil_mode: bool = False,
                        return_indices: bool = False) -> np.ndarray:
    """dx of max_pool2d: each dy goes to its window's argmax (the first maximum on ties); dx: x's shape."""
    _, idx = _max_pool2d_argmax(x, kernel_size, stride, padding, dilation, ceil_mode)
    check_float(dy, "dy", dtype=x.dtype)
    return max_pool2d_scatter(dy, idx, x.shape)


# ---------------------------------------------------------------------------------------- avg pool
def _avg_geometry(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    _check_x(x, 4, "(N, C, H, W)")
    kernel, stride, pad, _, out = _pool_geometry(x, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None:
        if isinstance(divisor_override, bool) or not isinstance(divisor_override, (int, np.integer)) \
                or divisor_override == 0:
            raise ConfigError(f"divisor_override: expected a non-zero int or None, got {divisor_override!r}")
        divisor = np.full(out, float(divisor_override))
    else:
        counts = []
        for L, k, s, p, o in zip(x.shape[2:], kernel, stride, pad, out):
            start = np.arange(o) * s - p
            end = np.minimum(start + k, L + p)              # a ceil-mode window is cut at the padded edge
            if count_include_pad:
                counts.append(end - start)                  # padding zeros count, the overhang does not
            else:
                counts.append(np.minimum(end, L) - np.maximum(start, 0))
        divisor = counts[0][:, None] * counts[1][None, :]   # (Ho, Wo)
    return kernel, stride, pad, out, divisor.astype(x.dtype)


def avg_pool2d(x: np.ndarray, kernel_size: IntOrPair, stride: Optional[IntOrPair] = None, padding: IntOrPair = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: Optional[int] = None) -> np.ndarray:
    """y[n, c, i, j] = sum_{a, e} xpad[n, c, i*sh - ph + a, j*sw - pw + e] / divisor[i, j] (zero padding).

    divisor: the window's size inside the padded input (count_include_pad=True, default), or the number
    of real input elements in it (False), or divisor_override. x: (N, C, H, W) -> (N, C, H_out, W_out).
    """
    kernel, stride, pad, out, divisor = _avg_geometry(x, kernel_size, stride, padding, ceil_mode,
                                                      count_include_pad, divisor_override)
    xp = _padded(x, pad, kernel, stride, (1, 1), out, 0.0)   # (N, C, Hp, Wp)
    y = np.zeros(x.shape[:2] + out, dtype=x.dtype)           # (N, C, Ho, Wo)
    for tap in itertools.product(range(kernel[0]), range(kernel[1])):
        y += xp[(Ellipsis,) + _tap_slices(tap, stride, (1, 1), out)]
    return y / divisor


def avg_pool2d_backward(dy: np.ndarray, x: np.ndarray, kernel_size: IntOrPair, stride: Optional[IntOrPair] = None,
                        padding: IntOrPair = 0, ceil_mode: bool = False, count_include_pad: bool = True,
                        divisor_override: Optional[int] = None) -> np.ndarray:
    """dx of avg_pool2d: dL/dxpad[.., i*s - p + a, ..] += dy[.., i, j] / divisor[i, j]; dx: x's shape."""
    kernel, stride, pad, out, divisor = _avg_geometry(x, kernel_size, stride, padding, ceil_mode,
                                                      count_include_pad, divisor_override)
    check_float(dy, "dy", dtype=x.dtype)
    if dy.shape != x.shape[:2] + out:
        raise ShapeError(f"dy: expected the output shape {x.shape[:2] + out}, got {dy.shape}")
    g = dy / divisor                                          # (N, C, Ho, Wo)
    H, W = x.shape[2:]
    reach = [(o - 1) * s + k for o, s, k in zip(out, stride, kernel)]
    dxp = np.zeros(x.shape[:2] + (max(reach[0], H + pad[0]), max(reach[1], W + pad[1])), dtype=x.dtype)
    for tap in itertools.product(range(kernel[0]), range(kernel[1])):
        dxp[(Ellipsis,) + _tap_slices(tap, stride, (1, 1), out)] += g
    return np.ascontiguousarray(dxp[:, :, pad[0]:pad[0] + H, pad[1]:pad[1] + W])  # crop the padding


# ---------------------------------------------------------------------------------------- adaptive avg
def adaptive_pool_matrix(L: int, L_out: int, dtype=np.float64) -> np.ndarray:
    """A (L_out, L): row i averages x[floor(i*L/L_out) : ceil((i+1)*L/L_out)], so y = A @ x along that axis."""
    i = np.arange(L_out)
    start = (i * L) // L_out
    end = -((-(i + 1) * L) // L_out)                          # ceil((i+1)*L/L_out) in integers
    pos = np.arange(L)
    inside = (pos[None, :] >= start[:, None]) & (pos[None, :] < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def adaptive_output_size(output_size, spatial, n: int):
    """Resolve adaptive pooling's output_size (int, tuple, None entries = keep that input size) to n ints."""
    if n == 1:
        if isinstance(output_size, (tuple, list)) and len(output_size) == 1:
            output_size = output_size[0]
        return (_check_size(output_size, "output_size"),)
    if output_size is None or isinstance(output_size, (int, np.integer)):
        output_size = (output_size, output_size)
    if not isinstance(output_size, (tuple, list)) or len(output_size) != n:
        raise ConfigError(f"output_size: expected an int or a tuple of {n} ints (None keeps that input size), "
                          f"got {output_size!r}")
    return tuple(L if o is None else _check_size(o, "output_size") for o, L in zip(output_size, spatial))


def _check_size(v, name):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ConfigError(f"{name}: expected positive integers (or None for 'same as input'), got {v!r}")
    return int(v)


def adaptive_avg_pool1d(x: np.ndarray, output_size: int) -> np.ndarray:
    """y[n, c, i] = mean(x[n, c, floor(i*L/out) : ceil((i+1)*L/out)]). x: (N, C, L) -> (N, C, out)."""
    _check_x(x, 3, "(N, C, L)")
    (o,) = adaptive_output_size(output_size, x.shape[2:], 1)
    A = adaptive_pool_matrix(x.shape[2], o, x.dtype)         # (out, L)
    return x @ A.T                                           # (N, C, out)


def adaptive_avg_pool1d_backward(dy: np.ndarray, x: np.ndarray, output_size: int) -> np.ndarray:
    """dL/dx = dy @ A (each window spreads dy evenly over its elements). dx: (N, C, L)."""
    _check_x(x, 3, "(N, C, L)")
    (o,) = adaptive_output_size(output_size, x.shape[2:], 1)
    check_float(dy, "dy", dtype=x.dtype)
    if dy.shape != x.shape[:2] + (o,):
        raise ShapeError(f"dy: expected the output shape {x.shape[:2] + (o,)}, got {dy.shape}")
    A = adaptive_pool_matrix(x.shape[2], o, x.dtype)         # (out, L)
    return dy @ A                                            # (N, C, L)


def adaptive_avg_pool2d(x: np.ndarray, output_size) -> np.ndarray:
    """y[n, c, i, j] = mean of x[n, c] over rows [floor(i*H/oh), ceil((i+1)*H/oh)) x the same for columns.

    x: (N, C, H, W) -> (N, C, oh, ow). output_size: int, (oh, ow), a None entry keeps that input size.
    A rectangle's mean is the row-window mean of the column-window means: y = Ah @ x @ Aw^T.
    """
    _check_x(x, 4, "(N, C, H, W)")
    oh, ow = adaptive_output_size(output_size, x.shape[2:], 2)
    Ah = adaptive_pool_matrix(x.shape[2], oh, x.dtype)       # (oh, H)
    Aw = adaptive_pool_matrix(x.shape[3], ow, x.dtype)       # (ow, W)
    return Ah @ (x @ Aw.T)                                   # (N, C, H, ow) -> (N, C, oh, ow)


def adaptive_avg_pool2d_backward(dy: np.ndarray, x: np.ndarray, output_size) -> np.ndarray:
    """dL/dx = Ah^T @ dy @ Aw. dx: (N, C, H, W)."""
    _check_x(x, 4, "(N, C, H, W)")
    oh, ow = adaptive_output_size(output_size, x.shape[2:], 2)
    check_float(dy, "dy", dtype=x.dtype)
    if dy.shape != x.shape[:2] + (oh, ow):
        raise ShapeError(f"dy: expected the output shape {x.shape[:2] + (oh, ow)}, got {dy.shape}")
    Ah = adaptive_pool_matrix(x.shape[2], oh, x.dtype)       # (oh, H)
    Aw = adaptive_pool_matrix(x.shape[3], ow, x.dtype)       # (ow, W)
    return Ah.T @ (dy @ Aw)                                  # (N, C, oh, W) -> (N, C, H, W)
