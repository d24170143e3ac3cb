"""BERT WordPiece tokenizer: BasicTokenizer -> WordPiece -> [CLS] A [SEP] B [SEP] -> truncate/pad.

Matches transformers 5's BertTokenizer (the `tokenizers`-backed one) and the `tokenizers` library's
Tokenizer(WordPiece) with BertNormalizer + BertPreTokenizer + TemplateProcessing: ids, type ids,
attention mask, special-tokens mask, word ids and character offsets into the original text.

WordPiece (greedy longest-match-first): a word is cut from the left into the longest vocabulary
entry that matches, continuation pieces carrying the "##" prefix ("unaffable" -> "un", "##aff",
"##able"). If some remainder matches nothing, the WHOLE word becomes one [UNK] (never partial
pieces); a word longer than max_input_chars_per_word (100) characters is one [UNK] too.

Overflowing tokens (return_overflowing_tokens=True, stride): what truncation cuts off comes back
as more windows, consecutive ones sharing `stride` tokens, each with its own offsets, word ids and
sequence ids, the way question answering splits a long context; overflow_to_sample_mapping gives
the example of every window. The windows and their order are those of `tokenizers` (see _windows
and _assemble), so they also hold for longest_first on a pair, where both texts are cut.

Where transformers/`tokenizers` would return something odd we raise instead, with the argument
named (the `tokenizers` library raises on most of these too; transformers' legacy Python
tokenizer silently returns untruncated or over-truncated output):
  - truncation="only_first"/"only_second" when the chosen sequence cannot shrink enough while
    keeping at least one token -> ConfigError naming max_length ("only_second" without a pair
    -> ConfigError naming truncation). Like `tokenizers`, max_length == the number of special
    tokens empties BOTH sequences whatever the strategy (there is no room for any text token).
  - max_length smaller than the number of special tokens -> ConfigError naming max_length
    (`tokenizers` underflows and silently skips truncation).
  - truncation/padding="max_length" without max_length and without model_max_length -> ConfigError
    (transformers silently skips them when model_max_length is unset).
  - decode / convert_ids_to_tokens with an unknown id -> IndexRangeError naming ids (HF drops it).
  - a stride that does not let the windows advance -> ConfigError naming stride, exactly where
    `tokenizers` refuses it: stride > max_length - (special tokens of one sequence) when truncation
    is switched on (a ValueError there), or stride >= the tokens kept of a sequence that is cut (a
    Rust panic there, e.g. only_second with a long question).
Differences between the two Hugging Face implementations, where we follow the `tokenizers` one:
  - longest_first on a pair: Rust gives the extra token of an odd budget to the longer sequence
    (the second one on a tie); legacy always gives it to the first.
  - decoding: the WordPiece decoder of `tokenizers` removes the space before . , ! ? inside
    every token even with clean_up_tokenization_spaces=False; legacy only does it when the flag is
    set (its default is True, transformers 5's BertTokenizer defaults to False).
  - add_special_tokens=False on a pair: type ids 0 for the first text, 1 for the second (legacy: all 0).
  - text_pair="" is a pair with an empty second text ([CLS] A [SEP] [SEP]), as in `tokenizers`,
    legacy, and transformers' batched call; transformers' un-batched call drops a "" pair.
Not reproduced: a vocab.txt without some special token gets no new id for it (transformers appends
one); duplicate lines in a vocab.txt are a ConfigError (transformers keeps the last id).
See basic.py for the normalization differences (NFC, final sigma, Unicode tables).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..core.errors import CheckpointError, ConfigError, IndexRangeError
from .basic import BasicTokenizer
from .encoding import BatchEncoding, Encoding, build_batch

_PADDING = {False: None, "do_not_pad": None, True: "longest", "longest": "longest", "max_length": "max_length"}
_TRUNCATION = {None: None, False: None, "do_not_truncate": None, True: "longest_first",
               "longest_first": "longest_first", "only_first": "only_first", "only_second": "only_second"}


def _check_bool(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name}: expected True or False, got {value!r}")
    return value


def _check_optional_int(value, name: str, *, minimum: int) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name}: expected None or an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_side(value, name: str) -> str:
    if value not in ("right", "left"):
        raise ConfigError(f"{name}: expected 'right' or 'left', got {value!r}")
    return value


class WordPiece:
    """Greedy longest-match-first sub-word model.

    vocab: {token: id}. unk_token must be in it. Continuation pieces carry
    continuing_subword_prefix. tokenize(word) -> [(piece, start, end)] with character offsets
    into `word`; an unknown or over-long word gives [(unk_token, 0, len(word))].
    """

    def __init__(self, vocab: dict, unk_token: str = "[UNK]", continuing_subword_prefix: str = "##",
                 max_input_chars_per_word: int = 100):
        if not isinstance(vocab, dict) or not vocab:
            raise ConfigError(f"vocab: expected a non-empty dict {{token: id}}, got {type(vocab).__name__}"
                              + (" (empty)" if isinstance(vocab, dict) else ""))
        if not isinstance(unk_token, str) or unk_token not in vocab:
            raise ConfigError(f"unk_token: {unk_token!r} is not in the vocabulary ({len(vocab)} tokens); "
                              f"WordPiece needs it for words it cannot split")
        if not isinstance(continuing_subword_prefix, str):
            raise ConfigError(f"continuing_subword_prefix: expected a str, got {continuing_subword_prefix!r}")
        self.vocab = vocab
        self.unk_token = unk_token
        self.continuing_subword_prefix = continuing_subword_prefix
        self.max_input_chars_per_word = _check_optional_int(
            max_input_chars_per_word, "max_input_chars_per_word", minimum=0)
        if self.max_input_chars_per_word is None:
            raise ConfigError("max_input_chars_per_word: expected an integer >= 0, got None")
        # No vocabulary entry is longer than this, so longer candidates need not be looked up.
        self._longest = max(len(t) for t in vocab)

    def tokenize(self, word: str) -> list:
        n = len(word)
        if n > self.max_input_chars_per_word:
            return [(self.unk_token, 0, n)]
        pieces, start = [], 0
        while start < n:
            end = min(n, start + self._longest)
            piece = None
            while start < end:                            # shrink from the right until it is known
                cand = word[start:end] if start == 0 else self.continuing_subword_prefix + word[start:end]
                if cand in self.vocab:
                    piece = cand
                    break
                end -= 1
            if piece is None:                             # one unmatchable remainder: the whole word is [UNK]
                return [(self.unk_token, 0, n)]
            pieces.append((piece, start, end))
            start = end
        return pieces


@dataclass(frozen=True)
class Template:
    """Where special tokens go (TemplateProcessing of `tokenizers`).

    single / pair: items ("special", token, type_id) or ("sequence", 0 or 1, type_id).
    special_tokens: {token: ((id, token_string), ...)} (one template token may stand for several ids).
    """
    single: tuple
    pair: tuple
    special_tokens: dict

    def num_special_tokens(self, pair: bool) -> int:
        items = self.pair if pair else self.single
        return sum(len(self.special_tokens[item[1]]) for item in items if item[0] == "special")

    @staticmethod
    def bert(cls_token: str, cls_id: int, sep_token: str, sep_id: int) -> "Template":
        """[CLS] A [SEP] (all type 0) and [CLS] A [SEP] B [SEP] (B and the last [SEP] type 1)."""
        return Template(
            single=(("special", cls_token, 0), ("sequence", 0, 0), ("special", sep_token, 0)),
            pair=(("special", cls_token, 0), ("sequence", 0, 0), ("special", sep_token, 0),
                  ("sequence", 1, 1), ("special", sep_token, 1)),
            special_tokens={cls_token: ((cls_id, cls_token),), sep_token: ((sep_id, sep_token),)})

    @staticmethod
    def plain() -> "Template":
        """No special tokens: A (type 0), B (type 1) — also what add_special_tokens=False gives."""
        return Template(single=(("sequence", 0, 0),), pair=(("sequence", 0, 0), ("sequence", 1, 1)),
                        special_tokens={})


class BertTokenizer:
    """BERT tokenizer: BasicTokenizer + WordPiece + [CLS]/[SEP] template + truncation + padding.

    Build it with from_vocab_file("vocab.txt", ...) or from_tokenizer_json("tokenizer.json"), or
    directly from a {token: id} dict. Calling it returns a BatchEncoding with input_ids,
    token_type_ids, attention_mask (and on request special_tokens_mask, offset_mapping, length);
    see __call__.

    do_lower_case, strip_accents (None: follow do_lower_case), tokenize_chinese_chars, clean_text,
      never_split: the BasicTokenizer settings (basic.py).
    unk/sep/pad/cls/mask_token: the special tokens; unk_token must be in the vocabulary, the
      others only when used (cls/sep for add_special_tokens, pad for padding). With a vocab.txt
      the ones present are "added tokens": matched verbatim in the raw text, skipped by
      skip_special_tokens.
    continuing_subword_prefix ("##"), max_input_chars_per_word (100): the WordPiece model.
    model_max_length: max_length used when truncation/padding="max_length" come without one.
    padding_side, truncation_side: "right" (default) or "left".
    clean_up_tokenization_spaces: decode()'s default (False, as transformers 5's BertTokenizer).
    decoder_prefix ("##"; None = no decoder, tokens joined by spaces), decoder_cleanup (True):
      the `tokenizers` WordPiece decoder.
    added_tokens: [(content, id, special)] instead of the default; template: a Template
      instead of [CLS] A [SEP] B [SEP] (both set by from_tokenizer_json).
    """

    def __init__(self, vocab: dict, *, do_lower_case: bool = True, strip_accents: Optional[bool] = None,
                 tokenize_chinese_chars: bool = True, clean_text: bool = True, never_split=None,
                 unk_token: str = "[UNK]", sep_token: Optional[str] = "[SEP]", pad_token: Optional[str] = "[PAD]",
                 cls_token: Optional[str] = "[CLS]", mask_token: Optional[str] = "[MASK]",
                 continuing_subword_prefix: str = "##", max_input_chars_per_word: int = 100,
                 model_max_length: Optional[int] = None, padding_side: str = "right",
                 truncation_side: str = "right", clean_up_tokenization_spaces: bool = False,
                 decoder_prefix: Optional[str] = "##", decoder_cleanup: bool = True,
                 added_tokens: Optional[list] = None, template: Optional[Template] = None):
        self.basic = BasicTokenizer(do_lower_case=do_lower_case, never_split=never_split,
                                    tokenize_chinese_chars=tokenize_chinese_chars,
                                    strip_accents=strip_accents, clean_text=clean_text)
        if isinstance(vocab, dict):
            for tok, idx in vocab.items():
                bad_id = isinstance(idx, bool) or not isinstance(idx, (int, np.integer)) or idx < 0
                if not isinstance(tok, str) or bad_id:
                    raise ConfigError(f"vocab: expected {{str: int >= 0}}, found {tok!r}: {idx!r}")
            vocab = {tok: int(idx) for tok, idx in vocab.items()}
        self.wordpiece = WordPiece(vocab, unk_token, continuing_subword_prefix, max_input_chars_per_word)
        self.vocab = self.wordpiece.vocab
        self.model_max_length = _check_optional_int(model_max_length, "model_max_length", minimum=1)
        self.padding_side = _check_side(padding_side, "padding_side")
        self.truncation_side = _check_side(truncation_side, "truncation_side")
        self.clean_up_tokenization_spaces = _check_bool(clean_up_tokenization_spaces, "clean_up_tokenization_spaces")
        self.decoder_cleanup = _check_bool(decoder_cleanup, "decoder_cleanup")
        if decoder_prefix is not None and not isinstance(decoder_prefix, str):
            raise ConfigError(f"decoder_prefix: expected a str or None (no decoder), got {decoder_prefix!r}")
        self.decoder_prefix = decoder_prefix
        self.unk_token, self.sep_token, self.pad_token = unk_token, sep_token, pad_token
        self.cls_token, self.mask_token = cls_token, mask_token

        # Added tokens are cut out of the raw text before normalization and map to one id each.
        # Default (a vocab.txt): the named special tokens that the vocabulary holds.
        if added_tokens is None:
            named = [t for t in (pad_token, unk_token, cls_token, sep_token, mask_token) if t is not None]
            added_tokens = [(t, self.vocab[t], True) for t in dict.fromkeys(named) if t in self.vocab]
        self._added = {}                                  # content -> id
        self._special_ids = set()
        for item in added_tokens:
            if not (isinstance(item, (tuple, list)) and len(item) == 3 and isinstance(item[0], str) and item[0]
                    and isinstance(item[1], (int, np.integer)) and not isinstance(item[1], bool) and item[1] >= 0):
                raise ConfigError(f"added_tokens: expected (content, id, special) triples, got {item!r}")
            content, idx, special = item[0], int(item[1]), bool(item[2])
            self._added[content] = idx
            if special:
                self._special_ids.add(idx)
        self._added_pattern = (re.compile("|".join(re.escape(t) for t in sorted(self._added, key=len, reverse=True)))
                               if self._added else None)  # longest first: leftmost-longest match
        self._all_vocab = {**self.vocab, **self._added}
        self._id_to_token = {idx: tok for tok, idx in self.vocab.items()}
        for tok, idx in self._added.items():
            self._id_to_token[idx] = tok                  # added tokens win, as in `tokenizers`

        if template is None:
            if cls_token in self.vocab and sep_token in self.vocab:
                template = Template.bert(cls_token, self.vocab[cls_token], sep_token, self.vocab[sep_token])
            else:
                missing = "cls_token" if cls_token not in self.vocab else "sep_token"
                self._template_error = (f"{missing}: {getattr(self, missing)!r} is not in the vocabulary, so "
                                        f"special tokens cannot be added; pass add_special_tokens=False")
        if template is not None and not isinstance(template, Template):
            raise ConfigError(f"template: expected a Template, got {type(template).__name__}")
        self.template = template

    # ------------------------------------------------------------------ construction from files

    @classmethod
    def from_vocab_file(cls, vocab_file, **kwargs) -> "BertTokenizer":
        """Load a BERT vocab.txt (one token per line, line number = id); kwargs as in __init__."""
        if not isinstance(vocab_file, (str, os.PathLike)) or not os.path.isfile(vocab_file):
            raise ConfigError(f"vocab_file: no such file: {vocab_file!r}")
        with open(vocab_file, "r", encoding="utf-8") as fh:
            lines = [line.rstrip("\n") for line in fh]    # only "\n", like transformers' load_vocab
        vocab = {}
        for i, tok in enumerate(lines):
            if tok in vocab:
                raise ConfigError(f"vocab_file: token {tok!r} appears on lines {vocab[tok] + 1} and {i + 1}; "
                                  f"a vocabulary needs one id per token")
            vocab[tok] = i
        return cls(vocab, **kwargs)

    @classmethod
    def from_tokenizer_json(cls, path, *, model_max_length: Optional[int] = None, padding_side: str = "right",
                            truncation_side: str = "right", clean_up_tokenization_spaces: bool = False,
                            mask_token: Optional[str] = "[MASK]", pad_token: Optional[str] = None) -> "BertTokenizer":
        """Load a `tokenizers` tokenizer.json (path or already-parsed dict) of a BERT WordPiece model.

        Reads the BertNormalizer flags, the WordPiece model (vocab, unk token, prefix, max chars),
        the post-processor (TemplateProcessing / BertProcessing / none), the WordPiece decoder and
        the added tokens. Anything else (another model, normalizer or pre-tokenizer) is a
        ConfigError. Truncation/padding presets stored in the file are not applied: like
        transformers' __call__, the call arguments decide.
        """
        spec = _load_json(path)
        model = spec.get("model") or {}
        if model.get("type") != "WordPiece":
            raise ConfigError(f"model: expected a WordPiece model in the tokenizer.json, got type "
                              f"{model.get('type')!r}; only BERT WordPiece tokenizers are supported here")
        norm = spec.get("normalizer") or {}
        if norm.get("type") != "BertNormalizer":
            raise ConfigError(f"normalizer: expected a BertNormalizer, got {norm.get('type')!r}")
        pre = spec.get("pre_tokenizer") or {}
        if pre.get("type") != "BertPreTokenizer":
            raise ConfigError(f"pre_tokenizer: expected a BertPreTokenizer, got {pre.get('type')!r}")
        vocab = model.get("vocab")
        if not isinstance(vocab, dict):
            raise ConfigError("model: the WordPiece model has no 'vocab' dict")

        added = []
        for tok in spec.get("added_tokens") or []:
            flags = [k for k in ("single_word", "lstrip", "rstrip", "normalized") if tok.get(k)]
            if flags:
                raise ConfigError(f"added_tokens: token {tok.get('content')!r} sets {flags}; only plain added "
                                  f"tokens (matched verbatim in the raw text) are supported")
            added.append((tok["content"], tok["id"], bool(tok.get("special"))))

        template, cls_token, sep_token = _parse_post_processor(spec.get("post_processor"))
        dec = spec.get("decoder")
        if dec is not None and dec.get("type") != "WordPiece":
            raise ConfigError(f"decoder: expected a WordPiece decoder or none, got {dec.get('type')!r}")
        padding = spec.get("padding") or {}
        return cls(vocab, do_lower_case=bool(norm.get("lowercase", True)),
                   strip_accents=norm.get("strip_accents"),
                   tokenize_chinese_chars=bool(norm.get("handle_chinese_chars", True)),
                   clean_text=bool(norm.get("clean_text", True)),
                   unk_token=model.get("unk_token", "[UNK]"), sep_token=sep_token, cls_token=cls_token,
                   pad_token=pad_token if pad_token is not None else padding.get("pad_token", "[PAD]"),
                   mask_token=mask_token,
                   continuing_subword_prefix=model.get("continuing_subword_prefix", "##"),
                   max_input_chars_per_word=model.get("max_input_chars_per_word", 100),
                   model_max_length=model_max_length, padding_side=padding_side,
                   truncation_side=truncation_side, clean_up_tokenization_spaces=clean_up_tokenization_spaces,
                   decoder_prefix=None if dec is None else dec.get("prefix", "##"),
                   decoder_cleanup=True if dec is None else bool(dec.get("cleanup", True)),
                   added_tokens=added, template=template)

    # ------------------------------------------------------------------ vocabulary

    @property
    def vocab_size(self) -> int:
        """Size of the WordPiece vocabulary (without added tokens outside it), like transformers."""
        return len(self.vocab)

    def __len__(self) -> int:
        return len(self._id_to_token)

    def get_vocab(self) -> dict:
        return dict(self._all_vocab)

    def _token_id(self, name: str) -> Optional[int]:
        tok = getattr(self, name)
        return self._all_vocab.get(tok) if tok is not None else None

    unk_token_id = property(lambda self: self._token_id("unk_token"))
    sep_token_id = property(lambda self: self._token_id("sep_token"))
    pad_token_id = property(lambda self: self._token_id("pad_token"))
    cls_token_id = property(lambda self: self._token_id("cls_token"))
    mask_token_id = property(lambda self: self._token_id("mask_token"))

    @property
    def all_special_ids(self) -> list:
        return sorted(self._special_ids)

    def convert_tokens_to_ids(self, tokens):
        """str -> id, list of str -> list of ids; unknown tokens map to the [UNK] id (as in HF)."""
        if isinstance(tokens, str):
            return self._lookup(tokens)
        if not isinstance(tokens, (list, tuple)) or not all(isinstance(t, str) for t in tokens):
            raise ConfigError(f"tokens: expected a str or a list of str, got {tokens!r:.80}")
        return [self._lookup(t) for t in tokens]

    def _lookup(self, token: str) -> int:
        if token in self._added:
            return self._added[token]
        return self.vocab.get(token, self.vocab[self.unk_token])

    def _check_ids(self, ids, name: str = "ids") -> list:
        """ids as a list of Python ints, each one a known id (IndexRangeError otherwise)."""
        if isinstance(ids, np.ndarray):
            if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
                raise ConfigError(f"{name}: expected a 1-D integer array, got shape {ids.shape} dtype {ids.dtype}")
            ids = ids.tolist()
        if not isinstance(ids, (list, tuple)):
            raise ConfigError(f"{name}: expected a list of ints or a 1-D integer array, got {type(ids).__name__}")
        out = []
        for pos, i in enumerate(ids):
            if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
                raise ConfigError(f"{name}: expected ints, found {i!r} at position {pos}")
            if int(i) not in self._id_to_token:
                raise IndexRangeError(f"{name}: id {int(i)} at position {pos} is not in the vocabulary "
                                      f"(valid ids 0..{max(self._id_to_token)})")
            out.append(int(i))
        return out

    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False):
        """int -> token, list of ints -> list of tokens; an unknown id raises IndexRangeError naming ids."""
        if isinstance(ids, (int, np.integer)) and not isinstance(ids, bool):
            return self._id_to_token[self._check_ids([ids])[0]]
        return [self._id_to_token[i] for i in self._check_ids(ids)
                if not (skip_special_tokens and i in self._special_ids)]

    def save_vocabulary(self, save_directory, filename_prefix: Optional[str] = None) -> tuple:
        """Write the WordPiece vocabulary as vocab.txt (token of id i on line i); returns (path,)."""
        if not isinstance(save_directory, (str, os.PathLike)) or not os.path.isdir(save_directory):
            raise ConfigError(f"save_directory: expected an existing directory, got {save_directory!r}")
        ordered = sorted(self.vocab.items(), key=lambda kv: kv[1])
        for expect, (tok, idx) in enumerate(ordered):
            if idx != expect:
                raise ConfigError(f"vocab: ids are not 0..{len(ordered) - 1} without gaps (id {expect} is "
                                  f"missing), so a vocab.txt cannot represent this vocabulary")
            if "\n" in tok:
                raise ConfigError(f"vocab: token {tok!r} contains a newline and cannot be written to vocab.txt")
        name = (filename_prefix + "-" if filename_prefix else "") + "vocab.txt"
        path = os.path.join(save_directory, name)
        with open(path, "w", encoding="utf-8") as fh:
            fh.writelines(tok + "\n" for tok, _ in ordered)
        return (path,)

    # ------------------------------------------------------------------ encoding

    def _split_added(self, text: str) -> list:
        """[(start, end, added_token_or_None)]: the raw text cut around added/special tokens."""
        if self._added_pattern is None:
            return [(0, len(text), None)] if text else []
        out, pos = [], 0
        for m in self._added_pattern.finditer(text):
            if m.start() > pos:
                out.append((pos, m.start(), None))
            out.append((m.start(), m.end(), m.group()))
            pos = m.end()
        if pos < len(text):
            out.append((pos, len(text), None))
        return out

    def _encode_text(self, text: str, word_id: Optional[int] = None) -> list:
        """One text -> [(id, token, (start, end), word)] before special tokens; offsets index `text`."""
        out, word = [], 0
        for a, b, added in self._split_added(text):
            if added is not None:
                out.append((self._added[added], added, (a, b), word))
                word += 1
                continue
            for w in self.basic.words(text[a:b]):
                pieces = [(w.text, 0, len(w.text))] if w.keep_whole else self.wordpiece.tokenize(w.text)
                for tok, s, e in pieces:
                    # a never_split word keeps its own text as token even when its id is [UNK] (legacy)
                    idx = self._lookup(tok) if w.keep_whole else self.vocab[tok]
                    out.append((idx, tok, (a + w.src[s], a + w.src[e - 1] + 1), word))
                word += 1
        if word_id is not None:                           # pre-split input: the word is the caller's word
            out = [(i, t, o, word_id) for i, t, o, _ in out]
        return out

    def _encode_sequence(self, seq, is_split_into_words: bool) -> list:
        if not is_split_into_words:
            return self._encode_text(seq)
        out = []
        for k, word in enumerate(seq):                    # offsets are relative to each word, as in HF
            out += self._encode_text(word, word_id=k)
        return out

    def tokenize(self, text: str, pair: Optional[str] = None, add_special_tokens: bool = False) -> list:
        """Token strings of `text` (and `pair`), without special tokens unless asked."""
        return self(text, pair, add_special_tokens=add_special_tokens).tokens()

    def encode(self, text, text_pair=None, *, add_special_tokens: bool = True, truncation=None,
               max_length: Optional[int] = None, stride: int = 0, is_split_into_words: bool = False) -> list:
        """input_ids of one example (the first window when truncation cuts it)."""
        return self(text, text_pair, add_special_tokens=add_special_tokens, truncation=truncation,
                    max_length=max_length, stride=stride, is_split_into_words=is_split_into_words)["input_ids"]

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return self.template.num_special_tokens(pair) if self.template is not None else 0

    def __call__(self, text, text_pair=None, *, add_special_tokens: bool = True, padding=False,
                 truncation=None, max_length: Optional[int] = None, stride: int = 0,
                 pad_to_multiple_of: Optional[int] = None, is_split_into_words: bool = False,
                 return_tensors: Optional[str] = None, return_token_type_ids: bool = True,
                 return_attention_mask: bool = True, return_overflowing_tokens: bool = False,
                 return_special_tokens_mask: bool = False, return_offsets_mapping: bool = False,
                 return_length: bool = False) -> BatchEncoding:
        """Encode a text, a pair, or a batch (list of texts or of (text, pair) tuples).

        text: str | list[str] | list[tuple[str, str]]; with is_split_into_words=True, a list of
          words (one example) or a list of such lists (a batch; pairs as (words, words) tuples).
        text_pair: str (or list of str for a batch), the second sequence.
        truncation: None/False (off; None turns into "longest_first" when max_length is given and
          padding is off, as in transformers), True/"longest_first" (drop tokens from the longer
          sequence), "only_first", "only_second".
        padding: False, True/"longest" (to the longest in the batch), "max_length".
        max_length: the length after special tokens; defaults to model_max_length where needed.
        stride, return_overflowing_tokens: the tokens that truncation cuts off are not lost but
          form more windows ("overflowing tokens"), each starting `stride` tokens before the end
          of the previous one, so consecutive windows share `stride` tokens (question answering
          over long contexts). With return_overflowing_tokens=True every window is one row of the
          output (also for a single text), the first window first, and `overflow_to_sample_mapping`
          gives each row's example index; see _truncate and _assemble for the exact windows.
          stride must be smaller than every window it slides over (ConfigError naming stride).
        return_tensors: None (lists; flat for one un-batched text) or "np" (int64 arrays of shape
          (batch, length), offsets (batch, length, 2); every example must have the same length).
        Returns a BatchEncoding: input_ids, token_type_ids, attention_mask, then on request
        special_tokens_mask, offset_mapping ((start, end) in the ORIGINAL text of each token's own
        sequence, (0, 0) for special/padding tokens) and length; .word_ids(i), .sequence_ids(i),
        .tokens(i) per example.
        """
        for name, value in (("add_special_tokens", add_special_tokens), ("is_split_into_words", is_split_into_words),
                            ("return_token_type_ids", return_token_type_ids),
                            ("return_attention_mask", return_attention_mask),
                            ("return_overflowing_tokens", return_overflowing_tokens),
                            ("return_special_tokens_mask", return_special_tokens_mask),
                            ("return_offsets_mapping", return_offsets_mapping), ("return_length", return_length)):
            _check_bool(value, name)
        if return_tensors not in (None, "np"):
            raise ConfigError(f"return_tensors: expected None or 'np' (refimpl works in NumPy), got {return_tensors!r}")
        max_length = _check_optional_int(max_length, "max_length", minimum=0)
        stride = _check_optional_int(stride, "stride", minimum=0)
        if stride is None:
            raise ConfigError("stride: expected an integer >= 0, got None")
        pad_to_multiple_of = _check_optional_int(pad_to_multiple_of, "pad_to_multiple_of", minimum=1)
        pad_mode, trunc_mode, max_length = self._strategies(padding, truncation, max_length, pad_to_multiple_of)
        if trunc_mode is not None:
            self._check_stride(stride, max_length)
        examples, batched = _examples(text, text_pair, is_split_into_words)

        encodings = []                                    # one per example; further windows in .overflowing
        for first, second in examples:
            a = self._encode_sequence(first, is_split_into_words)
            b = self._encode_sequence(second, is_split_into_words) if second is not None else None
            if trunc_mode is not None:
                a_windows, b_windows = self._truncate(a, b, trunc_mode, max_length, add_special_tokens, stride)
            else:
                a_windows, b_windows = [a], (None if b is None else [b])
            encodings.append(self._assemble(a_windows, b_windows, add_special_tokens))

        if pad_mode is not None:
            if self.pad_token is None or self.pad_token not in self._all_vocab:
                raise ConfigError(f"pad_token: {self.pad_token!r} is not in the vocabulary, so padding is impossible")
            # "longest" measures the first windows only (`tokenizers`): an overflowing window is never
            # longer except where truncation had no room at all, and such a window stays unpadded
            length = max(len(e) for e in encodings) if pad_mode == "longest" else max_length
            if pad_to_multiple_of is not None and length % pad_to_multiple_of:
                length += pad_to_multiple_of - length % pad_to_multiple_of
            pad_id = self._all_vocab[self.pad_token]
            for e in encodings:
                e.pad(length, pad_id, self.pad_token, side=self.padding_side)   # its overflowing windows too

        sample_mapping = None
        if return_overflowing_tokens:                    # every window becomes a row of its own
            sample_mapping = [i for i, e in enumerate(encodings) for _ in range(1 + len(e.overflowing))]
            encodings = [w for e in encodings for w in [e] + e.overflowing]
            batched = True                                # rows even for one text, as transformers returns them

        keys = [("input_ids", "ids")]
        if return_token_type_ids:
            keys.append(("token_type_ids", "type_ids"))
        if return_attention_mask:
            keys.append(("attention_mask", "attention_mask"))
        if return_special_tokens_mask:
            keys.append(("special_tokens_mask", "special_tokens_mask"))
        if return_offsets_mapping:
            keys.append(("offset_mapping", "offsets"))
        out = build_batch(encodings, batched=batched, keys=keys, return_tensors=return_tensors)
        if return_length:
            lengths = [len(e) for e in encodings]
            # one int per example, a list even for one un-batched text (as transformers 5 returns it)
            out["length"] = np.asarray(lengths, dtype=np.int64) if return_tensors == "np" else lengths
        if sample_mapping is not None:
            out["overflow_to_sample_mapping"] = (np.asarray(sample_mapping, dtype=np.int64)
                                                 if return_tensors == "np" else sample_mapping)
        return out

    def _strategies(self, padding, truncation, max_length, pad_to_multiple_of):
        """transformers' rules for turning padding/truncation/max_length into strategies."""
        if max_length is not None and padding is False and truncation is None:
            truncation = "longest_first"                  # max_length alone activates truncation
        if not isinstance(padding, (bool, str)) or padding not in _PADDING:
            raise ConfigError(f"padding: expected False, True, 'longest', 'max_length' or 'do_not_pad', "
                              f"got {padding!r}")
        if not isinstance(truncation, (bool, str, type(None))) or truncation not in _TRUNCATION:
            raise ConfigError(f"truncation: expected None, False, True, 'longest_first', 'only_first', "
                              f"'only_second' or 'do_not_truncate', got {truncation!r}")
        pad_mode, trunc_mode = _PADDING[padding], _TRUNCATION[truncation]
        if max_length is None and (pad_mode == "max_length" or trunc_mode is not None):
            if self.model_max_length is None:
                what = "padding='max_length'" if pad_mode == "max_length" else f"truncation={truncation!r}"
                raise ConfigError(f"max_length: {what} needs max_length (or a tokenizer built with "
                                  f"model_max_length), got None")
            max_length = self.model_max_length
        if (trunc_mode is not None and pad_mode is not None and pad_to_multiple_of is not None
                and max_length % pad_to_multiple_of):
            raise ConfigError(f"pad_to_multiple_of: truncation and padding are both on, so max_length "
                              f"({max_length}) must be a multiple of pad_to_multiple_of ({pad_to_multiple_of})")
        return pad_mode, trunc_mode, max_length

    def _check_stride(self, stride: int, max_length: int) -> None:
        """The check `tokenizers` makes when truncation is switched on, before any text is seen:
        stride <= max_length - (special tokens of a single sequence)."""
        n_single = self.num_special_tokens_to_add(False)
        if max_length >= n_single and stride > max_length - n_single:
            raise ConfigError(f"stride: {stride} is larger than max_length - special tokens = {max_length} - "
                              f"{n_single} = {max_length - n_single}; every window must advance, so use a "
                              f"stride smaller than the window")

    def _windows(self, seq: list, n: int, stride: int, which: str, max_length: int) -> list:
        """Cut `seq` to n tokens: [kept window, overflowing windows...] (Encoding.truncate of `tokenizers`).

        truncation_side "right": windows start at 0, n - stride, 2 (n - stride), ... and end at most n
        tokens later; the last one reaches the end of seq. "left": the same from the end backwards,
        so the kept window is the last n tokens. Consecutive windows share `stride` tokens.
        n == 0 (no room at all): an empty window, then all of seq as one overflowing window.
        """
        length = len(seq)
        if n >= length:
            return [seq]
        if n == 0:
            return [seq[:0], seq]
        if stride >= n:
            raise ConfigError(
                f"stride: {stride} must be smaller than the window it slides over: truncation keeps {n} tokens of "
                f"the {which} sequence (max_length={max_length} minus the special tokens and the tokens kept of the "
                f"other sequence), so windows would not advance; use stride < {n} or a larger max_length")
        step = n - stride                                 # each window starts `step` tokens after the previous
        windows = []
        if self.truncation_side == "right":
            for start in range(0, length, step):
                stop = min(start + n, length)
                windows.append(seq[start:stop])
                if stop == length:
                    break
        else:
            for stop in range(length, 0, -step):
                start = max(0, stop - n)
                windows.append(seq[start:stop])
                if start == 0:
                    break
        return windows

    def _truncate(self, a: list, b: Optional[list], mode: str, max_length: int, add_special_tokens: bool,
                  stride: int = 0):
        """Fit the tokens of A (and B) into max_length minus the special tokens (`tokenizers` rules).

        Returns (windows of A, windows of B or None): each a list whose first entry is the part kept
        and whose other entries are the overflowing windows (see _windows); a sequence that is not cut
        has one window.
        """
        n_special = self.num_special_tokens_to_add(b is not None) if add_special_tokens else 0
        if max_length < n_special:
            raise ConfigError(f"max_length: {max_length} leaves no room: the template adds {n_special} special "
                              f"tokens to {'a pair' if b is not None else 'a sequence'}")
        limit = max_length - n_special                    # budget for the text tokens

        def cut(seq, n, which):
            return self._windows(seq, n, stride, which, max_length)

        if limit == 0:                                    # `tokenizers`: no room at all empties both, any strategy
            return cut(a, 0, "first"), (cut(b, 0, "second") if b is not None else None)
        total = len(a) + (len(b) if b is not None else 0)
        if total <= limit:
            return [a], (None if b is None else [b])
        if mode == "longest_first":
            if b is None:
                return cut(a, limit, "first"), None
            n1, n2 = len(a), len(b)
            swap = n1 > n2                                # work with n1 <= n2
            if swap:
                n1, n2 = n2, n1
            n2 = n1 if n1 > limit else max(n1, limit - n1)
            if n1 + n2 > limit:                           # both too long: halve the budget, odd token to the longer
                n1 = limit // 2
                n2 = n1 + limit % 2
            if swap:
                n1, n2 = n2, n1
            return cut(a, n1, "first"), cut(b, n2, "second")
        if mode == "only_second" and b is None:
            raise ConfigError("truncation: 'only_second' needs a text_pair, but only one sequence was given "
                              f"and it does not fit max_length={max_length}")
        target = a if mode == "only_first" else b
        remove = total - limit
        if len(target) <= remove:                         # would have to remove all of it (or more)
            which = "first" if mode == "only_first" else "second"
            raise ConfigError(
                f"max_length: {max_length} cannot be reached with truncation={mode!r}: the {which} sequence has "
                f"{len(target)} tokens but {remove} must go (the other sequence and {n_special} special tokens "
                f"take the rest); use a larger max_length or truncation='longest_first'")
        if mode == "only_first":
            return cut(a, len(a) - remove, "first"), (None if b is None else [b])
        return [a], cut(b, len(b) - remove, "second")

    def _assemble(self, a_windows: list, b_windows: Optional[list], add_special_tokens: bool) -> Encoding:
        """The Encoding of the first windows, with every other combination in .overflowing.

        `tokenizers` merges the template's pieces left to right; merging X (kept x0, overflowing
        x1..) with a sequence Y (y0, y1..) keeps x0 y0 and lists as overflowing, in this order:
        x1 y0, x1 y1, ..., x2 y0, ..., then x0 y1, x0 y2, ... . So when both A and B were cut
        (longest_first on a pair) every window of A meets every window of B, (A1, B0) first and
        (A0, B1) ... last; when only one was cut, the windows simply follow each other.
        """
        if add_special_tokens and self.template is None:
            raise ConfigError(self._template_error)
        template = self.template if add_special_tokens else Template.plain()
        windows = (a_windows, b_windows)
        items = template.pair if b_windows is not None else template.single
        main, overflowing = {}, []                        # {sequence index: window index} per combination
        for item in items:
            if item[0] != "sequence" or item[1] in main:
                continue
            seq, n = item[1], len(windows[item[1]])
            overflowing = ([{**o, seq: k} for o in overflowing for k in range(n)]
                           + [{**main, seq: k} for k in range(1, n)])
            main = {**main, seq: 0}

        def build(combo):
            return self._post_process(a_windows[combo.get(0, 0)],
                                      None if b_windows is None else b_windows[combo.get(1, 0)], add_special_tokens)
        enc = build(main)
        enc.overflowing = [build(c) for c in overflowing]
        return enc

    def _post_process(self, a: list, b: Optional[list], add_special_tokens: bool) -> Encoding:
        """Lay out [CLS] A [SEP] (B [SEP]) per the template, with type/sequence/word ids and offsets."""
        if add_special_tokens and self.template is None:
            raise ConfigError(self._template_error)
        template = self.template if add_special_tokens else Template.plain()
        enc = Encoding()
        for item in (template.pair if b is not None else template.single):
            if item[0] == "special":
                for idx, tok in template.special_tokens[item[1]]:
                    enc.append(idx, tok, type_id=item[2], special=True)
            else:
                seq_index, type_id = item[1], item[2]
                for idx, tok, offsets, word in (a if seq_index == 0 else b):
                    enc.append(idx, tok, type_id=type_id, offsets=offsets, word_id=word, sequence_id=seq_index)
        return enc

    # ------------------------------------------------------------------ decoding

    def convert_tokens_to_string(self, tokens: list) -> str:
        """The decoder: join WordPiece tokens (drop "##" of continuations, space before the others)."""
        if self.decoder_prefix is None:                   # no decoder in the tokenizer.json
            return " ".join(tokens)
        parts = []
        for i, tok in enumerate(tokens):
            if i > 0:
                tok = tok[len(self.decoder_prefix):] if tok.startswith(self.decoder_prefix) else " " + tok
            if self.decoder_cleanup:                      # per token, as `tokenizers` does
                tok = _decoder_cleanup(tok)
            parts.append(tok)
        return "".join(parts)

    def decode(self, ids, skip_special_tokens: bool = False,
               clean_up_tokenization_spaces: Optional[bool] = None) -> str:
        """ids (list of ints / 1-D int array / one int) -> text.

        skip_special_tokens drops every special token ([CLS], [SEP], [PAD], [UNK], [MASK]).
        clean_up_tokenization_spaces (default: the tokenizer's, False like transformers 5's
        BertTokenizer) also joins " 's", " n't", " ' " etc. on the whole string.
        """
        _check_bool(skip_special_tokens, "skip_special_tokens")
        if isinstance(ids, (int, np.integer)) and not isinstance(ids, bool):
            ids = [ids]
        tokens = [self._id_to_token[i] for i in self._check_ids(ids)
                  if not (skip_special_tokens and i in self._special_ids)]
        text = self.convert_tokens_to_string(tokens)
        cleanup = (self.clean_up_tokenization_spaces if clean_up_tokenization_spaces is None
                   else clean_up_tokenization_spaces)
        if _check_bool(cleanup, "clean_up_tokenization_spaces"):
            text = _string_cleanup(text)
        return text

    def batch_decode(self, sequences, **kwargs) -> list:
        if isinstance(sequences, np.ndarray):
            if sequences.ndim != 2:
                raise ConfigError(f"sequences: expected a 2-D array of ids, got shape {sequences.shape}")
            sequences = list(sequences)
        if not isinstance(sequences, (list, tuple)):
            raise ConfigError(f"sequences: expected a list of id lists, got {type(sequences).__name__}")
        return [self.decode(s, **kwargs) for s in sequences]

    def __repr__(self):
        return (f"BertTokenizer(vocab_size={self.vocab_size}, do_lower_case={self.basic.do_lower_case}, "
                f"strip_accents={self.basic.strip_accents}, "
                f"tokenize_chinese_chars={self.basic.tokenize_chinese_chars}, "
                f"model_max_length={self.model_max_length})")


def _decoder_cleanup(tok: str) -> str:
    # The WordPiece decoder of `tokenizers` (cleanup=True) runs this on every token separately.
    return (tok.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",")
            .replace(" ' ", "'").replace(" n't", "n't").replace(" 'm", "'m").replace(" do not", " don't")
            .replace(" 's", "'s").replace(" 've", "'ve").replace(" 're", "'re"))


def _string_cleanup(text: str) -> str:
    # transformers' clean_up_tokenization, on the whole decoded string.
    return (text.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",")
            .replace(" ' ", "'").replace(" n't", "n't").replace(" 'm", "'m").replace(" 's", "'s")
            .replace(" 've", "'ve").replace(" 're", "'re"))


def _load_json(path) -> dict:
    if isinstance(path, dict):
        return path
    if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
        raise CheckpointError(f"path: no tokenizer.json at {path!r}")
    try:
        with open(path, "r", encoding="utf-8") as fh:
            spec = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"path: {path!r} is not valid JSON ({exc})") from exc
    if not isinstance(spec, dict):
        raise ConfigError(f"path: {path!r} holds a JSON {type(spec).__name__}, not a tokenizer object")
    return spec


def _parse_post_processor(spec):
    """tokenizer.json post_processor -> (Template, cls_token, sep_token)."""
    if spec is None:
        return Template.plain(), None, None
    kind = spec.get("type")
    if kind == "BertProcessing":
        (sep, sep_id), (cls_, cls_id) = spec["sep"], spec["cls"]
        return Template.bert(cls_, cls_id, sep, sep_id), cls_, sep
    if kind != "TemplateProcessing":
        raise ConfigError(f"post_processor: expected TemplateProcessing, BertProcessing or none, got {kind!r}")
    specials = {}
    for key, entry in (spec.get("special_tokens") or {}).items():
        specials[key] = tuple(zip(entry["ids"], entry["tokens"]))

    def items(seq, which):
        out = []
        for piece in seq:
            if "SpecialToken" in piece:
                tok = piece["SpecialToken"]["id"]
                if tok not in specials:
                    raise ConfigError(f"post_processor: the {which} template uses {tok!r}, which is not in "
                                      f"its special_tokens")
                out.append(("special", tok, piece["SpecialToken"]["type_id"]))
            elif "Sequence" in piece:
                seq_id = {"A": 0, "B": 1}.get(piece["Sequence"]["id"])
                if seq_id is None:
                    raise ConfigError(f"post_processor: unknown sequence {piece['Sequence']['id']!r} in the "
                                      f"{which} template")
                out.append(("sequence", seq_id, piece["Sequence"]["type_id"]))
            else:
                raise ConfigError(f"post_processor: unknown template piece {piece!r}")
        return tuple(out)

    single, pair = items(spec.get("single", []), "single"), items(spec.get("pair", []), "pair")
    named = [it[1] for it in single if it[0] == "special"]
    return (Template(single, pair, specials), named[0] if named else None,
            named[-1] if len(named) > 1 else None)


def _examples(text, text_pair, is_split_into_words: bool):
    """Normalise the accepted input shapes to ([(first, second_or_None)], batched)."""
    def is_words(x):
        return isinstance(x, (list, tuple)) and all(isinstance(w, str) for w in x)

    one = is_words if is_split_into_words else (lambda x: isinstance(x, str))
    kind = "a list of words (str)" if is_split_into_words else "a str"
    if text is None:
        raise ConfigError("text: expected a str, a list of str or a list of (str, str) pairs, got None")
    if is_split_into_words:
        batched = isinstance(text, (list, tuple)) and len(text) > 0 and isinstance(text[0], (list, tuple))
    else:
        batched = isinstance(text, (list, tuple))
    if not batched:
        if not one(text):
            raise ConfigError(f"text: expected {kind} (or a batch of them), got {type(text).__name__}")
        if text_pair is not None and not one(text_pair):
            raise ConfigError(f"text_pair: expected {kind} like text, got {type(text_pair).__name__}")
        return [(text, text_pair)], False
    if len(text) == 0:
        raise ConfigError("text: the batch is empty")
    if text_pair is not None:
        if not isinstance(text_pair, (list, tuple)) or len(text_pair) != len(text):
            got = len(text_pair) if isinstance(text_pair, (list, tuple)) else type(text_pair).__name__
            raise ConfigError(f"text_pair: a batch of {len(text)} texts needs a list of {len(text)} pairs, got {got}")
        pairs = list(zip(text, text_pair))
    else:
        pairs = []
        for x in text:
            if one(x):
                pairs.append((x, None))
            elif isinstance(x, tuple if is_split_into_words else (tuple, list)) and len(x) == 2:
                pairs.append((x[0], x[1]))
            else:
                pairs.append((x, None))                   # reported just below
    for k, (x, y) in enumerate(pairs):
        if not one(x) or (y is not None and not one(y)):
            raise ConfigError(f"text: batch item {k} is {type(x).__name__}/{type(y).__name__}; expected {kind} "
                              f"or a pair of them")
    return pairs, True
