"""interpolate / Upsample: gradcheck, torch parity (float64 tight, float32 default table), edge cases, bad input."""
import numpy as np
import pytest

from refimpl.core.errors import ConfigError, DTypeError, ShapeError
from refimpl.core.grad_mode import no_grad
from refimpl.functional.interpolate import interpolate, interpolate_backward
from refimpl.nn.resample import Upsample
from refimpl.testing import assert_close, compare_function_with_torch, compare_module_with_torch, gradcheck

torch = pytest.importorskip("torch")
F = torch.nn.functional

DTYPES = [np.float64, np.float32]

# (input spatial shape, interpolate kwargs): up, down, non-integer ratios, size-1 inputs and outputs
CASES_2D = [
    ((5, 7), dict(size=(8, 3))),
    ((7, 5), dict(size=(3, 11))),
    ((4, 6), dict(scale_factor=2)),
    ((6, 5), dict(scale_factor=0.5)),
    ((4, 5), dict(scale_factor=1.5)),
    ((3, 4), dict(scale_factor=(1.7, 2.6))),
    ((4, 5), dict(scale_factor=1.5, recompute_scale_factor=True)),
    ((5, 7), dict(size=(5, 7))),            # same size: a copy
    ((5, 7), dict(size=(5, 9))),            # one axis kept
    ((1, 1), dict(size=(4, 3))),            # size-1 input
    ((4, 3), dict(size=(1, 1))),            # size-1 output (align_corners=True: scale 0, corner pixel)
    ((1, 4), dict(size=(3, 1))),
    ((2, 3), dict(size=(9, 10))),           # strong upsampling: bicubic taps clamp at both borders
]
CASES_1D = [
    (7, dict(size=5)), (5, dict(size=8)), (1, dict(size=4)), (4, dict(size=1)), (6, dict(size=6)),
    (4, dict(scale_factor=2)), (6, dict(scale_factor=0.5)), (5, dict(scale_factor=1.5)),
]
MODES_2D = [("nearest", None), ("bilinear", False), ("bilinear", True), ("bicubic", False), ("bicubic", True)]
MODES_1D = [("nearest", None), ("linear", False), ("linear", True)]


def _parity(x, dtype, **kw):
    return compare_function_with_torch(
        lambda a: interpolate(a, **kw),
        lambda dy: interpolate_backward(dy, x, **kw),
        lambda t: F.interpolate(t, **kw), [x], dtype=dtype)


def _ids(cases):
    return [f"{s}-{kw}" for s, kw in cases]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("mode,align_corners", MODES_2D)
@pytest.mark.parametrize("spatial,kw", CASES_2D, ids=_ids(CASES_2D))
def test_parity_2d(rng, spatial, kw, mode, align_corners, dtype):
    x = rng.standard_normal((2, 3) + spatial).astype(dtype)
    _parity(x, dtype, mode=mode, align_corners=align_corners, **kw).assert_ok()


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("mode,align_corners", MODES_1D)
@pytest.mark.parametrize("length,kw", CASES_1D, ids=_ids(CASES_1D))
def test_parity_1d(rng, length, kw, mode, align_corners, dtype):
    x = rng.standard_normal((2, 3, length)).astype(dtype)
    _parity(x, dtype, mode=mode, align_corners=align_corners, **kw).assert_ok()


# nearest's small-output kernel copies an axis whose size is kept and halves the index when the size
# doubles, whatever the scale_factor; the generic rule floor(o / scale_factor) would differ here
NEAREST_SPECIAL = [
    ((5, 7), dict(scale_factor=1.1)),           # sizes kept: copy, not floor(o / 1.1)
    ((10, 5), dict(scale_factor=(2.05, 1.1))),  # 10 -> 20: o // 2, not floor(o / 2.05)
    ((3, 1), dict(scale_factor=(0.7, 1.0))),    # 3 -> 2 with the scale 1 / 0.7
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("spatial,kw", NEAREST_SPECIAL, ids=_ids(NEAREST_SPECIAL))
def test_parity_nearest_special_cases(rng, spatial, kw, dtype):
    x = rng.standard_normal((2, 3) + spatial).astype(dtype)
    _parity(x, dtype, mode="nearest", **kw).assert_ok()


GRAD_CASES = [((5, 7), dict(size=(8, 3))), ((7, 5), dict(size=(3, 11))), ((4, 5), dict(scale_factor=1.5)),
              ((1, 3), dict(size=(3, 1))), ((2, 3), dict(size=(9, 10)))]


@pytest.mark.parametrize("mode,align_corners", MODES_2D)
@pytest.mark.parametrize("spatial,kw", GRAD_CASES, ids=_ids(GRAD_CASES))
def test_gradcheck_2d(rng, spatial, kw, mode, align_corners):
    x = rng.standard_normal((2, 2) + spatial)
    gradcheck(interpolate, [x], backward=interpolate_backward,
              kwargs=dict(mode=mode, align_corners=align_corners, **kw))


@pytest.mark.parametrize("mode,align_corners", MODES_1D)
def test_gradcheck_1d(rng, mode, align_corners):
    x = rng.standard_normal((2, 2, 5))
    for kw in (dict(size=8), dict(size=3), dict(scale_factor=1.5)):
        gradcheck(interpolate, [x], backward=interpolate_backward,
              kwargs=dict(mode=mode, align_corners=align_corners, **kw))


def _adjoint_of_torch_forward(x_shape, g, **kw):
    """J^T g with J built column by column from torch's forward (the exact gradient of torch's forward)."""
    n = int(np.prod(x_shape[2:]))
    basis = torch.eye(n, dtype=torch.float64).reshape((n, 1) + tuple(x_shape[2:]))
    jac = F.interpolate(basis, **kw).reshape(n, -1).numpy()                 # (in pixels, out pixels)
    return (g.reshape(x_shape[0] * x_shape[1], -1) @ jac.T).reshape(x_shape)


# Cases where torch's own float64 backward is not the adjoint of its forward (see the module docstring):
# nearest on the generic forward path (3D input, or H_out + W_out > 128) at sizes where float32 rounding
# moves an index, and bicubic with a scale_factor that keeps the size. Here the forward must equal
# torch's and the backward must equal the exact gradient of torch's forward.
TORCH_BACKWARD_DIFFERS = [
    ((1, 2, 26), dict(size=194, mode="nearest")),
    ((1, 2, 26, 3), dict(size=(194, 3), mode="nearest")),
    ((1, 2, 5, 70), dict(scale_factor=(1.1, 2.02), mode="nearest")),
    ((1, 2, 5), dict(scale_factor=1.1, mode="nearest")),
    ((1, 2, 5, 7), dict(scale_factor=1.1, mode="bicubic")),
]


@pytest.mark.parametrize("shape,kw", TORCH_BACKWARD_DIFFERS, ids=_ids(TORCH_BACKWARD_DIFFERS))
def test_forward_matches_torch_and_backward_is_its_adjoint(rng, shape, kw):
    x = rng.standard_normal(shape)
    y = interpolate(x, **kw)
    assert_close(y, F.interpolate(torch.from_numpy(x), **kw))
    g = rng.standard_normal(y.shape)
    assert_close(interpolate_backward(g, x, **kw), _adjoint_of_torch_forward(shape, g, **kw))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("mode,align_corners", MODES_2D)
def test_large_output_parity(rng, mode, align_corners, dtype):
    """H_out + W_out > 128 takes torch's other nearest kernel; sizes chosen where both index rules agree."""
    x = rng.standard_normal((1, 2, 6, 5)).astype(dtype)
    _parity(x, dtype, size=(72, 60), mode=mode, align_corners=align_corners).assert_ok()


@pytest.mark.parametrize("mode,align_corners", [("nearest", None), ("bilinear", False), ("bicubic", True)])
def test_non_finite_values_stay_local(mode, align_corners):
    """An inf pixel reaches only the outputs whose taps touch it, exactly as in torch (no 0 * inf spreading)."""
    x = np.arange(2 * 6 * 7, dtype=np.float64).reshape(1, 2, 6, 7)
    x[0, 1, 4, 5] = np.inf
    kw = dict(size=(9, 11), mode=mode, align_corners=align_corners)
    y = interpolate(x, **kw)
    assert np.isfinite(y[0, 0]).all() and not np.isfinite(y[0, 1]).all()
    assert_close(y, F.interpolate(torch.from_numpy(x), **kw), equal_nan=True)


# ----------------------------------------------------------------------------- module
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("mode,align_corners", MODES_2D)
def test_upsample_module_matches_torch(rng, mode, align_corners, dtype):
    x = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
    ref = Upsample(scale_factor=1.5, mode=mode, align_corners=align_corners, dtype=dtype)
    tm = torch.nn.Upsample(scale_factor=1.5, mode=mode, align_corners=align_corners)
    compare_module_with_torch(ref, tm, [x], dtype=dtype).assert_ok()


def test_upsample_module_gradcheck_and_protocol(rng):
    m = Upsample(size=(6, 4), mode="bicubic", align_corners=True)
    x = rng.standard_normal((2, 2, 3, 5))
    gradcheck(m, [x])
    with no_grad():
        m(x)
    assert not m._saved
    y1, _ = m(x), m(x[:, :, ::-1])            # applied twice: backward pops in reverse order
    g = rng.standard_normal(y1.shape)
    assert_close(m.backward(g), interpolate_backward(g, x, size=(6, 4), mode="bicubic", align_corners=True))
    m.backward(g)
    assert list(m.parameters()) == [] and m.state_dict() == {}


def test_upsample_module_dtype_pin():
    x32 = np.zeros((1, 1, 2, 2), np.float32)
    assert Upsample(scale_factor=2)(x32).dtype == np.float32       # unpinned: follows the input
    pinned = Upsample(scale_factor=2, dtype=np.float64)
    with pytest.raises(DTypeError, match="x"):
        pinned(x32)
    assert pinned.to(np.float32)(x32).dtype == np.float32


def test_upsample_module_rejects_bad_config_at_construction():
    with pytest.raises(ConfigError, match="align_corners"):
        Upsample(scale_factor=2, mode="nearest", align_corners=True)
    with pytest.raises(ConfigError, match="mode"):
        Upsample(scale_factor=2, mode="area")
    with pytest.raises(ConfigError, match="size"):
        Upsample()


# ----------------------------------------------------------------------------- bad input
def _x(*shape, dtype=np.float64):
    return np.zeros(shape, dtype)


@pytest.mark.parametrize("mode,shape,torch_rejects", [
    ("bilinear", (1, 2, 5), True), ("bicubic", (1, 2, 5), True), ("linear", (1, 2, 4, 4), True),
    ("bilinear", (2, 3), True),
    ("nearest", (1, 2, 3, 4, 5), False),    # volumetric nearest exists in torch, not here
])
def test_wrong_rank_for_mode(mode, shape, torch_rejects):
    with pytest.raises(ShapeError, match="x"):
        interpolate(_x(*shape), size=3, mode=mode)
    if torch_rejects:
        with pytest.raises((NotImplementedError, ValueError)):
            F.interpolate(torch.zeros(shape), size=3, mode=mode)


@pytest.mark.parametrize("kw,match", [
    (dict(size=3, scale_factor=2.0), "scale_factor"),
    (dict(), "size"),
    (dict(size=0), "size"),
    (dict(size=(3, -1)), "size"),
    (dict(size=(3, 4, 5)), "size"),
    (dict(size=2.5), "size"),
    (dict(scale_factor=0), "scale_factor"),
    (dict(scale_factor=-2.0), "scale_factor"),
    (dict(scale_factor=float("nan")), "scale_factor"),
    (dict(scale_factor=0.1), "scale_factor"),          # floor(4 * 0.1) = 0 output pixels
    (dict(scale_factor=(2.0,)), "scale_factor"),
    (dict(size=3, recompute_scale_factor=True), "recompute_scale_factor"),
    (dict(size=3, mode="nearest", align_corners=False), "align_corners"),
    (dict(size=3, mode="bilinear", align_corners=1), "align_corners"),
    (dict(size=3, mode="area"), "mode"),
    (dict(size=3, mode="trilinear"), "mode"),
    (dict(size=3, mode="bilinear", antialias=True), "antialias"),
])
def test_bad_arguments(kw, match):
    with pytest.raises(ConfigError, match=match):
        interpolate(_x(1, 2, 4, 5), **kw)


def test_bad_arrays():
    with pytest.raises(DTypeError, match="x"):
        interpolate(np.zeros((1, 1, 2, 2), np.int64), size=3)
    with pytest.raises(DTypeError, match="x"):
        interpolate([[[[1.0]]]], size=3)
    with pytest.raises(ShapeError, match="x"):
        interpolate(_x(1, 1, 0, 3), size=3)
    x = _x(1, 2, 4, 5)
    with pytest.raises(ShapeError, match="dy"):
        interpolate_backward(_x(1, 2, 3, 4), x, size=(3, 3), mode="bilinear")
    with pytest.raises(DTypeError, match="dy"):
        interpolate_backward(_x(1, 2, 3, 3, dtype=np.float32), x, size=(3, 3), mode="bilinear")
