"""mse_loss, l1_loss, smooth_l1_loss, huber_loss vs torch: loss and gradients w.r.t. input AND target,
float64 (tight) and float32, every reduction; kinks (d = 0, |d| = beta) like torch; gradcheck; bad input."""
import numpy as np
import pytest

from refimpl.core.errors import ConfigError, DTypeError, ShapeError
from refimpl.losses.regression import (huber_loss, huber_loss_backward, l1_loss, l1_loss_backward, mse_loss,
                                       mse_loss_backward, smooth_l1_loss, smooth_l1_loss_backward)
from refimpl.testing import assert_close, compare_function_with_torch, gradcheck

torch = pytest.importorskip("torch")
F = torch.nn.functional

# name -> (ref forward, ref backward, torch forward, extra kwargs)
LOSSES = {
    "mse": (mse_loss, mse_loss_backward, F.mse_loss, {}),
    "l1": (l1_loss, l1_loss_backward, F.l1_loss, {}),
    "smooth_l1": (smooth_l1_loss, smooth_l1_loss_backward, F.smooth_l1_loss, {"beta": 1.0}),
    "smooth_l1_beta0.5": (smooth_l1_loss, smooth_l1_loss_backward, F.smooth_l1_loss, {"beta": 0.5}),
    "smooth_l1_beta0": (smooth_l1_loss, smooth_l1_loss_backward, F.smooth_l1_loss, {"beta": 0.0}),
    "huber": (huber_loss, huber_loss_backward, F.huber_loss, {"delta": 1.0}),
    "huber_delta0.7": (huber_loss, huber_loss_backward, F.huber_loss, {"delta": 0.7}),
}
REDUCTIONS = ["none", "mean", "sum"]


def _inputs(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return (1.5 * rng.standard_normal(shape)).astype(dtype), rng.standard_normal(shape).astype(dtype)


def _parity(name, x, t, dtype, reduction):
    f, fb, tf, kw = LOSSES[name]
    return compare_function_with_torch(
        lambda x, t: f(x, t, reduction=reduction, **kw),
        lambda g: fb(g, x, t, reduction=reduction, **kw),
        lambda xt, tt: tf(xt, tt, reduction=reduction, **kw), [x, t], dtype=dtype).assert_ok()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 2)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", list(LOSSES))
def test_matches_torch(name, reduction, shape, dtype):
    x, t = _inputs(shape, dtype)
    _parity(name, x, t, dtype, reduction)


@pytest.mark.parametrize("name", list(LOSSES))
def test_kinks_match_torch(name):
    # d = 0 (l1's subgradient 0, as torch's sign), d = +-beta / +-delta exactly, and both sides of them
    t = np.zeros(9)
    x = np.array([0.0, 0.5, -0.5, 0.7, -0.7, 1.0, -1.0, 1e-12, 3.0])
    _parity(name, x, t, np.float64, "none")


@pytest.mark.parametrize("name", list(LOSSES))
def test_scalar_input_with_reduction_none(name):
    # by hand: refimpl.testing's to_torch_inputs turns 0-d arrays into shape (1,) (np.ascontiguousarray)
    f, fb, tf, kw = LOSSES[name]
    x, t = np.array(0.3), np.array(-0.2)
    xt, tt = torch.tensor(0.3, dtype=torch.float64, requires_grad=True), torch.tensor(-0.2, dtype=torch.float64)
    out = tf(xt, tt, reduction="none", **kw)
    out.backward(torch.tensor(0.7, dtype=torch.float64))
    assert_close(f(x, t, reduction="none", **kw), out.detach())
    assert_close(fb(0.7, x, t, reduction="none", **kw)[0], xt.grad)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", list(LOSSES))
def test_gradcheck(name, reduction):
    f, fb, _, kw = LOSSES[name]
    x, t = _inputs((3, 4), np.float64, seed=1)
    gradcheck(f, [x, t], backward=fb, kwargs=dict(reduction=reduction, **kw))


@pytest.mark.parametrize("name", ["mse", "l1", "huber"])
def test_empty_mean_is_nan_like_torch(name):
    f, _, tf, kw = LOSSES[name]
    x = np.zeros((0, 2))
    assert np.isnan(f(x, x.copy(), **kw)) and torch.isnan(tf(torch.zeros(0, 2), torch.zeros(0, 2), **kw))


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("name", list(LOSSES))
def test_bad_target(name):
    f, fb, _, kw = LOSSES[name]
    x, t = _inputs((3, 4), np.float64)
    with pytest.raises(ShapeError, match="target"):
        f(x, t[:, :1], **kw)                                    # torch broadcasts with a warning; we refuse
    with pytest.raises(DTypeError, match="target"):
        f(x, t.astype(np.float32), **kw)
    with pytest.raises(DTypeError, match="input"):
        f(x.astype(np.int64), t, **kw)
    with pytest.raises(ConfigError, match="reduction"):
        f(x, t, reduction="mean ", **kw)
    with pytest.raises(ShapeError, match="grad"):
        fb(np.ones(3), x, t, reduction="none", **kw)


def test_bad_beta_and_delta():
    x, t = _inputs((3,), np.float64)
    with pytest.raises(ConfigError, match="beta"):
        smooth_l1_loss(x, t, beta=-1.0)
    with pytest.raises(ConfigError, match="delta"):
        huber_loss(x, t, delta=0.0)
    with pytest.raises(ConfigError, match="delta"):
        huber_loss_backward(1.0, x, t, delta=float("nan"))


def test_l1_subgradient_zero_at_zero():
    x = np.array([1.0, 2.0])
    dx, dt = l1_loss_backward(1.0, x, x.copy())
    assert_close(dx, np.zeros(2)) and assert_close(dt, np.zeros(2))
