"""Image resizing as Pillow and torchvision compute it: separable antialiased filters, in NumPy.

Both libraries resample one axis at a time and skip an axis whose size does not change. torch goes
width first, then height. Pillow >= 13 goes height first when the height shrinks by more than twice
as many pixels as the width (H_out < H_in and H_in - H_out > 2 (W_in - W_out)), width first otherwise;
older Pillow always width first (order="width_first"). With uint8 the order matters: the first pass
is rounded and clipped to uint8 before the second reads it.

For output pixel i of an axis of n_in -> n_out samples:

    scale   = n_in / n_out                     (> 1 when shrinking)
    fscale  = max(scale, 1)                    the filter is stretched by fscale when shrinking: antialias
    support = filter_support * fscale          (bilinear 1, bicubic 2, box 0.5, hamming 1, lanczos 3)
    center  = (i + 0.5) * scale                pixel centres, not corners (align_corners=False)
    xmin    = max(trunc(center - support + 0.5), 0)
    xmax    = min(trunc(center + support + 0.5), n_in)
    w_j     = filter((j - center + 0.5) / fscale)   for j in [xmin, xmax), then w /= sum(w)
    out_i   = sum_j w_j * in_j

Filters, x = |t|:  bilinear 1 - x (x < 1);  bicubic (Keys, a = -0.5) ((a+2)x - (a+3))x^2 + 1 (x < 1),
a(x^3 - 5x^2 + 8x - 4) (1 <= x < 2);  box 1 on (-0.5, 0.5];  hamming sinc(x)(0.54 + 0.46 cos(pi x));
lanczos sinc(x) sinc(x/3) on [-3, 3). torch evaluates the outer bicubic piece in another order,
((a x - 5a) x + 8a) x - 4a; it is kept in that order here although the last-bit difference of the
double weights has not changed an output pixel in any test.

uint8 images are filtered in fixed point, which decides the last bit of every output pixel:
- Pillow ("pil"): weights k = round_half_away(w * 2^22) as int32; each pass computes
  clip((2^21 + sum k_j in_j) >> 22, 0, 255) and stores uint8, so the second pass reads rounded values.
- torch ("torchvision", the native uint8 kernel torchvision calls on CPU): int16 weights
  k = round_half_away(w * 2^p), p = min(22, the largest p with round(max(w) * 2^p) < 2^15) per axis;
  each pass computes clip((2^(p-1) + sum k_j in_j) >> p, 0, 255).
Float images are filtered without rounding. "pil": double weights and sums, each pass stored in the
image dtype (Pillow's "F" mode is float32). "torchvision": float64 images with double weights; float32
images with weights computed in float32 as torch does for a float32 tensor (its scale, centres and
filter run in the tensor's dtype), so they agree with torch to ~1e-7 rather than ~1e-5.

Nearest neighbour differs between the two:
- Pillow: x_in = trunc(x_o) with x_o = scale/2 + scale + scale + ... accumulated in double, one
  addition per output pixel (so the index can differ from floor((i + 0.5) * scale) in the last bit).
- torch "nearest-exact" (torchvision's NEAREST): x_in = min(floor(float32((i + 0.5) * float32(scale))), n_in - 1).

The resize functions act on the last two axes (H, W) of an array of any leading shape; channels-first
(C, H, W) is the layout the processors use. They return the input dtype (uint8 in, uint8 out).
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Tuple

import numpy as np

from ...core.errors import ConfigError, DTypeError, ShapeError

# Pillow's resampling codes, which transformers stores as "resample" in preprocessor_config.json
RESAMPLE_CODES = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}
RESAMPLE_NAMES = tuple(RESAMPLE_CODES.values())
BACKENDS = ("pil", "torchvision")
TORCHVISION_RESAMPLE = ("nearest", "bilinear", "bicubic")   # the torch kernels torchvision can call

PIL_PRECISION_BITS = 32 - 8 - 2          # Pillow: 8 bits of result, 2 bits of headroom for negative lobes


def resample_name(resample, name: str = "resample") -> str:
    """Normalise a resampling filter given as Pillow's integer code (0..5, as in HF configs) or a name."""
    if isinstance(resample, str):
        key = resample.lower()
        if key in RESAMPLE_NAMES:
            return key
    elif isinstance(resample, (int, np.integer)) and not isinstance(resample, bool):
        if int(resample) in RESAMPLE_CODES:
            return RESAMPLE_CODES[int(resample)]
    elif hasattr(resample, "value") and isinstance(getattr(resample, "value"), int):   # PIL.Image.Resampling
        return resample_name(resample.value, name)
    raise ConfigError(f"{name}: expected one of {list(RESAMPLE_NAMES)} or a Pillow code "
                      f"{sorted(RESAMPLE_CODES)}, got {resample!r}")


# ----------------------------------------------------------------------------------------- filters
# Each filter is evaluated on a float64 array with the same operation order as the C code it mirrors.

def _box(t):
    return ((t > -0.5) & (t <= 0.5)).astype(np.float64)


def _bilinear(t):
    x = np.abs(t)
    return np.where(x < 1, 1 - x, 0 * x)


def _bicubic_pil(t, a=-0.5):
    x = np.abs(t)
    inner = ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    outer = (((x - 5) * x + 8) * x - 4) * a
    return np.where(x < 1.0, inner, np.where(x < 2.0, outer, 0.0))


def _bicubic_torch(t, a=-0.5):
    x = np.abs(t)                                  # float32 in, float32 out when a is float32
    inner = ((a + 2) * x - (a + 3)) * x * x + 1
    outer = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x < 1, inner, np.where(x < 2, outer, 0 * x))


def _sinc(t):
    with np.errstate(invalid="ignore", divide="ignore"):
        px = t * math.pi
        return np.where(t == 0.0, 1.0, np.sin(px) / px)


def _hamming(t):
    x = np.abs(t)
    # Pillow writes the window constants as float literals (0.54f, 0.46f): keep their float32 values
    c54, c46 = float(np.float32(0.54)), float(np.float32(0.46))
    with np.errstate(invalid="ignore", divide="ignore"):
        px = x * math.pi
        v = np.sin(px) / px * (c54 + c46 * np.cos(px))
    return np.where(x == 0.0, 1.0, np.where(x >= 1.0, 0.0, v))


def _lanczos(t):
    return np.where((t >= -3.0) & (t < 3.0), _sinc(t) * _sinc(t / 3), 0.0)


_PIL_FILTERS: Dict[str, Tuple[Callable, float]] = {
    "box": (_box, 0.5), "bilinear": (_bilinear, 1.0), "hamming": (_hamming, 1.0),
    "bicubic": (_bicubic_pil, 2.0), "lanczos": (_lanczos, 3.0)}
_TORCH_FILTERS: Dict[str, Tuple[Callable, float]] = {"bilinear": (_bilinear, 1.0), "bicubic": (_bicubic_torch, 2.0)}


# ------------------------------------------------------------------------------- filter coefficients

def filter_coefficients(n_in: int, n_out: int, resample: str, backend: str = "pil"):
    """Per output index: first input index `xmin` (n_out,), tap count `xsize` (n_out,) and the
    normalised float64 weights `w` (n_out, ksize), zero beyond xsize. See the module docstring."""
    filt, base_support = (_PIL_FILTERS if backend == "pil" else _TORCH_FILTERS)[resample]
    scale = n_in / n_out
    fscale = max(scale, 1.0)
    support = base_support * fscale
    ksize = int(math.ceil(support)) * 2 + 1
    center = (np.arange(n_out) + 0.5) * scale                          # (n_out,)
    xmin = np.maximum(np.trunc(center - support + 0.5), 0).astype(np.int64)
    xsize = np.minimum(np.trunc(center + support + 0.5).astype(np.int64), n_in) - xmin
    xsize = np.clip(xsize, 0, ksize)                                   # torch clips a rare +1 overshoot
    taps = xmin[:, None] + np.arange(ksize)[None, :]                   # (n_out, ksize) input indices
    w = filt((taps - center[:, None] + 0.5) * (1.0 / fscale))          # (n_out, ksize)
    w = np.where(np.arange(ksize)[None, :] < xsize[:, None], w, 0.0)
    total = np.zeros(n_out)
    for j in range(ksize):                                             # sequential sum, as the C loops
        total = total + w[:, j]
    w = np.where(total[:, None] != 0.0, w / np.where(total == 0.0, 1.0, total)[:, None], w)
    return xmin, xsize, w


def _round_half_away(v: np.ndarray) -> np.ndarray:
    """(int)(v + 0.5) for v >= 0 and (int)(v - 0.5) for v < 0: C's truncating cast after a signed half."""
    return np.trunc(np.where(v < 0, v - 0.5, v + 0.5)).astype(np.int64)


def _filter_axis(x: np.ndarray, xmin: np.ndarray, w: np.ndarray, axis: int) -> np.ndarray:
    """out[i] = sum_j w[i, j] * x[xmin[i] + j] along `axis` (-1 or -2), summed over j in order as the C
    loops do. Taps past the end of a row carry weight 0; their index is clamped only to stay in range."""
    n_in = x.shape[axis]
    n_out, ksize = w.shape
    idx = np.minimum(xmin[:, None] + np.arange(ksize)[None, :], n_in - 1)   # (n_out, ksize)
    bshape = (n_out,) if axis == -1 else (n_out, 1)                          # broadcast over the other axis
    acc = np.zeros(x.shape[:axis] + (n_out,) + ((x.shape[-1],) if axis == -2 else ()), dtype=w.dtype)
    for j in range(ksize):
        acc += w[:, j].reshape(bshape) * np.take(x, idx[:, j], axis=axis)    # (..., n_out[, W])
    return acc


# --------------------------------------------------------------------------------- one-axis passes

def _pass_uint8_pil(x: np.ndarray, n_out: int, axis: int, resample: str) -> np.ndarray:
    n_in = x.shape[axis]
    xmin, xsize, w = filter_coefficients(n_in, n_out, resample, "pil")
    k = _round_half_away(w * float(1 << PIL_PRECISION_BITS))          # int32 fixed-point weights
    acc = _filter_axis(x.astype(np.int64), xmin, k, axis) + (1 << (PIL_PRECISION_BITS - 1))
    return np.clip(acc >> PIL_PRECISION_BITS, 0, 255).astype(np.uint8)


def _torch_int16_precision(w_max: float) -> int:
    p = 0
    while p < 22:
        if int(0.5 + w_max * (1 << (p + 1))) >= (1 << 15):
            break
        p += 1
    return p


def _pass_uint8_torch(x: np.ndarray, n_out: int, axis: int, resample: str) -> np.ndarray:
    n_in = x.shape[axis]
    xmin, xsize, w = filter_coefficients(n_in, n_out, resample, "torchvision")
    p = _torch_int16_precision(float(w.max(initial=0.0)))
    k = _round_half_away(w * float(1 << p))                             # int16 fixed-point weights
    acc = _filter_axis(x.astype(np.int64), xmin, k, axis) + (1 << (p - 1))
    return np.clip(acc >> p, 0, 255).astype(np.uint8)


def _torch_float32_coefficients(n_in: int, n_out: int, resample: str):
    """torch's antialiased weights for a float32 image: its scalar type is float32, so the scale,
    centres and filter values are float32 (with some steps promoted to double by C++ literals)."""
    f32 = np.float32
    filt = {"bilinear": _bilinear, "bicubic": _bicubic_torch}[resample]
    interp = 2 if resample == "bilinear" else 4
    scale = f32(n_in) / f32(n_out)
    big = scale >= 1.0
    support = f32(interp * 0.5 * float(scale)) if big else f32(interp * 0.5)
    ksize = int(math.ceil(support)) * 2 + 1
    invscale = f32(1.0 / float(scale)) if big else f32(1.0)
    center = ((np.arange(n_out) + 0.5) * float(scale)).astype(f32)                        # (n_out,)
    xmin = np.maximum(np.trunc((center - support).astype(np.float64) + 0.5), 0).astype(np.int64)
    xsize = np.minimum(np.trunc((center + support).astype(np.float64) + 0.5).astype(np.int64), n_in) - xmin
    xsize = np.clip(xsize, 0, ksize)
    taps = (xmin[:, None] + np.arange(ksize)[None, :]).astype(f32)                        # (n_out, ksize)
    t = (((taps - center[:, None]).astype(np.float64) + 0.5) * float(invscale)).astype(f32)
    w = np.asarray(filt(t, a=f32(-0.5)) if resample == "bicubic" else filt(t)).astype(f32)
    w = np.where(np.arange(ksize)[None, :] < xsize[:, None], w, f32(0))
    total = np.zeros(n_out, f32)
    for j in range(ksize):
        total = total + w[:, j]
    w = np.where(total[:, None] != 0, w / np.where(total == 0, f32(1), total)[:, None], w).astype(f32)
    return xmin, xsize, w


def _pass_float(x: np.ndarray, n_out: int, axis: int, resample: str, backend: str) -> np.ndarray:
    n_in = x.shape[axis]
    if backend == "torchvision" and x.dtype == np.float32:
        xmin, xsize, w = _torch_float32_coefficients(n_in, n_out, resample)
        return _filter_axis(x, xmin, w, axis)                          # float32 weights, float32 sums
    xmin, xsize, w = filter_coefficients(n_in, n_out, resample, backend)
    if backend == "pil":                           # Pillow "F": double sums, stored as float32 per pass
        return _filter_axis(x.astype(np.float64), xmin, w, axis).astype(x.dtype)
    return _filter_axis(x, xmin, w.astype(x.dtype), axis)


def _nearest_index_pil(n_in: int, n_out: int) -> np.ndarray:
    step = float(np.float32(n_in)) / n_out            # Pillow's box is float32; exact for image sizes
    xo = np.add.accumulate(np.concatenate([[step * 0.5], np.full(n_out - 1, step)]))   # sequential sums
    return np.where(xo < 0.0, -1, np.trunc(xo)).astype(np.int64)


def _nearest_index_torch(n_in: int, n_out: int) -> np.ndarray:
    scale = np.float32(n_in) / np.float32(n_out)                       # computed in float32
    src = (np.arange(n_out, dtype=np.float64) + 0.5) * np.float64(scale)
    return np.minimum(np.floor(src.astype(np.float32)).astype(np.int64), n_in - 1)


def _pass_nearest(x: np.ndarray, n_out: int, axis: int, backend: str) -> np.ndarray:
    n_in = x.shape[axis]
    idx = (_nearest_index_pil if backend == "pil" else _nearest_index_torch)(n_in, n_out)
    valid = (idx >= 0) & (idx < n_in)                                  # Pillow leaves such pixels at 0
    out = np.take(x, np.clip(idx, 0, n_in - 1), axis=axis)
    if not valid.all():
        shape = [1] * x.ndim
        shape[axis] = n_out
        out = np.where(valid.reshape(shape), out, np.zeros((), x.dtype))
    return out


# ------------------------------------------------------------------------------------------ resize

def _check_size(size, name: str = "size") -> Tuple[int, int]:
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in size)):
        raise ConfigError(f"{name}: expected (height, width) as two positive integers, got {size!r}")
    return int(size[0]), int(size[1])


PASS_ORDERS = ("auto", "width_first", "height_first")


def pass_order(in_hw, out_hw, backend: str = "pil") -> str:
    """Which axis the backend resamples first: see the module docstring."""
    (h, w), (oh, ow) = in_hw, out_hw
    if backend == "pil" and oh < h and (h - oh) > 2 * (w - ow):
        return "height_first"
    return "width_first"


def resize(image: np.ndarray, size, resample="bilinear", *, backend: str = "pil",
           order: str = "auto") -> np.ndarray:
    """Resize the last two axes (H, W) of `image` to `size` = (height, width).

    image: (..., H, W) uint8, float32 or float64; returns the same dtype and leading shape.
    resample: "nearest" | "bilinear" | "bicubic" | "box" | "hamming" | "lanczos" or Pillow's code 0..5.
    backend: "pil" (Pillow's Image.resize) or "torchvision" (torchvision.transforms.v2.functional.resize
        with antialias=True on CPU: bilinear/bicubic via torch's antialiased kernels, nearest via
        torch's "nearest-exact"; box/hamming/lanczos do not exist there).
    uint8 images are filtered in the backend's fixed point (see the module docstring); float images in
    their own dtype with float64-computed weights, without rounding.
    order: "auto" (the backend's rule; Pillow >= 13 for "pil"), "width_first" or "height_first".
    """
    if backend not in BACKENDS:
        raise ConfigError(f"backend: expected one of {list(BACKENDS)}, got {backend!r}")
    method = resample_name(resample)
    if backend == "torchvision" and method not in TORCHVISION_RESAMPLE:
        raise ConfigError(f"resample: the torchvision backend resizes with {list(TORCHVISION_RESAMPLE)} only, "
                          f"got {method!r}; use backend='pil'")
    if not isinstance(image, np.ndarray):
        raise DTypeError(f"image: expected a numpy.ndarray, got {type(image).__name__}")
    if image.dtype not in (np.dtype(np.uint8), np.dtype(np.float32), np.dtype(np.float64)):
        raise DTypeError(f"image: expected dtype uint8, float32 or float64, got {image.dtype}")
    if image.ndim < 2:
        raise ShapeError(f"image: expected at least 2 dimensions (..., H, W), got shape {image.shape}")
    if image.shape[-2] == 0 or image.shape[-1] == 0:
        raise ShapeError(f"image: expected a non-empty image, got height x width "
                         f"{image.shape[-2]} x {image.shape[-1]} (shape {image.shape})")
    out_h, out_w = _check_size(size)
    if order not in PASS_ORDERS:
        raise ConfigError(f"order: expected one of {list(PASS_ORDERS)}, got {order!r}")
    if order == "auto":
        order = pass_order(image.shape[-2:], (out_h, out_w), backend)
    passes = ((-1, out_w), (-2, out_h)) if order == "width_first" else ((-2, out_h), (-1, out_w))
    x = image
    for axis, n_out in passes:
        if x.shape[axis] == n_out:
            continue                                                   # both skip an unchanged axis
        if method == "nearest":
            x = _pass_nearest(x, n_out, axis, backend)
        elif x.dtype == np.uint8:
            x = (_pass_uint8_pil if backend == "pil" else _pass_uint8_torch)(x, n_out, axis, method)
        else:
            x = _pass_float(x, n_out, axis, method, backend)
    return x if x is not image else image.copy()
