"""Self-checks for the resampling layers: Upsample (nearest, bilinear, bicubic) and GridSample."""
import numpy as np

from ...nn.resample import GridSample, Upsample
from ..gradcheck import gradcheck
from ..parity import compare_module_with_torch
from ..selfcheck import register_check

# non-integer ratio 5x7 -> 8x3 (up along H, down along W) with align_corners on for the interpolating modes
_UPSAMPLE = {"nearest": None, "bilinear": True, "bicubic": False}


def _x(dtype=np.float64):
    return np.random.default_rng(0).standard_normal((2, 3, 5, 7)).astype(dtype)


def _grid(dtype=np.float64):
    return np.random.default_rng(1).uniform(-1.2, 1.2, (2, 4, 3, 2)).astype(dtype)


def _register_upsample(mode, align_corners):
    layer = f"nn.Upsample({mode})"

    def make(dtype=np.float64):
        return Upsample(size=(8, 3), mode=mode, align_corners=align_corners, dtype=dtype)

    @register_check(layer, "gradcheck f64")
    def _gradcheck():
        return gradcheck(make(), [_x()], raise_on_failure=False)

    def _torch(dtype):
        import torch
        tm = torch.nn.Upsample(size=(8, 3), mode=mode, align_corners=align_corners)
        return compare_module_with_torch(make(dtype), tm, [_x(dtype)], dtype=dtype)

    @register_check(layer, "torch f64")
    def _torch64():
        return _torch(np.float64)

    @register_check(layer, "torch f32")
    def _torch32():
        return _torch(np.float32)


for _mode, _ac in _UPSAMPLE.items():
    _register_upsample(_mode, _ac)


@register_check("nn.GridSample", "gradcheck f64")
def _grid_gradcheck():
    return gradcheck(GridSample(align_corners=False), [_x(), _grid()], raise_on_failure=False)


def _grid_torch(dtype):
    import torch

    class TorchGridSample(torch.nn.Module):
        def forward(self, x, grid):
            return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros",
                                                   align_corners=False)
    return compare_module_with_torch(GridSample(dtype=dtype), TorchGridSample(), [_x(dtype), _grid(dtype)],
                                     dtype=dtype)


@register_check("nn.GridSample", "torch f64")
def _grid_torch64():
    return _grid_torch(np.float64)


@register_check("nn.GridSample", "torch f32")
def _grid_torch32():
    return _grid_torch(np.float32)
