"""interpolate: resize the spatial axes of (N, C, L) or (N, C, H, W) arrays like torch.nn.functional.interpolate.

Every mode is separable: each spatial axis of size `in` is resampled to size `out` by a fixed set of
K taps per output position, y[o] = sum_k w[o, k] * x[idx[o, k]], applied to W first, then H (torch's
order). The backward is the adjoint of exactly that map: dx[i] = sum_{o,k: idx[o,k]=i} w[o, k] * dy[o].

Source coordinate of output position o (torch's `area_pixel_compute_*`, per axis):

    scale = (in - 1) / (out - 1)  (0 if out == 1)          align_corners=True
          = 1 / scale_factor      if a scale_factor is given (and recompute_scale_factor is not True)
          = in / out              otherwise                 align_corners=False
    src   = scale * o                                       align_corners=True
          = scale * (o + 0.5) - 0.5                         align_corners=False (half-pixel centres)

Modes (K taps):
    nearest  (K=1) idx = min(floor(o * scale), in - 1) with scale = 1/scale_factor or in/out (no half-pixel
             shift: torch's legacy OpenCV INTER_NEAREST rule); align_corners must be None.
    linear / bilinear (K=2) src clamped at 0 when align_corners=False; i0 = min(floor(src), in - 1),
             i1 = min(i0 + 1, in - 1), lam = clip(src - i0, 0, 1), weights (1 - lam, lam).
             An axis with out == in is copied unchanged (torch's rule, even with a scale_factor).
    bicubic  (K=4) src NOT clamped; i = min(floor(src), in - 1), t = clip(src - i, 0, 1), taps
             i-1 .. i+2 clamped to [0, in - 1] (border replication), Keys cubic convolution with A = -0.75:
             w = (c2(t + 1), c1(t), c1(1 - t), c2(2 - t)),
             c1(s) = ((A + 2) s - (A + 3)) s^2 + 1,  c2(s) = ((A s - 5A) s + 8A) s - 4A.

Output size: `size` as given, or floor(in * scale_factor) per axis.

Exactness notes (torch 2.x CPU, replicated on purpose so that every tap index equals torch's):
- Indices and weights are computed in the input dtype ("opmath"), and every floor goes through float32
  (torch calls floorf), so rare source coordinates just below an integer round up as in torch.
- nearest: torch has two forward paths. A 4D input with H_out + W_out <= 128 (and always the backward)
  uses float32 arithmetic (scale = float32(in)/float32(out), with the special cases out == in -> copy,
  out == 2 in -> o // 2); any other forward (all 3D inputs, larger 4D outputs) computes o * scale in the
  input dtype. For float64 the two differ at some sizes (e.g. 26 -> 194); this function follows torch's
  forward path choice, and its backward is the exact adjoint of its own forward, whereas torch's float64
  backward then routes some gradients to a neighbouring pixel. Inputs are taken as contiguous NCHW (a
  channels_last torch tensor with C > 3 always takes the float32 nearest path).
- bicubic: when an axis keeps its size but a scale_factor != 1 is given (e.g. 5 with scale 1.1), torch's
  backward copies the gradient as if the map were the identity while its forward is not; the backward
  here is the adjoint of the forward.

Not supported (ConfigError): antialias=True, modes "area", "nearest-exact", "trilinear", 5D inputs.
"""
from __future__ import annotations

from numbers import Integral, Real
from typing import Optional, Sequence, Union

import numpy as np

from ..core.errors import ConfigError, ShapeError
from ..core.validation import check_choice, check_float

MODES = ("nearest", "linear", "bilinear", "bicubic")
_SPATIAL_DIMS = {"nearest": (1, 2), "linear": (1,), "bilinear": (2,), "bicubic": (2,)}
_CUBIC_A = -0.75

SizeArg = Union[int, Sequence[int], None]
ScaleArg = Union[float, Sequence[float], None]


# ----------------------------------------------------------------------------- argument handling
def _per_axis(value, d: Optional[int], name: str, kind):
    """A scalar or a sequence of d values (any length when d is None) -> a tuple of int or real entries."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,) * (d or 1)
    if d is not None and len(items) != d:
        raise ConfigError(f"{name}: expected one value or {d} values (one per spatial axis), got {value!r}")
    for v in items:
        ok = (isinstance(v, Integral) if kind is int else isinstance(v, Real)) and not isinstance(v, bool)
        if not ok:
            what = "integers" if kind is int else "numbers"
            raise ConfigError(f"{name}: expected positive {what}, got {value!r}")
    return items


def check_interpolate_config(size: SizeArg = None, scale_factor: ScaleArg = None, mode: str = "nearest",
                             align_corners: Optional[bool] = None, recompute_scale_factor: Optional[bool] = None,
                             antialias: bool = False) -> bool:
    """The checks that need no input (torch's order); returns the effective align_corners (bool)."""
    check_choice(mode, "mode", MODES)
    if mode == "nearest":
        if align_corners is not None:
            raise ConfigError("align_corners: only the interpolating modes (linear, bilinear, bicubic) take "
                              f"align_corners; mode='nearest' needs align_corners=None, got {align_corners!r}")
        align_corners = False
    else:
        align_corners = False if align_corners is None else align_corners
        if not isinstance(align_corners, (bool, np.bool_)):
            raise ConfigError(f"align_corners: expected True, False or None, got {align_corners!r}")
    if antialias:
        raise ConfigError("antialias: antialias=True is not supported by refimpl.interpolate (only the plain "
                          "torch kernels are implemented); pass antialias=False")
    if size is not None and scale_factor is not None:
        raise ConfigError(f"size, scale_factor: give exactly one of them, got size={size!r} and "
                          f"scale_factor={scale_factor!r}")
    if size is None and scale_factor is None:
        raise ConfigError("size, scale_factor: give exactly one of them, got neither")
    if recompute_scale_factor is not None and not isinstance(recompute_scale_factor, (bool, np.bool_)):
        raise ConfigError(f"recompute_scale_factor: expected True, False or None, got {recompute_scale_factor!r}")
    if size is not None:
        if recompute_scale_factor:
            raise ConfigError("recompute_scale_factor: only meaningful with scale_factor, not with an explicit size")
        sizes = _per_axis(size, None, "size", int)
        if any(s < 1 for s in sizes):
            raise ConfigError(f"size: output sizes must be positive integers, got {size!r}")
    else:
        factors = _per_axis(scale_factor, None, "scale_factor", float)
        if any(not np.isfinite(float(f)) or f <= 0 for f in factors):
            raise ConfigError(f"scale_factor: expected finite positive values, got {scale_factor!r}")
    return bool(align_corners)


def resolve_interpolate_args(x: np.ndarray, size: SizeArg = None, scale_factor: ScaleArg = None,
                             mode: str = "nearest", align_corners: Optional[bool] = None,
                             recompute_scale_factor: Optional[bool] = None, antialias: bool = False,
                             name: str = "x"):
    """Validate the arguments as torch does; return (out_sizes, scales, align_corners).

    out_sizes: tuple of output spatial sizes; scales: per axis the scale_factor handed to the kernel
    (None when the scale is derived from the sizes); align_corners: bool (False for nearest).
    """
    align_corners = check_interpolate_config(size, scale_factor, mode, align_corners, recompute_scale_factor,
                                             antialias)
    check_float(x, name)
    d = x.ndim - 2
    if d not in _SPATIAL_DIMS[mode]:
        want = " or ".join({1: "3D (N, C, L)", 2: "4D (N, C, H, W)"}[k] for k in _SPATIAL_DIMS[mode])
        raise ShapeError(f"{name}: mode={mode!r} expects a {want} array, got shape {x.shape}")
    in_sizes = x.shape[2:]
    if any(s < 1 for s in in_sizes):
        raise ShapeError(f"{name}: spatial sizes must be positive, got shape {x.shape}")
    if size is not None:
        return tuple(int(s) for s in _per_axis(size, d, "size", int)), (None,) * d, align_corners
    factors = tuple(float(s) for s in _per_axis(scale_factor, d, "scale_factor", float))
    out_sizes = tuple(int(float(n) * f) for n, f in zip(in_sizes, factors))   # floor, as torch
    if any(s < 1 for s in out_sizes):
        raise ConfigError(f"scale_factor: {scale_factor!r} maps input spatial sizes {tuple(in_sizes)} to "
                          f"{out_sizes}; every output size must be >= 1")
    scales = (None,) * d if recompute_scale_factor else factors
    return out_sizes, scales, align_corners


# ----------------------------------------------------------------------------- per-axis taps
def _area_scale(n_in: int, n_out: int, align_corners: bool, scale: Optional[float], op) -> np.floating:
    """Source step per output step (torch's area_pixel_compute_scale), in the op dtype."""
    if align_corners:
        return op(n_in - 1) / op(n_out - 1) if n_out > 1 else op(0)
    if scale is not None and scale > 0:
        return op(1.0 / scale)                 # 1/scale in double, then rounded to the op dtype
    return op(n_in) / op(n_out)


def _source_coord(n_in, n_out, align_corners, scale, op, cubic: bool) -> np.ndarray:
    s = _area_scale(n_in, n_out, align_corners, scale, op)
    dst = np.arange(n_out).astype(op)                                        # (out,)
    if align_corners:
        return s * dst
    src = s * (dst + op(0.5)) - op(0.5)
    # torch clamps a negative linear coordinate to 0 (the first outputs copy pixel 0); cubic keeps it,
    # since all four of its weights depend on where the point lies
    return src if cubic else np.maximum(src, op(0))


def _floor_index(src: np.ndarray, n_in: int) -> np.ndarray:
    """min(floor(src), in - 1), the floor taken in float32 as torch's floorf does."""
    return np.minimum(np.floor(src.astype(np.float32)).astype(np.int64), n_in - 1)


def _nearest_taps(n_in, n_out, scale, op, float32_rule: bool):
    if float32_rule:  # torch's nearest_idx: its 4D small-output forward (and every nearest backward)
        if n_out == n_in:
            return np.arange(n_out)[:, None], None
        if n_out == 2 * n_in:
            return (np.arange(n_out) >> 1)[:, None], None
        s = np.float32(1.0 / scale) if (scale is not None and scale > 0) else np.float32(n_in) / np.float32(n_out)
        src = np.arange(n_out).astype(np.float32) * s
    else:             # torch's generic kernel: o * scale in the op dtype, then floorf
        s = _area_scale(n_in, n_out, False, scale, op)
        src = s * np.arange(n_out).astype(op)
    return _floor_index(src, n_in)[:, None], None                             # (out, 1)


def _linear_taps(n_in, n_out, scale, align_corners, op):
    if n_out == n_in:  # torch copies an axis whose size does not change
        i = np.arange(n_out)
        return np.stack([i, i], 1), np.stack([np.ones(n_out, op), np.zeros(n_out, op)], 1)
    src = _source_coord(n_in, n_out, align_corners, scale, op, cubic=False)  # (out,)
    i0 = _floor_index(src, n_in)
    lam1 = np.clip(src - i0.astype(op), op(0), op(1))                        # weight of the right tap
    i1 = i0 + (i0 < n_in - 1)
    return np.stack([i0, i1], 1), np.stack([op(1) - lam1, lam1], 1)          # (out, 2), (out, 2)


def _cubic_weights(t: np.ndarray, op) -> np.ndarray:
    a = op(_CUBIC_A)

    def c1(s):  # |s| <= 1
        return ((a + op(2)) * s - (a + op(3))) * s * s + op(1)

    def c2(s):  # 1 < |s| < 2
        return ((a * s - op(5) * a) * s + op(8) * a) * s - op(4) * a
    one = op(1)
    return np.stack([c2(t + one), c1(t), c1(one - t), c2((one - t) + one)], 1)   # (out, 4)


def _cubic_taps(n_in, n_out, scale, align_corners, op):
    src = _source_coord(n_in, n_out, align_corners, scale, op, cubic=True)   # (out,)
    i = _floor_index(src, n_in)
    t = np.clip(src - i.astype(op), op(0), op(1))
    idx = np.clip(i[:, None] + np.arange(-1, 3)[None, :], 0, n_in - 1)       # (out, 4) border-replicated
    return idx, _cubic_weights(t, op)


def _axis_taps(mode, n_in, n_out, scale, align_corners, op, nearest_float32_rule):
    if mode == "nearest":
        return _nearest_taps(n_in, n_out, scale, op, nearest_float32_rule)
    if mode in ("linear", "bilinear"):
        return _linear_taps(n_in, n_out, scale, align_corners, op)
    return _cubic_taps(n_in, n_out, scale, align_corners, op)


def _plan(x_shape, dtype, out_sizes, scales, mode, align_corners):
    """Per spatial axis (idx (out, K), weights (out, K) or None), in axis order."""
    op = np.dtype(dtype).type
    # torch's nearest forward takes the float32 rule (nearest_idx) only for 4D inputs with H_out + W_out <= 128
    float32_rule = len(x_shape) == 4 and sum(out_sizes) <= 128
    return [_axis_taps(mode, n_in, n_out, s, align_corners, op, float32_rule)
            for n_in, n_out, s in zip(x_shape[2:], out_sizes, scales)]


# ----------------------------------------------------------------------------- apply one axis
def _gather_axis(x: np.ndarray, axis: int, idx: np.ndarray, w: Optional[np.ndarray]) -> np.ndarray:
    """y[..., o, ...] = sum_k w[o, k] x[..., idx[o, k], ...] along `axis` (a negative axis)."""
    shape = [1] * x.ndim
    shape[axis] = idx.shape[0]
    if w is None:
        return np.take(x, idx[:, 0], axis=axis)
    with np.errstate(invalid="ignore"):     # inf * (zero weight) = nan, as in torch's kernel
        y = np.take(x, idx[:, 0], axis=axis) * w[:, 0].reshape(shape)
        for k in range(1, idx.shape[1]):    # taps summed left to right, as torch accumulates them
            y = y + np.take(x, idx[:, k], axis=axis) * w[:, k].reshape(shape)
    return y


def _scatter_axis(g: np.ndarray, axis: int, idx: np.ndarray, w: Optional[np.ndarray], n_in: int) -> np.ndarray:
    """Adjoint of _gather_axis: dx[..., i, ...] = sum_{o,k: idx[o,k] = i} w[o, k] g[..., o, ...]."""
    gm = np.moveaxis(g, axis, -1)                                            # (..., out)
    out = np.zeros(gm.shape[:-1] + (n_in,), dtype=g.dtype)                   # (..., in)
    for k in range(idx.shape[1]):
        ik = idx[:, k]                      # non-decreasing in o, so equal targets form contiguous runs
        with np.errstate(invalid="ignore"):
            vals = gm if w is None else gm * w[:, k]
        starts = np.flatnonzero(np.r_[True, ik[1:] != ik[:-1]])
        out[..., ik[starts]] += np.add.reduceat(vals, starts, axis=-1)       # (..., n_runs)
    return np.moveaxis(out, -1, axis)


# ----------------------------------------------------------------------------- public API
def interpolate(x: np.ndarray, size: SizeArg = None, scale_factor: ScaleArg = None, mode: str = "nearest",
                align_corners: Optional[bool] = None, recompute_scale_factor: Optional[bool] = None,
                antialias: bool = False) -> np.ndarray:
    """Resize x like torch.nn.functional.interpolate (see the module docstring for the exact math).

    x: (N, C, L) for mode "nearest" | "linear", (N, C, H, W) for "nearest" | "bilinear" | "bicubic";
       float32 or float64 (the output keeps the dtype).
    size: int or one int per spatial axis; or scale_factor: float or one per axis (exactly one of the two).
    align_corners: None for nearest; True/False (None = False) for the interpolating modes.
    recompute_scale_factor: True -> the kernel uses in/out instead of 1/scale_factor (torch's option).
    Returns (N, C, *out_sizes).
    """
    out_sizes, scales, ac = resolve_interpolate_args(x, size, scale_factor, mode, align_corners,
                                                     recompute_scale_factor, antialias)
    plan = _plan(x.shape, x.dtype, out_sizes, scales, mode, ac)
    y = x
    for axis, (idx, w) in zip(range(-1, -len(plan) - 1, -1), reversed(plan)):   # last axis (W) first
        y = _gather_axis(y, axis, idx, w)                                     # (N, C, ..., out_axis, ...)
    return np.ascontiguousarray(y)


def interpolate_backward(dy: np.ndarray, x: np.ndarray, size: SizeArg = None, scale_factor: ScaleArg = None,
                         mode: str = "nearest", align_corners: Optional[bool] = None,
                         recompute_scale_factor: Optional[bool] = None, antialias: bool = False) -> np.ndarray:
    """Gradient dx (shape and dtype of x) of interpolate for upstream dy: (N, C, *out_sizes).

    dL/dx[i] = sum over output positions o and taps k with idx[o, k] = i of w[o, k] dL/dy[o], axis by axis
    (H first, then W: the reverse of the forward). Nothing but x's shape and dtype is read from x.
    """
    out_sizes, scales, ac = resolve_interpolate_args(x, size, scale_factor, mode, align_corners,
                                                     recompute_scale_factor, antialias)
    check_float(dy, "dy", dtype=x.dtype)
    expected = x.shape[:2] + tuple(out_sizes)
    if dy.shape != expected:
        raise ShapeError(f"dy: expected the output shape {expected}, got {dy.shape}")
    plan = _plan(x.shape, x.dtype, out_sizes, scales, mode, ac)
    g = dy
    for axis, (idx, w), n_in in zip(range(-len(plan), 0), plan, x.shape[2:]):   # first axis (H) first
        g = _scatter_axis(g, axis, idx, w, n_in)                              # dL/d(input of this axis pass)
    return g
