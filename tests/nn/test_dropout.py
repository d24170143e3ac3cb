"""Dropout / DropPath: mask statistics, forward-backward mask identity, replaying torch's / HF's masks."""
import numpy as np
import pytest

from refimpl.core.errors import ConfigError, DTypeError, ShapeError
from refimpl.core.grad_mode import no_grad
from refimpl.functional.dropout import (drop_path, drop_path_backward, drop_path_mask, dropout, dropout_backward,
                                        dropout_mask)
from refimpl.nn.dropout import Dropout, DropPath
from refimpl.testing import assert_close, gradcheck

torch = pytest.importorskip("torch")

DTYPES = [np.float64, np.float32]


def _x(shape=(3, 4, 5), dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _torch_dropout_mask(shape, p, dtype, seed):
    """torch's own scaled keep mask: dropout applied to a tensor of ones under a fixed seed."""
    torch.manual_seed(seed)
    t_dtype = torch.float64 if dtype == np.float64 else torch.float32
    return torch.nn.functional.dropout(torch.ones(shape, dtype=t_dtype), p, training=True).numpy()


def _hf_drop_path_module(p):
    pytest.importorskip("transformers")
    from transformers.models.convnext.modeling_convnext import ConvNextDropPath
    return ConvNextDropPath(p).train()


# ------------------------------------------------------------------------------------------ masks and statistics
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_mask_values_and_keep_rate(p, dtype):
    m = dropout_mask(np.random.default_rng(1), p, (400, 250), dtype)
    assert m.shape == (400, 250) and m.dtype == dtype
    scale = dtype(1.0 / (1.0 - p))
    assert set(np.unique(m)) <= {dtype(0.0), scale}
    n = m.size
    kept = np.count_nonzero(m) / n
    assert abs(kept - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)   # 5 sigma


@pytest.mark.parametrize("p", [0.2, 0.6])
def test_dropout_preserves_the_mean(p):
    """E[dropout(x)] = x: the empirical mean over many elements is within 5 standard errors."""
    x = np.full((500, 400), 2.0)
    y = dropout(x, p, rng=np.random.default_rng(3))
    se = 2.0 * np.sqrt(p / (1 - p)) / np.sqrt(x.size)
    assert abs(y.mean() - 2.0) < 5 * se


def test_dropout_p_one_gives_zeros_and_p_zero_identity():
    x = _x()
    np.testing.assert_array_equal(dropout(x, 1.0, rng=np.random.default_rng(0)), np.zeros_like(x))
    assert dropout(x, 0.0) is x


def test_seeded_dropout_is_reproducible():
    a, b = Dropout(0.5, rng=np.random.default_rng(7)), Dropout(0.5, rng=np.random.default_rng(7))
    x = _x()
    np.testing.assert_array_equal(a(x), b(x))
    np.testing.assert_array_equal(a.last_mask, b.last_mask)
    a(x)
    assert not np.array_equal(a.last_mask, b.last_mask)   # the generator advances between calls


# ------------------------------------------------------------------------------------------ gradcheck (fixed mask)
def test_dropout_functional_gradcheck():
    x = _x((2, 3, 4))
    m = dropout_mask(np.random.default_rng(0), 0.4, x.shape, x.dtype)
    gradcheck(dropout, [x], backward=dropout_backward, kwargs={"p": 0.4, "mask": m})


def test_dropout_module_gradcheck():
    x = _x((2, 3, 4))
    m = dropout_mask(np.random.default_rng(0), 0.4, x.shape, x.dtype)
    gradcheck(Dropout(0.4), [x], kwargs={"mask": m})


def test_drop_path_functional_gradcheck():
    x = _x((4, 3, 2))
    m = drop_path_mask(np.random.default_rng(0), 0.5, x.shape, x.dtype)
    gradcheck(drop_path, [x], backward=drop_path_backward, kwargs={"drop_prob": 0.5, "mask": m})


def test_drop_path_module_gradcheck():
    x = _x((4, 3, 2))
    m = drop_path_mask(np.random.default_rng(0), 0.5, x.shape, x.dtype)
    gradcheck(DropPath(0.5), [x], kwargs={"mask": m})


# ------------------------------------------------------------------------------------------ same mask forward/backward
@pytest.mark.parametrize("cls,shape", [(Dropout, (3, 4, 5)), (DropPath, (6, 4, 5))])
def test_module_uses_its_forward_mask_in_backward(cls, shape):
    m = cls(0.5, rng=np.random.default_rng(11))
    x1, x2 = _x(shape, seed=1), _x(shape, seed=2)
    y1 = m(x1)
    mask1 = m.last_mask
    y2 = m(x2)
    mask2 = m.last_mask
    assert not np.array_equal(mask1, mask2)
    np.testing.assert_array_equal(y1, x1 * mask1)
    np.testing.assert_array_equal(y2, x2 * mask2)
    dy = _x(shape, seed=3)
    np.testing.assert_array_equal(m.backward(dy), dy * mask2)   # last forward first
    np.testing.assert_array_equal(m.backward(dy), dy * mask1)


def test_functional_return_mask_round_trip():
    x = _x()
    y, m = dropout(x, 0.3, rng=np.random.default_rng(0), return_mask=True)
    np.testing.assert_array_equal(y, x * m)
    dy = _x(seed=5)
    np.testing.assert_array_equal(dropout_backward(dy, x, 0.3, mask=m), dy * m)
    y, m = drop_path(x, 0.3, rng=np.random.default_rng(0), return_mask=True)
    assert m.shape == (3, 1, 1)
    np.testing.assert_array_equal(drop_path_backward(dy, x, 0.3, mask=m), dy * m)


# ------------------------------------------------------------------------------------------ replaying torch's mask
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.1, 0.5])
def test_dropout_replays_torch_mask_exactly(p, dtype):
    """torch's F.dropout(ones) is its scaled mask; fed to refimpl, outputs and grads are bit-identical."""
    x, dy = _x(dtype=dtype), _x(dtype=dtype, seed=9)
    mask = _torch_dropout_mask(x.shape, p, dtype, seed=123)
    torch.manual_seed(123)                                     # same seed -> torch draws the same mask again
    t = torch.from_numpy(x).requires_grad_(True)
    ty = torch.nn.functional.dropout(t, p, training=True)
    ty.backward(torch.from_numpy(dy))
    m = Dropout(p)                                             # no rng needed: the mask is given
    y = m(x, mask=mask)
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(m.backward(dy), t.grad.numpy())
    np.testing.assert_array_equal(m.last_mask, mask)
    # torch.nn.Dropout module, same seed: same result
    torch.manual_seed(123)
    np.testing.assert_array_equal(torch.nn.Dropout(p)(torch.from_numpy(x)).numpy(), y)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.25, 0.5])
def test_drop_path_replays_transformers_mask(p, dtype):
    """Per-sample semantics of transformers' DropPath (ConvNext/Swin/SegFormer): replay its draw, match y and dx."""
    hf = _hf_drop_path_module(p)
    x, dy = _x((8, 3, 2, 2), dtype=dtype), _x((8, 3, 2, 2), dtype=dtype, seed=9)
    t_dtype = torch.float64 if dtype == np.float64 else torch.float32
    torch.manual_seed(5)
    ones_out = hf(torch.ones(x.shape, dtype=t_dtype)).numpy()
    mask = ones_out[:, :1, :1, :1].copy()                      # (B, 1, 1, 1)
    np.testing.assert_array_equal(ones_out, np.broadcast_to(mask, x.shape))   # whole samples kept or dropped
    assert set(np.unique(mask)) <= {0.0, np.asarray(1.0, dtype) / dtype(1 - p)}
    torch.manual_seed(5)
    t = torch.from_numpy(x).requires_grad_(True)
    ty = hf(t)
    ty.backward(torch.from_numpy(dy))
    m = DropPath(p)
    y = m(x, mask=mask)
    assert y.dtype == dtype
    assert_close(y, ty.detach().numpy(), dtype=dtype)          # x / keep * r vs x * (r / keep): 1 ulp at most
    assert_close(m.backward(dy), t.grad.numpy(), dtype=dtype)


def test_drop_path_is_per_sample_and_preserves_the_mean():
    p, B = 0.3, 20000
    m = drop_path_mask(np.random.default_rng(2), p, (B, 3, 2), np.float64)
    assert m.shape == (B, 1, 1)
    kept = np.count_nonzero(m) / B
    assert abs(kept - (1 - p)) < 5 * np.sqrt(p * (1 - p) / B)
    y = drop_path(np.ones((B, 3, 2)), p, mask=m)
    assert abs(y.mean() - 1.0) < 5 * np.sqrt(p / (1 - p) / B)
    assert np.all((y == 0).all(axis=(1, 2)) | (y != 0).all(axis=(1, 2)))


# ------------------------------------------------------------------------------------------ eval / identity
@pytest.mark.parametrize("cls", [Dropout, DropPath])
def test_eval_is_identity(cls):
    m = cls(0.5).eval()                                        # no rng needed in eval
    x, dy = _x(), _x(seed=1)
    np.testing.assert_array_equal(m(x), x)
    assert m.last_mask is None
    np.testing.assert_array_equal(m.backward(dy), dy)
    np.testing.assert_array_equal(m(x, mask=np.zeros_like(x)), x)   # a mask is ignored in eval


@pytest.mark.parametrize("cls", [Dropout, DropPath])
def test_zero_probability_is_identity_in_train_mode(cls):
    m = cls(0.0)
    x = _x()
    np.testing.assert_array_equal(m(x), x)
    np.testing.assert_array_equal(m.backward(x), x)


@pytest.mark.parametrize("cls", [Dropout, DropPath])
def test_matches_torch_eval_identity(cls):
    x = _x()
    torch_mod = torch.nn.Dropout(0.5).eval()
    np.testing.assert_array_equal(cls(0.5).eval()(x), torch_mod(torch.from_numpy(x)).numpy())


def test_no_grad_saves_nothing():
    m = Dropout(0.5, rng=np.random.default_rng(0))
    with no_grad():
        m(_x())
    assert m.last_mask is not None
    with pytest.raises(Exception, match="no saved forward"):
        m.backward(_x())


# ------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("cls", [Dropout, DropPath])
def test_train_mode_without_rng_is_a_clear_error(cls):
    with pytest.raises(ConfigError, match="rng"):
        cls(0.1)(_x())


def test_functional_without_rng_or_mask():
    with pytest.raises(ConfigError, match="rng"):
        dropout(_x(), 0.1)
    with pytest.raises(ConfigError, match="rng"):
        drop_path(_x(), 0.1)
    with pytest.raises(ConfigError, match="mask"):
        dropout_backward(_x(), _x(), 0.1)
    with pytest.raises(ConfigError, match="mask"):
        drop_path_backward(_x(), _x(), 0.1)


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan"), "0.1", None, True])
def test_bad_p(p):
    with pytest.raises(ConfigError, match="p"):
        Dropout(p)
    with pytest.raises(ConfigError, match="p"):
        dropout(_x(), p, rng=np.random.default_rng(0))


@pytest.mark.parametrize("p", [-0.1, 1.0, 2.0])
def test_bad_drop_prob(p):
    with pytest.raises(ConfigError, match="drop_prob"):
        DropPath(p)
    with pytest.raises(ConfigError, match="drop_prob"):
        drop_path_mask(np.random.default_rng(0), p, (2, 3), np.float64)


def test_bad_rng():
    with pytest.raises(ConfigError, match="rng"):
        Dropout(0.1, rng=0)
    with pytest.raises(ConfigError, match="rng"):
        dropout_mask(np.random.RandomState(0), 0.1, (2,), np.float64)


def test_bad_mask():
    x = _x()
    with pytest.raises(DTypeError, match="mask"):
        Dropout(0.5)(x, mask=np.ones(x.shape, np.float32))
    with pytest.raises(ShapeError, match="mask"):
        Dropout(0.5)(x, mask=np.ones((4, 4)))
    with pytest.raises(ShapeError, match="mask"):
        DropPath(0.5)(x, mask=np.ones((3, 4, 1)))              # drop-path masks are per sample
    with pytest.raises(DTypeError, match="mask"):
        Dropout(0.5)(x, mask=np.ones(x.shape, int))


@pytest.mark.parametrize("cls", [Dropout, DropPath])
def test_bad_input_and_dy(cls):
    m = cls(0.5, rng=np.random.default_rng(0))
    with pytest.raises(DTypeError, match="x"):
        m(np.ones((2, 3), int))
    m(_x())
    with pytest.raises(ShapeError, match="dy"):
        m.backward(np.ones((3, 4)))
    m(_x())
    with pytest.raises(DTypeError, match="dy"):
        m.backward(_x(dtype=np.float32))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cls", [Dropout, DropPath])
def test_keeps_dtype(cls, dtype):
    m = cls(0.5, rng=np.random.default_rng(0))
    y = m(_x(dtype=dtype))
    assert y.dtype == dtype and m.last_mask.dtype == dtype
    assert m.backward(_x(dtype=dtype)).dtype == dtype
