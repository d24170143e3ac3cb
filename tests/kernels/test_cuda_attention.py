"""CUDA (CuPy) tiled attention, forward and backward, vs the NumPy reference, by property tests.

Rule: err(kernel vs float64 reference) <= 2 x err(reference in the same precision vs float64) + floor.
Tiles are 16, 32 or 64 rows (chosen by head size and dtype), so lengths straddling those bounds are
drawn on purpose. Runs only where CuPy sees a GPU; skips cleanly elsewhere.
"""
import numpy as np
import pytest

pytestmark = pytest.mark.gpu
cupy = pytest.importorskip("cupy")
from kernels.cuda._runtime import cuda_available  # noqa: E402

if not cuda_available():
    pytest.skip("CuPy is installed but sees no GPU", allow_module_level=True)

from hypothesis import given, strategies as st  # noqa: E402

from refimpl.core.errors import ConfigError  # noqa: E402
from refimpl.core.kernel_dispatch import dispatch, use_kernels  # noqa: E402
from refimpl.functional import attention as reference  # noqa: E402
from tests.kernels.attention_problems import attention_problems, check_attention_kernel  # noqa: E402
from kernels.cuda import attention as kernel  # noqa: E402

LENGTHS = st.sampled_from([1, 2, 5, 15, 16, 17, 31, 33, 63, 64, 65, 129, 200])
# a few head sizes only: each (dtype, D, Dv, tile) is one NVRTC compilation
HEADS = st.sampled_from([(1, 1), (3, 5), (8, 8), (16, 9), (64, 64)])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(pb=attention_problems(LENGTHS, HEADS))
def test_forward_and_backward_within_rule(pb, dtype):
    check_attention_kernel(kernel, pb, dtype, grad_scale=max(1.0, np.sqrt(max(pb["lq"], pb["lk"]))))


def test_bert_sized_problem_matches_tightly(rng):
    q, k, v = (rng.standard_normal((2, 4, 150, 64)) for _ in range(3))
    keep = rng.random((2, 1, 1, 150)) > 0.2
    out = kernel.scaled_dot_product_attention(q, k, v, attn_mask=keep)
    np.testing.assert_allclose(out, reference.scaled_dot_product_attention(q, k, v, attn_mask=keep),
                               rtol=1e-12, atol=1e-13)
    dout = rng.standard_normal(out.shape)
    for g, e in zip(kernel.scaled_dot_product_attention_backward(dout, q, k, v, attn_mask=keep),
                    reference.scaled_dot_product_attention_backward(dout, q, k, v, attn_mask=keep)):
        if e is not None:
            np.testing.assert_allclose(g, e, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("causal", [False, True])
def test_hf_finfo_min_masks_keep_uniform_rows_and_gradients(rng, dtype, causal):
    # rows whose visible keys all carry finfo.min are uniform by rounding; their max m is about finfo.min,
    # so a backward that recomputed P from lse = m + log l would lose log l and get P = 1 instead of 1/n
    q, k, v, dout = (rng.standard_normal((2, 70, 3)).astype(dtype) for _ in range(4))
    fmin = np.finfo(dtype).min
    mask = np.where(rng.random((2, 70, 70)) > 0.5, 0.0, fmin).astype(dtype)
    mask[:, 1::3, :] = fmin
    kw = dict(attn_mask=mask, causal=causal)
    tol = dict(rtol=1e-11, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(kernel.scaled_dot_product_attention(q, k, v, **kw),
                               reference.scaled_dot_product_attention(q, k, v, **kw), **tol)
    for g, e in zip(kernel.scaled_dot_product_attention_backward(dout, q, k, v, **kw),
                    reference.scaled_dot_product_attention_backward(dout, q, k, v, **kw)):
        if e is not None:
            np.testing.assert_allclose(g, e, **tol)


def test_cupy_in_cupy_out_equals_numpy_path(rng):
    q, k, v = (rng.standard_normal((2, 3, 40, 8)).astype(np.float32) for _ in range(3))
    bias = rng.standard_normal((3, 40, 40)).astype(np.float32)
    keep = rng.random((40,)) > 0.3
    kw = dict(attn_mask=keep, bias=bias, causal="top_left", fully_masked_rows="unmasked")
    host = kernel.scaled_dot_product_attention(q, k, v, **kw)
    dev = kernel.scaled_dot_product_attention(cupy.asarray(q), cupy.asarray(k), cupy.asarray(v),
                                              attn_mask=cupy.asarray(keep), bias=cupy.asarray(bias),
                                              causal="top_left", fully_masked_rows="unmasked")
    assert isinstance(dev, cupy.ndarray)
    np.testing.assert_array_equal(dev.get(), host)
    dout = rng.standard_normal(host.shape).astype(np.float32)
    g_host = kernel.scaled_dot_product_attention_backward(dout, q, k, v, **kw)
    g_dev = kernel.scaled_dot_product_attention_backward(cupy.asarray(dout), cupy.asarray(q), cupy.asarray(k),
                                                         cupy.asarray(v), **kw)
    for a, b in zip(g_dev, g_host):
        assert isinstance(a, cupy.ndarray)
        np.testing.assert_array_equal(a.get(), b)


def test_cupy_mask_values_are_checked_on_the_device(rng):
    q = cupy.asarray(rng.standard_normal((1, 4, 8)))
    bad = cupy.zeros((4, 4))
    bad[1, 2] = cupy.nan
    with pytest.raises(ConfigError, match="attn_mask"):
        kernel.scaled_dot_product_attention(q, q, q, attn_mask=bad)
    with pytest.raises(ConfigError, match="bias"):
        kernel.scaled_dot_product_attention(q, q, q, bias=cupy.full((4, 4), cupy.inf))


def test_rng_dropout_draws_the_reference_mask(rng):
    q, k, v = (rng.standard_normal((2, 33, 8)) for _ in range(3))
    got = kernel.scaled_dot_product_attention(q, k, v, dropout_p=0.25, rng=np.random.default_rng(7))
    want = reference.scaled_dot_product_attention(q, k, v, dropout_p=0.25, rng=np.random.default_rng(7))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


def test_use_kernels_routes_attention_to_cuda():
    with use_kernels("cuda"):
        assert dispatch("attention", "scaled_dot_product_attention") is kernel.scaled_dot_product_attention
        assert dispatch("attention", "scaled_dot_product_attention_backward") is \
            kernel.scaled_dot_product_attention_backward
