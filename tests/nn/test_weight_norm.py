"""weight_norm (functional) and WeightNorm / WeightNormConv1d (torch.nn.utils.parametrizations.weight_norm layout):
gradcheck, torch parity of values and gradients of g and v, state-dict keys, bad input."""
import numpy as np
import pytest

from refimpl.core.errors import ConfigError, DTypeError, ShapeError
from refimpl.functional.weight_norm import norm_except_dim, weight_norm, weight_norm_backward, weight_norm_decompose
from refimpl.nn.weight_norm import WeightNorm, WeightNormConv1d
from refimpl.testing import assert_close, compare_function_with_torch, compare_module_with_torch, gradcheck

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch
DTYPES = [np.float64, np.float32]
# dim -1 means the whole tensor in torch's weight_norm (like None), not the last axis
SHAPES = [((6, 4, 5), 2), ((6, 4, 5), 0), ((6, 4, 5), -1), ((5, 3), 0), ((5, 3), 1), ((6, 4, 5), None)]


def _vg(shape, dim, dtype=np.float64, seed=3):
    r = np.random.default_rng(seed)
    v = r.standard_normal(shape)
    g_shape = () if dim in (None, -1) else tuple(s if a == dim else 1 for a, s in enumerate(shape))
    g = 0.5 + np.abs(r.standard_normal(g_shape))
    return v.astype(dtype), np.asarray(g, dtype=dtype)


@pytest.mark.parametrize("shape, dim", SHAPES)
def test_gradcheck(shape, dim):
    v, g = _vg(shape, dim)
    gradcheck(lambda v_, g_: weight_norm(v_, g_, dim), [v, g],
              backward=lambda dw, v_, g_: weight_norm_backward(dw, v_, g_, dim))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("shape, dim", SHAPES)
def test_functional_parity_with_torch(shape, dim, dtype):
    v, g = _vg(shape, dim, dtype)
    tdim = -1 if dim is None else dim                      # torch._weight_norm's "whole tensor" is -1
    compare_function_with_torch(lambda v_, g_: weight_norm(v_, g_, dim),
                                lambda dw: weight_norm_backward(dw, v, g, dim),
                                lambda tv, tg: torch._weight_norm(tv, tg, tdim), [v, g], dtype=dtype).assert_ok()


@pytest.mark.parametrize("shape, dim", SHAPES)
def test_decompose_is_torchs_right_inverse(shape, dim):
    w, _ = _vg(shape, dim)
    g, v = weight_norm_decompose(w, dim)
    assert_close(weight_norm(v, g, dim), w)
    lin = torch.nn.Linear(shape[-1], shape[0]) if len(shape) == 2 else torch.nn.Conv1d(shape[1], shape[0], shape[2])
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(w))
    p = torch.nn.utils.parametrizations.weight_norm(lin, dim=dim)
    assert_close(g, p.parametrizations.weight.original0.detach().numpy().astype(np.float64), dtype=np.float32)
    if dim not in (None, -1):
        assert_close(norm_except_dim(w, dim), g)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("k, groups, padding, dim, bias", [(4, 2, 2, 2, True), (3, 1, 1, 0, True), (5, 4, 0, 2, False)])
def test_conv1d_module_parity(k, groups, padding, dim, bias, dtype):
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(8, 8, k, padding=padding, groups=groups, bias=bias)
    tmod = torch.nn.utils.parametrizations.weight_norm(conv, name="weight", dim=dim)
    with torch.no_grad():                                  # g away from ||v|| so both parameters matter
        tmod.parametrizations.weight.original0.mul_(1.7)
    ref = WeightNormConv1d(8, 8, k, padding=padding, groups=groups, bias=bias, dim=dim, dtype=dtype)
    assert [n for n, _ in ref.named_parameters()] == [n for n, _ in tmod.named_parameters()]
    x = np.random.default_rng(1).standard_normal((2, 8, 9)).astype(dtype)
    compare_module_with_torch(ref, tmod, [x], dtype=dtype).assert_ok()


def test_conv1d_module_gradcheck():
    ref = WeightNormConv1d(4, 6, 3, padding=1, groups=2, dim=2)
    ref.parametrizations["weight"].original0.data *= 1.3
    gradcheck(ref, [np.random.default_rng(2).standard_normal((2, 4, 7))])


def test_weight_starts_equal_to_the_initial_weight():
    w = np.random.default_rng(0).standard_normal((3, 2, 4))
    assert_close(WeightNorm(w, dim=2)(), w)
    conv = WeightNormConv1d(2, 4, 3, dim=2)
    assert conv.weight.shape == (4, 2, 3)


def test_bad_input():
    v, g = _vg((6, 4, 5), 2)
    with pytest.raises(ShapeError, match="g: expected shape"):
        weight_norm(v, g[..., :3], 2)
    with pytest.raises(ConfigError, match="dim"):
        weight_norm(v, g, 3)
    with pytest.raises(ConfigError, match="dim"):
        weight_norm(v, g, -2)
    with pytest.raises(DTypeError, match="g"):
        weight_norm(v, g.astype(np.float32), 2)
    with pytest.raises(ShapeError, match="dw"):
        weight_norm_backward(v[:2], v, g, 2)
    conv = WeightNormConv1d(4, 4, 3)
    with pytest.raises(ShapeError, match="x"):
        conv(np.zeros((2, 3, 5)))
    with pytest.raises(DTypeError, match="x"):
        conv(np.zeros((2, 4, 5), np.float32))
    with pytest.raises(ShapeError, match="groups"):
        WeightNormConv1d(4, 6, 3, groups=4)
