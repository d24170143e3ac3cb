"""Attention problems for the kernel property tests (Numba and CUDA), and the one comparison both run.

A problem draws leading dims, Lq / Lk (from the caller's lengths, chosen around each backend's tile
bounds), head sizes, a mask (bool, bool with dead rows, additive, additive -inf, HF-style finfo.min) of
full / keys-only / per-batch shape, causal alignment, a bias (full, per head, rows of -inf), dropout,
the fully-masked-row convention and the scale.
"""
import numpy as np
from hypothesis import strategies as st

from refimpl.functional import attention as reference
from refimpl.testing import assert_kernel_within_rule


@st.composite
def attention_problems(draw, lengths, heads):
    """lengths: strategy of L; heads: strategy of (D, Dv)."""
    lead = draw(st.sampled_from([(), (2,), (2, 3), (1, 2, 2)]))
    lq, lk = draw(lengths), draw(lengths)
    d, dv = draw(heads)
    return dict(lead=lead, lq=lq, lk=lk, d=d, dv=dv, scores=lead + (lq, lk),
                mask_kind=draw(st.sampled_from(["none", "bool", "bool_dead_rows", "additive", "additive_-inf",
                                                "additive_finfo_min"])),
                mask_shape=draw(st.sampled_from(["full", "keys_only", "per_batch_keys"])),
                causal=draw(st.sampled_from([False, True, "top_left", "bottom_right"])),
                bias_kind=draw(st.sampled_from(["none", "full", "per_head", "-inf_rows"])),
                dropout=draw(st.sampled_from([0.0, 0.0, 0.3])),
                fully=draw(st.sampled_from(["zeros", "uniform", "unmasked"])),
                scale=draw(st.sampled_from([None, 1.0, 0.37])),
                seed=draw(st.integers(0, 2**32 - 1)))


def attention_inputs(pb, dtype):
    """((q, k, v, dout) in dtype, keywords in dtype, the same four in float64, keywords in float64)."""
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
        elif pb["mask_kind"] == "additive_finfo_min":            # HF style: finfo.min (exact in both precisions)
            kw["attn_mask"] = np.where(keep, 0.0, float(np.finfo(dtype).min))
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


def check_attention_kernel(kernel, pb, dtype, grad_scale: float):
    """Forward and every gradient of `kernel` (a module with the reference's two functions) within the rule;
    grad_scale multiplies the gradients' floor (sums over up to L terms)."""
    (q, k, v, dout), kw, (q64, k64, v64, dout64), kw64 = attention_inputs(pb, dtype)
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
        assert_kernel_within_rule(g, s, e, scale=4.0 * grad_scale, name=name)
