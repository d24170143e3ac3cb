"""Resampling layers: Upsample (torch.nn.Upsample) and GridSample (a module form of F.grid_sample).

Neither has parameters. By default they take float32 or float64 and keep the input's dtype; pass
`dtype=` to pin one (a different input dtype is then a DTypeError, and `to(dtype)` moves the pin).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..core.module import Module
from ..core.validation import as_dtype, check_float, check_same_dtype
from ..functional.grid_sample import check_grid_sample_config, grid_sample, grid_sample_backward
from ..functional.interpolate import check_interpolate_config, interpolate, interpolate_backward


class _Resample(Module):
    def __init__(self, dtype=None):
        super().__init__()
        self.dtype = None if dtype is None else as_dtype(dtype)

    def to(self, dtype) -> "Module":
        super().to(dtype)
        if self.dtype is not None:
            self.dtype = as_dtype(dtype)
        return self


class Upsample(_Resample):
    """y = interpolate(x, size | scale_factor, mode, align_corners) (see refimpl.functional.interpolate).

    x: (N, C, L) for "nearest"/"linear", (N, C, H, W) for "nearest"/"bilinear"/"bicubic" -> (N, C, *out),
    same dtype. No parameters. backward(dy) -> dx.
    """

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest", align_corners: Optional[bool] = None,
                 recompute_scale_factor: Optional[bool] = None, *, dtype=None):
        super().__init__(dtype)
        self.size = size
        self.scale_factor = scale_factor
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor
        # the configuration is checked here, so a bad one fails at construction (the input rank at forward)
        check_interpolate_config(size, scale_factor, mode, align_corners, recompute_scale_factor)

    def _kw(self):
        return dict(size=self.size, scale_factor=self.scale_factor, mode=self.mode,
                    align_corners=self.align_corners, recompute_scale_factor=self.recompute_scale_factor)

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float(x, "x", dtype=self.dtype)
        y = interpolate(x, **self._kw())                                     # (N, C, *out)
        self.save_for_backward(x.shape, x.dtype)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        shape, dtype = self.saved()
        # only x's shape and dtype enter the backward; a zero-stride stand-in avoids keeping x alive
        x_like = np.broadcast_to(np.zeros((), dtype), shape)
        return interpolate_backward(dy, x_like, **self._kw())                # (N, C, *in)

    def extra_repr(self):
        what = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        ac = f", align_corners={self.align_corners}" if self.align_corners is not None else ""
        return f"{what}, mode={self.mode!r}{ac}"


class GridSample(_Resample):
    """y = grid_sample(x, grid, mode, padding_mode, align_corners) (see refimpl.functional.grid_sample).

    x: (N, C, H_in, W_in), grid: (N, H_out, W_out, 2) with (x, y) in [-1, 1], same dtype ->
    y: (N, C, H_out, W_out). No parameters. backward(dy) -> (dx, dgrid).
    """

    def __init__(self, mode: str = "bilinear", padding_mode: str = "zeros", align_corners: bool = False,
                 *, dtype=None):
        super().__init__(dtype)
        self.mode = mode
        self.padding_mode = padding_mode
        self.align_corners = align_corners
        check_grid_sample_config(mode, padding_mode, align_corners)   # fail at construction, not at forward

    def forward(self, x: np.ndarray, grid: np.ndarray) -> np.ndarray:
        check_float(x, "x", dtype=self.dtype)
        check_float(grid, "grid", dtype=self.dtype)
        check_same_dtype({"x": x, "grid": grid})
        y = grid_sample(x, grid, self.mode, self.padding_mode, self.align_corners)   # (N, C, Ho, Wo)
        self.save_for_backward(x, grid)
        return y

    def backward(self, dy: np.ndarray):
        x, grid = self.saved()
        return grid_sample_backward(dy, x, grid, self.mode, self.padding_mode, self.align_corners)

    def extra_repr(self):
        return f"mode={self.mode!r}, padding_mode={self.padding_mode!r}, align_corners={self.align_corners}"

