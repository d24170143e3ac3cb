"""Numba tiled attention (forward and backward) vs the NumPy reference, by property tests.

Rule: err(kernel vs float64 reference) <= 2 x err(reference in the same precision vs float64) + floor.
The blocks are 64 queries x 128 keys, so sizes straddling those bounds are drawn on purpose.
"""
import numpy as np
import pytest

numba = pytest.importorskip("numba")
from hypothesis import given, strategies as st  # noqa: E402

from refimpl.core.errors import ConfigError, DTypeError, ShapeError  # noqa: E402
from refimpl.core.kernel_dispatch import dispatch, use_kernels  # noqa: E402
from refimpl.functional import attention as reference  # noqa: E402
from refimpl.testing import assert_kernel_within_rule  # noqa: E402
from tests.kernels.attention_problems import attention_problems, check_attention_kernel  # noqa: E402
from kernels.numba_cpu import attention as kernel  # noqa: E402

LENGTHS = st.sampled_from([1, 2, 5, 63, 64, 65, 127, 128, 129, 200])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(pb=attention_problems(LENGTHS, st.tuples(st.integers(1, 9), st.integers(1, 9))))
def test_forward_and_backward_within_rule(pb, dtype):
    check_attention_kernel(kernel, pb, dtype, grad_scale=max(1.0, np.sqrt(pb["lq"])))


def test_bert_sized_problem_matches_tightly(rng):
    q, k, v = (rng.standard_normal((2, 4, 150, 16)) for _ in range(3))
    keep = rng.random((2, 1, 1, 150)) > 0.2
    out = kernel.scaled_dot_product_attention(q, k, v, attn_mask=keep)
    np.testing.assert_allclose(out, reference.scaled_dot_product_attention(q, k, v, attn_mask=keep),
                               rtol=1e-12, atol=1e-13)
    dout = rng.standard_normal(out.shape)
    for g, e in zip(kernel.scaled_dot_product_attention_backward(dout, q, k, v, attn_mask=keep),
                    reference.scaled_dot_product_attention_backward(dout, q, k, v, attn_mask=keep)):
        if e is not None:
            np.testing.assert_allclose(g, e, rtol=1e-11, atol=1e-12)


def test_use_kernels_routes_attention():
    with use_kernels("numba"):
        assert dispatch("attention", "scaled_dot_product_attention") is kernel.scaled_dot_product_attention
        assert dispatch("attention", "scaled_dot_product_attention_backward") is \
            kernel.scaled_dot_product_attention_backward


def test_bad_input_is_caught_before_compiled_code(rng):
    q, k, v = (rng.standard_normal((2, 3, 4)) for _ in range(3))
    with pytest.raises(ShapeError, match="k"):
        kernel.scaled_dot_product_attention(q, k[..., :2], v)
    with pytest.raises(DTypeError):
        kernel.scaled_dot_product_attention(q.astype(np.float32), k, v)
    with pytest.raises(ShapeError, match="attn_mask"):
        kernel.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((5,), bool))
    with pytest.raises(ConfigError, match="dropout"):
        kernel.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    with pytest.raises(ConfigError, match="fully_masked_rows"):
        kernel.scaled_dot_product_attention(q, k, v, fully_masked_rows="nan")
    with pytest.raises(ShapeError, match="dout"):
        kernel.scaled_dot_product_attention_backward(np.zeros((2, 3, 5)), q, k, v)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_hf_finfo_min_mask_rows_stay_uniform_in_the_backward(rng, dtype):
    # HF eager masks with finfo.min: a fully padded row has every score near -1.8e308 (float64), where
    # m + log(l) rounds back to m; the backward must still rebuild P = 1/n there, not 1
    q, k, v = (rng.standard_normal((2, 70, 3)).astype(dtype) for _ in range(3))
    fill = np.finfo(dtype).min
    allowed = np.tril(np.ones((70, 70), bool)) & (rng.random((2, 1, 70)) > 0.2)
    allowed[1, :, :] = False                                      # sequence 1 is all padding
    mask = np.where(allowed, dtype(0), fill).astype(dtype)
    dout = rng.standard_normal((2, 70, 3)).astype(dtype)
    q64, k64, v64, m64, d64 = (a.astype(np.float64) for a in (q, k, v, mask, dout))
    exact = reference.scaled_dot_product_attention_backward(d64, q64, k64, v64, attn_mask=np.where(
        allowed, 0.0, np.finfo(np.float64).min))
    same = reference.scaled_dot_product_attention_backward(dout, q, k, v, attn_mask=mask)
    got = kernel.scaled_dot_product_attention_backward(dout, q, k, v, attn_mask=mask)
    for name, g, s, e in zip(("dq", "dk", "dv"), got[:3], same[:3], exact[:3]):
        assert_kernel_within_rule(g, s, e, scale=4.0, name=name)
