"""Self-checks for the resampling layers: Upsample (nearest, bilinear, bicubic) and GridSample."""
import numpy as np

from ...nn.resample import GridSample, Upsample
from ..selfcheck import register_layer_checks

# non-integer ratio 5x7 -> 8x3 (up along H, down along W) with align_corners on for the interpolating modes
_UPSAMPLE = {"nearest": None, "bilinear": True, "bicubic": False}


def _x(dtype=np.float64):
    return np.random.default_rng(0).standard_normal((2, 3, 5, 7)).astype(dtype)


def _grid(dtype=np.float64):
    return np.random.default_rng(1).uniform(-1.2, 1.2, (2, 4, 3, 2)).astype(dtype)


def _register_upsample(mode, align_corners):
    register_layer_checks(f"nn.Upsample({mode})",
                          lambda dtype: Upsample(size=(8, 3), mode=mode, align_corners=align_corners, dtype=dtype),
                          lambda torch: torch.nn.Upsample(size=(8, 3), mode=mode, align_corners=align_corners),
                          lambda dtype: [_x(dtype)])


for _mode, _ac in _UPSAMPLE.items():
    _register_upsample(_mode, _ac)


def _torch_grid_sample(torch):
    class TorchGridSample(torch.nn.Module):
        def forward(self, x, grid):
            return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros",
                                                   align_corners=False)
    return TorchGridSample()


register_layer_checks("nn.GridSample", lambda dtype: GridSample(align_corners=False, dtype=dtype), _torch_grid_sample,
                      lambda dtype: [_x(dtype), _grid(dtype)])
