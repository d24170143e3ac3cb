"""MaxPool2d, AvgPool2d, AdaptiveAvgPool1d/2d: gradcheck, torch parity (ties included), bad input."""
import numpy as np
import pytest

from refimpl.core.errors import ConfigError, DTypeError, ShapeError
from refimpl.functional.pooling import (adaptive_avg_pool1d, adaptive_avg_pool1d_backward, adaptive_avg_pool2d,
                                        adaptive_avg_pool2d_backward, avg_pool2d, avg_pool2d_backward, max_pool2d,
                                        max_pool2d_backward)
from refimpl.nn.pooling import AdaptiveAvgPool1d, AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from refimpl.testing.gradcheck import gradcheck
from refimpl.testing.parity import compare_function_with_torch, compare_module_with_torch

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _x(shape, dtype=np.float64, ties=False, seed=0):
    rng = np.random.default_rng(seed)
    if ties:  # small integers: many equal values in each window, so the tie rule decides the gradient
        return rng.integers(0, 3, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


# ------------------------------------------------------------------------------ MaxPool2d
# (kernel_size, stride, padding, dilation, ceil_mode, spatial)
MAX_CASES = [
    pytest.param(2, None, 0, 1, False, (6, 7), id="k2"),
    pytest.param(2, 1, 0, 1, False, (5, 6), id="k2-s1"),
    pytest.param(2, 2, 1, 1, False, (7, 7), id="k2-s2-p1"),
    pytest.param(2, 2, 1, 1, True, (7, 6), id="k2-s2-p1-ceil"),
    pytest.param(3, 2, 1, 1, False, (7, 8), id="k3-s2-p1"),          # ResNet/DETR stem
    pytest.param(3, 2, 1, 1, True, (8, 7), id="k3-s2-p1-ceil"),
    pytest.param(3, 2, 0, 1, True, (8, 6), id="k3-s2-ceil"),
    pytest.param(3, 1, 1, 1, False, (5, 6), id="k3-s1-p1"),
    pytest.param(3, 2, 1, 2, False, (9, 8), id="k3-s2-p1-d2"),
    pytest.param(2, 1, 1, 2, True, (6, 7), id="k2-s1-p1-d2-ceil"),
    pytest.param((3, 2), (2, 1), (1, 0), (1, 2), True, (7, 9), id="k3x2-s21-d12-ceil"),
    pytest.param(3, 3, 1, 1, True, (7, 5), id="k3-s3-p1-ceil"),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("kernel, stride, padding, dilation, ceil_mode, spatial", MAX_CASES)
def test_maxpool2d_parity(kernel, stride, padding, dilation, ceil_mode, spatial, ties, dtype):
    kw = dict(stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode)
    x = _x((2, 3) + spatial, dtype, ties)
    rep = compare_module_with_torch(MaxPool2d(kernel, **kw), torch.nn.MaxPool2d(kernel, **kw), [x], dtype=dtype)
    rep.assert_ok()
    # indices equal torch's exactly (they decide where each gradient lands)
    rep = compare_module_with_torch(MaxPool2d(kernel, return_indices=True, **kw),
                                    torch.nn.MaxPool2d(kernel, return_indices=True, **kw), [x], dtype=dtype,
                                    rtol=0, atol=0)
    assert rep[1].ok and rep[1].max_abs == 0
    # and the functional pair agrees with torch's functional
    compare_function_with_torch(lambda a: max_pool2d(x, kernel, **kw),
                                lambda dy: max_pool2d_backward(dy, x, kernel, **kw),
                                lambda t: F.max_pool2d(t, kernel, **kw), [x], dtype=dtype).assert_ok()


@pytest.mark.parametrize("kernel, stride, padding, dilation, ceil_mode, spatial", MAX_CASES)
def test_maxpool2d_gradcheck(kernel, stride, padding, dilation, ceil_mode, spatial):
    kw = dict(stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode)
    x = _x((2, 2) + spatial)   # continuous values: no ties, so the max is differentiable
    gradcheck(MaxPool2d(kernel, **kw), [x])
    gradcheck(max_pool2d, [x, kernel], kwargs=kw, wrt=[0],
              backward=lambda dy, x_, k, **a: (max_pool2d_backward(dy, x_, k, **a), None))


def test_maxpool2d_ties_pick_first_in_window():
    # every element equal: each window's gradient goes to its top-left element in the input
    x = np.ones((1, 1, 4, 4))
    dx = max_pool2d_backward(np.ones((1, 1, 3, 3)), x, 2, stride=1)
    t = torch.ones(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    F.max_pool2d(t, 2, stride=1).sum().backward()
    np.testing.assert_array_equal(dx, t.grad.numpy())
    assert dx[0, 0, :3, :3].sum() == 9 and dx[0, 0, 3].sum() == 0


def test_maxpool2d_neg_inf_and_padding():
    # an all -inf window reports the first input element in it (as torch does), never a padding cell
    x = np.full((1, 2, 4, 5), -np.inf)
    x[0, 1, 1, 1] = 0.0
    kw = dict(stride=2, padding=1, ceil_mode=True)
    y, idx = max_pool2d(x, 3, return_indices=True, **kw)
    ty, tidx = F.max_pool2d(torch.from_numpy(x), 3, return_indices=True, **kw)
    np.testing.assert_array_equal(y, ty.numpy())
    np.testing.assert_array_equal(idx, tidx.numpy())


def test_maxpool2d_keeps_dtype_and_no_params():
    m = MaxPool2d(2)
    assert m.num_parameters() == 0 and m.state_dict() == {}
    assert m(np.zeros((1, 1, 4, 4), np.float32)).dtype == np.float32


# ------------------------------------------------------------------------------ AvgPool2d
# (kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, spatial)
AVG_CASES = [
    pytest.param(2, None, 0, False, True, None, (6, 7), id="k2"),
    pytest.param(3, 1, 1, False, True, None, (5, 6), id="k3-s1-p1"),
    pytest.param(3, 2, 1, False, False, None, (7, 8), id="k3-s2-p1-exclude-pad"),
    pytest.param(3, 2, 1, True, True, None, (8, 7), id="k3-s2-p1-ceil"),
    pytest.param(3, 2, 1, True, False, None, (8, 7), id="k3-s2-p1-ceil-exclude-pad"),
    pytest.param((3, 2), (2, 1), (1, 1), True, True, 5, (7, 9), id="k3x2-ceil-divisor5"),
    pytest.param(2, 2, 1, True, True, None, (5, 5), id="k2-s2-p1-ceil"),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kernel, stride, padding, ceil_mode, count_include_pad, divisor_override, spatial", AVG_CASES)
def test_avgpool2d_parity(kernel, stride, padding, ceil_mode, count_include_pad, divisor_override, spatial, dtype):
    kw = dict(stride=stride, padding=padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad,
              divisor_override=divisor_override)
    x = _x((2, 3) + spatial, dtype)
    compare_module_with_torch(AvgPool2d(kernel, **kw), torch.nn.AvgPool2d(kernel, **kw), [x], dtype=dtype).assert_ok()


@pytest.mark.parametrize("kernel, stride, padding, ceil_mode, count_include_pad, divisor_override, spatial", AVG_CASES)
def test_avgpool2d_gradcheck(kernel, stride, padding, ceil_mode, count_include_pad, divisor_override, spatial):
    kw = dict(stride=stride, padding=padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad,
              divisor_override=divisor_override)
    x = _x((2, 2) + spatial)
    gradcheck(AvgPool2d(kernel, **kw), [x])
    gradcheck(avg_pool2d, [x, kernel], kwargs=kw, wrt=[0],
              backward=lambda dy, x_, k, **a: (avg_pool2d_backward(dy, x_, k, **a), None))


# ------------------------------------------------------------------------------ adaptive average pools
ADAPTIVE_2D = [
    pytest.param((7, 7), 3, id="7to3"),
    pytest.param((5, 5), 1, id="5to1"),
    pytest.param((4, 4), 8, id="4to8-upsample"),
    pytest.param((6, 9), 3, id="6x9to3-divides"),
    pytest.param((7, 5), (2, 4), id="7x5to2x4"),
    pytest.param((6, 5), (None, 3), id="none-keeps-H"),
    pytest.param((5, 7), (4, None), id="none-keeps-W"),
    pytest.param((3, 4), (5, 6), id="3x4to5x6"),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("spatial, out", ADAPTIVE_2D)
def test_adaptive_avgpool2d_parity(spatial, out, dtype):
    x = _x((2, 3) + spatial, dtype)
    compare_module_with_torch(AdaptiveAvgPool2d(out), torch.nn.AdaptiveAvgPool2d(out), [x], dtype=dtype).assert_ok()
    compare_function_with_torch(lambda a: adaptive_avg_pool2d(x, out),
                                lambda dy: adaptive_avg_pool2d_backward(dy, x, out),
                                lambda t: F.adaptive_avg_pool2d(t, out), [x], dtype=dtype).assert_ok()


@pytest.mark.parametrize("spatial, out", ADAPTIVE_2D)
def test_adaptive_avgpool2d_gradcheck(spatial, out):
    gradcheck(AdaptiveAvgPool2d(out), [_x((2, 2) + spatial)])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("L, out", [(7, 3), (5, 1), (4, 8), (6, 3), (9, 4), (1, 3)])
def test_adaptive_avgpool1d_parity_and_gradcheck(L, out, dtype):
    x = _x((2, 3, L), dtype)
    compare_module_with_torch(AdaptiveAvgPool1d(out), torch.nn.AdaptiveAvgPool1d(out), [x], dtype=dtype).assert_ok()
    compare_function_with_torch(lambda a: adaptive_avg_pool1d(x, out),
                                lambda dy: adaptive_avg_pool1d_backward(dy, x, out),
                                lambda t: F.adaptive_avg_pool1d(t, out), [x], dtype=dtype).assert_ok()
    if dtype == np.float64:
        gradcheck(AdaptiveAvgPool1d(out), [x])


# ------------------------------------------------------------------------------ bad input
def test_maxpool_padding_more_than_half_kernel():
    with pytest.raises(ConfigError, match="padding"):
        MaxPool2d(3, padding=2)
    with pytest.raises(ConfigError, match="padding"):
        MaxPool2d((2, 4), padding=(1, 3))
    with pytest.raises(ConfigError, match="padding"):
        max_pool2d(np.zeros((1, 1, 6, 6)), 2, padding=2)
    with pytest.raises(ConfigError, match="padding"):
        AvgPool2d(2, padding=2)


def test_pool_bad_arguments():
    with pytest.raises(ConfigError, match="stride"):
        MaxPool2d(2, stride=0)
    with pytest.raises(ConfigError, match="kernel_size"):
        MaxPool2d(0)
    with pytest.raises(ConfigError, match="dilation"):
        MaxPool2d(2, dilation=0)
    with pytest.raises(ConfigError, match="output_size"):
        AdaptiveAvgPool2d(0)
    with pytest.raises(ConfigError, match="output_size"):
        AdaptiveAvgPool2d((2, 3, 4))
    with pytest.raises(ConfigError, match="output_size"):
        AdaptiveAvgPool1d(None)
    with pytest.raises(ConfigError, match="divisor_override"):
        AvgPool2d(2, divisor_override=0)(np.zeros((1, 1, 4, 4)))


def test_pool_bad_input():
    with pytest.raises(ShapeError, match="x: expected 4 dimensions"):
        MaxPool2d(2)(np.zeros((3, 4, 4)))
    with pytest.raises(ShapeError, match="x: expected 3 dimensions"):
        AdaptiveAvgPool1d(2)(np.zeros((1, 3, 4, 4)))
    with pytest.raises(ShapeError, match="x: spatial size"):
        MaxPool2d(3)(np.zeros((1, 1, 2, 5)))
    with pytest.raises(DTypeError, match="x"):
        MaxPool2d(2)(np.zeros((1, 1, 4, 4), np.int64))
    with pytest.raises(DTypeError, match="x"):
        AdaptiveAvgPool2d(2)([[1.0]])
    m = MaxPool2d(2)
    m(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ShapeError, match="dy"):
        m.backward(np.zeros((1, 1, 3, 3)))
    with pytest.raises(ShapeError, match="dy"):
        adaptive_avg_pool2d_backward(np.zeros((1, 1, 2, 3)), np.zeros((1, 1, 4, 4)), 2)
