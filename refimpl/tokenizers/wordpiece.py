"""BERT WordPiece tokenizer: BasicTokenizer -> WordPiece -> [CLS] A [SEP] B [SEP] -> truncate/pad.

Matches transformers 5's BertTokenizer (the `tokenizers`-backed one) and the `tokenizers` library's
Tokenizer(WordPiece) with BertNormalizer + BertPreTokenizer + TemplateProcessing: ids, type ids,
attention mask, special-tokens mask, word ids and character offsets into the original text.

WordPiece (greedy longest-match-first): a word is cut from the left into the longest vocabulary
entry that matches, continuation pieces carrying the "##" prefix ("unaffable" -> "un", "##aff",
"##able"). If some remainder matches nothing, the WHOLE word becomes one [UNK] (never partial
pieces); a word longer than max_input_chars_per_word (100) characters is one [UNK] too.

Added tokens, the template, truncation with overflowing windows (stride), padding and decoding are
TokenizerBase's (base.py, which also lists where we raise instead of returning something odd);
this module supplies the normalizer, pre-tokenizer and model (_encode_segment), the WordPiece
decoder and the loaders. Points particular to BERT, where the two Hugging Face implementations
differ and we follow the `tokenizers` one:
  - longest_first on a pair: Rust gives the extra token of an odd budget to the longer sequence
    (the second one on a tie); legacy always gives it to the first.
  - decoding: the WordPiece decoder of `tokenizers` removes the space before . , ! ? inside
    every token even with clean_up_tokenization_spaces=False; legacy only does it when the flag is
    set (its default is True, transformers 5's BertTokenizer defaults to False).
  - every added token (the special tokens of a vocab.txt, the added_tokens of a tokenizer.json) is
    matched verbatim in the raw text, before normalization.
Not reproduced: a vocab.txt without some special token gets no new id for it (transformers appends
one); duplicate lines in a vocab.txt are a ConfigError (transformers keeps the last id).
See basic.py for the normalization differences (NFC, final sigma, Unicode tables).
"""
from __future__ import annotations

import os
from typing import Optional

import numpy as np

from ..core.errors import ConfigError
from .base import (CLEAN_UP_RULES, AddedVocabulary, Template, TokenizerBase, added_tokens_from_spec, check_bool,
                   check_optional_int, clean_up_tokenization, load_tokenizer_json)
from .basic import BasicTokenizer

# The WordPiece decoder of `tokenizers` (cleanup=True) runs transformers' clean-up rules plus " do not" ->
# " don't" on every token separately.
_DECODER_CLEAN_UP_RULES = CLEAN_UP_RULES[:7] + ((" do not", " don't"),) + CLEAN_UP_RULES[7:]


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
        self.max_input_chars_per_word = check_optional_int(
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



class BertTokenizer(TokenizerBase):
    """BERT tokenizer: BasicTokenizer + WordPiece + [CLS]/[SEP] template + truncation + padding.

    Build it with from_vocab_file("vocab.txt", ...) or from_tokenizer_json("tokenizer.json"), or
    directly from a {token: id} dict. Calling it returns a BatchEncoding with input_ids,
    token_type_ids, attention_mask (and on request special_tokens_mask, offset_mapping, length);
    see TokenizerBase.__call__.

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
        self.model_max_length = check_optional_int(model_max_length, "model_max_length", minimum=1)
        self.padding_side = padding_side
        self.truncation_side = truncation_side
        self.clean_up_tokenization_spaces = check_bool(clean_up_tokenization_spaces, "clean_up_tokenization_spaces")
        self.decoder_cleanup = check_bool(decoder_cleanup, "decoder_cleanup")
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
        self.added = AddedVocabulary()
        for item in added_tokens:
            if not (isinstance(item, (tuple, list)) and len(item) == 3 and isinstance(item[0], str) and item[0]
                    and isinstance(item[1], (int, np.integer)) and not isinstance(item[1], bool) and item[1] >= 0):
                raise ConfigError(f"added_tokens: expected (content, id, special) triples, got {item!r}")
            self.added.add(item[0], int(item[1]), bool(item[2]), normalized=False)   # all matched in the raw text
        self._index_vocabulary()

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
        spec = load_tokenizer_json(path)
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

        added = [entry[:3] for entry in added_tokens_from_spec(
            spec.get("added_tokens"), unsupported=("single_word", "lstrip", "rstrip", "normalized"))]

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

    sep_token_id = property(lambda self: self._token_id("sep_token"))
    cls_token_id = property(lambda self: self._token_id("cls_token"))
    mask_token_id = property(lambda self: self._token_id("mask_token"))

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

    def _encode_segment(self, text: str) -> list:
        """Text between added tokens -> one list of (id, token, (start, end)) per BERT word (basic.py)."""
        words = []
        for w in self.basic.words(text):
            pieces = [(w.text, 0, len(w.text))] if w.keep_whole else self.wordpiece.tokenize(w.text)
            # a never_split word keeps its own text as token even when its id is [UNK] (legacy)
            ids = [self._lookup(tok) if w.keep_whole else self.vocab[tok] for tok, _, _ in pieces]
            words.append([(idx, tok, (w.src[s], w.src[e - 1] + 1)) for idx, (tok, s, e) in zip(ids, pieces)])
        return words

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
                tok = clean_up_tokenization(tok, _DECODER_CLEAN_UP_RULES)
            parts.append(tok)
        return "".join(parts)

    def __repr__(self):
        return (f"BertTokenizer(vocab_size={self.vocab_size}, do_lower_case={self.basic.do_lower_case}, "
                f"strip_accents={self.basic.strip_accents}, "
                f"tokenize_chinese_chars={self.basic.tokenize_chinese_chars}, "
                f"model_max_length={self.model_max_length})")


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
    template = Template.from_spec(spec)
    named = [it[1] for it in template.single if it[0] == "special"]
    return template, (named[0] if named else None), (named[-1] if len(named) > 1 else None)
