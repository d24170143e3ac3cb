"""GlobalResponseNorm (ConvNeXt V2's GRN) and its functional: finite-difference gradchecks, parity with the
formula written in torch ops (transformers' ConvNextV2GRN) forward and backward, a channel with zero norm
(torch's norm backward gives 0 there), and bad input."""
import numpy as np
import pytest

from refimpl.core.errors import ConfigError, DTypeError, ShapeError
from refimpl.functional.grn import global_response_norm, global_response_norm_backward
from refimpl.nn.grn import GlobalResponseNorm
from refimpl.testing import compare_function_with_torch, compare_module_with_torch, gradcheck

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

DTYPES = [np.float64, np.float32]
SHAPES = [(2, 3, 4, 5), (1, 1, 1, 3), (3, 5, 2, 1), (2, 6, 7, 8)]


def _inputs(shape, dtype=np.float64, seed=3):
    r = np.random.default_rng(seed)
    c = shape[-1]
    x = r.standard_normal(shape).astype(dtype)
    w = (0.7 * r.standard_normal((1, 1, 1, c))).astype(dtype)
    b = (0.5 * r.standard_normal((1, 1, 1, c))).astype(dtype)
    return x, w, b


def _parity(inputs, dtype):
    return compare_function_with_torch(lambda *xs: global_response_norm(*xs),
                                       lambda dy: global_response_norm_backward(dy, *inputs), torch_grn, inputs,
                                       dtype=dtype)


def torch_grn(x, weight, bias, eps=1e-6):
    """The formula of transformers' ConvNextV2GRN.forward, in torch ops."""
    g = torch.linalg.vector_norm(x, ord=2, dim=(1, 2), keepdim=True)
    n = g / (g.mean(dim=-1, keepdim=True) + eps)
    return weight * (x * n) + bias + x


class TorchGRN(torch.nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.bias = torch.nn.Parameter(torch.zeros(1, 1, 1, dim))

    def forward(self, x):
        return torch_grn(x, self.weight, self.bias)


@pytest.mark.parametrize("shape", SHAPES)
def test_gradcheck_function(shape):
    gradcheck(global_response_norm, list(_inputs(shape)), backward=global_response_norm_backward)


@pytest.mark.parametrize("shape", SHAPES[:3])
def test_gradcheck_module(shape):
    x, w, b = _inputs(shape)
    m = GlobalResponseNorm(shape[-1])
    m.weight.data, m.bias.data = w, b
    gradcheck(m, [x])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("shape", SHAPES)
def test_function_matches_torch_formula(shape, dtype):
    x, w, b = _inputs(shape, dtype)
    _parity([x, w, b], dtype).assert_ok()


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_module_matches_torch_module(dtype):
    shape = (2, 3, 4, 5)
    torch.manual_seed(0)
    t = TorchGRN(shape[-1])
    with torch.no_grad():
        t.weight.normal_()
        t.bias.normal_()
    x, _, _ = _inputs(shape, dtype)
    compare_module_with_torch(GlobalResponseNorm(shape[-1], dtype=dtype), t, [x], dtype=dtype).assert_ok()


def test_fresh_module_is_identity():
    x, _, _ = _inputs((2, 3, 4, 5))
    np.testing.assert_array_equal(GlobalResponseNorm(5)(x), x)


def test_zero_norm_channel_has_finite_gradient_like_torch():
    x, w, b = _inputs((2, 3, 4, 5))
    x[0, :, :, 2] = 0.0                                 # one channel of one sample is all zeros: G = 0
    _parity([x, w, b], np.float64).assert_ok()
    dx, _, _ = global_response_norm_backward(np.ones_like(x), x, w, b)
    assert np.isfinite(dx).all()


def test_bad_input():
    x, w, b = _inputs((2, 3, 4, 5))
    with pytest.raises(ShapeError, match="x"):
        global_response_norm(x[0], w, b)
    with pytest.raises(ShapeError, match="weight"):
        global_response_norm(x, w.reshape(5), b)
    with pytest.raises(ShapeError, match="bias"):
        global_response_norm(x, w, np.zeros((1, 1, 1, 4)))
    with pytest.raises(DTypeError, match="weight"):
        global_response_norm(x, w.astype(np.float32), b)
    with pytest.raises(ConfigError, match="eps"):
        global_response_norm(x, w, b, eps=-1.0)
    with pytest.raises(ShapeError, match="dy"):
        global_response_norm_backward(np.ones((2, 3, 4, 4)), x, w, b)
    with pytest.raises(DTypeError, match="x"):
        GlobalResponseNorm(5)(x.astype(np.float32))
    with pytest.raises(ShapeError, match="x"):
        GlobalResponseNorm(4)(x)
