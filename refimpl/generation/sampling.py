"""Greedy search and multinomial sampling (transformers' `_sample`), and the sampler itself.

One step, for every row n of the (B * num_return_sequences) rows:
    logits_n = model(tokens so far)[last position]               (V,)
    scores_n = processors(tokens, logits_n)                        (V,)  recorded as `scores`
    token_n  = argmax(scores_n)                                     greedy (first index on ties)
             | multinomial(softmax(scores_n), rng)                  sampling
    token_n  = pad_token_id if row n had already finished           (only when eos ids are known)
Generation ends when every row hit an eos token or the sequences reach max_length.

Sampling draws from an explicit np.random.Generator by inverse CDF: one uniform u per row and
draw, token = the first index whose cumulative probability exceeds u * total. Tokens with
probability 0 (filtered by top-k / top-p / bans) can never be drawn. The draws are not torch's,
so sampled paths match transformers only in distribution (tests/generation patch torch's
multinomial with this function to compare whole sampled paths).
"""
from __future__ import annotations

import numpy as np

from ..core.errors import ConfigError, DTypeError, ShapeError
from ..core.validation import check_generator
from ..functional.activation import softmax
from .outputs import GenerateOutput

__all__ = ["multinomial", "sample_next_tokens"]


def multinomial(probs: np.ndarray, rng: np.random.Generator, num_samples: int = 1,
                replacement: bool = True) -> np.ndarray:
    """Draw token ids from each row of `probs` (N, V) (non-negative, need not sum to 1) -> (N, num_samples) int64.

    Draw k uses u = rng.random(N) (one uniform per row, rows in order); without replacement a drawn
    token's probability is set to 0 before the next draw (sequential sampling, as torch.multinomial
    defines it); once a row's positive mass is used up, further draws without replacement take the
    not-yet-drawn tokens in index order. A row with no positive mass to start with raises ConfigError.
    """
    rng = check_generator(rng, "rng")
    if not isinstance(probs, np.ndarray) or probs.dtype.kind != "f":
        raise DTypeError(f"probs: expected a float numpy array, got {getattr(probs, 'dtype', type(probs).__name__)}")
    if probs.ndim != 2:
        raise ShapeError(f"probs: expected shape (N, V), got {probs.shape}")
    if np.isnan(probs).any() or np.isinf(probs).any() or (probs < 0).any():
        bad = int(np.argwhere(np.isnan(probs) | np.isinf(probs) | (probs < 0))[0][0])
        raise ConfigError(f"probs: row {bad} holds NaN, inf or negative values (all scores -inf or NaN logits?)")
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
        raise ConfigError(f"num_samples: expected a positive integer, got {num_samples!r}")
    if not replacement and num_samples > probs.shape[1]:
        raise ConfigError(f"num_samples: {num_samples} draws without replacement from {probs.shape[1]} tokens")
    p = probs.copy()
    rows = np.arange(p.shape[0])
    drawn = np.zeros(p.shape, dtype=bool)
    out = np.empty((p.shape[0], num_samples), dtype=np.int64)
    for k in range(num_samples):
        cdf = np.cumsum(p, axis=-1)                                    # (N, V)
        total = cdf[:, -1]
        exhausted = ~(total > 0)
        if exhausted.any() and (replacement or k == 0):
            raise ConfigError(f"probs: row {int(np.flatnonzero(exhausted)[0])} has no token with positive "
                              f"probability (all tokens were filtered out?)")
        u = rng.random(p.shape[0])                                     # (N,) in [0, 1)
        idx = np.sum(cdf <= (u * total)[:, None], axis=-1)            # first index with cdf > u * total
        last_positive = p.shape[1] - 1 - np.argmax(p[:, ::-1] > 0, axis=-1)
        idx = np.minimum(idx, last_positive)                           # u * total rounding up to total
        # without replacement and no positive mass left: the next not-yet-drawn token (torch also
        # returns zero-probability categories then; beam sampling ranks them last by their -inf score)
        idx = np.where(exhausted, np.argmax(~drawn, axis=-1), idx)
        out[:, k] = idx
        drawn[rows, idx] = True
        if not replacement:
            p[rows, idx] = 0
    return out


def sample_next_tokens(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N, V) processed scores -> (N,) token ids drawn from softmax(scores)."""
    with np.errstate(invalid="ignore"):                                # an all -inf row -> NaN -> ConfigError
        probs = softmax(scores, axis=-1)
    return multinomial(probs, rng, 1)[:, 0]


def sample_loop(runner, input_ids, processors, stopping, *, do_sample: bool, pad_token_id, has_eos: bool,
                rng, output_scores: bool, output_logits: bool, return_dict: bool, compute_dtype=None):
    """The greedy / sampling loop; `runner` is utils._ModelRunner. Returns sequences or a GenerateOutput."""
    rows = input_ids.shape[0]
    unfinished = np.ones(rows, dtype=bool)
    scores, raw = [], []
    while True:
        logits = runner.step(input_ids)                               # (N, V) last-position logits
        if compute_dtype is not None:
            logits = logits.astype(compute_dtype)
        next_scores = processors(input_ids, logits)                   # (N, V)
        if output_scores:
            scores.append(next_scores)
        if output_logits:
            raw.append(logits)
        if do_sample:
            next_tokens = sample_next_tokens(next_scores, rng)
        else:
            next_tokens = np.argmax(next_scores, axis=-1)
        if has_eos:                                                   # finished rows only grow padding
            next_tokens = np.where(unfinished, next_tokens, pad_token_id)
        input_ids = np.concatenate([input_ids, next_tokens[:, None].astype(np.int64)], axis=1)  # (N, L+1)
        runner.advance(None)
        unfinished &= ~stopping(input_ids, scores)
        if not unfinished.any():
            break
    if not return_dict:
        return input_ids
    return GenerateOutput(sequences=input_ids, scores=tuple(scores) if output_scores else None,
                          logits=tuple(raw) if output_logits else None,
                          encoder_outputs=runner.encoder_outputs, past_key_values=runner.past)
