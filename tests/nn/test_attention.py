"""scaled_dot_product_attention (functional) and MultiHeadAttention: gradcheck, torch parity, masks,
causal alignment, fully masked rows, dropout, KV cache, bad input."""

import numpy as np
import pytest

import refimpl.core.kernel_dispatch as dispatch_mod
from refimpl.core.errors import BackwardError, ConfigError, DTypeError, ShapeError
from refimpl.core.grad_mode import no_grad
from refimpl.functional.attention import (attention_dropout_mask, scaled_dot_product_attention,
                                          scaled_dot_product_attention_backward)
from refimpl.nn.attention import MultiHeadAttention
from refimpl.testing import assert_close, compare_function_with_torch, compare_module_with_torch, gradcheck

torch = pytest.importorskip("torch")
F = torch.nn.functional
from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: E402


sdpa = scaled_dot_product_attention
sdpa_bwd = scaled_dot_product_attention_backward
DTYPES = [np.float64, np.float32]
B, H, D, DV = 2, 3, 4, 5


def _qkv(lq, lk, dtype=np.float64, seed=0, lead=(B, H), d=D, dv=DV):
    r = np.random.default_rng(seed)
    return (r.standard_normal(lead + (lq, d)).astype(dtype), r.standard_normal(lead + (lk, d)).astype(dtype),
            r.standard_normal(lead + (lk, dv)).astype(dtype))


def _t(x):
    return None if x is None else torch.from_numpy(np.ascontiguousarray(x))


def _bottom_right(lq, lk):
    return np.tril(np.ones((lq, lk), dtype=bool), k=lk - lq)


def _parity(q, k, v, *, dtype, ref_kw, torch_mask=None, is_causal=False, scale=None, bias=None, math=False):
    """Compare sdpa (+ backward) with torch SDPA; bias (if any) is torch's float attn_mask requiring grad."""
    inputs = [q, k, v] + ([bias] if bias is not None else [])
    tm = _t(torch_mask)

    def ref_fwd(*xs):
        ref_fwd.xs = xs
        return sdpa(*xs[:3], bias=xs[3] if len(xs) > 3 else None, **ref_kw)

    def ref_bwd(dout):
        xs = ref_fwd.xs
        dq, dk, dv, db = sdpa_bwd(dout, *xs[:3], bias=xs[3] if len(xs) > 3 else None, **ref_kw)
        return (dq, dk, dv) + ((db,) if len(xs) > 3 else ())

    def torch_fwd(*ts):
        mask = ts[3] if len(ts) > 3 else tm
        if mask is not None and mask.is_floating_point():
            mask = mask.to(ts[0].dtype)
        if math:
            with sdpa_kernel(SDPBackend.MATH):
                return F.scaled_dot_product_attention(*ts[:3], attn_mask=mask, is_causal=is_causal, scale=scale)
        return F.scaled_dot_product_attention(*ts[:3], attn_mask=mask, is_causal=is_causal, scale=scale)

    rep = compare_function_with_torch(ref_fwd, ref_bwd, torch_fwd, inputs, dtype=dtype)
    rep.assert_ok()
    return rep


# ---------------------------------------------------------------------------------------------- torch parity
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lq,lk", [(3, 5), (4, 4), (1, 6), (5, 2)])
def test_sdpa_torch_no_mask(dtype, lq, lk):
    q, k, v = _qkv(lq, lk, dtype)
    _parity(q, k, v, dtype=dtype, ref_kw={})


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mask_shape", [(3, 5), (B, 1, 1, 5), (B, H, 3, 5), (1, 5), (H, 3, 1)])
def test_sdpa_torch_bool_mask(dtype, mask_shape):
    q, k, v = _qkv(3, 5, dtype)
    m = np.random.default_rng(1).random(mask_shape) < 0.7
    m[..., 0] = True  # no fully masked rows here (tested separately)
    _parity(q, k, v, dtype=dtype, ref_kw=dict(attn_mask=m), torch_mask=m)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mask_shape", [(3, 5), (B, 1, 1, 5), (B, H, 3, 5)])
def test_sdpa_torch_additive_mask_with_inf_and_finfo_min(dtype, mask_shape):
    q, k, v = _qkv(3, 5, dtype)
    r = np.random.default_rng(2)
    m = r.standard_normal(mask_shape).astype(dtype)
    m[..., 1] = -np.inf
    m[..., -1] = np.finfo(dtype).min
    _parity(q, k, v, dtype=dtype, ref_kw=dict(attn_mask=m), torch_mask=m)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sdpa_torch_additive_row_all_finfo_min_is_uniform_like_torch(dtype):
    # finfo.min everywhere is not "fully masked": the scores round to one value and softmax is uniform,
    # in torch as here (including torch's gradient formula through that row)
    q, k, v = _qkv(3, 5, dtype)
    m = np.zeros((3, 5), dtype)
    m[1] = np.finfo(dtype).min
    _parity(q, k, v, dtype=dtype, ref_kw=dict(attn_mask=m), torch_mask=m)
    assert_close(sdpa(q, k, v, attn_mask=m)[:, :, 1], np.broadcast_to(v.mean(-2), (B, H, DV)), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lq,lk", [(3, 5), (4, 4), (1, 5), (5, 3)])
def test_sdpa_torch_causal_top_left(dtype, lq, lk):
    q, k, v = _qkv(lq, lk, dtype)
    _parity(q, k, v, dtype=dtype, ref_kw=dict(causal="top_left"), is_causal=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [True, "bottom_right"])
@pytest.mark.parametrize("lq,lk", [(3, 5), (4, 4), (1, 5), (5, 3)])
def test_sdpa_torch_causal_bottom_right(dtype, causal, lq, lk):
    # lq > lk leaves the first lq - lk rows fully masked: torch returns 0 there, as "zeros" does
    q, k, v = _qkv(lq, lk, dtype)
    _parity(q, k, v, dtype=dtype, ref_kw=dict(causal=causal), torch_mask=_bottom_right(lq, lk))


@pytest.mark.filterwarnings("ignore:Lower right causal bias")  # torch warns of NaN for Lq > Lk; 2.13 gives 0
def test_bottom_right_mask_equals_torch_causal_lower_right():
    from torch.nn.attention.bias import causal_lower_right
    for lq, lk in [(3, 5), (4, 4), (1, 5), (5, 3)]:
        q, k, v = _qkv(lq, lk)
        expected = F.scaled_dot_product_attention(_t(q), _t(k), _t(v), attn_mask=causal_lower_right(lq, lk))
        assert_close(sdpa(q, k, v, causal=True), expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sdpa_torch_causal_combined_with_bool_mask(dtype):
    q, k, v = _qkv(4, 6, dtype)
    m = np.random.default_rng(3).random((B, 1, 1, 6)) < 0.6
    m[..., 0] = True
    for causal, tri in (("top_left", np.tri(4, 6, dtype=bool)), ("bottom_right", _bottom_right(4, 6))):
        _parity(q, k, v, dtype=dtype, ref_kw=dict(attn_mask=m, causal=causal), torch_mask=m & tri)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1.0, 0.3])
def test_sdpa_torch_scale(dtype, scale):
    q, k, v = _qkv(3, 5, dtype)
    _parity(q, k, v, dtype=dtype, ref_kw=dict(scale=scale), scale=scale)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias_shape", [(H, 3, 5), (1, H, 3, 5), (B, H, 3, 5), (3, 5), (B, 1, 1, 5)])
def test_sdpa_torch_bias_grad(dtype, bias_shape):
    q, k, v = _qkv(3, 5, dtype)
    bias = np.random.default_rng(4).standard_normal(bias_shape).astype(dtype)
    rep = _parity(q, k, v, dtype=dtype, ref_kw=dict(scale=1.0), bias=bias, scale=1.0)
    assert rep[-1].shape == bias_shape
    dbias = sdpa_bwd(np.ones((B, H, 3, DV), dtype), q, k, v, bias=bias)[3]
    assert dbias.shape == bias_shape and dbias.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_sdpa_torch_bias_with_bool_mask_and_causal(dtype):
    q, k, v = _qkv(4, 6, dtype)
    bias = np.random.default_rng(5).standard_normal((H, 4, 6)).astype(dtype)
    m = np.random.default_rng(6).random((B, 1, 1, 6)) < 0.6
    m[..., :3] = True
    kw = dict(attn_mask=m, causal=True)
    allowed = m & _bottom_right(4, 6)
    add = np.where(allowed, 0.0, -np.inf).astype(dtype)
    q_, k_, v_, b_ = (_t(x).requires_grad_() for x in (q, k, v, bias))
    out = F.scaled_dot_product_attention(q_, k_, v_, attn_mask=b_ + _t(add))
    dout = np.random.default_rng(7).standard_normal(out.shape).astype(dtype)
    out.backward(_t(dout))
    assert_close(sdpa(q, k, v, bias=bias, **kw), out, dtype=dtype)
    for mine, theirs in zip(sdpa_bwd(dout, q, k, v, bias=bias, **kw), (q_, k_, v_, b_)):
        assert_close(mine, theirs.grad, dtype=dtype)


# ---------------------------------------------------------------------------------------------- fully masked rows
def _dead_row_mask(lq=3, lk=5):
    m = np.ones((B, 1, lq, lk), dtype=bool)
    m[0, 0, 1] = False  # batch 0, query 1 sees nothing
    return m


def test_fully_masked_rows_zeros_match_torch_math_backend():
    # torch 2.13 (CPU, math and default backends) returns 0 (not NaN) and zero grads for an all-False row
    q, k, v = _qkv(3, 5)
    m = _dead_row_mask()
    _parity(q, k, v, dtype=np.float64, ref_kw=dict(attn_mask=m), torch_mask=m, math=True)
    _parity(q, k, v, dtype=np.float64, ref_kw=dict(attn_mask=m), torch_mask=m)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["bool", "additive_inf", "causal"])
def test_fully_masked_rows_zeros_exact(dtype, kind):
    q, k, v = _qkv(3, 5, dtype)
    if kind == "bool":
        kw, rows = dict(attn_mask=_dead_row_mask()), (0, slice(None), 1)
    elif kind == "additive_inf":
        kw, rows = dict(attn_mask=np.where(_dead_row_mask(), 0.0, -np.inf).astype(dtype)), (0, slice(None), 1)
    else:
        q, k, v = _qkv(5, 3, dtype)
        kw, rows = dict(causal=True), (slice(None), slice(None), slice(0, 2))
    bias = np.random.default_rng(8).standard_normal((H, q.shape[-2], 1)).astype(dtype)
    out = sdpa(q, k, v, bias=bias, **kw)
    dout = np.random.default_rng(9).standard_normal(out.shape).astype(dtype)
    dq, dk, dv, db = sdpa_bwd(dout, q, k, v, bias=bias, **kw)
    assert np.all(np.isfinite(out)) and all(np.all(np.isfinite(g)) for g in (dq, dk, dv, db))
    assert np.all(out[rows] == 0) and np.all(dq[rows] == 0)
    # the dead rows contribute nothing to dk, dv: same grads as with dout zeroed there
    dout0 = dout.copy()
    dout0[rows] = 0
    _, dk0, dv0, _ = sdpa_bwd(dout0, q, k, v, bias=bias, **kw)
    assert np.array_equal(dk, dk0) and np.array_equal(dv, dv0)
    if kind == "causal":
        assert np.all(db[:, :2] == 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fully_masked_rows_uniform_is_mean_of_v(dtype):
    q, k, v = _qkv(3, 5, dtype)
    m = _dead_row_mask()
    out = sdpa(q, k, v, attn_mask=m, fully_masked_rows="uniform")
    assert_close(out[0, :, 1], v[0].mean(-2), dtype=dtype)
    assert_close(out[1], sdpa(q, k, v)[1], dtype=dtype)          # other rows untouched
    # causal rows are uniform over ALL keys, including the causally hidden ones
    q5, k3, v3 = _qkv(5, 3, dtype)
    out = sdpa(q5, k3, v3, causal=True, fully_masked_rows="uniform")
    assert_close(out[:, :, :2], np.broadcast_to(v3.mean(-2, keepdims=True), (B, H, 2, DV)), dtype=dtype)
    # same forward as HF eager attention with a finfo.min row (manual torch softmax)
    add = np.where(m, 0.0, np.finfo(dtype).min).astype(dtype)
    s = _t(q) @ _t(k).transpose(-1, -2) / np.sqrt(D) + _t(add)
    assert_close(sdpa(q, k, v, attn_mask=m, fully_masked_rows="uniform"), torch.softmax(s, -1) @ _t(v), dtype=dtype)


def test_fully_masked_rows_uniform_grads():
    q, k, v = _qkv(3, 5)
    m = _dead_row_mask()
    dout = np.random.default_rng(10).standard_normal((B, H, 3, DV))
    dq, dk, dv, _ = sdpa_bwd(dout, q, k, v, attn_mask=m, fully_masked_rows="uniform")
    assert np.all(dq[0, :, 1] == 0)
    dout0 = dout.copy()
    dout0[0, :, 1] = 0
    _, _, dv0, _ = sdpa_bwd(dout0, q, k, v, attn_mask=m, fully_masked_rows="uniform")
    expected = np.zeros_like(dv)
    expected[0] = dout[0, :, 1][:, None, :] / 5      # the uniform row adds dO_i / Lk to every dv_j
    assert_close(dv - dv0, expected)
    bias = np.random.default_rng(11).standard_normal((1, H, 3, 5))
    f = lambda q, k, v, b, **kw: sdpa(q, k, v, bias=b, **kw)                      # noqa: E731
    fb = lambda d, q, k, v, b, **kw: sdpa_bwd(d, q, k, v, bias=b, **kw)            # noqa: E731
    gradcheck(f, [q, k, v, bias], backward=fb, kwargs=dict(attn_mask=m, fully_masked_rows="uniform"))


def test_fully_masked_rows_unmasked_attends_over_raw_scores():
    q, k, v = _qkv(3, 5)
    m = _dead_row_mask()
    bias = np.random.default_rng(12).standard_normal((H, 3, 5))
    out = sdpa(q, k, v, attn_mask=m, bias=bias, fully_masked_rows="unmasked")
    full = F.scaled_dot_product_attention(_t(q), _t(k), _t(v), attn_mask=_t(bias))
    assert_close(out[0, :, 1], full[0, :, 1])
    assert_close(out[1], sdpa(q, k, v, attn_mask=m, bias=bias)[1])
    f = lambda q, k, v, b, **kw: sdpa(q, k, v, bias=b, **kw)                      # noqa: E731
    fb = lambda d, q, k, v, b, **kw: sdpa_bwd(d, q, k, v, bias=b, **kw)            # noqa: E731
    gradcheck(f, [q, k, v, bias], backward=fb, kwargs=dict(attn_mask=m, fully_masked_rows="unmasked"))


# ---------------------------------------------------------------------------------------------- gradcheck
@pytest.mark.parametrize("kw", [
    dict(),
    dict(causal=True),
    dict(causal="top_left", scale=1.0),
    dict(attn_mask="bool"),
    dict(attn_mask="additive"),
    dict(dropout_p=0.3),
])
def test_sdpa_gradcheck(kw):
    q, k, v = _qkv(3, 5)
    r = np.random.default_rng(13)
    bias = r.standard_normal((H, 3, 5))
    kw = dict(kw)
    if kw.get("attn_mask") == "bool":
        kw["attn_mask"] = _dead_row_mask()
    elif kw.get("attn_mask") == "additive":
        m = r.standard_normal((B, 1, 1, 5))
        m[..., 2] = -np.inf
        kw["attn_mask"] = m
    if kw.get("dropout_p"):
        kw["dropout_mask"] = attention_dropout_mask(r, kw["dropout_p"], (B, H, 3, 5), np.float64)
    f = lambda q, k, v, b, **kw: sdpa(q, k, v, bias=b, **kw)                      # noqa: E731
    fb = lambda d, q, k, v, b, **kw: sdpa_bwd(d, q, k, v, bias=b, **kw)            # noqa: E731
    gradcheck(f, [q, k, v, bias], backward=fb, kwargs=kw)


# ---------------------------------------------------------------------------------------------- dropout
def _naive_probs(q, k, scale=None):
    s = q @ np.swapaxes(k, -1, -2) * (1 / np.sqrt(q.shape[-1]) if scale is None else scale)
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_forward_backward_by_hand_and_torch(dtype):
    p = 0.4
    q, k, v = _qkv(3, 5, dtype)
    mask = attention_dropout_mask(np.random.default_rng(14), p, (B, H, 3, 5), dtype)
    assert mask.dtype == dtype and set(np.unique(mask)) <= {0.0, dtype(1 / (1 - p))}
    out = sdpa(q, k, v, dropout_p=p, dropout_mask=mask)
    assert_close(out, (_naive_probs(q.astype(np.float64), k.astype(np.float64)) * mask) @ v, dtype=dtype)
    # manual torch attention with the same mask, autograd for the grads
    q_, k_, v_ = (_t(x).requires_grad_() for x in (q, k, v))
    t_out = torch.softmax(q_ @ k_.transpose(-1, -2) / np.sqrt(D), -1) * _t(mask) @ v_
    dout = np.random.default_rng(15).standard_normal(out.shape).astype(dtype)
    t_out.backward(_t(dout))
    assert_close(out, t_out, dtype=dtype)
    for mine, theirs in zip(sdpa_bwd(dout, q, k, v, dropout_p=p, dropout_mask=mask)[:3], (q_, k_, v_)):
        assert_close(mine, theirs.grad, dtype=dtype)


def test_dropout_rng_draws_attention_dropout_mask():
    q, k, v = _qkv(3, 5)
    out = sdpa(q, k, v, dropout_p=0.5, rng=np.random.default_rng(16))
    mask = attention_dropout_mask(np.random.default_rng(16), 0.5, (B, H, 3, 5), np.float64)
    assert_close(out, sdpa(q, k, v, dropout_p=0.5, dropout_mask=mask))
    frac = (attention_dropout_mask(np.random.default_rng(0), 0.3, (200, 200), np.float64) == 0).mean()
    assert abs(frac - 0.3) < 0.02


# ---------------------------------------------------------------------------------------------- bad input
def test_bad_input():
    q, k, v = _qkv(3, 5)
    with pytest.raises(ShapeError, match=r"attn_mask.*\(4, 5\).*\(2, 3, 3, 5\)"):
        sdpa(q, k, v, attn_mask=np.ones((4, 5), bool))
    with pytest.raises(DTypeError, match="attn_mask"):
        sdpa(q, k, v, attn_mask=np.ones((3, 5), np.int64))
    with pytest.raises(DTypeError, match="attn_mask"):
        sdpa(q, k, v, attn_mask=np.zeros((3, 5), np.float32))
    with pytest.raises(ShapeError, match="k: last dimension"):
        sdpa(q, k[..., :3], v)
    with pytest.raises(ShapeError, match="v: number of values"):
        sdpa(q, k, v[..., :4, :])
    with pytest.raises(DTypeError, match="k: dtype float32"):
        sdpa(q, k.astype(np.float32), v)
    with pytest.raises(ShapeError, match="leading"):
        sdpa(q, k[:1], v[:1])
    with pytest.raises(ConfigError, match="dropout_p"):
        sdpa(q, k, v, dropout_p=0.1)
    with pytest.raises(ConfigError, match="dropout_mask"):
        sdpa_bwd(np.ones((B, H, 3, DV)), q, k, v, dropout_p=0.1, rng=np.random.default_rng(0))
    with pytest.raises(ShapeError, match="dropout_mask"):
        sdpa(q, k, v, dropout_p=0.1, dropout_mask=np.ones((3, 5)))
    with pytest.raises(ConfigError, match="dropout_p"):
        sdpa(q, k, v, dropout_p=1.0, rng=np.random.default_rng(0))
    with pytest.raises(ConfigError, match="causal"):
        sdpa(q, k, v, causal="bogus")
    with pytest.raises(ConfigError, match="fully_masked_rows"):
        sdpa(q, k, v, fully_masked_rows="nan")
    with pytest.raises(ShapeError, match="bias"):
        sdpa(q, k, v, bias=np.zeros((H, 3, 4)))
    with pytest.raises(ConfigError, match="attn_mask"):
        sdpa(q, k, v, attn_mask=np.full((3, 5), np.nan))
    with pytest.raises(ShapeError, match="dout"):
        sdpa_bwd(np.ones((B, H, 3, 4)), q, k, v)


# ---------------------------------------------------------------------------------------------- MultiHeadAttention
class TorchMHA(torch.nn.Module):
    """Reference torch module with the same state-dict keys, built on F.scaled_dot_product_attention."""

    def __init__(self, e, h, kdim=None, bias=True):
        super().__init__()
        self.h = h
        self.q_proj = torch.nn.Linear(e, e, bias=bias)
        self.k_proj = torch.nn.Linear(kdim or e, e, bias=bias)
        self.v_proj = torch.nn.Linear(kdim or e, e, bias=bias)
        self.out_proj = torch.nn.Linear(e, e, bias=bias)

    def forward(self, x, kv=None, attn_mask=None, is_causal=False, scale=None):
        src = x if kv is None else kv
        b, lq, e = x.shape
        split = lambda t: t.view(b, t.shape[1], self.h, e // self.h).transpose(1, 2)  # noqa: E731
        o = F.scaled_dot_product_attention(split(self.q_proj(x)), split(self.k_proj(src)), split(self.v_proj(src)),
                                           attn_mask=attn_mask, is_causal=is_causal, scale=scale)
        return self.out_proj(o.transpose(1, 2).reshape(b, lq, e))


class _OutputOnly(MultiHeadAttention):
    def forward(self, *args, **kwargs):
        return super().forward(*args, **kwargs)[0]


E, NH = 8, 2


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["plain", "bool_mask", "top_left", "bottom_right", "scale1", "nobias", "cross"])
def test_mha_torch_parity(dtype, case):
    torch.manual_seed(0)
    r = np.random.default_rng(17)
    lq, lk = 4, (6 if case in ("cross",) else 4)
    x = r.standard_normal((B, lq, E)).astype(dtype)
    inputs, kw, tkw = [x], {}, {}
    kdim = 5 if case == "cross" else None
    if case == "cross":
        inputs.append(r.standard_normal((B, lk, kdim)).astype(dtype))
    if case == "bool_mask":
        m = r.random((B, 1, 1, lk)) < 0.7
        m[..., 0] = True
        kw, tkw = dict(attn_mask=m), dict(attn_mask=_t(m))
    elif case == "top_left":
        kw, tkw = dict(causal="top_left"), dict(is_causal=True)
    elif case == "bottom_right":
        x2 = r.standard_normal((B, 3, E)).astype(dtype)  # Lq < Lk in cross-attention shape
        kv = r.standard_normal((B, 5, E)).astype(dtype)
        inputs = [x2, kv]
        kw, tkw = dict(causal=True), dict(attn_mask=_t(_bottom_right(3, 5)))
    elif case == "scale1":
        kw, tkw = dict(), dict(scale=1.0)
    ref = _OutputOnly(E, NH, kdim=kdim, bias=case != "nobias", scale=1.0 if case == "scale1" else None, dtype=dtype)
    tm = TorchMHA(E, NH, kdim=kdim, bias=case != "nobias")
    compare_module_with_torch(ref, tm, inputs, dtype=dtype, kwargs=kw, torch_kwargs=tkw).assert_ok()


def test_mha_gradcheck_self_attention_with_dropout_mask():
    r = np.random.default_rng(18)
    m = _OutputOnly(E, NH, dropout=0.3, rng=r)
    x = r.standard_normal((B, 4, E))
    mask = attention_dropout_mask(r, 0.3, (B, NH, 4, 4), np.float64)
    bias = r.standard_normal((NH, 4, 4))
    gradcheck(m, [x], kwargs=dict(dropout_mask=mask, causal=True, bias=bias))


def test_mha_gradcheck_cross_attention():
    r = np.random.default_rng(19)
    m = _OutputOnly(E, NH, kdim=3, rng=r)
    x, kv = r.standard_normal((B, 2, E)), r.standard_normal((B, 5, 3))
    mask = r.random((B, 1, 1, 5)) < 0.6
    mask[0, ..., :] = False  # batch 0 sees nothing: zeros rows
    gradcheck(m, [x, kv], kwargs=dict(attn_mask=mask))


def test_mha_gradcheck_with_past_key_value():
    r = np.random.default_rng(20)
    m = _OutputOnly(E, NH, rng=r)
    past = (r.standard_normal((B, NH, 3, E // NH)), r.standard_normal((B, NH, 3, E // NH)))
    gradcheck(m, [r.standard_normal((B, 2, E))], kwargs=dict(past_key_value=past, causal=True))


@pytest.mark.parametrize("chunks", [[1] * 6, [3, 1, 2], [2, 4]])
def test_mha_kv_cache_incremental_equals_full_causal(chunks):
    r = np.random.default_rng(21)
    m = MultiHeadAttention(E, NH, rng=r)
    x = r.standard_normal((B, 6, E))
    with no_grad():
        full, present = m(x, causal=True, use_cache=True)
        past, outs, t = None, [], 0
        for n in chunks:
            o, past = m(x[:, t:t + n], causal=True, past_key_value=past, use_cache=True)
            outs.append(o)
            t += n
    assert_close(np.concatenate(outs, axis=1), full, rtol=1e-12, atol=1e-12)
    assert_close(past[0], present[0], rtol=1e-12, atol=1e-12)
    assert past[0].shape == (B, NH, 6, E // NH)


def test_mha_cross_attention_cache_reuse():
    r = np.random.default_rng(22)
    m = MultiHeadAttention(E, NH, rng=r)
    x, kv = r.standard_normal((B, 2, E)), r.standard_normal((B, 5, E))
    out, cache = m(x, kv, use_cache=True)
    m.backward(np.ones_like(out))
    out2, cache2 = m(x, kv, past_key_value=cache, use_cache=True)
    assert_close(out2, out, rtol=1e-14, atol=1e-14)
    assert cache2[0] is cache[0]
    d_x, d_kv = m.backward(np.ones_like(out2))
    assert d_kv is None and d_x.shape == x.shape


def test_mha_past_gets_no_gradient_and_dispatch_is_used(monkeypatch):
    calls = []
    key = ("attention", "scaled_dot_product_attention")
    orig = dispatch_mod._reference[key]
    monkeypatch.setitem(dispatch_mod._reference, key, lambda *a, **kw: calls.append(1) or orig(*a, **kw))
    r = np.random.default_rng(23)
    m = MultiHeadAttention(E, NH, rng=r)
    past = (r.standard_normal((B, NH, 3, 4)), r.standard_normal((B, NH, 3, 4)))
    out, _ = m(r.standard_normal((B, 1, E)), past_key_value=past)
    assert calls == [1]
    dx = m.backward(np.ones_like(out))
    assert dx.shape == (B, 1, E)


def test_mha_dropout_rng_training_vs_eval():
    r = np.random.default_rng(24)
    m = MultiHeadAttention(E, NH, dropout=0.5, rng=r)
    x = r.standard_normal((B, 3, E))
    with pytest.raises(ConfigError, match="dropout_rng"):
        m(x)
    out_a, _ = m(x, dropout_rng=np.random.default_rng(5))
    mask = attention_dropout_mask(np.random.default_rng(5), 0.5, (B, NH, 3, 3), np.float64)
    out_b, _ = m(x, dropout_mask=mask)
    assert_close(out_a, out_b)
    m.eval()
    out_eval, _ = m(x)
    assert_close(out_eval, MultiHeadAttention(E, NH, rng=np.random.default_rng(24))(x)[0])


def test_mha_bad_input():
    m = MultiHeadAttention(E, NH)
    x = np.zeros((B, 3, E))
    with pytest.raises(DTypeError, match="hidden_states"):
        m(x.astype(np.float32))
    with pytest.raises(ShapeError, match="hidden_states"):
        m(np.zeros((B, 3, E + 1)))
    with pytest.raises(ShapeError, match="key_value_states"):
        m(x, np.zeros((B + 1, 3, E)))
    with pytest.raises(ShapeError, match="past_key_value"):
        m(x, past_key_value=(np.zeros((B, NH, 2, 3)), np.zeros((B, NH, 2, 3))))
    with pytest.raises(ShapeError, match="attn_mask"):
        m(x, attn_mask=np.ones((B, 1, 1, 4), bool))
    with pytest.raises(ConfigError, match="num_heads"):
        MultiHeadAttention(E, 3)
    with pytest.raises(ConfigError, match="vdim"):
        MultiHeadAttention(E, NH, kdim=3, vdim=4)
    with pytest.raises(ConfigError, match="key_value_states"):
        MultiHeadAttention(E, NH, kdim=3)(x)
    with no_grad():
        m(x)
    with pytest.raises(BackwardError):
        m.backward(np.zeros((B, 3, E)))


@pytest.mark.parametrize("causal", [False, "top_left", "bottom_right"])
def test_attention_probabilities_equal_torch_softmax_and_make_the_output(causal):
    from refimpl.functional.attention import attention_probabilities
    q, k, v = _qkv(4, 6, seed=3)
    keep = np.random.default_rng(4).random((B, 1, 4, 6)) > 0.3
    keep[0, 0, 1] = False                                          # one fully masked row -> zeros
    p, dead = attention_probabilities(q, k, attn_mask=keep, causal=causal, scale=0.7)
    s = torch.from_numpy(q) @ torch.from_numpy(k).transpose(-1, -2) * 0.7
    allowed = torch.from_numpy(keep)
    if causal:
        offset = 0 if causal == "top_left" else 6 - 4
        allowed = allowed & torch.ones(4, 6, dtype=torch.bool).tril(offset)
    expected = torch.softmax(s.masked_fill(~allowed, float("-inf")), -1).nan_to_num(0.0)
    assert_close(p, expected.numpy())
    assert dead[0, 0, 1, 0]
    np.testing.assert_array_equal(dead[..., 0], np.broadcast_to((~allowed.any(-1)).numpy(), (B, H, 4)))
    assert_close(p @ v, sdpa(q, k, v, attn_mask=keep, causal=causal, scale=0.7))
    with pytest.raises(ShapeError, match="k"):
        attention_probabilities(q, k[..., :2], attn_mask=keep)
