"""cosine_similarity (torch.nn.functional.cosine_similarity): broadcasting, axis, zero / tiny vectors, gradients."""
import numpy as np
import pytest

from refimpl.core.errors import ConfigError, DTypeError, ShapeError
from refimpl.functional.cosine_similarity import cosine_similarity, cosine_similarity_backward
from refimpl.testing import compare_function_with_torch, gradcheck

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch
DTYPES = [np.float64, np.float32]
# (x1 shape, x2 shape, axis): Wav2Vec2's (B, T, P) against (K+1, B, T, P), size-1 broadcasting, other axes
CASES = [((3, 4, 5), (2, 3, 4, 5), -1), ((4, 5), (4, 1), -1), ((3, 5), (3, 5), 0), ((2, 1, 6), (2, 3, 6), 2),
         ((5,), (5,), 0), ((2, 6, 3), (1, 6, 3), 1)]


def _inputs(s1, s2, dtype, seed=4):
    r = np.random.default_rng(seed)
    return r.standard_normal(s1).astype(dtype), r.standard_normal(s2).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("s1, s2, axis", CASES)
def test_parity_with_torch(s1, s2, axis, dtype):
    a, b = _inputs(s1, s2, dtype)
    compare_function_with_torch(lambda x, y: cosine_similarity(x, y, axis),
                                lambda dc: cosine_similarity_backward(dc, a, b, axis),
                                lambda x, y: torch.nn.functional.cosine_similarity(x, y, dim=axis), [a, b],
                                dtype=dtype).assert_ok()


@pytest.mark.parametrize("s1, s2, axis", CASES)
def test_gradcheck(s1, s2, axis):
    a, b = _inputs(s1, s2, np.float64)
    gradcheck(lambda x, y: cosine_similarity(x, y, axis), [a, b],
              backward=lambda dc, x, y: cosine_similarity_backward(dc, x, y, axis))


def test_zero_vector_matches_torch_and_tiny_vector_is_the_exact_derivative():
    a, b = _inputs((3, 2), (3, 2), np.float64)
    a[:, 0] = 0.0                                       # a zero vector: both give c = 0, dc/dx1 = x2^ / eps
    compare_function_with_torch(lambda x, y: cosine_similarity(x, y, 0),
                                lambda dc: cosine_similarity_backward(dc, a, b, 0),
                                lambda x, y: torch.nn.functional.cosine_similarity(x, y, dim=0), [a, b]).assert_ok()
    a[:, 1] = 1e-10                                     # ||x1|| < eps: the clamped function's exact derivative
    gradcheck(lambda x, y: cosine_similarity(x, y, 0), [a, b], eps=1e-13, rtol=1e-5,
              backward=lambda dc, x, y: cosine_similarity_backward(dc, x, y, 0))


def test_bad_input():
    a, b = _inputs((3, 4), (3, 4), np.float64)
    with pytest.raises(ShapeError, match="x1, x2"):
        cosine_similarity(a, b[:, :3])
    with pytest.raises(DTypeError, match="x2"):
        cosine_similarity(a, b.astype(np.float32))
    with pytest.raises(ConfigError, match="axis"):
        cosine_similarity(a, b, 2)
    with pytest.raises(ShapeError, match="dc"):
        cosine_similarity_backward(np.ones(5), a, b, 1)
