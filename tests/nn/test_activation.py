"""Activations and (log-)softmax: gradcheck, torch parity, HF hidden_act mapping, GELU-form detection."""
import math

import numpy as np
import pytest

from refimpl.core.errors import ConfigError, DTypeError, ShapeError
from refimpl.functional import activation as F
from refimpl.nn.activation import (ACT2CLS, GELU, FastGELU, LogSoftmax, QuickGELU, ReLU, Sigmoid, SiLU, Softmax,
                                   Tanh, get_activation)
from refimpl.testing import compare, compare_function_with_torch, compare_module_with_torch, gradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional

DTYPES = [np.float64, np.float32]

# name -> (forward, backward, torch forward)
ELEMENTWISE = {
    "gelu": (F.gelu, F.gelu_backward, lambda t: TF.gelu(t)),
    "gelu_tanh": (F.gelu_tanh, F.gelu_tanh_backward, lambda t: TF.gelu(t, approximate="tanh")),
    # HF FastGELUActivation's formula, written out from its definition (sqrt(2/pi) truncated)
    "gelu_fast": (F.gelu_fast, F.gelu_fast_backward,
                  lambda t: 0.5 * t * (1.0 + torch.tanh(t * 0.7978845608 * (1.0 + 0.044715 * t * t)))),
    "quick_gelu": (F.quick_gelu, F.quick_gelu_backward, lambda t: t * torch.sigmoid(1.702 * t)),
    "relu": (F.relu, F.relu_backward, TF.relu),
    "silu": (F.silu, F.silu_backward, TF.silu),
    "sigmoid": (F.sigmoid, F.sigmoid_backward, torch.sigmoid),
    "tanh": (F.tanh, F.tanh_backward, torch.tanh),
}

MODULES = {  # refimpl module factory, torch module factory
    "GELU": (lambda: GELU(), lambda: torch.nn.GELU()),
    "GELU-tanh": (lambda: GELU(approximate="tanh"), lambda: torch.nn.GELU(approximate="tanh")),
    "ReLU": (ReLU, torch.nn.ReLU),
    "SiLU": (SiLU, torch.nn.SiLU),
    "Sigmoid": (Sigmoid, torch.nn.Sigmoid),
    "Tanh": (Tanh, torch.nn.Tanh),
    "Softmax0": (lambda: Softmax(0), lambda: torch.nn.Softmax(0)),
    "Softmax-1": (lambda: Softmax(-1), lambda: torch.nn.Softmax(-1)),
    "LogSoftmax1": (lambda: LogSoftmax(1), lambda: torch.nn.LogSoftmax(1)),
    "LogSoftmax-1": (lambda: LogSoftmax(-1), lambda: torch.nn.LogSoftmax(-1)),
}


def _x(shape=(3, 4, 5), scale=3.0, seed=0, dtype=np.float64):
    """Random input away from 0 (ReLU's kink) by construction: |x| >= 0.05."""
    x = np.random.default_rng(seed).standard_normal(shape) * scale
    x = np.where(np.abs(x) < 0.05, 0.05 + np.abs(x), x)
    return x.astype(dtype)


def _wide(dtype=np.float64):
    """A grid over the interesting range, including 0 and large magnitudes."""
    return np.concatenate([np.linspace(-8, 8, 161), [0.0, -30.0, 30.0, -1e-3, 1e-3]]).astype(dtype)


# ------------------------------------------------------------------------------------------ gradcheck (float64)
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_functional_gradcheck(name):
    fwd, bwd, _ = ELEMENTWISE[name]
    gradcheck(fwd, [_x((2, 3, 4))], backward=bwd)


@pytest.mark.parametrize("axis", [0, 1, -1, -2])
@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
def test_softmax_gradcheck(fn, axis):
    fwd, bwd = getattr(F, fn), getattr(F, fn + "_backward")
    gradcheck(fwd, [_x((2, 3, 4), scale=2.0)], backward=bwd, kwargs={"axis": axis})


@pytest.mark.parametrize("fn", ["softmax", "log_softmax", "sigmoid", "tanh"])
def test_backward_from_output_equals_backward_from_input(fn, rng):
    x = rng.standard_normal((3, 5))
    dy = rng.standard_normal((3, 5))
    y = getattr(F, fn)(x)
    from_x = getattr(F, fn + "_backward")(dy, x)
    from_y = getattr(F, fn + "_backward")(dy, None, y=y)
    np.testing.assert_array_equal(from_x, from_y)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_gradcheck(name):
    gradcheck(MODULES[name][0](), [_x((2, 3, 4), scale=2.0)])


@pytest.mark.parametrize("cls", [FastGELU, QuickGELU])
def test_hf_only_module_gradcheck(cls):
    gradcheck(cls(), [_x((2, 3, 4))])


# ------------------------------------------------------------------------------------------ torch parity
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_functional_parity(name, dtype):
    fwd, bwd, tfwd = ELEMENTWISE[name]
    for x in (_x(dtype=dtype), _wide(dtype)):   # _wide includes x = 0 exactly (ReLU's subgradient)
        compare_function_with_torch(fwd, lambda dy, x=x: bwd(dy, x), tfwd, [x], dtype=dtype).assert_ok()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [0, 1, 2, -1])
@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
def test_softmax_parity(fn, axis, dtype):
    fwd, bwd = getattr(F, fn), getattr(F, fn + "_backward")
    tfn = getattr(TF, fn)
    x = _x((2, 3, 4), scale=4.0, dtype=dtype)
    compare_function_with_torch(lambda v: fwd(v, axis), lambda dy: bwd(dy, x, axis), lambda t: tfn(t, dim=axis),
                                [x], dtype=dtype).assert_ok()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
def test_softmax_large_logits_and_masked_entries(fn, dtype):
    """Max subtraction: logits of 1e3 do not overflow; -inf entries (masked keys) get probability 0."""
    fwd, bwd = getattr(F, fn), getattr(F, fn + "_backward")
    tfn = getattr(TF, fn)
    x = (_x((3, 6), scale=1.0, dtype=dtype) * 1000).astype(dtype)
    x[0, :3] = -np.inf
    x[1, 5] = -np.inf
    compare_function_with_torch(lambda v: fwd(v), lambda dy: bwd(dy, x), lambda t: tfn(t, dim=-1),
                                [x], dtype=dtype).assert_ok()
    assert np.all(np.isfinite(F.softmax(x)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_parity(name, dtype):
    ref_f, torch_f = MODULES[name]
    compare_module_with_torch(ref_f(), torch_f(), [_x(dtype=dtype)], dtype=dtype).assert_ok()


# ------------------------------------------------------------------------------------------ exact vs tanh GELU
def test_gelu_exact_vs_tanh_max_difference():
    """The two GELU forms differ by ~4.73e-4 at most (|x| ~ 2.7): big enough that parity catches a swap."""
    x = np.linspace(-10, 10, 200001)
    diff = np.abs(F.gelu(x) - F.gelu_tanh(x))
    t = torch.from_numpy(x)
    torch_diff = (TF.gelu(t) - TF.gelu(t, approximate="tanh")).abs().numpy()
    assert abs(diff.max() - torch_diff.max()) < 1e-12
    assert 4.6e-4 < diff.max() < 4.8e-4
    assert 2.5 < abs(x[np.argmax(diff)]) < 2.9


@pytest.mark.parametrize("dtype", DTYPES)
def test_gelu_form_swap_is_detected(dtype):
    """Exact GELU against torch's tanh GELU (and vice versa) must FAIL the default tolerance, forward and backward."""
    x = _x((4, 8), dtype=dtype)
    t = torch.from_numpy(x).requires_grad_(True)
    y_tanh = TF.gelu(t, approximate="tanh")
    y_tanh.backward(torch.ones_like(t))
    assert not compare(F.gelu(x), y_tanh.detach().numpy(), dtype=dtype).ok
    assert not compare(F.gelu_backward(np.ones_like(x), x), t.grad.numpy(), dtype=dtype).ok
    t2 = torch.from_numpy(x).requires_grad_(True)
    y_exact = TF.gelu(t2)
    y_exact.backward(torch.ones_like(t2))
    assert not compare(F.gelu_tanh(x), y_exact.detach().numpy(), dtype=dtype).ok
    assert not compare(F.gelu_tanh_backward(np.ones_like(x), x), t2.grad.numpy(), dtype=dtype).ok
    # and the right pairings pass
    assert compare(F.gelu(x), y_exact.detach().numpy(), dtype=dtype).ok
    assert compare(F.gelu_tanh_backward(np.ones_like(x), x), t.grad.numpy(), dtype=dtype).ok


def test_gelu_tanh_derivative_is_its_own():
    """The tanh form's derivative differs from the erf derivative (a port reusing one for the other is wrong)."""
    x = np.linspace(-4, 4, 81)
    d = np.abs(F.gelu_tanh_backward(np.ones_like(x), x) - F.gelu_backward(np.ones_like(x), x))
    assert d.max() > 1e-4


def test_gelu_fast_is_not_bitwise_gelu_new_but_close():
    x = np.linspace(-6, 6, 1201)
    d = np.abs(F.gelu_fast(x) - F.gelu_tanh(x))
    assert 0 < d.max() < 1e-10   # only the truncated constant differs


# ------------------------------------------------------------------------------------------ HF hidden_act names
def _act2fn():
    pytest.importorskip("transformers")
    from transformers.activations import ACT2FN
    return ACT2FN


@pytest.mark.parametrize("name", sorted(ACT2CLS))
def test_get_activation_matches_transformers_act2fn(name):
    act2fn = _act2fn()
    assert name in act2fn, f"{name} is not a transformers hidden_act name"
    x = _wide()
    compare_module_with_torch(get_activation(name), act2fn[name], [x], dtype=np.float64).assert_ok()


@pytest.mark.parametrize("name", ["gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "quick_gelu", "silu", "swish"])
def test_get_activation_matches_transformers_act2fn_float32(name):
    act2fn = _act2fn()
    x = _wide(np.float32)
    compare_module_with_torch(get_activation(name), act2fn[name], [x], dtype=np.float32).assert_ok()


def test_get_activation_forms():
    assert get_activation("gelu").approximate == "none"
    assert get_activation("gelu_new").approximate == "tanh"
    assert get_activation("gelu_pytorch_tanh").approximate == "tanh"
    assert isinstance(get_activation("swish"), SiLU)
    assert get_activation("relu") is not get_activation("relu")   # a fresh module each time (own saved stack)


@pytest.mark.parametrize("name", ["mish", "relu6", "GELU", "gelu_exact", "", None])
def test_get_activation_unknown_name(name):
    with pytest.raises(ConfigError, match="hidden_act.*known.*gelu_new"):
        get_activation(name)


def test_every_transformers_name_is_mapped_or_rejected():
    for name in _act2fn():
        if name in ACT2CLS:
            get_activation(name)
        else:
            with pytest.raises(ConfigError):
                get_activation(name)


# ------------------------------------------------------------------------------------------ dtype, errors, protocol
@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_keeps_float32(name):
    m = MODULES[name][0]()
    x = _x(dtype=np.float32)
    y = m(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert m.backward(np.ones_like(y)).dtype == np.float32


@pytest.mark.parametrize("name", sorted(MODULES))
@pytest.mark.parametrize("bad", [np.arange(6).reshape(2, 3), np.ones((2, 3), np.float16), np.ones((2, 3), bool)])
def test_module_rejects_non_float(name, bad):
    with pytest.raises(DTypeError, match="x"):
        MODULES[name][0]()(bad)


def test_module_rejects_list():
    with pytest.raises(DTypeError, match="x"):
        GELU()([1.0, 2.0])


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_backward_checks_dy(name):
    _, bwd, _ = ELEMENTWISE[name]
    x = _x((2, 3))
    with pytest.raises(ShapeError, match="dy"):
        bwd(np.ones((3,)), x)
    with pytest.raises(DTypeError, match="dy"):
        bwd(np.ones((2, 3), np.float32), x)


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax])
def test_softmax_bad_axis(fn):
    with pytest.raises(ShapeError, match="axis"):
        fn(np.ones((2, 3)), axis=2)
    with pytest.raises(ConfigError, match="axis"):
        fn(np.ones((2, 3)), axis=1.0)
    with pytest.raises(ShapeError, match="x"):
        fn(np.array(1.0))


def test_module_config_errors():
    with pytest.raises(ConfigError, match="approximate"):
        GELU(approximate="erf")
    with pytest.raises(ConfigError, match="dim"):
        Softmax(dim=None)


def test_stability_at_extremes():
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        np.testing.assert_array_equal(F.sigmoid(x)[[0, -1]], [0.0, 1.0])
        assert np.all(np.isfinite(F.silu(x))) and np.all(np.isfinite(F.gelu(x)))
        assert np.all(np.isfinite(F.log_softmax(x)))


def test_repeated_use_pops_in_reverse_order(rng):
    m = GELU()
    x1, x2 = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    m(x1)
    m(x2)
    dy = rng.standard_normal((2, 3))
    np.testing.assert_array_equal(m.backward(dy), F.gelu_backward(dy, x2))
    np.testing.assert_array_equal(m.backward(dy), F.gelu_backward(dy, x1))


def test_constants():
    assert F.SQRT_2_OVER_PI == math.sqrt(2 / math.pi)
    assert abs(F.GELU_FAST_COEF - F.SQRT_2_OVER_PI) < 1e-10
