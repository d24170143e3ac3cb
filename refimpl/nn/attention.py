"""Multi-head attention (generic building block; model-specific attention classes reuse the functional).

    Q = q_proj(x)            K = k_proj(src)          V = v_proj(src)        src = x, or key_value_states
    split heads: (B, L, E) -> (B, H, L, Dh),  Dh = E / H
    K, V = concat(past K, K), concat(past V, V) along L          (KV cache, self-attention)
    O = scaled_dot_product_attention(Q, K, V, ...)                (B, H, Lq, Dh)
    y = out_proj(merge heads(O))                                  (B, Lq, E)

The attention itself goes through dispatch("attention", ...) so Numba/CUDA kernels can take over.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from ..core.kernel_dispatch import dispatch
from ..core.errors import ConfigError, ShapeError
from ..core.module import Module
from ..core.validation import as_dtype, check_float, check_positive_int, check_probability
from ..functional.attention import FULLY_MASKED_ROWS, attention_dropout_mask
from .linear import Linear


class MultiHeadAttention(Module):
    """Multi-head (self- or cross-) attention with separate q/k/v/out projections.

    hidden_states: (B, Lq, embed_dim); key_value_states: (B, Lk, kdim) for cross-attention (it feeds both
    k_proj and v_proj, so kdim must equal vdim), None for self-attention (then kdim = vdim = embed_dim).
    Params (HF names): q_proj (E, E), k_proj (E, kdim), v_proj (E, vdim), out_proj (E, E), each with a bias
    unless bias=False. dtype float64 by default; inputs must match it.

    forward(..., attn_mask, bias, causal) passes these to scaled_dot_product_attention over scores of shape
    (B, H, Lq, Lk), Lk counting cached keys; causal=True is bottom-right aligned, so decoding one token at a
    time with a cache equals the full causal forward.
    past_key_value: (past_k, past_v), each (B, H, L_past, Dh), already projected. Self-attention: prepended to
    the new keys/values. Cross-attention (key_value_states given): used as the full K/V and key_value_states
    is not projected again (its gradient is then None). The cache receives no gradient: it is a constant.
    use_cache: also return present_key_value = (K, V) including the new positions.
    Dropout (p = `dropout`, training mode only) needs dropout_rng (a Generator) or dropout_mask
    (the scaled keep mask of shape (B, H, Lq, Lk), see functional.attention.attention_dropout_mask).
    `bias` is an input without gradient here; models whose position bias is learned (T5, Swin) call the
    functional, which returns dbias.
    Returns (attn_output (B, Lq, E), present_key_value or None).
    backward(d_attn_output) -> d_hidden_states, or (d_hidden_states, d_key_value_states) for cross-attention.
    """

    def __init__(self, embed_dim: int, num_heads: int, *, kdim: Optional[int] = None, vdim: Optional[int] = None,
                 bias: bool = True, dropout: float = 0.0, scale: Optional[float] = None,
                 fully_masked_rows: str = "zeros", dtype=np.float64, rng=None):
        super().__init__()
        self.embed_dim = check_positive_int(embed_dim, "embed_dim")
        self.num_heads = check_positive_int(num_heads, "num_heads")
        if embed_dim % num_heads:
            raise ConfigError(f"num_heads: must divide embed_dim={embed_dim}, got {num_heads}")
        self.head_dim = embed_dim // num_heads
        self.kdim = embed_dim if kdim is None else check_positive_int(kdim, "kdim")
        self.vdim = self.kdim if vdim is None else check_positive_int(vdim, "vdim")
        if self.kdim != self.vdim:
            raise ConfigError(f"vdim: key_value_states feeds both k_proj and v_proj, so vdim must equal "
                              f"kdim={self.kdim}; got {self.vdim}")
        self.dropout = check_probability(dropout, "dropout")
        if scale is not None and (isinstance(scale, (bool, np.bool_))
                                  or not isinstance(scale, (int, float, np.integer, np.floating))
                                  or not np.isfinite(scale)):
            raise ConfigError(f"scale: expected None or a finite number, got {scale!r}")
        self.scale = scale
        if fully_masked_rows not in FULLY_MASKED_ROWS:
            raise ConfigError(f"fully_masked_rows: expected one of {list(FULLY_MASKED_ROWS)}, "
                              f"got {fully_masked_rows!r}")
        self.fully_masked_rows = fully_masked_rows
        dt = as_dtype(dtype)
        rng = rng if rng is not None else np.random.default_rng(0)
        self.q_proj = Linear(embed_dim, embed_dim, bias, dtype=dt, rng=rng)
        self.k_proj = Linear(self.kdim, embed_dim, bias, dtype=dt, rng=rng)
        self.v_proj = Linear(self.vdim, embed_dim, bias, dtype=dt, rng=rng)
        self.out_proj = Linear(embed_dim, embed_dim, bias, dtype=dt, rng=rng)

    # (B, L, E) <-> (B, H, L, Dh)
    def _split(self, x):
        b, n, _ = x.shape
        return x.reshape(b, n, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)  # (B, H, L, Dh)

    def _merge(self, x):
        b, _, n, _ = x.shape
        return x.transpose(0, 2, 1, 3).reshape(b, n, self.embed_dim)                  # (B, L, E)

    def _check_past(self, past, batch, dt):
        if not (isinstance(past, (tuple, list)) and len(past) == 2):
            raise ConfigError(f"past_key_value: expected a (past_key, past_value) pair, got {type(past).__name__}")
        for name, x in zip(("past_key_value[0]", "past_key_value[1]"), past):
            check_float(x, name, dtype=dt, ndim=4)
            if x.shape[0] != batch or x.shape[1] != self.num_heads or x.shape[3] != self.head_dim:
                raise ShapeError(f"{name}: expected shape ({batch}, {self.num_heads}, L_past, {self.head_dim}), "
                                 f"got {x.shape}")
        if past[0].shape[2] != past[1].shape[2]:
            raise ShapeError(f"past_key_value: key and value lengths differ: {past[0].shape} vs {past[1].shape}")
        return past[0], past[1]

    def forward(self, hidden_states: np.ndarray, key_value_states: Optional[np.ndarray] = None, attn_mask=None,
                bias=None, causal=False, past_key_value: Optional[Tuple[np.ndarray, np.ndarray]] = None,
                use_cache: bool = False, dropout_rng=None, dropout_mask=None):
        dt = self.q_proj.weight.dtype
        check_float(hidden_states, "hidden_states", dtype=dt, ndim=3)
        if hidden_states.shape[-1] != self.embed_dim:
            raise ShapeError(f"hidden_states: expected last dimension embed_dim={self.embed_dim}, "
                             f"got shape {hidden_states.shape}")
        batch = hidden_states.shape[0]
        cross = key_value_states is not None
        if cross:
            check_float(key_value_states, "key_value_states", dtype=dt, ndim=3)
            if key_value_states.shape[0] != batch or key_value_states.shape[-1] != self.kdim:
                raise ShapeError(f"key_value_states: expected shape ({batch}, Lk, kdim={self.kdim}), "
                                 f"got {key_value_states.shape}")
        elif self.kdim != self.embed_dim:
            raise ConfigError(f"key_value_states: required, since kdim={self.kdim} != embed_dim={self.embed_dim} "
                              f"makes self-attention impossible")
        past = self._check_past(past_key_value, batch, dt) if past_key_value is not None else None

        q = self._split(self.q_proj(hidden_states))                         # (B, H, Lq, Dh)
        reuse = cross and past is not None                                  # cached cross-attention K/V
        if reuse:
            k, v = past                                                     # (B, H, Lk, Dh)
            n_past = 0
        else:
            src = key_value_states if cross else hidden_states
            k = self._split(self.k_proj(src))                               # (B, H, Lnew, Dh)
            v = self._split(self.v_proj(src))
            n_past = 0 if past is None else past[0].shape[2]
            if past is not None:
                k = np.concatenate([past[0], k], axis=2)                    # (B, H, L_past + Lnew, Dh)
                v = np.concatenate([past[1], v], axis=2)

        p = self.dropout if self.training else 0.0
        scores_shape = q.shape[:-1] + (k.shape[2],)                         # (B, H, Lq, Lk)
        if p > 0.0 and dropout_mask is None:
            if dropout_rng is None:
                raise ConfigError(f"dropout_rng: attention dropout p={p} is active (training mode); pass a "
                                  f"numpy.random.Generator or a dropout_mask, or call .eval()")
            dropout_mask = attention_dropout_mask(dropout_rng, p, scores_shape, dt)
        elif p == 0.0 and dropout_mask is not None:
            raise ConfigError("dropout_mask: given but attention dropout is inactive (dropout=0 or eval mode)")
        kw = dict(attn_mask=attn_mask, bias=bias, causal=causal, scale=self.scale, dropout_p=p,
                  dropout_mask=dropout_mask, fully_masked_rows=self.fully_masked_rows)
        ctx = dispatch("attention", "scaled_dot_product_attention")(q, k, v, **kw)  # (B, H, Lq, Dh)
        out = self.out_proj(self._merge(ctx))                               # (B, Lq, E)
        self.save_for_backward(q, k, v, kw, n_past, reuse, cross)
        present = (k, v) if use_cache else None
        return out, present

    def backward(self, d_attn_output: np.ndarray):
        q, k, v, kw, n_past, reuse, cross = self.saved()
        d_ctx = self._split(self.out_proj.backward(d_attn_output))         # (B, H, Lq, Dh)
        dq, dk, dv, _ = dispatch("attention", "scaled_dot_product_attention_backward")(d_ctx, q, k, v, **kw)
        d_hidden = self.q_proj.backward(self._merge(dq))                    # (B, Lq, E)
        d_src = None
        if not reuse:
            # the cache is a constant: only the new positions' gradients reach the projections
            d_src = (self.k_proj.backward(self._merge(dk[:, :, n_past:]))   # (B, Lnew, kdim)
                     + self.v_proj.backward(self._merge(dv[:, :, n_past:])))
        if cross:
            return d_hidden, d_src
        return d_hidden + d_src

    def extra_repr(self):
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, kdim={self.kdim}, dropout={self.dropout}, "
                f"scale={self.scale}, fully_masked_rows={self.fully_masked_rows!r}")
