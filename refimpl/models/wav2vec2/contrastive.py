"""Wav2Vec2's pretraining objective: contrastive loss over sampled distractors plus codebook diversity.

    c (B, T, P) = project_hid(context),  q (B, T, P) = project_q(quantized)
    candidates (K+1, B, T, P) = [q, q.reshape(B*T, P)[sampled_negative_indices] (K negatives per frame)]
    logits[k, b, t] = cos(c[b, t], candidates[k, b, t]) / kappa             kappa = contrastive_logits_temperature
    logits[k >= 1] = -inf where that negative EQUALS the positive exactly (all P components)
    contrastive = sum over masked frames (b, t) of CE(logits[:, b, t], target 0)
                = sum_masked logsumexp_k logits[k, b, t] - logits[0, b, t]
    diversity   = (G V - perplexity) / (G V) * (number of masked frames)
    loss        = contrastive + diversity_loss_weight * diversity

transformers computes the cosine similarities and the cross-entropy in float32 (`.float()`, even for a
float64 model); refimpl computes in the model's dtype.

Backward of the contrastive part: d logits[:, b, t] = g (softmax(logits[:, b, t]) - e_0) on masked frames
(0 elsewhere and at the -inf entries), d cos = d logits / kappa, then the cosine backward; the negatives'
gradients are scattered back (added) onto the frames they were gathered from.
"""
from __future__ import annotations

import numpy as np

from ...functional.activation import log_softmax
from ...functional.cosine_similarity import cosine_similarity, cosine_similarity_backward

__all__ = ["contrastive_logits", "contrastive_loss", "contrastive_loss_backward", "diversity_loss"]


def _candidates(q, negative_indices):
    b, t, p = q.shape
    k = negative_indices.shape[-1]
    neg = q.reshape(b * t, p)[negative_indices.reshape(-1)]            # (B*T*K, P) gathered negatives
    neg = neg.reshape(b, t, k, p).transpose(2, 0, 1, 3)                 # (K, B, T, P)
    return np.concatenate([q[None], neg], axis=0), neg                  # (K+1, B, T, P)


def contrastive_logits(c, q, negative_indices, temperature: float):
    """(logits (K+1, B, T) with -inf where a negative equals the positive, neg_is_pos (K, B, T) bool)."""
    cand, neg = _candidates(q, negative_indices)
    logits = cosine_similarity(c, cand, axis=-1) / c.dtype.type(temperature)   # (K+1, B, T)
    neg_is_pos = np.all(neg == q[None], axis=-1)                        # (K, B, T) exact equality
    logits[1:][neg_is_pos] = -np.inf
    return logits, neg_is_pos


def contrastive_loss(logits, mask) -> float:
    """Sum over masked frames of -log softmax(logits[:, b, t])[0]; logits (K+1, B, T), mask (B, T) bool."""
    logp = log_softmax(logits, axis=0)                                  # (K+1, B, T)
    return float(-logp[0][mask].sum())


def contrastive_loss_backward(g, c, q, negative_indices, temperature: float, logits, neg_is_pos, mask):
    """(d c (B, T, P), d q (B, T, P)) of contrastive_loss(contrastive_logits(c, q, ...)) for upstream g."""
    b, t, p = q.shape
    prob = np.exp(log_softmax(logits, axis=0))                          # (K+1, B, T)
    dlogits = prob.copy()
    dlogits[0] -= 1.0                                                   # dCE/dlogits = softmax - onehot(0)
    dlogits = np.where(mask[None], dlogits, 0) * q.dtype.type(g)        # only masked frames are counted
    dlogits[1:][neg_is_pos] = 0.0                                       # the -inf entries are constants
    dcos = dlogits / q.dtype.type(temperature)                          # (K+1, B, T)
    cand, _ = _candidates(q, negative_indices)
    dc, dcand = cosine_similarity_backward(dcos, c, cand, axis=-1)      # (B, T, P), (K+1, B, T, P)
    dq = dcand[0].copy()                                                # the positive is q itself
    dneg = dcand[1:].transpose(1, 2, 0, 3).reshape(-1, p)               # (B*T*K, P) in gather order
    dq_flat = dq.reshape(b * t, p)
    np.add.at(dq_flat, negative_indices.reshape(-1), dneg)              # scatter-add onto the sampled frames
    return dc, dq


def diversity_loss(perplexity, num_codevectors: int, num_masked: int):
    """(G V - perplexity) / (G V) * num_masked; its derivative w.r.t. perplexity is -num_masked / (G V)."""
    return (num_codevectors - perplexity) / num_codevectors * num_masked
