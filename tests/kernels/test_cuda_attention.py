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
from refimpl.testing import assert_kernel_within_rule  # noqa: E402
from kernels.cuda import attention as kernel  # noqa: E402

LENGTHS = st.sampled_from([1, 2, 5, 15, 16, 17, 31, 33, 63, 64, 65, 129, 200])
# a few head sizes only: each (dtype, D, Dv, tile) is one NVRTC compilation
HEADS = st.sampled_from([(1, 1), (3, 5), (8, 8), (16, 9), (64, 64)])


@st.composite
def attention_problems(draw):
    lead = draw(st.sampled_from([(), (2,), (2, 3), (1, 2, 2)]))
    lq, lk = draw(LENGTHS), draw(LENGTHS)
    d, dv = draw(HEADS)
    scores = lead + (lq, lk)
    mask_kind = draw(st.sampled_from(["none", "bool", "bool_dead_rows", "additive", "additive_-inf",
                                      "additive_finfo_min"]))
    mask_shape = draw(st.sampled_from(["full", "keys_only", "per_batch_keys"]))
    causal = draw(st.sampled_from([False, True, "top_left", "bottom_right"]))
    bias_kind = draw(st.sampled_from(["none", "full", "per_head", "-inf_rows"]))
    dropout = draw(st.sampled_from([0.0, 0.0, 0.3]))
    fully = draw(st.sampled_from(["zeros", "uniform", "unmasked"]))
    scale = draw(st.sampled_from([None, 1.0, 0.37]))
    seed = draw(st.integers(0, 2**32 - 1))
    return dict(lead=lead, lq=lq, lk=lk, d=d, dv=dv, scores=scores, mask_kind=mask_kind, mask_shape=mask_shape,
                causal=causal, bias_kind=bias_kind, dropout=dropout, fully=fully, scale=scale, seed=seed)


def _inputs(pb, dtype):
    r = np.random.default_rng(pb["seed"])
    lead, lq, lk = pb["lead"], pb["lq"], pb["lk"]
    q = r.standard_normal(lead + (lq, pb["d"]))
    k = r.standard_normal(lead + (lk, pb["d"]))
    v = r.standard_normal(lead + (lk, pb["dv"]))
    kw = dict(causal=pb["causal"], scale=pb["scale"], fully_masked_rows=pb["fully"])
    if pb["mask_shape"] == "full":
        mshape = pb["scores"]
    elif pb["mask_shape"] == "keys_only":
        mshape = (lk,)
    else:
        mshape = lead[:1] + (1,) * max(0, len(lead) - 1) + (1, lk)
    fmin = np.finfo(dtype).min
    if pb["mask_kind"] != "none":
        keep = r.random(mshape) > 0.3
        if pb["mask_kind"] == "bool_dead_rows" and keep.ndim >= 2:
            keep[..., 0, :] = False
        elif pb["mask_kind"] == "bool_dead_rows":
            keep[:] = False
        if pb["mask_kind"].startswith("bool"):
            kw["attn_mask"] = keep
        elif pb["mask_kind"] == "additive":
            kw["attn_mask"] = r.standard_normal(mshape)
        elif pb["mask_kind"] == "additive_finfo_min":            # HF style: finfo.min (exact in both precisions)
            kw["attn_mask"] = np.where(keep, 0.0, float(fmin))
        else:
            kw["attn_mask"] = np.where(keep, r.standard_normal(mshape), -np.inf)
    if pb["bias_kind"] == "full":
        kw["bias"] = r.standard_normal(pb["scores"])
    elif pb["bias_kind"] == "per_head" and lead:
        kw["bias"] = r.standard_normal((1,) * (len(lead) - 1) + lead[-1:] + (lq, lk))
    elif pb["bias_kind"] == "-inf_rows":                         # rows dead even for "unmasked"
        b = r.standard_normal(pb["scores"])
        b[..., lq // 2, :] = -np.inf
        kw["bias"] = b
    if pb["dropout"]:
        kw["dropout_p"] = pb["dropout"]
        kw["dropout_mask"] = reference.attention_dropout_mask(r, pb["dropout"], pb["scores"], np.float64)
    dout = r.standard_normal(lead + (lq, pb["dv"]))
    cast = {n: (a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a) for n, a in kw.items()}
    return [a.astype(dtype) for a in (q, k, v, dout)], cast, (q, k, v, dout), kw


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(pb=attention_problems())
def test_forward_and_backward_within_rule(pb, dtype):
    (q, k, v, dout), kw, (q64, k64, v64, dout64), kw64 = _inputs(pb, dtype)
    exact = reference.scaled_dot_product_attention(q64, k64, v64, **kw64)
    same = reference.scaled_dot_product_attention(q, k, v, **kw)
    got = kernel.scaled_dot_product_attention(q, k, v, **kw)
    assert isinstance(got, np.ndarray)
    assert_kernel_within_rule(got, same, exact, scale=4.0, name="out")
    exact_g = reference.scaled_dot_product_attention_backward(dout64, q64, k64, v64, **kw64)
    same_g = reference.scaled_dot_product_attention_backward(dout, q, k, v, **kw)
    got_g = kernel.scaled_dot_product_attention_backward(dout, q, k, v, **kw)
    for name, g, s, e in zip(("dq", "dk", "dv", "dbias"), got_g, same_g, exact_g):
        if e is None:
            assert g is None
            continue
        assert_kernel_within_rule(g, s, e, scale=4.0 * max(1.0, np.sqrt(max(pb["lq"], pb["lk"]))), name=name)


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
