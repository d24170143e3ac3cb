"""Wav2Vec2CTCTokenizer: character vocabulary for CTC models (transformers' Wav2Vec2CTCTokenizer).

Decoding ids (e.g. the per-frame argmax of Wav2Vec2ForCTC logits) into text:

    ids -> tokens                       vocab.json inverted
    skip_special_tokens                 drop bos/eos/unk/pad tokens (never the word delimiter) BEFORE
                                        grouping, as transformers does: "A <pad> A" then groups to "A"
    group_tokens                        merge runs of equal tokens (CTC repeats)
    drop pad_token                      the pad token is the CTC blank (Wav2Vec2ForCTC: blank = pad_token_id)
    word_delimiter_token -> " "         (replace_word_delimiter_char)
    join ("" or " " with spaces_between_special_tokens), strip, lower() if do_lower_case,
    clean_up_tokenization_spaces (" ." -> "." ...) when asked

Offsets (output_char_offsets / output_word_offsets) count positions in the token list after the
optional special-token skipping: each kept character has [start_offset, end_offset) = the frames of
its group; a word runs from its first character's start to its last character's end; the word
delimiter separates words.

Encoding text (labels for CTC training): vocabulary entries longer than one character (<pad>, <unk>,
"OO", ...) are matched first in the raw text (earliest, then longest match) and swallow the whitespace
around them; every other piece is upper-cased when do_lower_case (the vocabulary is upper-case), its
spaces become the word delimiter, and it is split into characters; unknown characters become unk.

Deliberate differences from transformers: an id outside the vocabulary raises IndexRangeError naming
token_ids (transformers decodes it as unk; -100 label padding must be replaced by pad_token_id first);
a special token missing from vocab.json gets no new id (transformers appends one).
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..core.errors import CheckpointError, ConfigError, IndexRangeError
from .base import clean_up_tokenization, load_json, token_content


class Wav2Vec2CTCTokenizer:
    """Character-level CTC tokenizer (module docstring).

    vocab: {token: id} or, with target_lang, {lang: {token: id}} (multilingual MMS vocabularies).
    """

    def __init__(self, vocab: Dict, *, bos_token: Optional[str] = "<s>", eos_token: Optional[str] = "</s>",
                 unk_token: Optional[str] = "<unk>", pad_token: Optional[str] = "<pad>",
                 word_delimiter_token: Optional[str] = "|", replace_word_delimiter_char: str = " ",
                 do_lower_case: bool = False, target_lang: Optional[str] = None,
                 clean_up_tokenization_spaces: bool = False):
        if not isinstance(vocab, dict) or not vocab:
            raise ConfigError(f"vocab: expected a non-empty dict {{token: id}}, got {type(vocab).__name__}")
        if target_lang is not None:
            if target_lang not in vocab or not isinstance(vocab[target_lang], dict):
                raise ConfigError(f"target_lang: {target_lang!r} is not a language of the nested vocab "
                                  f"(languages: {sorted(k for k, v in vocab.items() if isinstance(v, dict))[:10]})")
            encoder = vocab[target_lang]
        else:
            encoder = vocab
        for tok, i in encoder.items():
            if not isinstance(tok, str) or isinstance(i, bool) or not isinstance(i, (int, np.integer)) or i < 0:
                raise ConfigError(f"vocab: expected {{token string: non-negative id}}, got {tok!r}: {i!r}"
                                  + ("; a nested (multilingual) vocab needs target_lang"
                                     if isinstance(i, dict) else ""))
        self.encoder = {tok: int(i) for tok, i in encoder.items()}
        self.decoder = {i: tok for tok, i in self.encoder.items()}
        for name, flag in (("do_lower_case", do_lower_case),
                           ("clean_up_tokenization_spaces", clean_up_tokenization_spaces)):
            if not isinstance(flag, bool):
                raise ConfigError(f"{name}: expected True or False, got {flag!r}")
        self.bos_token, self.eos_token, self.unk_token, self.pad_token = bos_token, eos_token, unk_token, pad_token
        self.word_delimiter_token = word_delimiter_token
        self.replace_word_delimiter_char = replace_word_delimiter_char
        self.do_lower_case = do_lower_case
        self.target_lang = target_lang
        self.clean_up_tokenization_spaces = clean_up_tokenization_spaces
        # multi-character entries are matched whole in raw text, longest first at each position
        self._multi = sorted((t for t in self.encoder if len(t) > 1), key=len, reverse=True)

    # ----------------------------------------------------------------------------- loading
    @classmethod
    def from_pretrained(cls, directory: str) -> "Wav2Vec2CTCTokenizer":
        """vocab.json (+ tokenizer_config.json / special_tokens_map.json when present) from `directory`."""
        def read(name, required):
            path = os.path.join(directory, name)
            if not os.path.isfile(path):
                if required:
                    raise CheckpointError(f"directory: no {name} in {directory!r}")
                return {}
            return load_json(path, "directory")

        vocab = read("vocab.json", True)
        cfg = dict(read("special_tokens_map.json", False))
        cfg.update(read("tokenizer_config.json", False))
        kw = {}
        for key in ("bos_token", "eos_token", "unk_token", "pad_token", "word_delimiter_token"):
            if key in cfg:
                kw[key] = token_content(cfg[key], key, CheckpointError)
        for key in ("replace_word_delimiter_char", "do_lower_case", "target_lang", "clean_up_tokenization_spaces"):
            if key in cfg:
                kw[key] = cfg[key]
        return cls(vocab, **kw)

    # ----------------------------------------------------------------------------- vocabulary
    @property
    def vocab_size(self) -> int:
        return len(self.decoder)

    def get_vocab(self) -> Dict[str, int]:
        return dict(self.encoder)

    def _id_of(self, token: Optional[str]) -> Optional[int]:
        return None if token is None else self.encoder.get(token)

    @property
    def pad_token_id(self) -> Optional[int]:
        return self._id_of(self.pad_token)

    @property
    def unk_token_id(self) -> Optional[int]:
        return self._id_of(self.unk_token)

    @property
    def word_delimiter_token_id(self) -> Optional[int]:
        return self._id_of(self.word_delimiter_token)

    @property
    def all_special_tokens(self) -> List[str]:
        """bos, eos, unk, pad (those set): what skip_special_tokens removes."""
        return [t for t in (self.bos_token, self.eos_token, self.unk_token, self.pad_token) if t is not None]

    def convert_ids_to_tokens(self, token_ids) -> List[str]:
        ids = self._ids(token_ids)
        return [self.decoder[i] for i in ids]

    def convert_tokens_to_ids(self, tokens: Sequence[str]) -> List[int]:
        unk = self.unk_token_id
        out = []
        for t in tokens:
            i = self.encoder.get(t, unk)
            if i is None:
                raise ConfigError(f"tokens: {t!r} is not in the vocabulary and the vocabulary has no unk_token")
            out.append(i)
        return out

    def _ids(self, token_ids, name: str = "token_ids") -> List[int]:
        if isinstance(token_ids, np.ndarray):
            if token_ids.ndim != 1 or not np.issubdtype(token_ids.dtype, np.integer):
                raise ConfigError(f"{name}: expected a 1-d integer array, got shape {token_ids.shape} "
                                  f"dtype {token_ids.dtype}")
            ids = [int(i) for i in token_ids]
        elif isinstance(token_ids, (list, tuple)):
            if not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in token_ids):
                raise ConfigError(f"{name}: expected a list of integer ids")
            ids = [int(i) for i in token_ids]
        else:
            raise ConfigError(f"{name}: expected a list or 1-d integer array of ids, got {type(token_ids).__name__}")
        bad = [i for i in ids if i not in self.decoder]
        if bad:
            hint = (f"; replace the -100 label padding by pad_token_id ({self.pad_token_id}) before decoding"
                    if any(i < 0 for i in bad) else "")
            raise IndexRangeError(f"{name}: id {bad[0]} is not in the vocabulary of {self.vocab_size} tokens{hint}")
        return ids

    # ----------------------------------------------------------------------------- encoding
    def _split_multi(self, text: str) -> List[tuple]:
        """[(piece, is_vocab_token)] with multi-character vocab entries cut out (earliest, longest match)."""
        pieces, buf, i = [], "", 0
        while i < len(text):
            match = next((t for t in self._multi if text.startswith(t, i)), None)
            if match is None:
                buf += text[i]
                i += 1
                continue
            if buf:
                pieces.append((buf, False))
                buf = ""
            pieces.append((match, True))
            i += len(match)
        if buf:
            pieces.append((buf, False))
        # a matched entry swallows the whitespace next to it (transformers' lstrip/rstrip added tokens)
        for k, (piece, is_tok) in enumerate(pieces):
            if is_tok:
                if k > 0 and not pieces[k - 1][1]:
                    pieces[k - 1] = (pieces[k - 1][0].rstrip(), False)
                if k + 1 < len(pieces) and not pieces[k + 1][1]:
                    pieces[k + 1] = (pieces[k + 1][0].lstrip(), False)
        return [(p, t) for p, t in pieces if p]

    def tokenize(self, text: str) -> List[str]:
        if not isinstance(text, str):
            raise ConfigError(f"text: expected a string, got {type(text).__name__}")
        tokens = []
        for piece, is_tok in self._split_multi(text):
            if is_tok:
                tokens.append(piece)
                continue
            if self.do_lower_case:
                piece = piece.upper()                                # vocabularies are upper-case
            if self.word_delimiter_token is not None:
                piece = piece.replace(" ", self.word_delimiter_token)
            tokens.extend(piece)
        return tokens

    def encode(self, text: str) -> List[int]:
        """Text -> ids (no special tokens are added: CTC targets are the bare characters)."""
        return self.convert_tokens_to_ids(self.tokenize(text))

    def __call__(self, text, padding=False) -> dict:
        """{"input_ids", "attention_mask"} for a string (lists of ints) or a list of strings (list of lists);
        padding=True/"longest" pads on the right with pad_token_id (labels: replace it by -100 for the loss)."""
        if padding not in (False, True, "longest", "do_not_pad"):
            raise ConfigError(f"padding: expected False, True, 'longest' or 'do_not_pad', got {padding!r}")
        single = isinstance(text, str)
        if not single and not (isinstance(text, (list, tuple)) and all(isinstance(t, str) for t in text)):
            raise ConfigError("text: expected a string or a list of strings")
        ids = [self.encode(t) for t in ([text] if single else text)]
        masks = [[1] * len(i) for i in ids]
        if padding in (True, "longest") and ids:
            if self.pad_token_id is None:
                raise ConfigError("padding: the vocabulary has no pad_token to pad with")
            n = max(len(i) for i in ids)
            ids = [i + [self.pad_token_id] * (n - len(i)) for i in ids]
            masks = [m + [0] * (n - len(m)) for m in masks]
        return {"input_ids": ids[0] if single else ids, "attention_mask": masks[0] if single else masks}

    # ----------------------------------------------------------------------------- decoding
    def decode(self, token_ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces: Optional[bool] = None,
               group_tokens: bool = True, spaces_between_special_tokens: bool = False,
               output_char_offsets: bool = False, output_word_offsets: bool = False):
        """ids (list or 1-d int array) -> text, or {"text", "char_offsets", "word_offsets"} when offsets are asked
        (char_offsets: [{"char", "start_offset", "end_offset"}], word_offsets: [{"word", ...}]; None if not asked)."""
        tokens = self.convert_ids_to_tokens(token_ids)
        if skip_special_tokens:
            special = set(self.all_special_tokens)
            tokens = [t for t in tokens if t not in special or t == self.word_delimiter_token]
        if group_tokens:
            chars, counts = [], []
            for t in tokens:
                if chars and chars[-1] == t:
                    counts[-1] += 1                                  # a CTC repeat joins its group
                else:
                    chars.append(t)
                    counts.append(1)
        else:
            chars, counts = list(tokens), [1] * len(tokens)
        ends = np.cumsum(counts).tolist() if counts else []
        starts = [0] + ends[:-1]
        kept = [(c, s, e) for c, s, e in zip(chars, starts, ends) if c != self.pad_token]    # blank dropped
        shown = [self.replace_word_delimiter_char if c == self.word_delimiter_token else c for c, _, _ in kept]
        text = (" " if spaces_between_special_tokens else "").join(shown).strip()
        if self.do_lower_case:
            text = text.lower()
        clean = (self.clean_up_tokenization_spaces if clean_up_tokenization_spaces is None
                 else clean_up_tokenization_spaces)
        if clean:
            text = clean_up_tokenization(text)
        if not (output_char_offsets or output_word_offsets):
            return text
        if not tokens:                                               # transformers: both [] for no token
            return {"text": text, "char_offsets": [], "word_offsets": []}
        char_offsets = [{"char": ch, "start_offset": s, "end_offset": e} for ch, (_, s, e) in zip(shown, kept)]
        word_offsets = self._word_offsets(char_offsets) if output_word_offsets else None
        return {"text": text, "char_offsets": char_offsets if output_char_offsets else None,
                "word_offsets": word_offsets}

    def _word_offsets(self, char_offsets: List[dict]) -> List[dict]:
        """Words = maximal runs of non-delimiter characters, from first start to last end."""
        words, current = [], None
        for off in char_offsets:
            if off["char"] == self.replace_word_delimiter_char:
                if current is not None:
                    words.append(current)
                current = None
            elif current is None:
                current = {"word": off["char"], "start_offset": off["start_offset"], "end_offset": off["end_offset"]}
            else:
                current["word"] += off["char"]
                current["end_offset"] = off["end_offset"]
        if current is not None:
            words.append(current)
        return words

    def batch_decode(self, sequences, **kwargs):
        """decode() per row of a 2-d int array or list of id lists; with offsets a dict of lists
        {"text": [...], "char_offsets": [...], "word_offsets": [...]}."""
        if isinstance(sequences, np.ndarray) and sequences.ndim != 2:
            raise ConfigError(f"sequences: expected a 2-d integer array or a list of id lists, "
                              f"got shape {sequences.shape}")
        out = [self.decode(seq, **kwargs) for seq in sequences]
        if kwargs.get("output_char_offsets") or kwargs.get("output_word_offsets"):
            return {k: [d[k] for d in out] for k in ("text", "char_offsets", "word_offsets")}
        return out
