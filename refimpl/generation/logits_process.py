"""Logits processors and warpers: each maps (input_ids, scores) to new next-token scores.

    processor(input_ids, scores) -> scores'
    input_ids: (N, L) int  - every token so far (prompt + generated; for encoder-decoder models the
                             decoder tokens), one row per hypothesis
    scores:    (N, V) float32/float64 - next-token logits (greedy / sampling) or log-probabilities
                             (beam search); the result has the same shape and dtype, and the input
                             array is never modified.

One class per transformers processor, with its name, arguments and semantics (transformers 5.x,
generation/logits_process.py); they compose through LogitsProcessorList, and
`build_logits_processor(config, ...)` builds the list in the order `generate()` of transformers
does (penalties and constraints first, then the sampling warpers temperature -> top-k -> top-p,
then renormalisation).

Where torch leaves an order unspecified refimpl fixes one: TopPLogitsWarper sorts with a stable
sort, so among tokens with EQUAL scores that straddle the top-p boundary the lower token id is
removed first (torch's unstable sort may pick another of the tied tokens; the number removed is
the same).
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ..core.errors import ConfigError, DTypeError, IndexRangeError, ShapeError
from ..functional.activation import log_softmax, softmax

__all__ = [
    "LogitsProcessor", "LogitsProcessorList", "TemperatureLogitsWarper", "TopKLogitsWarper", "TopPLogitsWarper",
    "RepetitionPenaltyLogitsProcessor", "NoRepeatNGramLogitsProcessor", "MinLengthLogitsProcessor",
    "MinNewTokensLengthLogitsProcessor", "SequenceBiasLogitsProcessor", "NoBadWordsLogitsProcessor",
    "ForcedBOSTokenLogitsProcessor", "ForcedEOSTokenLogitsProcessor", "InfNanRemoveLogitsProcessor",
    "LogitNormalization", "SuppressTokensLogitsProcessor", "SuppressTokensAtBeginLogitsProcessor",
    "build_logits_processor",
]


def _check_call(input_ids, scores) -> None:
    if not isinstance(scores, np.ndarray) or scores.dtype not in (np.float32, np.float64):
        raise DTypeError(f"scores: expected a float32/float64 numpy array, got "
                         f"{getattr(scores, 'dtype', type(scores).__name__)}")
    if scores.ndim != 2:
        raise ShapeError(f"scores: expected shape (N, vocab_size), got {scores.shape}")
    if not isinstance(input_ids, np.ndarray) or not np.issubdtype(input_ids.dtype, np.integer):
        raise DTypeError(f"input_ids: expected an integer numpy array, got "
                         f"{getattr(input_ids, 'dtype', type(input_ids).__name__)}")
    if input_ids.ndim != 2 or input_ids.shape[0] != scores.shape[0]:
        raise ShapeError(f"input_ids: expected shape ({scores.shape[0]}, L) to match scores {scores.shape}, "
                         f"got {input_ids.shape}")


def _ids(value, name: str) -> np.ndarray:
    """int or list of ints -> 1-D int64 array of non-negative token ids."""
    vals = [value] if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    try:
        arr = np.asarray(list(vals), dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: expected a token id or a list of token ids, got {value!r}") from exc
    if arr.ndim != 1 or (arr.size and arr.min() < 0):
        raise ConfigError(f"{name}: expected non-negative token ids, got {value!r}")
    return arr


def _vocab_mask(vocab_size: int, ids: np.ndarray) -> np.ndarray:
    """(V,) bool, True at the ids that lie in the vocabulary (ids beyond it are ignored, like torch.isin)."""
    mask = np.zeros(vocab_size, dtype=bool)
    mask[ids[ids < vocab_size]] = True
    return mask


class LogitsProcessor:
    """Base class: `__call__(input_ids (N, L) int, scores (N, V) float) -> (N, V) float`."""

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class LogitsProcessorList(list):
    """Processors applied left to right: scores = p_k(ids, ... p_1(ids, scores))."""

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        _check_call(input_ids, scores)
        for processor in self:
            scores = processor(input_ids, scores)
        return scores


# ============================================================================ length constraints
class MinLengthLogitsProcessor(LogitsProcessor):
    """While the sequence (prompt included) is shorter than min_length, eos tokens get -inf."""

    def __init__(self, min_length: int, eos_token_id):
        if isinstance(min_length, bool) or not isinstance(min_length, (int, np.integer)) or min_length < 0:
            raise ConfigError(f"min_length: expected a non-negative integer, got {min_length!r}")
        self.min_length = int(min_length)
        self.eos_token_id = _ids(eos_token_id, "eos_token_id")

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] < self.min_length:
            return np.where(_vocab_mask(scores.shape[-1], self.eos_token_id), -np.inf, scores).astype(scores.dtype)
        return scores.copy()


class MinNewTokensLengthLogitsProcessor(LogitsProcessor):
    """While fewer than min_new_tokens tokens follow the first prompt_length_to_skip ones, eos gets -inf."""

    def __init__(self, prompt_length_to_skip: int, min_new_tokens: int, eos_token_id):
        for name, v in (("prompt_length_to_skip", prompt_length_to_skip), ("min_new_tokens", min_new_tokens)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ConfigError(f"{name}: expected a non-negative integer, got {v!r}")
        self.prompt_length_to_skip = int(prompt_length_to_skip)
        self.min_new_tokens = int(min_new_tokens)
        self.eos_token_id = _ids(eos_token_id, "eos_token_id")

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] - self.prompt_length_to_skip < self.min_new_tokens:
            return np.where(_vocab_mask(scores.shape[-1], self.eos_token_id), -np.inf, scores).astype(scores.dtype)
        return scores.copy()


# ============================================================================ sampling warpers
class TemperatureLogitsWarper(LogitsProcessor):
    """scores / temperature (temperature > 0; < 1 sharpens, > 1 flattens the distribution)."""

    def __init__(self, temperature: float):
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
            raise ConfigError(f"temperature: expected a float > 0, got {temperature!r}"
                              + ("; for greedy decoding use do_sample=False" if temperature == 0 else ""))
        self.temperature = float(temperature)

    def __call__(self, input_ids, scores):
        return scores / self.temperature


class TopKLogitsWarper(LogitsProcessor):
    """Keep the tokens whose score is >= the k-th largest score (ties at the k-th value all stay).

    k = max(top_k, min_tokens_to_keep), capped at the vocabulary size; the rest get filter_value.
    """

    def __init__(self, top_k: int, filter_value: float = -math.inf, min_tokens_to_keep: int = 1):
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k <= 0:
            raise ConfigError(f"top_k: expected a positive integer, got {top_k!r}")
        if isinstance(min_tokens_to_keep, bool) or not isinstance(min_tokens_to_keep, (int, np.integer)) \
                or min_tokens_to_keep < 1:
            raise ConfigError(f"min_tokens_to_keep: expected a positive integer, got {min_tokens_to_keep!r}")
        self.top_k = max(int(top_k), int(min_tokens_to_keep))
        self.filter_value = filter_value
        self.min_tokens_to_keep = int(min_tokens_to_keep)

    def __call__(self, input_ids, scores):
        vocab = scores.shape[-1]
        k = min(self.top_k, vocab)
        kth = np.partition(scores, vocab - k, axis=-1)[:, vocab - k:vocab - k + 1]   # (N, 1) k-th largest
        return np.where(scores < kth, self.filter_value, scores).astype(scores.dtype)


class TopPLogitsWarper(LogitsProcessor):
    """Nucleus filtering: keep the smallest set of most likely tokens whose probability mass reaches top_p.

    Sorted ascending, a token is removed when the cumulative probability up to and including it
    is <= 1 - top_p; so the token that crosses the threshold is kept, and the
    min_tokens_to_keep most likely tokens always stay.
    """

    def __init__(self, top_p: float, filter_value: float = -math.inf, min_tokens_to_keep: int = 1):
        top_p = float(top_p)
        if not 0.0 <= top_p <= 1.0:
            raise ConfigError(f"top_p: expected a float in [0, 1], got {top_p!r}")
        if isinstance(min_tokens_to_keep, bool) or not isinstance(min_tokens_to_keep, (int, np.integer)) \
                or min_tokens_to_keep < 1:
            raise ConfigError(f"min_tokens_to_keep: expected a positive integer, got {min_tokens_to_keep!r}")
        self.top_p = top_p
        self.filter_value = filter_value
        self.min_tokens_to_keep = int(min_tokens_to_keep)

    def __call__(self, input_ids, scores):
        order = np.argsort(scores, axis=-1, kind="stable")                 # (N, V) ascending
        sorted_scores = np.take_along_axis(scores, order, axis=-1)
        with np.errstate(invalid="ignore"):                                # an all -inf row gives NaN: keeps all
            cumulative = np.cumsum(softmax(sorted_scores, axis=-1), axis=-1)
        remove_sorted = cumulative <= (1 - self.top_p)
        remove_sorted[:, -self.min_tokens_to_keep:] = False
        remove = np.empty_like(remove_sorted)
        np.put_along_axis(remove, order, remove_sorted, axis=-1)           # back to vocabulary order
        return np.where(remove, self.filter_value, scores).astype(scores.dtype)


# ============================================================================ penalties
class RepetitionPenaltyLogitsProcessor(LogitsProcessor):
    """CTRL repetition penalty on every token already in input_ids: s < 0 -> s * penalty, else s / penalty.

    prompt_ignore_length: an int (skip the first k positions of every row) or an (N,) array (skip the
    first k_i positions of row i: transformers' generate passes the left-padding length, so pad
    tokens of the prompt are not penalised). Ids >= vocab_size are ignored.
    """

    def __init__(self, penalty: float, prompt_ignore_length=None):
        if isinstance(penalty, bool) or not isinstance(penalty, (int, float)) or not penalty > 0:
            raise ConfigError(f"penalty: expected a float > 0, got {penalty!r}")
        if prompt_ignore_length is not None:
            if isinstance(prompt_ignore_length, (int, np.integer)) and not isinstance(prompt_ignore_length, bool):
                if prompt_ignore_length < 0:
                    raise ConfigError(f"prompt_ignore_length: expected >= 0, got {prompt_ignore_length}")
                prompt_ignore_length = int(prompt_ignore_length)
            else:
                prompt_ignore_length = np.asarray(prompt_ignore_length)
                if prompt_ignore_length.ndim != 1 or not np.issubdtype(prompt_ignore_length.dtype, np.integer):
                    raise ConfigError("prompt_ignore_length: expected an int or a 1-D integer array")
        self.penalty = float(penalty)
        self.prompt_ignore_length = prompt_ignore_length

    def __call__(self, input_ids, scores):
        vocab = scores.shape[-1]
        ids = input_ids
        if isinstance(self.prompt_ignore_length, int):
            ids = ids[:, self.prompt_ignore_length:]
        elif self.prompt_ignore_length is not None:
            if self.prompt_ignore_length.shape[0] != ids.shape[0]:
                raise ShapeError(f"prompt_ignore_length: has {self.prompt_ignore_length.shape[0]} rows, input_ids "
                                 f"has {ids.shape[0]}")
            skipped = np.arange(ids.shape[1])[None, :] < self.prompt_ignore_length[:, None]
            ids = np.where(skipped, vocab, ids)                             # -> the spare column, dropped below
        ids = np.minimum(ids, vocab)                                        # (N, L') ids beyond V -> spare column
        padded = np.concatenate([scores, np.zeros((scores.shape[0], 1), scores.dtype)], axis=-1)  # (N, V+1)
        seen = np.take_along_axis(padded, ids, axis=-1)
        penalised = np.where(seen < 0, seen * self.penalty, seen / self.penalty)
        np.put_along_axis(padded, ids, penalised, axis=-1)                 # repeats write the same value
        return padded[:, :vocab]


class NoRepeatNGramLogitsProcessor(LogitsProcessor):
    """Ban every token that would complete an n-gram already present in the row (prompt included).

    The last n-1 tokens are the prefix; each earlier window of n tokens whose first n-1 equal that
    prefix bans its last token.
    """

    def __init__(self, ngram_size: int):
        if isinstance(ngram_size, bool) or not isinstance(ngram_size, (int, np.integer)) or ngram_size <= 0:
            raise ConfigError(f"ngram_size: expected a positive integer, got {ngram_size!r}")
        self.ngram_size = int(ngram_size)

    def __call__(self, input_ids, scores):
        n, cur_len = self.ngram_size, input_ids.shape[1]
        out = scores.copy()
        if cur_len < n:
            return out
        vocab = scores.shape[-1]
        prefix = input_ids[:, cur_len - n + 1:]                                    # (N, n-1)
        windows = np.lib.stride_tricks.sliding_window_view(input_ids, n, axis=1)   # (N, cur_len-n+1, n)
        matches = np.all(windows[:, :, :-1] == prefix[:, None, :], axis=-1)        # (N, W)
        r, w = np.nonzero(matches)
        banned = windows[r, w, -1]
        keep = banned < vocab                                                      # ids beyond V: nothing to ban
        out[r[keep], banned[keep]] = -np.inf
        return out


class SequenceBiasLogitsProcessor(LogitsProcessor):
    """Add a bias to the score of the token that would complete a given token sequence.

    sequence_bias: {(t1, ..., tk): bias} or [[[t1, ..., tk], bias], ...]. A 1-token sequence always
    gets its bias; a longer one only in rows whose last k-1 tokens are t1..t(k-1). (transformers
    stores the biases as float32; refimpl keeps them in the scores' dtype.)
    """

    def __init__(self, sequence_bias):
        self.sequence_bias = self._normalise(sequence_bias)

    @staticmethod
    def _normalise(sequence_bias) -> Dict[Tuple[int, ...], float]:
        if isinstance(sequence_bias, dict):
            items = list(sequence_bias.items())
        elif isinstance(sequence_bias, (list, tuple)):
            items = []
            for entry in sequence_bias:
                if not isinstance(entry, (list, tuple)) or len(entry) != 2:
                    raise ConfigError(f"sequence_bias: expected [[token ids], bias] pairs, got {entry!r}")
                items.append((entry[0], entry[1]))
        else:
            items = []
        if not items:
            raise ConfigError(f"sequence_bias: expected a non-empty dict or list, got {sequence_bias!r}")
        out = {}
        for seq, bias in items:
            if (not isinstance(seq, (list, tuple)) or len(seq) == 0
                    or any(isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 0 for t in seq)):
                raise ConfigError(f"sequence_bias: each sequence must be a non-empty list of non-negative token ids, "
                                  f"got {seq!r}")
            if isinstance(bias, bool) or not isinstance(bias, (int, float)):
                raise ConfigError(f"sequence_bias: bias of {list(seq)} must be a float, got {bias!r}")
            out[tuple(int(t) for t in seq)] = float(bias)
        return out

    def __call__(self, input_ids, scores):
        vocab = scores.shape[-1]
        too_big = sorted({t for seq in self.sequence_bias for t in seq if t >= vocab})
        if too_big:
            raise IndexRangeError(f"{self._arg_name}: token ids {too_big} are outside the vocabulary "
                                  f"(vocab_size={vocab})")
        bias = np.zeros_like(scores)                                               # (N, V)
        for seq, b in self.sequence_bias.items():
            if len(seq) == 1:
                bias[:, seq[0]] += b
        cur_len = input_ids.shape[1]
        for seq, b in self.sequence_bias.items():
            k = len(seq) - 1
            if k == 0 or k > cur_len:
                continue
            rows = np.all(input_ids[:, cur_len - k:] == np.asarray(seq[:-1]), axis=-1)  # (N,)
            bias[rows, seq[-1]] += b
        return scores + bias

    _arg_name = "sequence_bias"


class NoBadWordsLogitsProcessor(SequenceBiasLogitsProcessor):
    """Forbid token sequences: -inf on the token that would complete any of bad_words_ids.

    Single-token entries equal to an eos token are dropped (so generation can still stop).
    """

    _arg_name = "bad_words_ids"

    def __init__(self, bad_words_ids, eos_token_id=None):
        if (not isinstance(bad_words_ids, (list, tuple)) or len(bad_words_ids) == 0
                or any(not isinstance(s, (list, tuple)) for s in bad_words_ids)
                or any(isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 0
                       for s in bad_words_ids for t in s)):
            raise ConfigError(f"bad_words_ids: expected a non-empty list of lists of non-negative token ids, "
                              f"got {bad_words_ids!r}")
        self.bad_words_ids = [list(s) for s in bad_words_ids]
        eos = set(_ids(eos_token_id, "eos_token_id").tolist()) if eos_token_id is not None else set()
        kept = [s for s in self.bad_words_ids if not (len(s) == 1 and s[0] in eos)]
        if any(len(s) == 0 for s in kept):
            raise ConfigError(f"bad_words_ids: empty sequence in {bad_words_ids!r}")
        self.sequence_bias = {tuple(int(t) for t in s): -math.inf for s in kept}


# ============================================================================ forced / suppressed tokens
class ForcedBOSTokenLogitsProcessor(LogitsProcessor):
    """When the sequence has length 1 (only the decoder start token), force bos_token_id: 0 there, -inf elsewhere."""

    def __init__(self, bos_token_id: int):
        self.bos_token_id = int(_ids(bos_token_id, "bos_token_id")[0])

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] != 1:
            return scores.copy()
        if self.bos_token_id >= scores.shape[-1]:
            raise IndexRangeError(f"forced_bos_token_id: {self.bos_token_id} is outside the vocabulary "
                                  f"(vocab_size={scores.shape[-1]})")
        out = np.full_like(scores, -np.inf)
        out[:, self.bos_token_id] = 0
        return out


class ForcedEOSTokenLogitsProcessor(LogitsProcessor):
    """At length max_length - 1 (the last step), force an eos token: 0 at eos ids, -inf elsewhere."""

    def __init__(self, max_length: int, eos_token_id):
        if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)):
            raise ConfigError(f"max_length: expected an integer, got {max_length!r}")
        self.max_length = int(max_length)
        self.eos_token_id = _ids(eos_token_id, "eos_token_id")

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] != self.max_length - 1:
            return scores.copy()
        if self.eos_token_id.size and self.eos_token_id.max() >= scores.shape[-1]:
            raise IndexRangeError(f"forced_eos_token_id: {self.eos_token_id.tolist()} outside the vocabulary "
                                  f"(vocab_size={scores.shape[-1]})")
        out = np.full_like(scores, -np.inf)
        out[:, self.eos_token_id] = 0
        return out


class InfNanRemoveLogitsProcessor(LogitsProcessor):
    """NaN -> 0, +inf -> finfo.max, -inf -> finfo.min (of the scores' dtype)."""

    def __call__(self, input_ids, scores):
        fi = np.finfo(scores.dtype)
        out = np.where(np.isnan(scores), 0.0, scores)
        out = np.where(scores == np.inf, fi.max, out)
        return np.where(scores == -np.inf, fi.min, out).astype(scores.dtype)


class LogitNormalization(LogitsProcessor):
    """log_softmax of the scores (renormalize_logits=True, the last processor)."""

    def __call__(self, input_ids, scores):
        with np.errstate(invalid="ignore"):
            return log_softmax(scores, axis=-1)


class SuppressTokensLogitsProcessor(LogitsProcessor):
    """-inf at every suppressed token id, at every step."""

    def __init__(self, suppress_tokens: Sequence[int]):
        self.suppress_tokens = _ids(list(suppress_tokens), "suppress_tokens")

    def __call__(self, input_ids, scores):
        return np.where(_vocab_mask(scores.shape[-1], self.suppress_tokens), -np.inf, scores).astype(scores.dtype)


class SuppressTokensAtBeginLogitsProcessor(LogitsProcessor):
    """-inf at the suppressed token ids only when the sequence length equals begin_index (the first new token)."""

    def __init__(self, begin_suppress_tokens: Sequence[int], begin_index: int):
        self.begin_suppress_tokens = _ids(list(begin_suppress_tokens), "begin_suppress_tokens")
        self.begin_index = int(begin_index)

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] != self.begin_index:
            return scores.copy()
        mask = _vocab_mask(scores.shape[-1], self.begin_suppress_tokens)
        return np.where(mask, -np.inf, scores).astype(scores.dtype)


# ============================================================================ the list generate() builds
def _merge_custom(defaults: LogitsProcessorList, custom) -> LogitsProcessorList:
    """transformers' rule: a custom processor replaces the default one of the same class; others are appended."""
    if not custom:
        return defaults
    out = LogitsProcessorList()
    for d in defaults:
        replacement = next((c for c in custom if type(c) is type(d)), None)
        out.append(replacement if replacement is not None else d)
    for c in custom:
        if not any(c is o for o in out):
            out.append(c)
    return out


def build_logits_processor(config, input_ids_seq_length: int, *, eos_token_id=None,
                           prompt_ignore_length: Optional[np.ndarray] = None,
                           custom: Optional[Sequence] = None) -> LogitsProcessorList:
    """The processors `generate()` applies, in transformers' order, from a defaults-filled GenerationConfig.

    config: GenerationConfig after generate() prepared it (max_length / min_length final).
    input_ids_seq_length: prompt length (decoder prompt length for encoder-decoder models).
    eos_token_id: list of eos ids (None: min-length processors are skipped, as in transformers).
    prompt_ignore_length: (N,) left-padding lengths for the repetition penalty (None: no padding).
    custom: user processors, merged by class (see _merge_custom).

    Order: sequence_bias, repetition_penalty, no_repeat_ngram_size, bad_words_ids, min_length,
    min_new_tokens, forced_bos, forced_eos, remove_invalid_values, suppress_tokens,
    begin_suppress_tokens, [custom], and with do_sample: temperature, top_k, top_p; last
    renormalize_logits.
    """
    procs = LogitsProcessorList()
    if config.sequence_bias is not None:
        procs.append(SequenceBiasLogitsProcessor(config.sequence_bias))
    if config.repetition_penalty is not None and config.repetition_penalty != 1.0:
        procs.append(RepetitionPenaltyLogitsProcessor(config.repetition_penalty,
                                                      prompt_ignore_length=prompt_ignore_length))
    if config.no_repeat_ngram_size is not None and config.no_repeat_ngram_size > 0:
        procs.append(NoRepeatNGramLogitsProcessor(config.no_repeat_ngram_size))
    if config.bad_words_ids is not None:
        procs.append(NoBadWordsLogitsProcessor(config.bad_words_ids, eos_token_id))
    if config.min_length is not None and eos_token_id is not None and config.min_length > 0:
        procs.append(MinLengthLogitsProcessor(config.min_length, eos_token_id))
    if config.min_new_tokens is not None and eos_token_id is not None and config.min_new_tokens > 0:
        procs.append(MinNewTokensLengthLogitsProcessor(input_ids_seq_length, config.min_new_tokens, eos_token_id))
    if config.forced_bos_token_id is not None:
        procs.append(ForcedBOSTokenLogitsProcessor(config.forced_bos_token_id))
    if config.forced_eos_token_id is not None:
        procs.append(ForcedEOSTokenLogitsProcessor(config.max_length, config.forced_eos_token_id))
    if config.remove_invalid_values is True:
        procs.append(InfNanRemoveLogitsProcessor())
    if config.suppress_tokens is not None:
        procs.append(SuppressTokensLogitsProcessor(config.suppress_tokens))
    if config.begin_suppress_tokens is not None:
        # the first generated token sits at the prompt length, one later when a forced BOS comes first
        begin = input_ids_seq_length
        if not (input_ids_seq_length > 1 or config.forced_bos_token_id is None):
            begin += 1
        procs.append(SuppressTokensAtBeginLogitsProcessor(config.begin_suppress_tokens, begin))
    procs = _merge_custom(procs, custom)

    if config.do_sample:
        # beam sampling must keep a non-eos continuation for every beam
        if config.num_beams is not None and config.num_beams > 1:
            min_keep = (len(eos_token_id) + 1) if eos_token_id is not None else 2
        else:
            min_keep = 1
        if config.temperature is not None and config.temperature != 1.0:
            procs.append(TemperatureLogitsWarper(config.temperature))
        if config.top_k is not None and config.top_k != 0:
            procs.append(TopKLogitsWarper(config.top_k, min_tokens_to_keep=min_keep))
        if config.top_p is not None and config.top_p < 1.0:
            procs.append(TopPLogitsWarper(config.top_p, min_tokens_to_keep=min_keep))
    if config.renormalize_logits is True:
        procs.append(LogitNormalization())
    return procs
