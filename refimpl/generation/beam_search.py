"""Beam search (and beam sampling) with transformers' (5.x, vectorised `_beam_search`) bookkeeping.

State per prompt b (B prompts, K = num_beams beams each, V tokens, P = prompt length):
    running_sequences (B, K, max_length)    live hypotheses; running_scores (B, K) their sum of log-probs,
                                            initially [0, -1e9, ..., -1e9] so step 1 expands beam 0 only
    sequences (B, K, max_length)            the K best FINISHED hypotheses; beam_scores (B, K) their final
                                            scores (-1e9 = empty slot), best first; is_finished (B, K)
    running/beam indices (B, K, max_length - P)  per generated step, the flat row (b*K + beam) it came from

One step (cur_len tokens so far):
 1. logp = processors(running, log_softmax(logits))                     (B*K, V)  -> recorded as `scores`
 2. cand = logp + running_scores[:, :, None], flattened to (B, K*V); keep the top 2K
    (max(2, 1 + number of eos ids) * K): beam = i // V, token = i % V. Beam sampling instead draws
    them without replacement from softmax(cand) and sorts them by score.
 3. a candidate "hits" when it ends in eos or reaches max_length; hits get -1e9 and the K best of
    the rest are the new running beams (so K live beams always remain).
 4. hits among the first K candidates become finished hypotheses with score
        sum_logprobs / (cur_len + 1 - P) ** length_penalty        (generated length, prompt excluded)
    unless the prompt is already done (early stopping); the K best of old + new finished are kept.
 5. the KV cache rows are reordered by the new running beams' source rows.
 6. stop when, for every prompt, no running beam can still beat the worst finished one:
        early_stopping=True:    all K finished slots are full
        early_stopping=False:   best_running / (cur_len - P) ** lp  <=  worst finished   (heuristic)
        early_stopping="never": best_running / (max_length - P) ** lp when lp > 0 (else cur_len - P)
    or when every candidate hits max_length.
Output: the num_return_sequences best finished hypotheses per prompt, cut to the longest one;
shorter ones are filled with (pad_token_id if it is a non-zero id, else eos_token_id[0]) when eos
ids exist, else -1 - transformers' fill rule, kept as is (so T5, pad = 0, pads beams with eos).
Ties between equal candidate scores are broken by the lower flat index (torch.topk leaves them
unspecified); they only arise between hypotheses that cannot be returned.
"""
from __future__ import annotations

import numpy as np

from ..core.errors import ConfigError
from ..functional.activation import log_softmax, softmax
from .outputs import GenerateBeamOutput
from .sampling import multinomial

__all__ = ["beam_search_loop", "beam_fill_value"]

_NEG = -1.0e9          # "impossible" score offset used by transformers for masked beams / empty slots


def beam_fill_value(pad_token_id, eos_token_id) -> int:
    """transformers: `pad_token_id or eos_token_id[0] if eos_token_id is not None else -1`."""
    if eos_token_id is None:
        return -1
    return int(pad_token_id) if pad_token_id else int(eos_token_id[0])


def _top(x: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest entries of each row, largest first; ties -> lower index first."""
    return np.argsort(-x, axis=-1, kind="stable")[:, :k]


def _gather(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """x (B, K, ...) gathered along axis 1 by idx (B, K') -> (B, K', ...)."""
    return np.take_along_axis(x, idx.reshape(idx.shape + (1,) * (x.ndim - 2)), axis=1)


def beam_search_loop(runner, input_ids, processors, stopping, *, batch_size: int, num_beams: int, max_length: int,
                     length_penalty: float, early_stopping, num_return_sequences: int, eos_token_id,
                     pad_token_id, do_sample: bool, rng, output_scores: bool, output_logits: bool,
                     return_dict: bool, compute_dtype=None):
    """input_ids: (B*K, P) prompts already repeated per beam; returns sequences or a GenerateBeamOutput."""
    B, K = batch_size, num_beams
    P = cur_len = input_ids.shape[1]
    n_eos = len(eos_token_id) if eos_token_id is not None else 0
    keep = max(2, 1 + n_eos) * K                                       # candidates kept per prompt
    top_k_mask = np.arange(keep) < K                                   # only these may finish a hypothesis
    fill = beam_fill_value(pad_token_id, eos_token_id)

    running = np.full((B, K, max_length), fill, dtype=np.int64)
    running[:, :, :P] = input_ids.reshape(B, K, P)
    sequences = running.copy()
    running_idx = np.full((B, K, max_length - P), -1, dtype=np.int64)
    beam_idx = running_idx.copy()
    dtype = None
    running_scores = beam_scores = None
    is_finished = np.zeros((B, K), dtype=bool)
    improvable = np.ones((B, 1), dtype=bool)                           # may a running beam still win?
    hits = np.zeros((B, K), dtype=bool)
    all_scores, raw = [], []
    flat = input_ids

    while True:
        logits = runner.step(flat)                                     # (B*K, V)
        if compute_dtype is not None:
            logits = logits.astype(compute_dtype)
        if dtype is None:                                              # scores live in the logits' dtype
            dtype = logits.dtype
            running_scores = np.zeros((B, K), dtype)
            running_scores[:, 1:] = _NEG
            beam_scores = np.full((B, K), _NEG, dtype)
        vocab = logits.shape[-1]
        if keep > K * vocab:
            raise ConfigError(f"num_beams: beam search keeps {keep} candidates per prompt "
                              f"(max(2, 1 + number of eos ids) * num_beams), more than num_beams * vocab_size = "
                              f"{K * vocab}")
        with np.errstate(invalid="ignore"):
            logp = processors(flat, log_softmax(logits, axis=-1))     # (B*K, V)
        if output_scores:
            all_scores.append(logp)
        if output_logits:
            raw.append(logits)

        cand = (logp.reshape(B, K, vocab) + running_scores[:, :, None]).reshape(B, K * vocab)  # (B, K*V)
        if do_sample:
            with np.errstate(invalid="ignore", under="ignore"):
                picked = multinomial(softmax(cand, axis=-1), rng, keep, replacement=False)     # (B, keep)
            picked_scores = np.take_along_axis(cand, picked, axis=-1)
            order = _top(picked_scores, keep)
            top_idx = np.take_along_axis(picked, order, axis=-1)
        else:
            top_idx = _top(cand, keep)                                 # (B, keep)
        top_scores = np.take_along_axis(cand, top_idx, axis=-1)
        src_beam = top_idx // vocab                                    # (B, keep) beam each candidate extends
        top_seqs = _gather(running, src_beam)                          # (B, keep, max_length)
        top_seqs[:, :, cur_len] = top_idx % vocab
        top_src = _gather(running_idx, src_beam)
        top_src[:, :, cur_len - P] = src_beam + np.arange(B)[:, None] * K   # flat row of `scores`

        hits = stopping(top_seqs[:, :, :cur_len + 1].reshape(B * keep, cur_len + 1), all_scores).reshape(B, keep)

        # 3. the K best candidates that did not just end keep running
        live_scores = top_scores + hits.astype(dtype) * _NEG
        nxt = _top(live_scores, K)
        running = _gather(top_seqs, nxt)
        running_scores = np.take_along_axis(live_scores, nxt, axis=-1)
        running_idx = _gather(top_src, nxt)

        # 4. candidates that ended (among the first K) compete for the finished slots
        just_finished = hits & top_k_mask[None, :]
        final = top_scores / ((cur_len + 1 - P) ** length_penalty)
        full = np.all(is_finished, axis=-1, keepdims=True) & (early_stopping is True)
        final = final + full.astype(dtype) * _NEG
        final = final + (~improvable).astype(dtype) * _NEG
        final = final + (~just_finished).astype(dtype) * _NEG
        merged_scores = np.concatenate([beam_scores, final], axis=1)  # (B, K + keep)
        best = _top(merged_scores, K)
        sequences = _gather(np.concatenate([sequences, top_seqs], axis=1), best)
        beam_scores = np.take_along_axis(merged_scores, best, axis=-1)
        beam_idx = _gather(np.concatenate([beam_idx, top_src], axis=1), best)
        is_finished = np.take_along_axis(np.concatenate([is_finished, just_finished], axis=1), best, axis=-1)

        # 5. the cache follows the surviving beams
        runner.advance(running_idx[:, :, cur_len - P].reshape(-1))
        cur_len += 1

        # 6. can anything still improve?
        if early_stopping == "never" and length_penalty > 0.0:
            best_len = max_length - P
        else:
            best_len = cur_len - P
        best_running = running_scores[:, :1] / (best_len ** length_penalty)           # (B, 1)
        worst_finished = np.where(is_finished, np.min(beam_scores, axis=1, keepdims=True), _NEG)  # (B, K)
        improvable = improvable & np.any(best_running > worst_finished, axis=-1, keepdims=True)
        open_slots = not (np.all(is_finished) and early_stopping is True)
        if not (np.any(improvable) and open_slots and not np.all(hits)):
            break
        flat = running[:, :, :cur_len].reshape(B * K, cur_len)

    n = num_return_sequences
    sequences = sequences[:, :n].reshape(B * n, max_length)
    seq_scores = beam_scores[:, :n].reshape(B * n)
    beam_idx = beam_idx[:, :n].reshape(B * n, max_length - P)
    gen_len = int(np.max(np.sum(beam_idx != -1, axis=1)))            # longest returned hypothesis
    sequences = sequences[:, :P + gen_len]
    beam_idx = beam_idx[:, :gen_len]
    if not return_dict:
        return sequences
    return GenerateBeamOutput(sequences=sequences, sequences_scores=seq_scores if output_scores else None,
                              scores=tuple(all_scores) if output_scores else None,
                              logits=tuple(raw) if output_logits else None, beam_indices=beam_idx,
                              encoder_outputs=runner.encoder_outputs, past_key_values=runner.past)
