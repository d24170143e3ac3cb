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
from kernels.numba_cpu import attention as kernel  # noqa: E402

LENGTHS = st.sampled_from([1, 2, 5, 63, 64, 65, 127, 128, 129, 200])


@st.composite
def attention_problems(draw):
    lead = draw(st.sampled_from([(), (2,), (2, 3), (1, 2, 2)]))
    lq, lk = draw(LENGTHS), draw(LENGTHS)
    d, dv = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    scores = lead + (lq, lk)
    mask_kind = draw(st.sampled_from(["none", "bool", "bool_dead_rows", "additive", "additive_-inf"]))
    mask_shape = draw(st.sampled_from(["full", "keys_only", "per_batch_keys"]))
    causal = draw(st.sampled_from([False, True, "top_left", "bottom_right"]))
    bias_kind = draw(st.sampled_from(["none", "full", "per_head"]))
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
        else:
            kw["attn_mask"] = np.where(keep, r.standard_normal(mshape), -np.inf)
    if pb["bias_kind"] == "full":
        kw["bias"] = r.standard_normal(pb["scores"])
    elif pb["bias_kind"] == "per_head" and lead:
        kw["bias"] = r.standard_normal((1,) * (len(lead) - 1) + lead[-1:] + (lq, lk))
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
    assert_kernel_within_rule(got, same, exact, scale=4.0, name="out")
    exact_g = reference.scaled_dot_product_attention_backward(dout64, q64, k64, v64, **kw64)
    same_g = reference.scaled_dot_product_attention_backward(dout, q, k, v, **kw)
    got_g = kernel.scaled_dot_product_attention_backward(dout, q, k, v, **kw)
    for name, g, s, e in zip(("dq", "dk", "dv", "dbias"), got_g, same_g, exact_g):
        if e is None:
            assert g is None
            continue
        assert_kernel_within_rule(g, s, e, scale=4.0 * max(1.0, np.sqrt(pb["lq"])), name=name)


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
