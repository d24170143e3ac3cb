"""Multi-head scaled dot-product attention on projected q, k, v, with the probabilities as an optional
output that can receive a gradient (transformers' output_attentions). Models own their projections
(BERT's query/key/value, DistilBERT's q_lin/...) so their parameter names stay the HF keys."""
from __future__ import annotations

import numpy as np

from ..core.kernel_dispatch import dispatch
from ..core.module import Module
from ..functional.activation import softmax_backward
from ..functional.attention import attention_dropout_mask, attention_probabilities

__all__ = ["AttentionHeads"]


class AttentionHeads(Module):
    """Multi-head scaled dot-product attention on already projected q, k, v (no parameters).

    q, k, v: (B, L, E) -> split (B, H, L, Dh) -> softmax(q k^T / sqrt(Dh), keys masked by `keep`) v
    -> merged (B, L, E). keep: bool (B, 1, 1, L) or None. Attention dropout (training mode, p > 0)
    draws its mask from `rng`. With output_attentions the probabilities P~ (after dropout, (B, H, L, L))
    are returned too and can receive a gradient.
    Fully masked rows (an all-pad sequence) give 0, as torch SDPA.
    backward(d_out, d_probs=None) -> (dq, dk, dv), each (B, L, E).
    """

    def __init__(self, num_heads: int, head_dim: int, dropout: float = 0.0):
        super().__init__()
        self.num_heads, self.head_dim, self.dropout = num_heads, head_dim, float(dropout)
        self.scale = head_dim ** -0.5                       # transformers' `scaling`

    def _split(self, x):
        b, n, _ = x.shape
        return x.reshape(b, n, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)   # (B, H, L, Dh)

    @staticmethod
    def _merge(x):
        b, h, n, d = x.shape
        return x.transpose(0, 2, 1, 3).reshape(b, n, h * d)                          # (B, L, E)

    def forward(self, q, k, v, keep=None, output_attentions=False, rng=None):
        q, k, v = self._split(q), self._split(k), self._split(v)                     # (B, H, L, Dh)
        p = self.dropout if self.training else 0.0
        scores_shape = q.shape[:-1] + (k.shape[2],)                                   # (B, H, L, L)
        drop = attention_dropout_mask(rng, p, scores_shape, q.dtype) if p > 0.0 else None
        kw = dict(attn_mask=keep, scale=self.scale, dropout_p=p, dropout_mask=drop, fully_masked_rows="zeros")
        ctx = dispatch("attention", "scaled_dot_product_attention")(q, k, v, **kw)   # (B, H, L, Dh)
        probs = None
        if output_attentions:
            # the same probabilities the attention used (the reference's own softmax, not a copy)
            probs, _ = attention_probabilities(q, k, attn_mask=keep, scale=self.scale)  # (B, H, L, L)
        self.save_for_backward(q, k, v, kw, probs)
        if probs is not None and drop is not None:
            return self._merge(ctx), probs * drop                                    # P~ = P * M
        return self._merge(ctx), probs

    def backward(self, d_out, d_probs=None):
        q, k, v, kw, probs = self.saved()
        dq, dk, dv, _ = dispatch("attention", "scaled_dot_product_attention_backward")(
            self._split(d_out), q, k, v, **kw)                                       # (B, H, L, Dh) each
        if d_probs is not None:                 # the probabilities were an output too
            if kw["dropout_mask"] is not None:
                d_probs = d_probs * kw["dropout_mask"]                               # dL/dP = dL/dP~ * M
            ds = softmax_backward(d_probs, None, -1, y=probs)                        # dL/dS = P (dP - rowsum(dP P))
            dq = dq + (ds @ k) * q.dtype.type(self.scale)                            # dL/dq += scale dS k
            dk = dk + (np.swapaxes(ds, -1, -2) @ q) * q.dtype.type(self.scale)       # dL/dk += scale dS^T q
        return self._merge(dq), self._merge(dk), self._merge(dv)

    def extra_repr(self):
        return f"num_heads={self.num_heads}, head_dim={self.head_dim}, dropout={self.dropout}"
