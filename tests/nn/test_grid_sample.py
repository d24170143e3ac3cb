"""grid_sample / GridSample: gradcheck (x and grid), torch parity (float64 tight, float32), borders, bad input."""
import numpy as np
import pytest

from refimpl.core.errors import ConfigError, DTypeError, ShapeError
from refimpl.core.grad_mode import no_grad
from refimpl.functional.grid_sample import grid_sample, grid_sample_backward
from refimpl.nn.resample import GridSample
from refimpl.testing import assert_close, compare_function_with_torch, compare_module_with_torch, gradcheck

torch = pytest.importorskip("torch")
F = torch.nn.functional

DTYPES = [np.float64, np.float32]
# (H_in, W_in, H_out, W_out): non-square, size-1 inputs and outputs
SHAPES = [(5, 7, 3, 4), (4, 3, 6, 2), (1, 1, 2, 3), (1, 4, 3, 3), (6, 6, 1, 1)]


def _grid(rng, n, ho, wo, spread, dtype):
    return rng.uniform(-spread, spread, (n, ho, wo, 2)).astype(dtype)


def _parity(x, grid, dtype, align_corners):
    return compare_function_with_torch(
        lambda a, g: grid_sample(a, g, align_corners=align_corners),
        lambda dy: grid_sample_backward(dy, x, grid, align_corners=align_corners),
        lambda a, g: F.grid_sample(a, g, mode="bilinear", padding_mode="zeros", align_corners=align_corners),
        [x, grid], dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("spread", [0.95, 1.6, 4.0], ids=["inside", "around", "far"])
@pytest.mark.parametrize("shape", SHAPES, ids=[str(s) for s in SHAPES])
def test_parity(rng, shape, spread, align_corners, dtype):
    h, w, ho, wo = shape
    x = rng.standard_normal((2, 3, h, w)).astype(dtype)
    grid = _grid(rng, 2, ho, wo, spread, dtype)
    _parity(x, grid, dtype, align_corners).assert_ok()


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_parity_on_borders_and_pixel_centres(rng, align_corners, dtype):
    """Points exactly on +-1, on pixel centres and edges: kinks where torch takes the right derivative."""
    h, w = 4, 5
    x = rng.standard_normal((1, 2, h, w)).astype(dtype)
    edges = [-1.0, 1.0, 0.0, -1.0 - 1.0 / w, 1.0 + 1.0 / w, -1.0 + 2.0 / w, 1.0 - 2.0 / (w - 1)]
    pts = np.array([(a, b) for a in edges for b in edges + [0.5, -0.25]], dtype)   # (P, 2)
    grid = pts.reshape(1, len(edges), -1, 2)
    _parity(x, grid, dtype, align_corners).assert_ok()


def test_far_outside_samples_zero_with_zero_gradients(rng):
    x = rng.standard_normal((1, 2, 3, 4))
    grid = np.array([[[[3.0, 0.0], [0.0, -3.0], [5.0, 5.0]]]])
    y = grid_sample(x, grid)
    dx, dgrid = grid_sample_backward(np.ones_like(y), x, grid)
    assert not y.any() and not dx.any() and not dgrid.any()


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("spread", [0.9, 1.4], ids=["inside", "around"])
@pytest.mark.parametrize("shape", SHAPES[:4], ids=[str(s) for s in SHAPES[:4]])
def test_gradcheck_x_and_grid(rng, shape, spread, align_corners):
    h, w, ho, wo = shape
    x = rng.standard_normal((2, 3, h, w))
    grid = _grid(rng, 2, ho, wo, spread, np.float64)    # random points: never on a kink
    gradcheck(grid_sample, [x, grid], backward=grid_sample_backward, kwargs=dict(align_corners=align_corners))


def test_inf_pixel_stays_local():
    x = np.arange(12.0).reshape(1, 1, 3, 4)
    x[0, 0, 2, 3] = np.inf
    grid = np.array([[[[-0.8, -0.8], [0.0, 0.0], [0.9, 0.9]]]])
    y = grid_sample(x, grid)
    assert np.isfinite(y[..., :2]).all() and not np.isfinite(y[..., 2]).all()
    assert_close(y, F.grid_sample(torch.from_numpy(x), torch.from_numpy(grid), align_corners=False), equal_nan=True)


# ----------------------------------------------------------------------------- module
class _TorchGridSample(torch.nn.Module):
    def __init__(self, align_corners):
        super().__init__()
        self.align_corners = align_corners

    def forward(self, x, grid):
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=self.align_corners)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_module_matches_torch(rng, align_corners, dtype):
    x = rng.standard_normal((2, 3, 5, 6)).astype(dtype)
    grid = _grid(rng, 2, 4, 3, 1.2, dtype)
    compare_module_with_torch(GridSample(align_corners=align_corners, dtype=dtype), _TorchGridSample(align_corners),
                              [x, grid], dtype=dtype).assert_ok()


def test_module_gradcheck_and_protocol(rng):
    m = GridSample(align_corners=True)
    x = rng.standard_normal((2, 3, 4, 5))
    grid = _grid(rng, 2, 3, 3, 1.2, np.float64)
    gradcheck(m, [x, grid])
    with no_grad():
        m(x, grid)
    assert not m._saved
    y = m(x, grid)
    dx, dgrid = m.backward(np.ones_like(y))
    assert dx.shape == x.shape and dgrid.shape == grid.shape
    with pytest.raises(DTypeError, match="x"):
        GridSample(dtype=np.float32)(x, grid)


# ----------------------------------------------------------------------------- bad input
def test_bad_config():
    x, grid = np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 1, 2))
    with pytest.raises(ConfigError, match="mode.*bilinear"):
        grid_sample(x, grid, mode="nearest")
    with pytest.raises(ConfigError, match="mode"):
        grid_sample(x, grid, mode="bicubic")
    with pytest.raises(ConfigError, match="padding_mode.*zeros"):
        grid_sample(x, grid, padding_mode="border")
    with pytest.raises(ConfigError, match="padding_mode"):
        GridSample(padding_mode="reflection")
    with pytest.raises(ConfigError, match="align_corners"):
        grid_sample(x, grid, align_corners=None)


@pytest.mark.parametrize("x_shape,grid_shape,match", [
    ((1, 2, 5), (1, 3, 2), "x"),                 # 3D input
    ((1, 2, 4, 4), (1, 3, 3, 3), "grid"),        # last dim != 2
    ((1, 2, 4, 4), (1, 3, 3, 1), "grid"),
    ((1, 2, 4, 4), (3, 2), "grid"),              # grid rank
    ((2, 2, 4, 4), (3, 3, 3, 2), "grid"),        # batch mismatch
    ((1, 2, 0, 4), (1, 3, 3, 2), "x"),           # empty spatial axis
])
def test_bad_shapes(x_shape, grid_shape, match):
    with pytest.raises(ShapeError, match=match):
        grid_sample(np.zeros(x_shape), np.zeros(grid_shape))


def test_bad_dtypes():
    with pytest.raises(DTypeError, match="grid"):
        grid_sample(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 1, 2), np.float32))
    with pytest.raises(DTypeError, match="grid"):
        grid_sample(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 1, 2), np.int64))
    with pytest.raises(DTypeError, match="x"):
        grid_sample(np.zeros((1, 1, 2, 2), np.int32), np.zeros((1, 1, 1, 2)))
    x, grid = np.zeros((1, 2, 3, 3)), np.zeros((1, 2, 2, 2))
    with pytest.raises(ShapeError, match="dy"):
        grid_sample_backward(np.zeros((1, 2, 3, 3)), x, grid)
    with pytest.raises(DTypeError, match="dy"):
        grid_sample_backward(np.zeros((1, 2, 2, 2), np.float32), x, grid)
