"""Wav2Vec2's Gumbel product quantizer and its codebook perplexity.

    x (B, T, C) -> logits = weight_proj(x) viewed as (B*T, G, V)        G groups of V codewords each
    training:  p = gumbel_softmax(logits, noise, tau=temperature, hard=True)    one-hot forward,
               straight-through gradient of softmax((logits + noise) / tau)
               perplexity from the soft distribution softmax(logits) (no noise, no temperature)
    eval:      p = one_hot(argmax logits), perplexity from p; neither has a gradient (weight_proj gets none)
    q[n, g] = sum_v p[n, g, v] codevectors[g, v]                 (B, T, G * D/G) = (B, T, codevector_dim)

    perplexity = sum_g exp(-sum_v m[g, v] log m[g, v]),  m = mean of the distribution over the frames
                 (over the masked frames only when mask_time_indices is given)

Noise: `gumbel_noise` (shape (B*T*G, V) as transformers flattens it, or (B, T, G, V)) or drawn from `rng`
(refimpl.functional.gumbel_softmax.gumbel_noise). transformers draws it inside torch's gumbel_softmax,
so a test gives both the same noise by seeding torch around that call (see tests/models/wav2vec2).
transformers casts the logits to float32 for the gumbel softmax and the perplexity softmax; refimpl
computes in the model's dtype.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ...core.errors import ShapeError
from ...core.module import Module
from ...core.parameter import Parameter
from ...core.validation import check_float
from ...functional.activation import softmax, softmax_backward
from ...functional.gumbel_softmax import gumbel_noise as draw_gumbel_noise
from ...functional.gumbel_softmax import gumbel_softmax, gumbel_softmax_backward
from ...nn.linear import Linear

__all__ = ["Wav2Vec2GumbelVectorQuantizer", "codebook_perplexity", "codebook_perplexity_backward"]


def _marginal(probs: np.ndarray, mask: Optional[np.ndarray]):
    """Mean distribution per group (G, V) over the frames (B*T, G, V), masked frames only when mask is given."""
    if mask is None:
        return probs.mean(axis=0), None
    keep = mask.reshape(-1)                                            # (B*T,)
    count = probs.dtype.type(keep.sum())
    return np.where(keep[:, None, None], probs, 0).sum(axis=0) / count, count


def codebook_perplexity(probs: np.ndarray, mask: Optional[np.ndarray] = None) -> np.ndarray:
    """sum_g exp(entropy of the group-g marginal) for probs (B*T, G, V); 0-d array of probs' dtype.

    0 log 0 counts as 0 (torch.xlogy). A mask with no True frame gives NaN (0 / 0), as in transformers.
    """
    m, _ = _marginal(probs, mask)                                       # (G, V)
    with np.errstate(divide="ignore", invalid="ignore"):
        xlogx = np.where(m > 0, m * np.log(np.where(m > 0, m, 1)), 0)   # xlogy(m, m)
    return np.asarray(np.exp(-xlogx.sum(-1)).sum(), dtype=probs.dtype)


def codebook_perplexity_backward(d_ppl, probs: np.ndarray, mask: Optional[np.ndarray] = None) -> np.ndarray:
    """d probs (B*T, G, V) for upstream d_ppl (scalar).

    d ppl / d m[g, v] = -exp(H_g) (log m[g, v] + 1), with H_g the group entropy; at m = 0 the derivative
    is -inf and refimpl returns 0 there (torch returns NaN); it does not arise for softmax outputs.
    """
    m, count = _marginal(probs, mask)
    with np.errstate(divide="ignore", invalid="ignore"):
        logm = np.log(np.where(m > 0, m, 1))
        ppl_g = np.exp(-(np.where(m > 0, m * logm, 0)).sum(-1, keepdims=True))   # (G, 1)
    dm = np.where(m > 0, -ppl_g * (logm + 1), 0) * d_ppl                # (G, V): d ppl / d m
    n = probs.shape[0]
    if mask is None:
        return np.broadcast_to(dm / probs.dtype.type(n), probs.shape).copy()   # m = mean over all frames
    keep = mask.reshape(-1)[:, None, None]
    return np.where(keep, dm / count, 0).astype(probs.dtype)           # m = sum over masked frames / count


class Wav2Vec2GumbelVectorQuantizer(Module):
    """Product quantizer: params codevectors (1, G*V, D/G) and weight_proj Linear(conv_dim[-1] -> G*V).

    forward(x (B, T, C), mask_time_indices (B, T) bool or None, gumbel_noise=None, rng=None)
        -> (quantized (B, T, codevector_dim), perplexity 0-d)
    backward(d_quantized, d_perplexity=None) -> d x.
    `temperature` (default 2, as transformers) is the Gumbel softmax tau; set_gumbel_temperature changes it.
    """

    def __init__(self, config, dtype):
        super().__init__()
        self.num_groups = config.num_codevector_groups
        self.num_vars = config.num_codevectors_per_group
        d = config.codevector_dim // self.num_groups
        self.codevectors = Parameter(np.zeros((1, self.num_groups * self.num_vars, d), dtype))
        self.weight_proj = Linear(config.conv_dim[-1], self.num_groups * self.num_vars, dtype=dtype)
        self.temperature = 2.0

    def _noise(self, gumbel_noise, rng, n, dtype):
        if gumbel_noise is None:
            return draw_gumbel_noise(rng, (n * self.num_groups, self.num_vars), dtype)   # (B*T*G, V)
        return self.check_noise(gumbel_noise, n, dtype)

    def check_noise(self, gumbel_noise, n, dtype):
        """Given noise for n = B*T frames, as (B*T*G, V)."""
        g, v = self.num_groups, self.num_vars
        check_float(gumbel_noise, "gumbel_noise", dtype=dtype)
        if gumbel_noise.size != n * g * v or gumbel_noise.shape[-1] != v:
            raise ShapeError(f"gumbel_noise: expected shape ({n * g}, {v}) (batch * frames * groups, codewords) "
                             f"or (batch, frames, {g}, {v}), got {gumbel_noise.shape}")
        return gumbel_noise.reshape(n * g, v)

    def forward(self, x, mask_time_indices=None, gumbel_noise=None, rng=None):
        b, t, _ = x.shape
        g, v = self.num_groups, self.num_vars
        logits = self.weight_proj(x).reshape(b * t * g, v)              # (B*T*G, V)
        if self.training:
            noise = self._noise(gumbel_noise, rng, b * t, x.dtype)
            probs = gumbel_softmax(logits, noise, tau=self.temperature, hard=True)      # one-hot (B*T*G, V)
            soft = softmax(logits.reshape(b * t, g, v), -1)             # (B*T, G, V), for the perplexity
            perplexity = codebook_perplexity(soft, mask_time_indices)
        else:
            noise, soft = None, None
            probs = np.zeros_like(logits)
            np.put_along_axis(probs, np.argmax(logits, -1)[:, None], 1.0, axis=-1)      # one-hot of the argmax
            perplexity = codebook_perplexity(probs.reshape(b * t, g, v), mask_time_indices)
        book = self.codevectors.data.reshape(g, v, -1)                  # (G, V, D/G)
        p = probs.reshape(b * t, g, v)
        q = np.einsum("ngv,gvd->ngd", p, book)                          # (B*T, G, D/G): the chosen codewords
        self.save_for_backward(logits, noise, soft, p, mask_time_indices, (b, t))
        return q.reshape(b, t, -1), perplexity                          # (B, T, codevector_dim), ()

    def backward(self, dq, d_perplexity=None):
        logits, noise, soft, p, mask, (b, t) = self.saved()
        g, v = self.num_groups, self.num_vars
        dq = dq.reshape(b * t, g, -1)                                   # (B*T, G, D/G)
        book = self.codevectors.data.reshape(g, v, -1)
        # dL/dcodevectors[g, v] = sum_n p[n, g, v] dq[n, g]
        self.codevectors.accumulate(np.einsum("ngv,ngd->gvd", p, dq).reshape(self.codevectors.shape))
        if noise is None:                                               # eval: the argmax has no gradient
            return self.weight_proj.backward(np.zeros((b, t, g * v), dq.dtype))
        dp = np.einsum("ngd,gvd->ngv", dq, book).reshape(b * t * g, v)  # dL/dp = <dq, codeword>
        # straight-through: d logits = softmax backward of (logits + noise) / tau, divided by tau
        dlogits = gumbel_softmax_backward(dp, logits, noise, tau=self.temperature, hard=True)
        if d_perplexity is not None:
            d_soft = codebook_perplexity_backward(d_perplexity, soft, mask)           # (B*T, G, V)
            dlogits = dlogits + softmax_backward(d_soft, None, -1, y=soft).reshape(b * t * g, v)
        return self.weight_proj.backward(dlogits.reshape(b, t, g * v))
