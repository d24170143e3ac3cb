"""Scaled dot-product attention, the reference for the "attention" hot path.

Math, per leading index (batch, head) and query row i, over keys j = 0..Lk-1:

    S_ij = scale * <q_i, k_j> + bias_ij + mask_ij          scores       (..., Lq, Lk)
    S_ij = -inf   where attn_mask (bool) is False or causal forbids j
    P_i  = softmax_j(S_i) = exp(S_i - max S_i) / sum_j exp(S_ij - max S_i)
    P~   = P * M            M = keep / (1 - dropout_p), the scaled dropout keep mask (M = 1 without dropout)
    O_i  = sum_j P~_ij v_j                                  output       (..., Lq, Dv)

Backward (probabilities recomputed from the inputs, nothing saved), for upstream dO:

    dv   = P~^T dO
    dP~  = dO v^T ;  dP = dP~ * M
    dS   = P * (dP - rowsum(dP * P))                        softmax backward
    dq   = scale * dS k ;  dk = scale * dS^T q ;  dbias = dS summed to bias's own shape

Conventions, named because frameworks differ (DESIGN.md "Attention semantics", PITFALLS 0.2):
- attn_mask: bool means True = attend (torch SDPA); a float mask is additive and has q's dtype.
  Masked positions are set with np.where to -inf; no two saturated planes are ever added.
- causal: "top_left" keeps j <= i (torch SDPA is_causal, ONNX); "bottom_right" keeps
  j <= i + Lk - Lq (flash-attention >= 2.1, every KV-cache decoder); True means "bottom_right".
  The two agree when Lq == Lk.
- Fully masked rows (every key removed by attn_mask / causal, or an additive -inf everywhere; an
  additive finfo.min everywhere is NOT fully masked: it gives a uniform row by rounding, as in torch):
    "zeros"    output 0 and every gradient through that row 0 (torch SDPA math/flash, flash-attention).
    "uniform"  P_ij = 1/Lk over ALL Lk keys (causally hidden ones too), so O_i = mean_j v_j; this is
               what HF eager attention computes for a row whose additive mask is finfo.min everywhere.
               The row is then constant in q, k and bias: their gradients through it are 0 and
               dv_j gets P~_ij dO_i (the exact derivative of this function).
    "unmasked" the row ignores attn_mask and causal: P_i = softmax_j(scale <q_i,k_j> + bias_ij), with
               ordinary gradients (Mask2Former's "if a query sees nothing, let it see everything", and
               transformers' former `_unmask_unattended` for SDPA).
  No convention ever yields NaN.
- Dropout on the probabilities needs an explicit mask or Generator. To differentiate, draw the
  mask once and pass it to both calls:

      M = attention_dropout_mask(rng, p, q.shape[:-1] + (k.shape[-2],), q.dtype)
      out = scaled_dot_product_attention(q, k, v, dropout_p=p, dropout_mask=M)
      dq, dk, dv, dbias = scaled_dot_product_attention_backward(dout, q, k, v, dropout_p=p, dropout_mask=M)

  forward(rng=rng) draws exactly attention_dropout_mask(rng, p, shape, dtype); backward needs the mask.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from ..core.kernel_dispatch import register_reference
from ..core.errors import ConfigError, DTypeError, ShapeError
from ..core.validation import (as_dtype, check_broadcastable, check_float, check_generator, check_probability,
                               check_same_dtype)

CAUSAL_KINDS = (False, True, "bottom_right", "top_left")
FULLY_MASKED_ROWS = ("zeros", "uniform", "unmasked")


def attention_dropout_mask(rng: np.random.Generator, p: float, shape, dtype) -> np.ndarray:
    """Scaled keep mask for dropout on attention probabilities: 1/(1-p) with probability 1-p, else 0.

    shape: the probabilities' shape (..., Lq, Lk); dtype: q's dtype. Keeps where rng.random(shape) >= p,
    the same draws and rounding as functional.dropout.dropout_mask.
    """
    check_generator(rng, "rng")
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise ConfigError(f"dropout_p: expected a probability (float), got {p!r}")
    p = check_probability(p, "dropout_p")
    keep = rng.random(tuple(shape)) >= p                     # (..., Lq, Lk) bool, P(keep) = 1 - p
    return (keep / (1.0 - p)).astype(as_dtype(dtype))        # {0, 1/(1-p)}: scaled in float64, rounded once


def _causal_keep(causal, lq: int, lk: int) -> Optional[np.ndarray]:
    """(Lq, Lk) bool, True where query i may see key j; None when not causal."""
    if causal is False:
        return None
    offset = lk - lq if causal == "bottom_right" else 0      # bottom_right: j <= i + Lk - Lq
    return np.tri(lq, lk, k=offset, dtype=bool)


def _normalize_causal(causal):
    if isinstance(causal, (bool, np.bool_)):
        return "bottom_right" if causal else False
    if isinstance(causal, str) and causal in ("bottom_right", "top_left"):
        return causal
    raise ConfigError(f"causal: expected one of {list(CAUSAL_KINDS)}, got {causal!r}")


def check_attention_args(q, k, v, attn_mask, bias, causal, scale, dropout_p, rng, dropout_mask, fully_masked_rows,
                  *, for_backward: bool):
    """Validate everything; return (causal kind, scale, dropout mask or None, scores shape)."""
    for name, x in (("q", q), ("k", k), ("v", v)):
        check_float(x, name)
        if x.ndim < 2:
            raise ShapeError(f"{name}: expected (..., L, D) with at least 2 dimensions, got shape {x.shape}")
    check_same_dtype({"q": q, "k": k, "v": v})
    if not (q.shape[:-2] == k.shape[:-2] == v.shape[:-2]):
        raise ShapeError(f"k, v: leading (batch, head) dimensions must equal q's (no broadcasting): "
                         f"q {q.shape}, k {k.shape}, v {v.shape}")
    if q.shape[-1] < 1:
        raise ShapeError(f"q: head dimension D must be >= 1, got shape {q.shape}")
    if k.shape[-1] != q.shape[-1]:
        raise ShapeError(f"k: last dimension must equal q's head dimension {q.shape[-1]}, "
                         f"got k {k.shape} (q {q.shape})")
    if k.shape[-2] < 1:
        raise ShapeError(f"k: needs at least one key (Lk >= 1), got shape {k.shape}")
    if v.shape[-2] != k.shape[-2]:
        raise ShapeError(f"v: number of values must equal number of keys Lk={k.shape[-2]}, "
                         f"got v {v.shape} (k {k.shape})")
    scores_shape = q.shape[:-1] + (k.shape[-2],)             # (..., Lq, Lk)
    dt = q.dtype

    if attn_mask is not None:
        if not isinstance(attn_mask, np.ndarray):
            raise DTypeError(f"attn_mask: expected a numpy.ndarray (bool or {dt}), got {type(attn_mask).__name__}")
        if attn_mask.dtype != np.bool_ and attn_mask.dtype != dt:
            raise DTypeError(f"attn_mask: expected a bool mask (True = attend) or an additive float mask of "
                             f"q's dtype {dt}, got dtype {attn_mask.dtype}")
        if attn_mask.shape != scores_shape:
            try:
                check_broadcastable(attn_mask, scores_shape, "attn_mask", "scores (..., Lq, Lk)")
            except ShapeError as exc:
                raise ShapeError(f"{exc} (q {q.shape}, k {k.shape})") from None
        if attn_mask.dtype != np.bool_ and (np.isnan(attn_mask).any() or (attn_mask == np.inf).any()):
            raise ConfigError("attn_mask: additive mask values must be finite or -inf; found NaN or +inf")
    if bias is not None:
        check_float(bias, "bias", dtype=dt)
        if bias.shape != scores_shape:
            try:
                check_broadcastable(bias, scores_shape, "bias", "scores (..., Lq, Lk)")
            except ShapeError as exc:
                raise ShapeError(f"{exc} (q {q.shape}, k {k.shape})") from None
        if np.isnan(bias).any() or (bias == np.inf).any():
            raise ConfigError("bias: values must be finite or -inf; found NaN or +inf")

    causal = _normalize_causal(causal)
    if scale is None:
        scale = 1.0 / np.sqrt(q.shape[-1])
    elif isinstance(scale, (bool, np.bool_)) or not isinstance(scale, (int, float, np.integer, np.floating)) \
            or not np.isfinite(scale):
        raise ConfigError(f"scale: expected None or a finite number, got {scale!r}")
    scale = float(scale)
    if fully_masked_rows not in FULLY_MASKED_ROWS:
        raise ConfigError(f"fully_masked_rows: expected one of {list(FULLY_MASKED_ROWS)}, got {fully_masked_rows!r}")

    if isinstance(dropout_p, (bool, np.bool_)) or not isinstance(dropout_p, (int, float, np.integer, np.floating)):
        raise ConfigError(f"dropout_p: expected a probability (float), got {dropout_p!r}")
    p = check_probability(dropout_p, "dropout_p")
    mask = None
    if p > 0.0:
        if dropout_mask is not None:
            check_float(dropout_mask, "dropout_mask", dtype=dt)
            if dropout_mask.shape != scores_shape:
                raise ShapeError(f"dropout_mask: expected the probabilities' shape {scores_shape} (..., Lq, Lk), "
                                 f"got {dropout_mask.shape}")
            mask = dropout_mask
        elif rng is not None and not for_backward:
            mask = attention_dropout_mask(rng, p, scores_shape, dt)
        elif rng is not None:
            raise ConfigError("dropout_mask: the backward of attention with dropout_p > 0 needs the dropout_mask "
                              "used in forward (draw it with attention_dropout_mask(rng, p, shape, dtype) and pass "
                              "it to both); an rng here would draw a different mask")
        else:
            raise ConfigError(f"dropout_p={p}: dropout needs dropout_mask= (see attention_dropout_mask) or rng= "
                              f"(a numpy.random.Generator); got neither")
    elif dropout_mask is not None:
        raise ConfigError("dropout_mask: given but dropout_p is 0; pass dropout_p > 0 or drop the mask")
    return causal, scale, mask, scores_shape


def _probabilities(q, k, attn_mask, bias, causal, scale, fully_masked_rows):
    """Softmax probabilities P (before dropout) and the fully-masked-row flags `dead` (..., Lq, 1).

    For "unmasked" the dead rows of P are the softmax of the unmasked scores.
    """
    lq, lk = q.shape[-2], k.shape[-2]
    s0 = (q @ np.swapaxes(k, -1, -2)) * q.dtype.type(scale)    # (..., Lq, Lk)
    if bias is not None:
        s0 = s0 + bias
    s = s0
    keep = _causal_keep(causal, lq, lk)                        # (Lq, Lk) or None
    if attn_mask is not None and attn_mask.dtype == np.bool_:
        keep = attn_mask if keep is None else (attn_mask & keep)  # broadcasts to (..., Lq, Lk)
    elif attn_mask is not None:
        s = s + attn_mask                                      # the one additive mask plane
    if keep is not None:
        s = np.where(keep, s, -np.inf)                         # where, never a second added fill value
    row_max = s.max(-1, keepdims=True)                         # (..., Lq, 1)
    dead = row_max == -np.inf                                  # fully masked rows
    e = np.exp(s - np.where(dead, 0.0, row_max))               # masked -> exp(-inf) = 0
    denom = e.sum(-1, keepdims=True)
    p = e / np.where(dead, 1.0, denom)                         # dead rows stay 0 ("zeros")
    if dead.any() and fully_masked_rows == "uniform":
        p = np.where(dead, q.dtype.type(1.0 / lk), p)
    elif dead.any() and fully_masked_rows == "unmasked":
        m0 = s0.max(-1, keepdims=True)
        dead0 = m0 == -np.inf                                  # bias -inf everywhere: still nothing to see
        e0 = np.exp(s0 - np.where(dead0, 0.0, m0))
        p0 = e0 / np.where(dead0, 1.0, e0.sum(-1, keepdims=True))
        p = np.where(dead, p0, p)
    return p.astype(q.dtype, copy=False), dead


def sum_to_shape(g: np.ndarray, shape) -> np.ndarray:
    """Sum a broadcast gradient back to `shape` (the reverse of NumPy broadcasting)."""
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead))) if lead > 0 else g
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def attention_probabilities(q: np.ndarray, k: np.ndarray, *, attn_mask=None, bias=None, causal=False, scale=None,
                            fully_masked_rows: str = "zeros") -> Tuple[np.ndarray, np.ndarray]:
    """The softmax probabilities P of scaled_dot_product_attention (before dropout), for models that
    return them (output_attentions), and the fully-masked-row flags.

    q: (..., Lq, D), k: (..., Lk, D); masks, bias, causal, scale, fully_masked_rows as in
    scaled_dot_product_attention. Returns (P (..., Lq, Lk) in q's dtype, dead bool (..., Lq, 1)).
    """
    causal, scale, _, _ = check_attention_args(q, k, k, attn_mask, bias, causal, scale, 0.0, None, None,
                                        fully_masked_rows, for_backward=False)
    return _probabilities(q, k, attn_mask, bias, causal, scale, fully_masked_rows)


@register_reference("attention")
def scaled_dot_product_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, *, attn_mask=None, bias=None,
                                 causal=False, scale=None, dropout_p: float = 0.0, rng=None, dropout_mask=None,
                                 fully_masked_rows: str = "zeros") -> np.ndarray:
    """softmax(scale q k^T + bias + mask) v, with the conventions of the module docstring.

    q: (..., Lq, D), k: (..., Lk, D), v: (..., Lk, Dv), identical leading dims, one float dtype.
    attn_mask: bool (True = attend) or additive float of q's dtype, broadcastable to (..., Lq, Lk).
    bias: additive float of q's dtype broadcastable to (..., Lq, Lk) (T5/Swin position bias); differentiable.
    causal: False | True (= "bottom_right") | "bottom_right" | "top_left".
    scale: None -> 1/sqrt(D); a number is used as is (T5: 1.0).
    dropout_p, dropout_mask / rng: dropout on the probabilities (see attention_dropout_mask).
    fully_masked_rows: "zeros" | "uniform" | "unmasked".
    Returns (..., Lq, Dv) in q's dtype.
    """
    causal, scale, mask, _ = check_attention_args(q, k, v, attn_mask, bias, causal, scale, dropout_p, rng, dropout_mask,
                                           fully_masked_rows, for_backward=False)
    p, _ = _probabilities(q, k, attn_mask, bias, causal, scale, fully_masked_rows)  # (..., Lq, Lk)
    if mask is not None:
        p = p * mask                                           # dropout, already scaled by 1/(1-p)
    return p @ v                                               # (..., Lq, Dv)


@register_reference("attention")
def scaled_dot_product_attention_backward(dout: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray, *,
                                          attn_mask=None, bias=None, causal=False, scale=None,
                                          dropout_p: float = 0.0, rng=None, dropout_mask=None,
                                          fully_masked_rows: str = "zeros"
                                          ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """Gradients (dq, dk, dv, dbias) of scaled_dot_product_attention for upstream dout (..., Lq, Dv).

    Takes the forward's inputs and keywords; with dropout the same dropout_mask must be passed.
    dbias has bias's own shape (summed over broadcast axes), None without bias. attn_mask gets no gradient
    (differentiate an additive mask by passing it as `bias`).
    """
    causal, scale, mask, _ = check_attention_args(q, k, v, attn_mask, bias, causal, scale, dropout_p, rng, dropout_mask,
                                           fully_masked_rows, for_backward=True)
    check_float(dout, "dout", dtype=q.dtype)
    out_shape = q.shape[:-1] + (v.shape[-1],)
    if dout.shape != out_shape:
        raise ShapeError(f"dout: expected the output's shape {out_shape} (..., Lq, Dv), got {dout.shape}")
    p, dead = _probabilities(q, k, attn_mask, bias, causal, scale, fully_masked_rows)  # recomputed (..., Lq, Lk)
    pd = p * mask if mask is not None else p                   # P~, the probabilities actually used
    dv = np.swapaxes(pd, -1, -2) @ dout                        # dL/dv = P~^T dO              (..., Lk, Dv)
    dp = dout @ np.swapaxes(v, -1, -2)                         # dL/dP~ = dO v^T              (..., Lq, Lk)
    if mask is not None:
        dp = dp * mask                                         # dL/dP = dL/dP~ * M
    ds = p * (dp - (dp * p).sum(-1, keepdims=True))            # dL/dS = P (dP - rowsum(dP P))
    if fully_masked_rows == "uniform" and dead.any():
        ds = np.where(dead, q.dtype.type(0.0), ds)             # a uniform row does not depend on S
    sc = q.dtype.type(scale)
    dq = (ds @ k) * sc                                         # dL/dq = scale dS k           (..., Lq, D)
    dk = (np.swapaxes(ds, -1, -2) @ q) * sc                    # dL/dk = scale dS^T q         (..., Lk, D)
    dbias = sum_to_shape(ds, bias.shape) if bias is not None else None  # dL/dbias = dS, un-broadcast
    return dq, dk, dv, dbias
