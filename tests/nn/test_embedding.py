"""Embedding: gradcheck, torch parity (padding_idx, repeated ids), pad-row gradient exactly zero, errors."""
import numpy as np
import pytest

from refimpl.core.errors import ConfigError, DTypeError, IndexRangeError, ShapeError
from refimpl.core.module import Module
from refimpl.functional.embedding import embedding, embedding_backward, normalize_padding_idx
from refimpl.nn.embedding import Embedding
from refimpl.testing import compare_module_with_torch, gradcheck

torch = pytest.importorskip("torch")

DTYPES = [np.float64, np.float32]
V, D = 11, 6


def _ids(shape=(3, 7), seed=0, high=V):
    return np.random.default_rng(seed).integers(0, high, size=shape)


class _IdsOnly(Module):
    """gradcheck counts one gradient per *float* input, while Embedding.backward returns None for its
    integer ids (the protocol); this wrapper returns an empty tuple so the parameter check can run."""

    def __init__(self, emb):
        super().__init__()
        self.emb = emb

    def forward(self, ids):
        return self.emb(ids)

    def backward(self, dy):
        assert self.emb.backward(dy) is None
        return ()


# ------------------------------------------------------------------------------------------ gradcheck
def test_module_gradcheck_with_repeated_ids():
    ids = np.array([[1, 4, 4, 2], [4, 1, 9, 9]])                # repeats must accumulate
    gradcheck(_IdsOnly(Embedding(V, D)), [ids])


def test_module_gradcheck_with_padding_idx_declared():
    # the pad row's "gradient" is a convention (zero), not the derivative, so gradcheck uses ids without it
    ids = np.array([[1, 4, 4, 2], [3, 1, 9, 9]])
    gradcheck(_IdsOnly(Embedding(V, D, padding_idx=0)), [ids])


def test_functional_gradcheck():
    w = np.random.default_rng(0).standard_normal((V, D))
    gradcheck(embedding, [_ids((2, 5)), w], backward=embedding_backward)


# ------------------------------------------------------------------------------------------ torch parity
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding_idx", [None, 0, 3, -1, -V])
@pytest.mark.parametrize("shape", [(7,), (3, 7), (2, 3, 4)])
def test_parity_with_torch_embedding(shape, padding_idx, dtype):
    ids = _ids(shape)
    if padding_idx is not None:                                # pad tokens present, several times
        flat = ids.reshape(-1)
        flat[::3] = padding_idx % V
    torch.manual_seed(0)
    tm = torch.nn.Embedding(V, D, padding_idx=padding_idx)
    with torch.no_grad():                                      # a non-zero pad row, e.g. from a checkpoint
        tm.weight.normal_()
    ref = Embedding(V, D, padding_idx=padding_idx, dtype=dtype)
    compare_module_with_torch(ref, tm, [ids], dtype=dtype).assert_ok()
    if padding_idx is not None:
        pad = padding_idx % V
        assert ref.weight.grad[pad].tolist() == [0.0] * D       # exactly zero, not just small
        assert tm.weight.grad[pad].abs().max().item() == 0.0


def test_parity_with_int32_ids():
    ids = _ids((2, 5)).astype(np.int32)
    torch.manual_seed(0)
    tm = torch.nn.Embedding(V, D, padding_idx=2)
    compare_module_with_torch(Embedding(V, D, padding_idx=2), tm, [ids]).assert_ok()


def test_repeated_ids_accumulate_and_pad_row_stays_zero(rng):
    emb = Embedding(V, D, padding_idx=0)
    ids = np.array([[5, 0, 5, 5], [0, 7, 5, 0]])
    dy = rng.standard_normal(ids.shape + (D,))
    emb(ids)
    assert emb.backward(dy) is None
    np.testing.assert_allclose(emb.weight.grad[5], dy[0, 0] + dy[0, 2] + dy[0, 3] + dy[1, 2], rtol=1e-15)
    np.testing.assert_array_equal(emb.weight.grad[7], dy[1, 1])
    np.testing.assert_array_equal(emb.weight.grad[0], np.zeros(D))
    untouched = [v for v in range(V) if v not in (0, 5, 7)]
    np.testing.assert_array_equal(emb.weight.grad[untouched], 0.0)


def test_tied_use_accumulates_over_two_calls(rng):
    """A table used twice (tied input/output embeddings) gets both contributions, popped in reverse order."""
    emb = Embedding(V, D)
    a, b = np.array([1, 2]), np.array([2, 3])
    emb(a)
    emb(b)
    dya, dyb = rng.standard_normal((2, D)), rng.standard_normal((2, D))
    emb.backward(dyb)
    emb.backward(dya)
    np.testing.assert_allclose(emb.weight.grad[2], dya[1] + dyb[0], rtol=1e-15)
    np.testing.assert_array_equal(emb.weight.grad[1], dya[0])
    np.testing.assert_array_equal(emb.weight.grad[3], dyb[1])


def test_frozen_weight_gets_no_grad():
    emb = Embedding(V, D)
    emb.weight.requires_grad = False
    emb(_ids())
    emb.backward(np.ones((3, 7, D)))
    assert emb.weight.grad is None


# ------------------------------------------------------------------------------------------ init, dtype, state dict
def test_init_like_torch():
    emb = Embedding(200, 100, padding_idx=7, rng=np.random.default_rng(3))
    w = emb.weight.data
    assert w.shape == (200, 100) and w.dtype == np.float64
    assert np.all(w[7] == 0.0)
    others = np.delete(w, 7, axis=0)
    assert abs(others.mean()) < 0.02 and abs(others.std() - 1.0) < 0.02    # N(0, 1), 19900 samples
    np.testing.assert_array_equal(Embedding(200, 100, padding_idx=7, rng=np.random.default_rng(3)).weight.data, w)


def test_float32_module_and_state_dict():
    emb = Embedding(V, D, padding_idx=-2, dtype=np.float32)
    assert emb.padding_idx == V - 2                            # normalised as torch does
    assert torch.nn.Embedding(V, D, padding_idx=-2).padding_idx == V - 2
    assert list(emb.state_dict()) == ["weight"] and emb.weight.dtype == np.float32
    y = emb(_ids())
    assert y.dtype == np.float32 and y.shape == (3, 7, D)
    with pytest.raises(DTypeError, match="dy"):
        emb.backward(np.ones((3, 7, D)))                       # float64 dy into a float32 table


def test_any_id_shape_including_scalar_and_empty():
    emb = Embedding(V, D)
    np.testing.assert_array_equal(emb(np.array(4)), emb.weight.data[4])
    emb.backward(np.ones(D))
    assert emb(np.zeros((0, 3), int)).shape == (0, 3, D)
    emb.backward(np.zeros((0, 3, D)))


# ------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("bad", [V, V + 5, -1])
def test_out_of_range_ids(bad):
    ids = _ids()
    ids[1, 2] = bad
    with pytest.raises(IndexRangeError, match="input_ids"):
        Embedding(V, D)(ids)


@pytest.mark.parametrize("bad", [np.ones((2, 3)), np.ones((2, 3), bool), [[1, 2]]])
def test_non_integer_ids(bad):
    with pytest.raises(DTypeError, match="input_ids"):
        Embedding(V, D)(bad)


@pytest.mark.parametrize("pad", [V, -V - 1, 1.0, "0"])
def test_bad_padding_idx(pad):
    with pytest.raises(ConfigError, match="padding_idx"):
        Embedding(V, D, padding_idx=pad)


@pytest.mark.parametrize("kw", [dict(num_embeddings=0, embedding_dim=D), dict(num_embeddings=V, embedding_dim=-1)])
def test_bad_sizes(kw):
    with pytest.raises(ConfigError, match=next(k for k, v in kw.items() if v < 1)):
        Embedding(**kw)


def test_bad_dy_shape():
    emb = Embedding(V, D)
    emb(_ids())
    with pytest.raises(ShapeError, match="dy"):
        emb.backward(np.ones((3, 7, D + 1)))


def test_functional_padding_idx_normalisation():
    assert normalize_padding_idx(None, V) is None
    assert normalize_padding_idx(-1, V) == V - 1
    w = np.random.default_rng(0).standard_normal((V, D))
    ids = np.array([V - 1, 2])
    _, dw = embedding_backward(np.ones((2, D)), ids, w, padding_idx=-1)
    assert np.all(dw[V - 1] == 0) and np.all(dw[2] == 1)
