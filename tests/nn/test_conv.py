"""Conv1d / Conv2d (and the depthwise hot path): gradcheck, torch parity, bad input, dispatch."""
import sys
import types

import numpy as np
import pytest

from refimpl.core.kernel_dispatch import use_kernels
from refimpl.core.errors import ConfigError, DTypeError, ShapeError
from refimpl.functional.conv import conv1d, conv1d_backward, conv2d, conv2d_backward
from refimpl.functional.depthwise_conv import depthwise_conv2d, depthwise_conv2d_backward
from refimpl.nn.conv import Conv1d, Conv2d
from refimpl.testing.gradcheck import gradcheck
from refimpl.testing.parity import compare_function_with_torch, compare_module_with_torch

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same.:UserWarning")
F = torch.nn.functional

# (C_in, C_out, kernel, stride, padding, dilation, groups, bias, spatial)
CASES_2D = [
    pytest.param(3, 4, 1, 1, 0, 1, 1, True, (5, 7), id="k1"),
    pytest.param(3, 4, 3, 1, 1, 1, 1, True, (7, 5), id="k3-p1"),
    pytest.param(3, 4, 7, 1, 3, 1, 1, False, (9, 8), id="k7-p3-nobias"),
    pytest.param(3, 5, (3, 1), 2, (1, 0), 1, 1, True, (9, 7), id="k3x1-s2"),
    pytest.param(4, 6, (2, 3), (2, 1), (1, 2), 1, 2, True, (7, 9), id="k2x3-s21-p12-g2"),
    pytest.param(4, 4, 3, 2, 1, 2, 2, True, (9, 9), id="k3-s2-d2-g2"),
    pytest.param(3, 4, 3, (2, 1), 0, 1, 1, True, (9, 6), id="s21-p0"),
    pytest.param(2, 3, 1, 2, 0, 1, 1, False, (7, 7), id="k1-s2"),
    pytest.param(3, 4, 3, 1, "same", 1, 1, True, (7, 6), id="same-k3"),
    pytest.param(3, 4, 4, 1, "same", 1, 1, True, (7, 6), id="same-k4-even"),
    pytest.param(3, 4, (2, 3), 1, "same", (1, 2), 1, True, (5, 7), id="same-k2x3-d12"),
    pytest.param(4, 2, 3, 1, "same", 2, 2, False, (7, 7), id="same-k3-d2-g2"),
    pytest.param(3, 4, (3, 5), 1, "valid", 1, 1, True, (7, 9), id="valid"),
    pytest.param(4, 4, 3, 1, 1, 1, 4, True, (7, 5), id="depthwise-k3"),
    pytest.param(4, 4, 7, 1, "same", 1, 4, True, (9, 8), id="depthwise-k7-same"),
    pytest.param(4, 4, 4, 1, "same", 1, 4, True, (5, 6), id="depthwise-k4-same-even"),
    pytest.param(4, 4, (3, 5), 2, (1, 2), 2, 4, False, (9, 11), id="depthwise-k3x5-s2-d2"),
    pytest.param(4, 8, 3, 1, 1, 1, 4, True, (7, 5), id="multiplier2"),
    pytest.param(4, 8, 3, (2, 1), "valid", 2, 4, False, (9, 7), id="multiplier2-s21-d2"),
]

CASES_1D = [
    pytest.param(3, 4, 1, 1, 0, 1, 1, True, (9,), id="k1"),
    pytest.param(3, 4, 3, 1, 1, 1, 1, True, (8,), id="k3-p1"),
    pytest.param(3, 4, 7, 2, 3, 1, 1, False, (11,), id="k7-s2-p3-nobias"),
    pytest.param(4, 6, 3, 2, 1, 2, 2, True, (13,), id="k3-s2-d2-g2"),
    pytest.param(3, 4, 4, 1, "same", 1, 1, True, (9,), id="same-k4-even"),
    pytest.param(3, 4, 3, 1, "same", 2, 1, True, (8,), id="same-k3-d2"),
    pytest.param(3, 4, 5, 1, "valid", 1, 1, True, (9,), id="valid"),
    pytest.param(4, 4, 5, 1, 2, 1, 4, True, (9,), id="depthwise"),
    pytest.param(4, 8, 3, 2, 1, 1, 4, True, (9,), id="multiplier2"),
    pytest.param(4, 4, 4, 1, 2, 1, 2, True, (10,), id="wav2vec2-posconv-like"),
]

FN = {1: (conv1d, conv1d_backward, F.conv1d, Conv1d, torch.nn.Conv1d),
      2: (conv2d, conv2d_backward, F.conv2d, Conv2d, torch.nn.Conv2d)}


def _inputs(c_in, c_out, kernel, groups, bias, spatial, dtype, n):
    rng = np.random.default_rng(0)
    k = (kernel,) * n if isinstance(kernel, int) else tuple(kernel)
    x = rng.standard_normal((2, c_in) + tuple(spatial)).astype(dtype)
    w = rng.standard_normal((c_out, c_in // groups) + k).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype) if bias else None
    return x, w, b


def _functional_parity(n, case, dtype):
    c_in, c_out, kernel, stride, padding, dilation, groups, bias, spatial = case
    f, fb, tf, _, _ = FN[n]
    x, w, b = _inputs(c_in, c_out, kernel, groups, bias, spatial, dtype, n)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    inputs = [x, w] + ([b] if bias else [])
    bb = b if bias else None
    rep = compare_function_with_torch(
        lambda *a: f(x, w, bb, **kw),
        lambda dy: fb(dy, x, w, bb, **kw)[:len(inputs)],
        lambda tx, tw, tb=None: tf(tx, tw, tb, **kw),
        inputs, dtype=dtype)
    rep.assert_ok()
    return rep


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("c_in, c_out, kernel, stride, padding, dilation, groups, bias, spatial", CASES_2D)
def test_conv2d_functional_parity(c_in, c_out, kernel, stride, padding, dilation, groups, bias, spatial, dtype):
    _functional_parity(2, (c_in, c_out, kernel, stride, padding, dilation, groups, bias, spatial), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("c_in, c_out, kernel, stride, padding, dilation, groups, bias, spatial", CASES_1D)
def test_conv1d_functional_parity(c_in, c_out, kernel, stride, padding, dilation, groups, bias, spatial, dtype):
    _functional_parity(1, (c_in, c_out, kernel, stride, padding, dilation, groups, bias, spatial), dtype)


def _module_parity(n, case, dtype):
    c_in, c_out, kernel, stride, padding, dilation, groups, bias, spatial = case
    _, _, _, Ref, Torch = FN[n]
    torch.manual_seed(0)
    args = (c_in, c_out, kernel)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias)
    x, _, _ = _inputs(c_in, c_out, kernel, groups, bias, spatial, dtype, n)
    ref = Ref(*args, **kw, dtype=dtype)
    rep = compare_module_with_torch(ref, Torch(*args, **kw), [x], dtype=dtype)
    rep.assert_ok()
    # the weights really came from torch and both parameter grads were compared
    assert [c.name for c in rep][-(2 if bias else 1):] == ["grad weight", "grad bias"][:2 if bias else 1]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("c_in, c_out, kernel, stride, padding, dilation, groups, bias, spatial", CASES_2D)
def test_conv2d_module_parity(c_in, c_out, kernel, stride, padding, dilation, groups, bias, spatial, dtype):
    _module_parity(2, (c_in, c_out, kernel, stride, padding, dilation, groups, bias, spatial), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("c_in, c_out, kernel, stride, padding, dilation, groups, bias, spatial", CASES_1D)
def test_conv1d_module_parity(c_in, c_out, kernel, stride, padding, dilation, groups, bias, spatial, dtype):
    _module_parity(1, (c_in, c_out, kernel, stride, padding, dilation, groups, bias, spatial), dtype)


def _gradcheck(n, case):
    c_in, c_out, kernel, stride, padding, dilation, groups, bias, spatial = case
    f, fb, _, Ref, _ = FN[n]
    x, w, b = _inputs(c_in, c_out, kernel, groups, bias, spatial, np.float64, n)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    # functional: x, weight and bias each against central differences
    if bias:
        gradcheck(f, [x, w, b], backward=lambda dy, x_, w_, b_, **k: fb(dy, x_, w_, b_, **k), kwargs=kw)
    else:
        gradcheck(f, [x, w], backward=lambda dy, x_, w_, **k: fb(dy, x_, w_, None, **k)[:2], kwargs=kw)
    # module: input and parameters by name
    rep = gradcheck(Ref(c_in, c_out, kernel, bias=bias, **kw), [x])
    assert {r.name.split(" [")[0] for r in rep} == {"input 0", "param weight"} | ({"param bias"} if bias else set())


@pytest.mark.parametrize("c_in, c_out, kernel, stride, padding, dilation, groups, bias, spatial", CASES_2D)
def test_conv2d_gradcheck(c_in, c_out, kernel, stride, padding, dilation, groups, bias, spatial):
    _gradcheck(2, (c_in, c_out, kernel, stride, padding, dilation, groups, bias, spatial))


@pytest.mark.parametrize("c_in, c_out, kernel, stride, padding, dilation, groups, bias, spatial", CASES_1D)
def test_conv1d_gradcheck(c_in, c_out, kernel, stride, padding, dilation, groups, bias, spatial):
    _gradcheck(1, (c_in, c_out, kernel, stride, padding, dilation, groups, bias, spatial))


# ------------------------------------------------------------------------------ depthwise hot path
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kernel, stride, padding, dilation, bias", [
    (3, 1, 1, 1, True), (7, 1, "same", 1, True), (4, 1, "same", 1, False), ((3, 5), (2, 1), (1, 2), 2, True),
    (2, 2, 0, 1, True), (3, 1, "valid", (2, 1), False)])
def test_depthwise_conv2d_direct(kernel, stride, padding, dilation, bias, dtype):
    x, w, b = _inputs(4, 4, kernel, 4, bias, (9, 8), dtype, 2)
    kw = dict(stride=stride, padding=padding, dilation=dilation)
    inputs = [x, w] + ([b] if bias else [])
    bb = b if bias else None
    compare_function_with_torch(
        lambda *a: depthwise_conv2d(x, w, bb, **kw),
        lambda dy: depthwise_conv2d_backward(dy, x, w, bb, **kw)[:len(inputs)],
        lambda tx, tw, tb=None: F.conv2d(tx, tw, tb, groups=4, **kw), inputs, dtype=dtype).assert_ok()
    if dtype == np.float64:
        gradcheck(depthwise_conv2d, inputs, kwargs=kw,
                  backward=lambda dy, *a, **k: depthwise_conv2d_backward(dy, *a, *([None] if not bias else []),
                                                                         **k)[:len(inputs)])


@pytest.fixture
def fake_numba_depthwise(monkeypatch):
    """A stand-in kernels.numba_cpu.depthwise_conv that records calls and delegates to the reference."""
    calls = []
    mod = types.ModuleType("kernels.numba_cpu.depthwise_conv")

    def depthwise_conv2d_k(*a, **k):
        calls.append("forward")
        return depthwise_conv2d(*a, **k)

    def depthwise_conv2d_backward_k(*a, **k):
        calls.append("backward")
        return depthwise_conv2d_backward(*a, **k)

    mod.depthwise_conv2d = depthwise_conv2d_k
    mod.depthwise_conv2d_backward = depthwise_conv2d_backward_k
    monkeypatch.setitem(sys.modules, "kernels.numba_cpu.depthwise_conv", mod)
    return calls


def test_depthwise_routes_through_dispatch(fake_numba_depthwise):
    x, w, b = _inputs(4, 4, 3, 4, True, (6, 5), np.float64, 2)
    ref_y = conv2d(x, w, b, padding=1, groups=4)
    assert fake_numba_depthwise == []                   # no backend: the reference, not the kernel
    with use_kernels("numba"):
        m = Conv2d(4, 4, 3, padding=1, groups=4)
        m.weight.data[...] = w
        m.bias.data[...] = b
        y = m(x)
        m.backward(np.ones_like(y))
        # a channel multiplier is a grouped conv, not the depthwise hot path
        Conv2d(4, 8, 3, groups=4)(x)
    assert fake_numba_depthwise == ["forward", "backward"]
    np.testing.assert_array_equal(y, ref_y)


def test_depthwise_matches_generic_grouped_path():
    # the tap-loop reference and the im2col path agree (the latter is what the multiplier case uses)
    from refimpl.functional.conv import _conv_backward, _conv_forward
    x, w, b = _inputs(4, 4, 3, 4, True, (7, 6), np.float64, 2)
    args = ((2, 1), ((1, 1), (1, 1)), (1, 2), 4, (4, 4))
    y = _conv_forward(x, w, b, *args)
    np.testing.assert_allclose(depthwise_conv2d(x, w, b, (2, 1), 1, (1, 2)), y, rtol=1e-12, atol=1e-12)
    dy = np.random.default_rng(1).standard_normal(y.shape)
    for got, want in zip(depthwise_conv2d_backward(dy, x, w, b, (2, 1), 1, (1, 2)), _conv_backward(dy, x, w, b, *args)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------ module details
@pytest.mark.parametrize("Ref, Torch, kernel", [(Conv1d, torch.nn.Conv1d, 3), (Conv2d, torch.nn.Conv2d, (3, 2))])
@pytest.mark.parametrize("bias", [True, False])
def test_state_dict_keys_shapes_and_init(Ref, Torch, kernel, bias):
    ref = Ref(4, 6, kernel, groups=2, bias=bias)
    t = Torch(4, 6, kernel, groups=2, bias=bias)
    assert list(ref.state_dict()) == list(t.state_dict())
    for k, v in t.state_dict().items():
        assert ref.state_dict()[k].shape == tuple(v.shape)
    fan_in = 2 * int(np.prod(kernel))
    bound = 1 / np.sqrt(fan_in)
    assert np.abs(ref.weight.data).max() <= bound and np.abs(ref.weight.data).max() > 0.5 * bound
    assert ref.weight.dtype == np.float64
    r2 = Ref(4, 6, kernel, groups=2, bias=bias, dtype=np.float32, rng=np.random.default_rng(5))
    assert r2.weight.dtype == np.float32
    assert not np.allclose(r2.weight.data, ref.weight.data)


def test_same_padding_is_asymmetric_like_torch():
    # total padding 3 for kernel 4: 1 on the top/left, 2 on the bottom/right
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 0, 0] = 1.0
    w = np.zeros((1, 1, 4, 4))
    w[0, 0, 1, 1] = 1.0                      # reads xpad[i + 1, j + 1] = x[i, j] with a pad of 1 on the left
    np.testing.assert_array_equal(conv2d(x, w, padding="same"), x)


def test_no_grad_saves_nothing():
    from refimpl.core.errors import BackwardError
    from refimpl.core.grad_mode import no_grad
    m = Conv2d(2, 3, 3)
    with no_grad():
        m(np.zeros((1, 2, 5, 5)))
    with pytest.raises(BackwardError):
        m.backward(np.zeros((1, 3, 3, 3)))


# ------------------------------------------------------------------------------ bad input
def test_bad_channels():
    with pytest.raises(ShapeError, match="x"):
        Conv2d(3, 4, 3)(np.zeros((1, 5, 6, 6)))
    with pytest.raises(ShapeError, match="x"):
        Conv1d(3, 4, 3)(np.zeros((1, 2, 6)))
    with pytest.raises(ShapeError, match="input channels"):
        conv2d(np.zeros((1, 5, 6, 6)), np.zeros((4, 3, 3, 3)))


def test_bad_rank():
    with pytest.raises(ShapeError, match=r"x: expected 4 dimensions"):
        Conv2d(3, 4, 3)(np.zeros((3, 6, 6)))
    with pytest.raises(ShapeError, match=r"x: expected 3 dimensions"):
        Conv1d(3, 4, 3)(np.zeros((1, 3, 6, 6)))
    with pytest.raises(ShapeError, match="weight"):
        conv2d(np.zeros((1, 3, 6, 6)), np.zeros((4, 3, 3)))


def test_kernel_larger_than_padded_input():
    with pytest.raises(ShapeError, match=r"x: spatial size \(2, 9\).*kernel_size \(3, 3\)"):
        Conv2d(1, 1, 3)(np.zeros((1, 1, 2, 9)))
    with pytest.raises(ShapeError, match="kernel_size"):
        conv1d(np.zeros((1, 1, 4)), np.zeros((1, 1, 3)), dilation=2)   # reach 5 > 4
    conv1d(np.zeros((1, 1, 4)), np.zeros((1, 1, 3)), dilation=2, padding=1)  # padded to 6: fine


def test_groups_not_dividing():
    with pytest.raises(ConfigError, match="groups"):
        Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ConfigError, match="groups"):
        Conv2d(4, 6, 3, groups=4)
    with pytest.raises(ConfigError, match="groups"):
        conv2d(np.zeros((1, 3, 5, 5)), np.zeros((4, 1, 3, 3)), groups=2)
    with pytest.raises(ConfigError, match="groups"):
        Conv1d(4, 4, 3, groups=0)


def test_bad_stride_dilation_padding():
    with pytest.raises(ConfigError, match="stride"):
        Conv2d(1, 1, 3, stride=0)
    with pytest.raises(ConfigError, match="stride"):
        conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), stride=(1, 0))
    with pytest.raises(ConfigError, match="dilation"):
        Conv1d(1, 1, 3, dilation=0)
    with pytest.raises(ConfigError, match="padding"):
        Conv2d(1, 1, 3, padding=-1)
    with pytest.raises(ConfigError, match="padding"):
        Conv2d(1, 1, 3, padding="full")
    with pytest.raises(ConfigError, match="kernel_size"):
        Conv2d(1, 1, (3, 3, 3))


def test_same_with_stride_2():
    with pytest.raises(ConfigError, match="padding: 'same'.*stride"):
        Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ConfigError, match="padding"):
        conv1d(np.zeros((1, 1, 8)), np.zeros((1, 1, 3)), stride=2, padding="same")
    with pytest.raises(ConfigError, match="padding"):
        depthwise_conv2d(np.zeros((1, 2, 8, 8)), np.zeros((2, 1, 3, 3)), stride=(1, 2), padding="same")


def test_padding_mode_and_dtype():
    with pytest.raises(ConfigError, match="padding_mode"):
        Conv2d(1, 1, 3, padding_mode="reflect")
    with pytest.raises(DTypeError, match="x"):
        Conv2d(1, 1, 3)(np.zeros((1, 1, 5, 5), np.float32))
    with pytest.raises(DTypeError, match="x"):
        Conv1d(1, 1, 3)(np.zeros((1, 1, 5), np.int64))
    with pytest.raises(DTypeError, match="weight"):
        conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3), np.float32))
    with pytest.raises(ShapeError, match="bias"):
        conv2d(np.zeros((1, 1, 5, 5)), np.zeros((2, 1, 3, 3)), np.zeros(3))
    with pytest.raises(ShapeError, match="dy"):
        conv2d_backward(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)))


def test_depthwise_bad_weight():
    with pytest.raises(ShapeError, match="weight"):
        depthwise_conv2d(np.zeros((1, 3, 5, 5)), np.zeros((4, 1, 3, 3)))
