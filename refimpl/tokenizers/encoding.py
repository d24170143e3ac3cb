"""Tokenizer output: one `Encoding` per example, a dict-like `BatchEncoding` for the model inputs.

Field names follow the `tokenizers` library (Encoding.ids, .type_ids, .offsets, .word_ids, ...)
and transformers (BatchEncoding keys input_ids, token_type_ids, attention_mask,
special_tokens_mask, offset_mapping), so a test can compare them key by key.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..core.errors import ConfigError, IndexRangeError


@dataclass
class Encoding:
    """One example (a sequence or a pair) after special tokens, truncation and padding.

    ids, type_ids, attention_mask, special_tokens_mask: one int per token.
    tokens: the token strings. offsets: (start, end) character offsets into the ORIGINAL text of
    the token's own sequence ((0, 0) for special and padding tokens). word_ids: index of the
    pre-token (word) in its sequence, None for special/padding tokens. sequence_ids: 0 or 1 for
    tokens of the first/second text, None for special/padding tokens.
    overflowing: the other windows of a truncated example (stride/overflow, see
    TokenizerBase.__call__), each an Encoding of its own; empty when nothing was cut off.
    """
    ids: list = field(default_factory=list)
    type_ids: list = field(default_factory=list)
    tokens: list = field(default_factory=list)
    offsets: list = field(default_factory=list)
    word_ids: list = field(default_factory=list)
    sequence_ids: list = field(default_factory=list)
    special_tokens_mask: list = field(default_factory=list)
    attention_mask: list = field(default_factory=list)
    overflowing: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def append(self, id_: int, token: str, *, type_id: int, offsets=(0, 0), word_id=None,
               sequence_id=None, special: bool = False, attend: bool = True) -> None:
        self.ids.append(id_)
        self.type_ids.append(type_id)
        self.tokens.append(token)
        self.offsets.append(tuple(offsets))
        self.word_ids.append(word_id)
        self.sequence_ids.append(sequence_id)
        self.special_tokens_mask.append(int(special))
        self.attention_mask.append(int(attend))

    def pad(self, length: int, pad_id: int, pad_token: str, *, pad_type_id: int = 0,
            side: str = "right") -> None:
        """Pad to `length` tokens (nothing happens when already as long): mask 0, offsets (0, 0).

        The overflowing windows are padded to the same length (each on its own: a window that is
        already longer stays as it is), as `tokenizers` does.
        """
        for window in self.overflowing:
            window.pad(length, pad_id, pad_token, pad_type_id=pad_type_id, side=side)
        n = length - len(self.ids)
        if n <= 0:
            return
        pads = {"ids": [pad_id] * n, "type_ids": [pad_type_id] * n, "tokens": [pad_token] * n,
                "offsets": [(0, 0)] * n, "word_ids": [None] * n, "sequence_ids": [None] * n,
                "special_tokens_mask": [1] * n, "attention_mask": [0] * n}
        for name, extra in pads.items():
            cur = getattr(self, name)
            setattr(self, name, cur + extra if side == "right" else extra + cur)


class BatchEncoding(dict):
    """dict of model inputs (input_ids, token_type_ids, attention_mask, ...) plus the Encodings.

    Values are lists (one per example, or flat for a single un-batched text) or, with
    return_tensors="np", int64 arrays of shape (batch, length) ((batch, length, 2) for offsets).
    With return_overflowing_tokens=True the rows are windows, not examples (always a list of rows),
    `overflow_to_sample_mapping` holds each window's example index, and `encodings`, tokens(i),
    word_ids(i) and sequence_ids(i) are per window.
    """

    def __init__(self, data: dict, encodings: list, *, batched: bool):
        super().__init__(data)
        self.encodings = encodings
        self.is_batched = batched

    def __getattr__(self, name):                          # enc.input_ids, like transformers
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getstate__(self):
        return {"data": dict(self), "encodings": self.encodings, "batched": self.is_batched}

    def __setstate__(self, state):
        self.update(state["data"])
        self.encodings = state["encodings"]
        self.is_batched = state["batched"]

    def _encoding(self, batch_index: int) -> Encoding:
        if isinstance(batch_index, bool) or not isinstance(batch_index, (int, np.integer)):
            raise ConfigError(f"batch_index: expected an int, got {type(batch_index).__name__}")
        if not 0 <= batch_index < len(self.encodings):
            raise IndexRangeError(f"batch_index: expected 0 <= batch_index < {len(self.encodings)}, "
                                  f"got {batch_index}")
        return self.encodings[batch_index]

    def tokens(self, batch_index: int = 0) -> list:
        return list(self._encoding(batch_index).tokens)

    def word_ids(self, batch_index: int = 0) -> list:
        """Word index of each token within its own sequence (None for special/padding tokens);
        the usual key for aligning word-level labels (NER) with tokens."""
        return list(self._encoding(batch_index).word_ids)

    def sequence_ids(self, batch_index: int = 0) -> list:
        return list(self._encoding(batch_index).sequence_ids)


def build_batch(encodings: list, *, batched: bool, keys: list, return_tensors: Optional[str]) -> BatchEncoding:
    """Collect `keys` (BatchEncoding key, Encoding attribute) from every Encoding."""
    data = {}
    for key, attr in keys:
        rows = [list(getattr(e, attr)) for e in encodings]
        if return_tensors == "np":
            lengths = {len(r) for r in rows}
            if len(lengths) > 1:
                raise ConfigError(
                    f"return_tensors: 'np' needs every example to have the same length, got lengths "
                    f"{sorted(lengths)}; pass padding=True (or padding='max_length' with max_length)")
            arr = np.asarray(rows, dtype=np.int64)
            if attr == "offsets":
                arr = arr.reshape(len(rows), lengths.pop() if lengths else 0, 2)   # (B, L, 2) even when L == 0
            data[key] = arr                                # (B, L) or (B, L, 2)
        else:
            data[key] = rows if batched else rows[0]
    return BatchEncoding(data, encodings, batched=batched)
