"""Property tests of scaled_dot_product_attention against a direct dense formula (a loop per query row).

Random shapes (length 1 included), mask kinds and broadcast shapes, forced fully masked rows, causal
alignments and fully-masked-row conventions; outputs must be finite and equal the formula, and the
backward must pass gradcheck.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refimpl.functional.attention import scaled_dot_product_attention, scaled_dot_product_attention_backward
from refimpl.testing import assert_close, gradcheck

SETTINGS = settings(max_examples=30, deadline=None)


@st.composite
def cases(draw, allow_finfo_min=True):
    b, h = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    lq, lk = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    d, dv = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**31 - 1))
    r = np.random.default_rng(seed)
    q, k, v = r.standard_normal((b, h, lq, d)), r.standard_normal((b, h, lk, d)), r.standard_normal((b, h, lk, dv))
    kind = draw(st.sampled_from(["none", "bool", "additive"]))
    mask_shape = draw(st.sampled_from([(lq, lk), (b, 1, 1, lk), (b, h, lq, lk), (1, lk), (h, lq, 1)]))
    mask = None
    if kind == "bool":
        mask = r.random(mask_shape) < 0.6
    elif kind == "additive":
        fills = [-np.inf] + ([np.finfo(np.float64).min] if allow_finfo_min else [])
        mask = r.standard_normal(mask_shape)
        mask = np.where(r.random(mask_shape) < 0.3, r.choice(fills, size=mask_shape), mask)
    if mask is not None and draw(st.booleans()):  # force a fully masked row
        row = tuple(r.integers(0, n) for n in mask_shape[:-1])
        mask[row] = False if kind == "bool" else -np.inf
    bias = r.standard_normal(draw(st.sampled_from([(h, lq, lk), (1, h, lq, lk), (b, 1, 1, lk)]))) \
        if draw(st.booleans()) else None
    kw = dict(attn_mask=mask, bias=bias, causal=draw(st.sampled_from([False, True, "top_left", "bottom_right"])),
              scale=draw(st.sampled_from([None, 1.0, 0.7])),
              fully_masked_rows=draw(st.sampled_from(["zeros", "uniform", "unmasked"])))
    return q, k, v, kw


def dense_attention(q, k, v, attn_mask=None, bias=None, causal=False, scale=None, fully_masked_rows="zeros"):
    """The formula written out: one softmax per (batch, head, query) over the keys it may see."""
    lq, lk = q.shape[-2], k.shape[-2]
    shape = q.shape[:-1] + (lk,)
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    zero = np.zeros(shape)
    bias_b = np.broadcast_to(bias, shape) if bias is not None else zero
    add_b = np.broadcast_to(attn_mask, shape) if attn_mask is not None and attn_mask.dtype != bool else zero
    keep_b = np.broadcast_to(attn_mask, shape) if attn_mask is not None and attn_mask.dtype == bool \
        else np.ones(shape, bool)
    out = np.zeros(q.shape[:-1] + (v.shape[-1],))
    for idx in np.ndindex(q.shape[:-2]):
        for i in range(lq):
            raw, s, ok = [], [], []
            for j in range(lk):
                r = scale * float(np.dot(q[idx][i], k[idx][j])) + bias_b[idx][i, j]
                raw.append(r)
                s.append(r + add_b[idx][i, j])
                allowed = bool(keep_b[idx][i, j])
                if causal == "top_left":
                    allowed &= j <= i
                elif causal in (True, "bottom_right"):
                    allowed &= j <= i + lk - lq
                ok.append(allowed and s[j] != -np.inf)
            if not any(ok):
                if fully_masked_rows == "zeros":
                    continue
                if fully_masked_rows == "uniform":
                    out[idx][i] = v[idx].mean(0)
                    continue
                s, ok = raw, [True] * lk
            m = max(s[j] for j in range(lk) if ok[j])
            w = np.array([np.exp(s[j] - m) if ok[j] else 0.0 for j in range(lk)])
            out[idx][i] = (w / w.sum()) @ v[idx]
    return out


@SETTINGS
@given(cases())
def test_forward_matches_dense_formula_and_is_finite(case):
    q, k, v, kw = case
    out = scaled_dot_product_attention(q, k, v, **kw)
    assert np.all(np.isfinite(out))
    assert_close(out, dense_attention(q, k, v, **kw))
    grads = scaled_dot_product_attention_backward(np.ones_like(out), q, k, v, **kw)
    assert all(g is None or np.all(np.isfinite(g)) for g in grads)
    if kw["bias"] is not None:
        assert grads[3].shape == kw["bias"].shape


@SETTINGS
@given(cases(allow_finfo_min=False))
def test_float32_matches_dense_formula(case):
    q, k, v, kw = case
    f32 = {n: (x.astype(np.float32) if isinstance(x, np.ndarray) and x.dtype == np.float64 else x)
           for n, x in kw.items()}
    out = scaled_dot_product_attention(q.astype(np.float32), k.astype(np.float32), v.astype(np.float32), **f32)
    assert out.dtype == np.float32 and np.all(np.isfinite(out))
    assert_close(out, dense_attention(q, k, v, **kw), dtype=np.float32)


@settings(max_examples=10, deadline=None)
@given(cases(allow_finfo_min=False))
def test_backward_gradcheck(case):
    # no finfo.min here: a row saturated at finfo.min is constant to rounding, so finite differences
    # see 0 where the softmax formula (and torch) give a gradient
    q, k, v, kw = case
    bias = kw.pop("bias")
    if bias is None:
        gradcheck(scaled_dot_product_attention, [q, k, v], backward=lambda d, q, k, v, **a:
                  scaled_dot_product_attention_backward(d, q, k, v, **a)[:3], kwargs=kw)
    else:
        gradcheck(lambda q, k, v, b, **a: scaled_dot_product_attention(q, k, v, bias=b, **a), [q, k, v, bias],
                  backward=lambda d, q, k, v, b, **a: scaled_dot_product_attention_backward(d, q, k, v, bias=b, **a),
                  kwargs=kw)


@pytest.mark.parametrize("lq,lk", [(1, 1), (1, 4), (4, 1)])
def test_length_one_edges(lq, lk):
    r = np.random.default_rng(0)
    q, k, v = r.standard_normal((1, 1, lq, 2)), r.standard_normal((1, 1, lk, 2)), r.standard_normal((1, 1, lk, 3))
    for causal in (False, True, "top_left"):
        for mode in ("zeros", "uniform", "unmasked"):
            kw = dict(causal=causal, fully_masked_rows=mode)
            assert_close(scaled_dot_product_attention(q, k, v, **kw), dense_attention(q, k, v, **kw))
