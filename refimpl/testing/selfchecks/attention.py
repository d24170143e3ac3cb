"""Self-checks for scaled_dot_product_attention and MultiHeadAttention."""
import numpy as np

from ...functional.attention import (attention_dropout_mask, scaled_dot_product_attention,
                                     scaled_dot_product_attention_backward)
from ...nn.attention import MultiHeadAttention
from ..gradcheck import gradcheck
from ..parity import compare_function_with_torch, compare_module_with_torch
from ..selfcheck import register_standard_checks

_SDPA = "F.scaled_dot_product_attention"
_MHA = "nn.MultiHeadAttention"


def _qkv(dtype=np.float64, lq=3, lk=5):
    r = np.random.default_rng(0)
    return [r.standard_normal((2, 2, n, d)).astype(dtype) for n, d in ((lq, 4), (lk, 4), (lk, 3))]


def _bool_mask(lk=5):
    m = np.random.default_rng(1).random((2, 1, 1, lk)) < 0.6
    m[0, ..., :] = False          # a fully masked batch: "zeros" rows
    m[1, ..., 0] = True
    return m


def _sdpa_gradcheck():
    q, k, v = _qkv()
    r = np.random.default_rng(2)
    bias = r.standard_normal((2, 3, 5))
    kw = dict(attn_mask=_bool_mask(), causal=True, dropout_p=0.2,
              dropout_mask=attention_dropout_mask(r, 0.2, (2, 2, 3, 5), np.float64))
    return gradcheck(lambda q, k, v, b, **a: scaled_dot_product_attention(q, k, v, bias=b, **a), [q, k, v, bias],
                     backward=lambda d, q, k, v, b, **a: scaled_dot_product_attention_backward(d, q, k, v, bias=b, **a),
                     kwargs=kw, raise_on_failure=False)


def _sdpa_torch(dtype):
    import torch
    q, k, v = _qkv(dtype, lq=3, lk=5)
    m = _bool_mask()
    tri = np.tril(np.ones((3, 5), bool), k=5 - 3)               # causal=True is bottom-right aligned
    kw = dict(attn_mask=m, causal=True)
    return compare_function_with_torch(
        lambda *xs: scaled_dot_product_attention(*xs, **kw),
        lambda d: scaled_dot_product_attention_backward(d, q, k, v, **kw)[:3],
        lambda *ts: torch.nn.functional.scaled_dot_product_attention(*ts, attn_mask=torch.from_numpy(m & tri)),
        [q, k, v], dtype=dtype)


register_standard_checks(_SDPA, _sdpa_gradcheck, _sdpa_torch)


class _OutputOnly(MultiHeadAttention):
    def forward(self, *args, **kwargs):
        return super().forward(*args, **kwargs)[0]


def _mha_gradcheck():
    r = np.random.default_rng(3)
    m = _OutputOnly(6, 2, dropout=0.2, rng=r)
    past = (r.standard_normal((2, 2, 2, 3)), r.standard_normal((2, 2, 2, 3)))
    mask = attention_dropout_mask(r, 0.2, (2, 2, 3, 5), np.float64)
    return gradcheck(m, [r.standard_normal((2, 3, 6))],
                     kwargs=dict(past_key_value=past, causal=True, dropout_mask=mask), raise_on_failure=False)


def _mha_torch(dtype):
    import torch
    F = torch.nn.functional

    class TorchMHA(torch.nn.Module):
        def __init__(self, e, h):
            super().__init__()
            self.h = h
            self.q_proj, self.k_proj, self.v_proj, self.out_proj = (torch.nn.Linear(e, e) for _ in range(4))

        def forward(self, x, attn_mask=None):
            b, n, e = x.shape
            split = lambda t: t.view(b, n, self.h, e // self.h).transpose(1, 2)  # noqa: E731
            o = F.scaled_dot_product_attention(split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x)),
                                               attn_mask=attn_mask)
            return self.out_proj(o.transpose(1, 2).reshape(b, n, e))

    torch.manual_seed(0)
    x = np.random.default_rng(4).standard_normal((2, 5, 6)).astype(dtype)
    m = _bool_mask()
    m[0, ..., 0] = True
    tri = np.tril(np.ones((5, 5), bool))
    return compare_module_with_torch(_OutputOnly(6, 2, dtype=dtype), TorchMHA(6, 2), [x], dtype=dtype,
                                     kwargs=dict(attn_mask=m, causal=True),
                                     torch_kwargs=dict(attn_mask=torch.from_numpy(m & tri)))


register_standard_checks(_MHA, _mha_gradcheck, _mha_torch)
