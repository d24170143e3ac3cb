"""Stopping criteria: which rows are done after a token was appended.

    criterion(input_ids (N, L) int, scores) -> (N,) bool, True = this row is finished.

`generate()` uses MaxLengthCriteria(max_length) and, when eos tokens are known,
EosTokenCriteria(eos ids); user criteria (any callable with that signature) are OR-ed in.
"""
from __future__ import annotations

import numpy as np

from ..core.errors import ConfigError

__all__ = ["StoppingCriteria", "MaxLengthCriteria", "EosTokenCriteria", "StoppingCriteriaList"]


class StoppingCriteria:
    def __call__(self, input_ids: np.ndarray, scores=None) -> np.ndarray:
        raise NotImplementedError


class MaxLengthCriteria(StoppingCriteria):
    """Every row is done once the sequence (prompt included) has max_length tokens."""

    def __init__(self, max_length: int):
        if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)) or max_length < 1:
            raise ConfigError(f"max_length: expected a positive integer, got {max_length!r}")
        self.max_length = int(max_length)

    def __call__(self, input_ids, scores=None):
        return np.full(input_ids.shape[0], input_ids.shape[1] >= self.max_length)


class EosTokenCriteria(StoppingCriteria):
    """A row is done when its last token is one of the eos ids."""

    def __init__(self, eos_token_id):
        ids = [eos_token_id] if isinstance(eos_token_id, (int, np.integer)) else list(eos_token_id)
        self.eos_token_id = np.asarray(ids, dtype=np.int64)

    def __call__(self, input_ids, scores=None):
        return np.isin(input_ids[:, -1], self.eos_token_id)


class StoppingCriteriaList(list):
    """OR of the criteria; `max_length` reports the MaxLengthCriteria's limit (None without one)."""

    def __call__(self, input_ids, scores=None):
        done = np.zeros(input_ids.shape[0], dtype=bool)
        for criterion in self:
            done = done | np.asarray(criterion(input_ids, scores), dtype=bool)
        return done

    @property
    def max_length(self):
        return next((c.max_length for c in self if isinstance(c, MaxLengthCriteria)), None)
