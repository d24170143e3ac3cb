"""gumbel_softmax with explicit noise against torch.nn.functional.gumbel_softmax (noise replayed by seeding torch):
soft and hard (straight-through) samples and their gradients; noise drawing; bad input."""
import numpy as np
import pytest

from refimpl.core.errors import ConfigError, ShapeError
from refimpl.functional.gumbel_softmax import gumbel_noise, gumbel_softmax, gumbel_softmax_backward
from refimpl.testing import assert_close, compare_function_with_torch, gradcheck

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch
DTYPES = [np.float64, np.float32]


def _torch_noise(seed, shape, dtype):
    """The noise torch's gumbel_softmax draws right after torch.manual_seed(seed): -log(Exponential(1))."""
    torch.manual_seed(seed)
    tdt = torch.float64 if np.dtype(dtype) == np.float64 else torch.float32
    return (-torch.empty(shape, dtype=tdt).exponential_().log()).numpy()


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("tau, axis", [(1.0, -1), (0.5, -1), (2.0, 0)])
def test_parity_with_torch(tau, axis, hard, dtype):
    logits = np.random.default_rng(0).standard_normal((6, 5)).astype(dtype)
    noise = _torch_noise(3, logits.shape, dtype)

    def torch_fn(t):
        torch.manual_seed(3)
        return torch.nn.functional.gumbel_softmax(t, tau=tau, hard=hard, dim=axis)
    compare_function_with_torch(lambda x: gumbel_softmax(x, noise, tau, hard, axis),
                                lambda dy: gumbel_softmax_backward(dy, logits, noise, tau, hard, axis),
                                torch_fn, [logits], dtype=dtype).assert_ok()


def test_hard_sample_is_an_exact_one_hot_of_the_noisy_argmax():
    logits = np.random.default_rng(1).standard_normal((50, 7))
    noise = gumbel_noise(np.random.default_rng(2), logits.shape)
    y = gumbel_softmax(logits, noise, 0.7, hard=True)
    assert set(np.unique(y)) == {0.0, 1.0} and (y.sum(-1) == 1).all()
    assert (y.argmax(-1) == (logits + noise).argmax(-1)).all()


def test_soft_gradcheck():
    logits = np.random.default_rng(1).standard_normal((4, 5))
    noise = gumbel_noise(np.random.default_rng(2), logits.shape)
    gradcheck(lambda x: gumbel_softmax(x, noise, 0.8), [logits],
              backward=lambda dy, x: gumbel_softmax_backward(dy, x, noise, 0.8))


def test_noise_is_standard_gumbel():
    g = gumbel_noise(np.random.default_rng(0), (200000,))
    assert abs(g.mean() - np.euler_gamma) < 0.01 and abs(g.var() - np.pi ** 2 / 6) < 0.03
    assert_close(gumbel_noise(np.random.default_rng(5), (3, 2)), gumbel_noise(np.random.default_rng(5), (3, 2)))


def test_bad_input():
    x = np.zeros((3, 4))
    with pytest.raises(ShapeError, match="noise"):
        gumbel_softmax(x, np.zeros((3, 3)))
    with pytest.raises(ConfigError, match="tau"):
        gumbel_softmax(x, np.zeros((3, 4)), tau=0.0)
    with pytest.raises(ConfigError, match="rng"):
        gumbel_noise(0, (2,))
