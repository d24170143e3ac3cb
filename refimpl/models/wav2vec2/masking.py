"""SpecAugment span masks and contrastive negatives for Wav2Vec2, drawn from an explicit Generator.

compute_mask_indices follows transformers' _compute_mask_indices step by step (fairseq's compute_mask_indices
differs: no_overlap, min_space):
    eps ~ U[0, 1) ONCE for the whole batch (probabilistic rounding)
    spans(L) = int(mask_prob * L / mask_length + eps), at least min_masks, at most
               sequence_length // mask_length (when spans * mask_length > sequence_length) and at most
               L - mask_length + 1 (clamped at 0)
    per row with valid length L (attention_mask.sum(-1), or sequence_length): spans(L) distinct start
    indices in [0, L - mask_length] without replacement, then padded up to spans(sequence_length) starts
    with copies of its first start (or sequence_length - 1 when it has none); each start s masks
    s .. s + mask_length - 1, clipped to sequence_length - 1. Spans may overlap, so the masked fraction
    is below mask_prob (about 49% for the pretraining 0.65).
transformers draws from NumPy's global RandomState (np.random.rand / np.random.choice); refimpl from the
Generator it is given, so the two give different masks for the same "seed": tests pass one mask
(mask_time_indices) to both frameworks.

sample_negative_indices follows transformers' _sample_negative_indices: for every MASKED frame t of
utterance b, num_negatives frames drawn uniformly (with replacement) from the OTHER masked frames of
the same utterance, as flat indices b * T + t' into the (B * T) frames; unmasked frames get b * T
(never used by the loss).
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from ...core.errors import ConfigError, DTypeError, ShapeError
from ...core.validation import check_generator

__all__ = ["compute_mask_indices", "sample_negative_indices", "check_bool_mask"]


def check_bool_mask(mask, name: str, shape: Tuple[int, ...]) -> np.ndarray:
    """A (B, T) mask of bool or 0/1 integers, as bool."""
    if not isinstance(mask, np.ndarray):
        raise DTypeError(f"{name}: expected a numpy.ndarray, got {type(mask).__name__}")
    if mask.dtype != np.bool_ and mask.dtype.kind not in "iu":
        raise DTypeError(f"{name}: expected a bool or 0/1 integer array, got dtype {mask.dtype}")
    if mask.shape != tuple(shape):
        raise ShapeError(f"{name}: expected shape {tuple(shape)}, got {mask.shape}")
    if mask.dtype != np.bool_ and not np.isin(mask, (0, 1)).all():
        raise ConfigError(f"{name}: values must be 0 or 1 (or bool)")
    return mask.astype(bool)


def compute_mask_indices(shape: Tuple[int, int], mask_prob: float, mask_length: int, rng: np.random.Generator,
                         attention_mask: Optional[np.ndarray] = None, min_masks: int = 0) -> np.ndarray:
    """(B, L) bool span mask, True = masked (see the module docstring for the exact rule).

    shape: (batch, sequence_length). attention_mask: (B, L) frame mask (right-padded), or None.
    Raises ConfigError if mask_length < 1 or mask_length > sequence_length (as transformers).
    """
    check_generator(rng, "rng")
    batch, seq_len = (int(s) for s in shape)
    if isinstance(mask_length, bool) or not isinstance(mask_length, (int, np.integer)) or mask_length < 1:
        raise ConfigError(f"mask_length: expected a positive integer, got {mask_length!r}")
    if mask_length > seq_len:
        raise ConfigError(f"mask_length: {mask_length} is longer than the sequence ({seq_len} frames); "
                          f"lower mask_time_length / mask_feature_length")
    if not 0.0 <= mask_prob <= 1.0:
        raise ConfigError(f"mask_prob: expected a probability in [0, 1], got {mask_prob}")
    if attention_mask is not None:
        lengths = check_bool_mask(attention_mask, "attention_mask", (batch, seq_len)).sum(-1).tolist()
    else:
        lengths = [seq_len] * batch

    eps = rng.random()                                                  # one draw for the whole batch

    def num_spans(length: int) -> int:
        n = max(int(mask_prob * length / mask_length + eps), min_masks)
        if n * mask_length > seq_len:
            n = seq_len // mask_length
        if length - (mask_length - 1) < n:
            n = max(length - (mask_length - 1), 0)
        return n

    mask = np.zeros((batch, seq_len), dtype=bool)
    max_spans = num_spans(seq_len)
    if max_spans == 0:
        return mask
    starts = np.empty((batch, max_spans), dtype=np.int64)
    for b, length in enumerate(lengths):
        n = num_spans(length)
        chosen = rng.choice(max(length - (mask_length - 1), 0), n, replace=False)   # distinct starts
        pad = chosen[0] if n > 0 else seq_len - 1                       # duplicates keep every row at max_spans
        starts[b] = np.concatenate([chosen, np.full(max_spans - n, pad, dtype=np.int64)])
    idx = starts[:, :, None] + np.arange(mask_length)[None, None, :]    # (B, spans, mask_length)
    idx = np.minimum(idx, seq_len - 1).reshape(batch, -1)               # clip to the last frame
    np.put_along_axis(mask, idx, True, axis=-1)
    return mask


def sample_negative_indices(features_shape: Tuple[int, int], num_negatives: int, rng: np.random.Generator,
                            mask_time_indices: Optional[np.ndarray] = None) -> np.ndarray:
    """(B, T, num_negatives) int64 flat indices b * T + t' of negatives (see the module docstring).

    Every masked frame's negatives are other masked frames of its own utterance, never itself; an
    utterance with exactly one masked frame has no other frame to draw from (ConfigError).
    """
    check_generator(rng, "rng")
    batch, seq_len = (int(s) for s in features_shape)
    if isinstance(num_negatives, bool) or not isinstance(num_negatives, (int, np.integer)) or num_negatives < 1:
        raise ConfigError(f"num_negatives: expected a positive integer, got {num_negatives!r}")
    masked = (np.ones((batch, seq_len), bool) if mask_time_indices is None
              else check_bool_mask(mask_time_indices, "mask_time_indices", (batch, seq_len)))
    out = np.zeros((batch, seq_len, num_negatives), dtype=np.int64)
    for b in range(batch):
        frames = np.flatnonzero(masked[b])                             # the masked frames of utterance b
        m = frames.size
        if m == 1:
            raise ConfigError(f"mask_time_indices: utterance {b} has a single masked frame, so no other masked "
                              f"frame can serve as its negative")
        if m:
            own = np.arange(m)[:, None]                                 # (m, 1) each frame's own position
            draw = rng.integers(0, m - 1, size=(m, num_negatives))      # m - 1 candidates ...
            draw = draw + (draw >= own)                                 # ... skipping itself, still uniform
            out[b, frames] = frames[draw]
        out[b] += b * seq_len                                           # flat index into the (B * T) frames
    return out
