"""grid_sample: bilinear sampling of (N, C, H, W) at normalised points, like torch.nn.functional.grid_sample.

grid[n, h, w] = (gx, gy) in [-1, 1] addresses x[n] (gx along W, gy along H). Each point is mapped to
pixel coordinates (torch's grid_sampler_unnormalize)

    align_corners=True :  ix = (gx + 1) / 2 * (W - 1)      -1, +1 are the centres of the corner pixels
    align_corners=False:  ix = (gx + 1) * W / 2 - 0.5      -1, +1 are the outer edges of the corner pixels

(iy likewise with H), then bilinearly interpolated from its four neighbours

    x0 = floor(ix), x1 = x0 + 1, y0 = floor(iy), y1 = y0 + 1,  a = ix - x0, b = iy - y0
    out = (1-a)(1-b) v(y0, x0) + a(1-b) v(y0, x1) + (1-a) b v(y1, x0) + a b v(y1, x1)

with padding_mode="zeros": v(y, x) = x[n, :, y, x] inside the image and 0 outside, so a tap outside
contributes nothing (points far outside [-1, 1] sample 0). At integer coordinates the map has a kink;
the backward takes the derivative from the right (a = 0 side), as torch does.

Supported: mode="bilinear", padding_mode="zeros", align_corners True/False; anything else is a ConfigError.
"""
from __future__ import annotations

import numpy as np

from ..core.errors import ConfigError, ShapeError
from ..core.validation import check_float, check_same_dtype

MODES = ("bilinear",)
PADDING_MODES = ("zeros",)


def check_grid_sample_config(mode: str = "bilinear", padding_mode: str = "zeros", align_corners: bool = False):
    """The checks that need no input: a supported mode and padding_mode, a boolean align_corners."""
    if mode not in MODES:
        raise ConfigError(f"mode: refimpl.grid_sample supports only {list(MODES)}, got {mode!r}")
    if padding_mode not in PADDING_MODES:
        raise ConfigError(f"padding_mode: refimpl.grid_sample supports only {list(PADDING_MODES)}, "
                          f"got {padding_mode!r}")
    if not isinstance(align_corners, (bool, np.bool_)):
        raise ConfigError(f"align_corners: expected True or False, got {align_corners!r}")


def _check(x, grid, mode, padding_mode, align_corners):
    check_grid_sample_config(mode, padding_mode, align_corners)
    check_float(x, "x")
    check_float(grid, "grid")
    if x.ndim != 4:
        raise ShapeError(f"x: expected a 4D array (N, C, H_in, W_in), got shape {x.shape}")
    if grid.ndim != 4 or grid.shape[-1] != 2:
        raise ShapeError(f"grid: expected shape (N, H_out, W_out, 2) holding (x, y) pairs, got {grid.shape}")
    if grid.shape[0] != x.shape[0]:
        raise ShapeError(f"grid: batch size {grid.shape[0]} differs from x batch size {x.shape[0]} "
                         f"(grid {grid.shape}, x {x.shape})")
    check_same_dtype({"x": x, "grid": grid})
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise ShapeError(f"x: spatial sizes must be positive, got shape {x.shape}")


def _unnormalize(g: np.ndarray, size: int, align_corners: bool):
    """Pixel coordinate of normalised g, and d(pixel)/d(g)."""
    dt = g.dtype.type
    if align_corners:
        step = dt(size - 1) / dt(2)
        return (g + dt(1)) * step, step
    step = dt(size) / dt(2)
    return (g + dt(1)) * step - dt(0.5), step


def _corners(x_nhwc: np.ndarray, grid: np.ndarray, align_corners: bool):
    """Everything forward and backward share: coordinates, fractions and the four corner taps."""
    n, h, w, _ = x_nhwc.shape
    ix, dix = _unnormalize(grid[..., 0], w, align_corners)                   # (N, Ho, Wo)
    iy, diy = _unnormalize(grid[..., 1], h, align_corners)                   # (N, Ho, Wo)
    x0f, y0f = np.floor(ix), np.floor(iy)
    a, b = ix - x0f, iy - y0f                                                # fractions towards x1, y1
    batch = np.arange(n).reshape(n, 1, 1)
    taps = []
    for dy_, dx_ in ((0, 0), (0, 1), (1, 0), (1, 1)):                       # nw, ne, sw, se
        xf, yf = x0f + dx_, y0f + dy_
        valid = (xf >= 0) & (xf <= w - 1) & (yf >= 0) & (yf <= h - 1)       # NaN coordinates are invalid
        xi = np.where(valid, xf, 0).astype(np.int64)
        yi = np.where(valid, yf, 0).astype(np.int64)
        flat = (batch * h + yi) * w + xi                                     # (N, Ho, Wo) row in (N*H*W, C)
        vals = np.where(valid[..., None], x_nhwc[batch, yi, xi], x_nhwc.dtype.type(0))  # (N, Ho, Wo, C), 0 outside
        taps.append((flat, valid, vals))
    return a, b, dix, diy, taps


def grid_sample(x: np.ndarray, grid: np.ndarray, mode: str = "bilinear", padding_mode: str = "zeros",
                align_corners: bool = False) -> np.ndarray:
    """Sample x (N, C, H_in, W_in) at grid (N, H_out, W_out, 2) -> (N, C, H_out, W_out), same float dtype.

    grid[..., 0] is the normalised x (width) coordinate, grid[..., 1] the y (height) coordinate.
    """
    _check(x, grid, mode, padding_mode, align_corners)
    x_nhwc = np.moveaxis(x, 1, -1)                                           # (N, H, W, C)
    a, b, _, _, taps = _corners(x_nhwc, grid, align_corners)
    one = x.dtype.type(1)
    a, b = a[..., None], b[..., None]                                        # (N, Ho, Wo, 1)
    (_, _, v00), (_, _, v01), (_, _, v10), (_, _, v11) = taps
    with np.errstate(invalid="ignore"):     # inf * (zero weight) = nan, as in torch's kernel
        out = (v00 * ((one - a) * (one - b)) + v01 * (a * (one - b))         # summed nw, ne, sw, se as torch
               + v10 * ((one - a) * b) + v11 * (a * b))                      # (N, Ho, Wo, C)
    return np.ascontiguousarray(np.moveaxis(out, -1, 1))                     # (N, C, Ho, Wo)


def grid_sample_backward(dy: np.ndarray, x: np.ndarray, grid: np.ndarray, mode: str = "bilinear",
                         padding_mode: str = "zeros", align_corners: bool = False):
    """Gradients (dx, dgrid) of grid_sample for upstream dy: (N, C, H_out, W_out).

    dx[n, :, y, x]   = sum over points and corners (y, x) inside the image of weight * dy[n, :, point]
    d out / d a      = (1-b)(v01 - v00) + b (v11 - v10)                  (a = fractional ix)
    d out / d b      = (1-a)(v10 - v00) + a (v11 - v01)                  (b = fractional iy)
    dgrid[..., 0]    = sum_C dy * d out/d a * d ix/d gx,  d ix/d gx = W/2 (or (W-1)/2 with align_corners)
    dgrid[..., 1]    = sum_C dy * d out/d b * d iy/d gy
    """
    _check(x, grid, mode, padding_mode, align_corners)
    check_float(dy, "dy", dtype=x.dtype)
    expected = (x.shape[0], x.shape[1], grid.shape[1], grid.shape[2])
    if dy.shape != expected:
        raise ShapeError(f"dy: expected the output shape {expected}, got {dy.shape}")
    n, c, h, w = x.shape
    x_nhwc = np.moveaxis(x, 1, -1)                                           # (N, H, W, C)
    g = np.moveaxis(dy, 1, -1)                                               # (N, Ho, Wo, C)
    a, b, dix, diy, taps = _corners(x_nhwc, grid, align_corners)
    one = x.dtype.type(1)
    weights = ((one - a) * (one - b), a * (one - b), (one - a) * b, a * b)   # nw, ne, sw, se  (N, Ho, Wo)

    # dL/dx: scatter weight * dy into each in-image corner (bincount sums in float64; cast back)
    dx_flat = np.zeros(n * h * w * c, dtype=np.float64)
    cols = np.arange(c)
    for (flat, valid, _), wt in zip(taps, weights):
        rows = flat[valid]                                                   # (P,) in-image taps only
        contrib = g[valid] * wt[valid][:, None]                              # (P, C)
        dx_flat += np.bincount((rows[:, None] * c + cols).ravel(), weights=contrib.ravel(),
                               minlength=n * h * w * c)
    dx = np.moveaxis(dx_flat.reshape(n, h, w, c).astype(x.dtype), -1, 1)    # (N, C, H, W)

    # dL/dgrid: chain rule through the fractions a, b and the unnormalisation
    (_, _, v00), (_, _, v01), (_, _, v10), (_, _, v11) = taps
    a4, b4 = a[..., None], b[..., None]
    with np.errstate(invalid="ignore"):     # inf pixels give nan grid gradients, as in torch
        dout_da = (one - b4) * (v01 - v00) + b4 * (v11 - v10)                # (N, Ho, Wo, C)
        dout_db = (one - a4) * (v10 - v00) + a4 * (v11 - v01)                # (N, Ho, Wo, C)
        dgx = (g * dout_da).sum(-1) * dix                                    # dL/dgx = sum_C dy dout/da dix/dgx
        dgy = (g * dout_db).sum(-1) * diy                                    # dL/dgy = sum_C dy dout/db diy/dgy
    dgrid = np.stack([dgx, dgy], -1).astype(grid.dtype)                      # (N, Ho, Wo, 2)
    return np.ascontiguousarray(dx), dgrid
