"""GPT-2 byte-level BPE tokenizer: added tokens -> GPT-2 pattern -> bytes -> BPE merges -> ids.

Matches transformers 5's GPT2Tokenizer (= GPT2TokenizerFast, backed by the `tokenizers` library)
and `tokenizers`' Tokenizer(BPE) with the ByteLevel pre-tokenizer/post-processor/decoder: ids,
tokens, character offsets into the original text, word ids, decoding.

    1. added tokens (e.g. <|endoftext|>) are cut out of the raw text verbatim (base.py);
    2. each remaining segment gets a leading " " if add_prefix_space and it does not start with
       one (the space points at the segment's first character, so its offsets are that character's);
    3. the GPT-2 pattern cuts the segment into words (byte_level.split_gpt2), each word becomes its
       UTF-8 bytes written as byte characters ("Ġ" for a space);
    4. BPE per word: start from single characters and repeatedly apply the merge of lowest rank
       (leftmost first among equal ranks), as `tokenizers` does it: with a priority queue, one
       merge at a time, a new pair joining the queue as soon as it appears. Results are cached
       per word.
    5. offsets: a token covering only some bytes of a character reports the whole character (so
       every piece of a split emoji gets (k, k+1)). With trim_offsets (a ByteLevel
       post-processor with trim_offsets=true in tokenizer.json), leading/trailing "Ġ"/whitespace
       is trimmed from each token's offsets after truncation, except the one leading space of a
       sequence's first token when the post-processor's add_prefix_space is set (`tokenizers`'
       rule, quirks included: a lone " " token becomes (end, end)).

Decoding joins the tokens' bytes and decodes UTF-8 with errors="replace" (invalid or cut-off byte
sequences become U+FFFD, exactly where Rust's from_utf8_lossy puts them); an added token that is
not made of byte characters contributes its own UTF-8. Because every byte has a character, any
str encodes and decodes back to itself, and any byte string survives encode -> decode as bytes.

Where transformers / `tokenizers` would return something odd we raise instead, naming the argument:
  - decode / convert_ids_to_tokens with an unknown id -> IndexRangeError naming ids (HF drops it);
  - a str with a lone surrogate -> ConfigError naming text (it has no UTF-8);
  - padding without a pad_token -> ConfigError naming pad_token (GPT-2 has none; set it to eos_token);
  - vocab.json with a non-integer or repeated id -> ConfigError (Rust skips non-numbers);
  - errors other than "replace" -> ConfigError (the fast tokenizer ignores the argument).
Differences between the two Hugging Face implementations (the `tokenizers`-backed GPT2Tokenizer
and the legacy pure-Python GPT-2 BPE, which transformers 5 keeps only inside ClvpTokenizer), where
we follow `tokenizers` (tested, but for the last: ClvpTokenizer dropped add_prefix_space):
  - merge order: legacy merges EVERY occurrence of the best pair before looking again; the two
    differ for merge lists where a pair created by a merge outranks the merge (never in a trained
    merges.txt): with "ab a" before "a b", "abab" is "aba" + "b", not "ab" + "ab".
  - Unicode version: legacy's `regex` module knows newer letters (U+088F, Unicode 17) than
    `tokenizers`' Oniguruma tables (Unicode 16), so it keeps them in a word where we split.
  - a character whose byte characters are missing from the vocabulary (no unk_token in the BPE
    model, as in GPT-2) is dropped, so its neighbours may merge across it and the offsets of the
    word's later tokens shift left by its length; legacy maps it to the unk_token's id.
  - merges.txt: legacy always skips the first line (the "#version" header) and so loses the first
    merge of a file without one; we skip "#version" lines only.
  - add_prefix_space: legacy GPT-2 put " " before the whole text even when it started with one;
    `tokenizers` puts it before each segment between added tokens that does not start with " ".
Loading, from a checkpoint directory (from_pretrained, transformers' rules) or from files:
  - tokenizer.json: vocab, merges (old "a b" strings or new [a, b] lists), added tokens and the
    post-processor; transformers ignores the file's pre-tokenizer, decoder and BPE options
    (add_prefix_space comes from tokenizer_config.json or the call, default False), while
    from_tokenizer_json reads them like the `tokenizers` library does.
  - vocab.json + merges.txt: merges lines "a b" (exactly one space), "#version" lines skipped,
    anything else is a ConfigError naming merges_file and the line.
  - the named special tokens (bos/eos/unk default "<|endoftext|>") become special added tokens,
    with a new id after the vocabulary when the vocabulary lacks them.
  - add_bos_token / add_eos_token present in tokenizer_config.json or the call replace the
    post-processor by transformers' bos/eos template (and so turn offset trimming off).
"""
from __future__ import annotations

import heapq
import json
import os
import warnings
from typing import Optional

import numpy as np

from ..core.errors import CheckpointError, ConfigError
from .base import (NO_MAX_LENGTH, AddedVocabulary, Template, TokenizerBase, added_tokens_from_spec, check_bool,
                   check_optional_int, load_json, load_tokenizer_json, token_content)
from .byte_level import BYTE_TO_CHAR, bytes_to_chars, check_text, decode_tokens, is_whitespace, split_gpt2

_SPACE_CHAR = BYTE_TO_CHAR[ord(" ")]                       # "Ġ"
_BYTE_CHAR_UTF8_LEN = [len(c.encode("utf-8")) for c in BYTE_TO_CHAR]   # 1 ("a") or 2 ("Ġ")
_SPECIAL_NAMES = ("bos_token", "eos_token", "unk_token", "pad_token")


def _is_space(ch: str) -> bool:
    """What the ByteLevel post-processor trims: the space character "Ġ" or Unicode whitespace."""
    return ch == _SPACE_CHAR or is_whitespace(ch)


def _utf8_len(ch: str) -> int:
    cp = ord(ch)
    return 1 if cp < 0x80 else 2 if cp < 0x800 else 3 if cp < 0x10000 else 4


class BPE:
    """The byte-pair-encoding model of `tokenizers` (models.BPE without dropout or byte fallback).

    vocab: {token: id}. merges: [(left, right)] in rank order; left, right and left + right must
    all be in vocab. unk_token: stands for characters missing from vocab (None: they are dropped);
    fuse_unk: consecutive unknown characters share one unk token. ignore_merges: a word that is a
    vocabulary entry is one token without merging. tokenize(word) -> [(id, start, end)] with
    start/end counted in UTF-8 bytes of `word` (the unit `tokenizers` computes offsets in).
    """

    def __init__(self, vocab: dict, merges, *, unk_token: Optional[str] = None, fuse_unk: bool = False,
                 ignore_merges: bool = False):
        if not isinstance(vocab, dict) or not vocab:
            raise ConfigError(f"vocab: expected a non-empty dict {{token: id}}, got "
                              f"{type(vocab).__name__}{' (empty)' if isinstance(vocab, dict) else ''}")
        seen = {}
        for tok, idx in vocab.items():
            if not isinstance(tok, str) or isinstance(idx, bool) or not isinstance(idx, (int, np.integer)) or idx < 0:
                raise ConfigError(f"vocab: expected {{str: int >= 0}}, found {tok!r}: {idx!r}")
            if int(idx) in seen:
                raise ConfigError(f"vocab: tokens {seen[int(idx)]!r} and {tok!r} share the id {int(idx)}")
            seen[int(idx)] = tok
        self.vocab = {tok: int(idx) for tok, idx in vocab.items()}
        self.id_to_token = seen
        if unk_token is not None and unk_token not in self.vocab:
            raise ConfigError(f"unk_token: {unk_token!r} is not in the vocabulary of the BPE model")
        self.unk_token = unk_token
        self.fuse_unk = check_bool(fuse_unk, "fuse_unk")
        self.ignore_merges = check_bool(ignore_merges, "ignore_merges")
        if isinstance(merges, (str, bytes)) or not isinstance(merges, (list, tuple)):
            raise ConfigError(f"merges: expected a list of (left, right) pairs, got {type(merges).__name__}")
        self.merges = []
        self._merge_map = {}                               # (left id, right id) -> (rank, merged id)
        for rank, pair in enumerate(merges):
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
                raise ConfigError(f"merges: entry {rank} is {pair!r}, expected a (left, right) pair of str")
            left, right = pair
            for part in (left, right, left + right):
                if part not in self.vocab:
                    raise ConfigError(f"merges: entry {rank} ({left!r}, {right!r}) needs {part!r}, which is not in "
                                      f"the vocabulary")
            self.merges.append((left, right))
            # a repeated pair keeps its last rank, as in `tokenizers` (and the legacy dict)
            self._merge_map[(self.vocab[left], self.vocab[right])] = (rank, self.vocab[left + right])

    def _symbols(self, word: str) -> list:
        """[id, byte length] per character; unknown characters become unk (or vanish without one)."""
        symbols, unk = [], None
        for ch in word:
            idx, n = self.vocab.get(ch), _utf8_len(ch)
            if idx is not None:
                if unk is not None:
                    symbols.append(unk)
                    unk = None
                symbols.append([idx, n])
            elif self.unk_token is not None:
                if unk is not None and self.fuse_unk:
                    unk[1] += n
                else:
                    if unk is not None:
                        symbols.append(unk)
                    unk = [self.vocab[self.unk_token], n]
            # no unk token: the character is dropped (and its bytes are not counted in offsets)
        if unk is not None:
            symbols.append(unk)
        return symbols

    def _merge(self, symbols: list) -> list:
        """Apply merges lowest rank first, leftmost first on ties, on a linked list of symbols."""
        n = len(symbols)
        ids = [s[0] for s in symbols]
        size = [s[1] for s in symbols]                     # 0 marks a symbol merged into its left neighbour
        prev = list(range(-1, n - 1))
        nxt = list(range(1, n + 1))
        nxt[-1] = -1
        merges = self._merge_map
        heap = []
        for pos in range(n - 1):
            m = merges.get((ids[pos], ids[pos + 1]))
            if m is not None:
                heap.append((m[0], pos, m[1]))
        heapq.heapify(heap)
        while heap:
            _, pos, new_id = heapq.heappop(heap)
            right = nxt[pos]
            if size[pos] == 0 or right == -1:
                continue
            m = merges.get((ids[pos], ids[right]))
            if m is None or m[1] != new_id:                # stale entry: one side has merged since
                continue
            ids[pos], size[pos], nxt[pos] = new_id, size[pos] + size[right], nxt[right]
            size[right] = 0
            if nxt[pos] != -1:
                prev[nxt[pos]] = pos
            if prev[pos] != -1:                            # the pair the new symbol forms on its left ...
                m = merges.get((ids[prev[pos]], new_id))
                if m is not None:
                    heapq.heappush(heap, (m[0], prev[pos], m[1]))
            if nxt[pos] != -1:                             # ... and on its right
                m = merges.get((new_id, ids[nxt[pos]]))
                if m is not None:
                    heapq.heappush(heap, (m[0], pos, m[1]))
        return [(ids[i], size[i]) for i in range(n) if size[i]]

    def tokenize(self, word: str) -> list:
        if self.ignore_merges and word in self.vocab:
            return [(self.vocab[word], 0, len(word.encode("utf-8")))]
        symbols = self._symbols(word)
        out, pos = [], 0
        for idx, n in (self._merge(symbols) if symbols else []):
            out.append((idx, pos, pos + n))                # offsets accumulate the kept symbols only
            pos += n
        return out


# ---------------------------------------------------------------------------- files


def read_vocab_json(path, name: str = "vocab_file") -> dict:
    vocab = load_json(path, name)
    if not isinstance(vocab, dict):
        raise ConfigError(f"{name}: {path!r} holds a JSON {type(vocab).__name__}, expected an object {{token: id}}")
    for tok, idx in vocab.items():
        if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0:
            raise ConfigError(f"{name}: token {tok!r} has id {idx!r}; expected integers >= 0")
    return vocab


def read_merges_txt(path, name: str = "merges_file") -> list:
    """merges.txt -> [(left, right)]: "#version" lines skipped, every other line exactly "left right"."""
    if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
        raise CheckpointError(f"{name}: no such file: {path!r}")
    with open(path, "r", encoding="utf-8", newline="") as fh:
        text = fh.read()
    lines = text.split("\n")
    if lines and lines[-1] == "":                          # a final newline ends the last line
        lines.pop()
    merges = []
    for number, line in enumerate(lines, start=1):
        line = line[:-1] if line.endswith("\r") else line
        if line.startswith("#version"):
            continue
        parts = line.split(" ")
        if len(parts) != 2:
            raise ConfigError(f"{name}: line {number} of {os.fspath(path)!r} is {line!r}; expected two tokens "
                              f"separated by one space")
        merges.append((parts[0], parts[1]))
    return merges


def _merges_from_spec(merges) -> list:
    out = []
    for k, m in enumerate(merges):
        if isinstance(m, str):                             # old tokenizer.json format: "left right"
            parts = m.split(" ")
            if len(parts) != 2:
                raise ConfigError(f"model: merge {k} is {m!r}; expected two tokens separated by one space")
            out.append(tuple(parts))
        else:
            out.append(tuple(m) if isinstance(m, list) else m)
    return out


def _parse_byte_level_post_processor(spec):
    """tokenizer.json post_processor -> (Template or None, trim_offsets, trim_add_prefix_space)."""
    if spec is None:
        return None, False, False
    kind = spec.get("type")
    if kind == "ByteLevel":
        return None, bool(spec.get("trim_offsets", True)), bool(spec.get("add_prefix_space", True))
    if kind == "TemplateProcessing":
        return Template.from_spec(spec), False, False
    if kind == "Sequence":
        parts = spec.get("processors") or []
        kinds = [p.get("type") for p in parts]
        if kinds == ["ByteLevel", "TemplateProcessing"]:  # trim each sequence, then add special tokens
            _, trim, aps = _parse_byte_level_post_processor(parts[0])
            return Template.from_spec(parts[1]), trim, aps
        if kinds in (["ByteLevel"], ["TemplateProcessing"]):
            return _parse_byte_level_post_processor(parts[0])
        raise ConfigError(f"post_processor: a Sequence of {kinds} is not supported (only ByteLevel followed by "
                          f"TemplateProcessing)")
    raise ConfigError(f"post_processor: expected ByteLevel, TemplateProcessing, a Sequence of them, or none; "
                      f"got {kind!r}")


# ---------------------------------------------------------------------------- the tokenizer


class GPT2Tokenizer(TokenizerBase):
    """GPT-2 tokenizer: byte-level BPE + added tokens + (optional) bos/eos template + truncation + padding.

    Build it with from_pretrained(directory) (transformers' rules), from_files("vocab.json",
    "merges.txt"), from_tokenizer_json("tokenizer.json") (`tokenizers`' rules), or directly from a
    {token: id} dict and a [(left, right)] merge list. Calling it returns a BatchEncoding with
    input_ids and attention_mask (token_type_ids, special_tokens_mask, offset_mapping, length, and
    overflowing windows with stride on request); see TokenizerBase.__call__. Offset trimming
    (trim_offsets) runs on every window, as the ByteLevel post-processor does on overflowing encodings.

    add_prefix_space: put " " before every text segment that does not start with one, so the first
      word is tokenized like the others.
    trim_offsets: trim leading/trailing spaces from the offsets (ByteLevel post-processor);
      trim_add_prefix_space: that post-processor's own add_prefix_space (None: add_prefix_space).
    bos/eos/unk/pad_token: the named special tokens (GPT-2: "<|endoftext|>" for the first three,
      no pad token; set `tokenizer.pad_token = tokenizer.eos_token` to pad). They are special added
      tokens, matched verbatim in the raw text; a new id follows the vocabulary for one it lacks.
    add_bos_token / add_eos_token: put bos_token before / eos_token after each sequence.
    added_tokens: more (content, id, special[, normalized]) added tokens; template: a Template
      instead of the bos/eos one. model_max_length, padding_side, truncation_side: as in transformers.
    model_unk_token, fuse_unk, ignore_merges: the BPE model's own options (tokenizer.json only;
      transformers' GPT2Tokenizer never sets them). decoder: False for a tokenizer.json without
      decoder (tokens are then joined with spaces).
    """

    model_input_names = ("input_ids", "attention_mask")

    def __init__(self, vocab: dict, merges, *, add_prefix_space: bool = False, trim_offsets: bool = False,
                 trim_add_prefix_space: Optional[bool] = None, errors: str = "replace",
                 unk_token: Optional[str] = "<|endoftext|>", bos_token: Optional[str] = "<|endoftext|>",
                 eos_token: Optional[str] = "<|endoftext|>", pad_token: Optional[str] = None,
                 add_bos_token: bool = False, add_eos_token: bool = False, model_max_length: Optional[int] = None,
                 padding_side: str = "right", truncation_side: str = "right", added_tokens: Optional[list] = None,
                 template: Optional[Template] = None, model_unk_token: Optional[str] = None, fuse_unk: bool = False,
                 ignore_merges: bool = False, decoder: bool = True, clean_up_tokenization_spaces: bool = False):
        self.model = BPE(vocab, merges, unk_token=model_unk_token, fuse_unk=fuse_unk, ignore_merges=ignore_merges)
        self.vocab = self.model.vocab
        self._cache = {}                                   # GPT-2 word -> its tokens
        self.add_prefix_space = check_bool(add_prefix_space, "add_prefix_space")
        self.trim_offsets = check_bool(trim_offsets, "trim_offsets")
        self.trim_add_prefix_space = check_bool(add_prefix_space if trim_add_prefix_space is None
                                                else trim_add_prefix_space, "trim_add_prefix_space")
        if errors != "replace":
            raise ConfigError(f"errors: only 'replace' is supported (the `tokenizers` ByteLevel decoder always "
                              f"replaces invalid UTF-8 with U+FFFD), got {errors!r}")
        self.errors = errors
        self._add_bos_token = check_bool(add_bos_token, "add_bos_token")
        self._add_eos_token = check_bool(add_eos_token, "add_eos_token")
        self.decoder = check_bool(decoder, "decoder")
        self.clean_up_tokenization_spaces = check_bool(clean_up_tokenization_spaces, "clean_up_tokenization_spaces")
        self.model_max_length = check_optional_int(model_max_length, "model_max_length", minimum=1)
        self.padding_side = padding_side
        self.truncation_side = truncation_side
        for name, value in (("unk_token", unk_token), ("bos_token", bos_token), ("eos_token", eos_token),
                            ("pad_token", pad_token)):
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigError(f"{name}: expected a non-empty str or None, got {value!r}")
        self.unk_token, self.bos_token, self.eos_token = unk_token, bos_token, eos_token
        self._pad_token = pad_token

        self.added = AddedVocabulary()
        if added_tokens is not None and not isinstance(added_tokens, (list, tuple)):
            raise ConfigError(f"added_tokens: expected a list of (content, id, special[, normalized]), "
                              f"got {type(added_tokens).__name__}")
        for item in added_tokens or ():
            if not isinstance(item, (tuple, list)) or len(item) not in (3, 4):
                raise ConfigError(f"added_tokens: expected (content, id, special[, normalized]) items, got {item!r}")
            self.added.add(*item)
        # The named special tokens are special added tokens (transformers adds the missing ones).
        for tok in (unk_token, bos_token, eos_token, pad_token):
            if tok is not None and tok not in self.added.ids:
                self.added.add(tok, self._new_id(tok), True, False)
        self._index_vocabulary()

        if template is not None and not isinstance(template, Template):
            raise ConfigError(f"template: expected a Template, got {type(template).__name__}")
        if template is None:
            template = self._bos_eos_template()
        self.template = template
        for idx in template.ids():
            if idx not in self._id_to_token:
                raise ConfigError(f"template: special token id {idx} is not in the vocabulary "
                                  f"(valid ids 0..{max(self._id_to_token)})")

    def _new_id(self, token: str) -> int:
        """The id `tokenizers` gives a new added token: its vocabulary id, else the next free one."""
        if token in self.vocab:
            return self.vocab[token]
        if not self.added.ids:
            return len(self.vocab)
        top = max(self.added.ids.values())
        return top + 1 if top >= len(self.vocab) else len(self.vocab)

    def _bos_eos_template(self) -> Template:
        """transformers' update_post_processor: [bos] A [eos] ([bos] B [eos] with type id 1)."""
        specials = {}
        for flag, name in ((self.add_bos_token, "bos_token"), (self.add_eos_token, "eos_token")):
            tok = getattr(self, name)
            if flag:
                if tok is None:
                    raise ConfigError(f"{name}: add_{name[:3]}_token=True needs a {name}, got None")
                specials[tok] = ((self._all_vocab[tok], tok),)

        def around(seq_id: int, type_id: int) -> list:
            return ([("special", self.bos_token, type_id)] if self.add_bos_token else []) \
                + [("sequence", seq_id, type_id)] \
                + ([("special", self.eos_token, type_id)] if self.add_eos_token else [])
        return Template(tuple(around(0, 0)), tuple(around(0, 0) + around(1, 1)), specials)

    # ------------------------------------------------------------------ special tokens

    def _set_bos_eos(self, name: str, value) -> None:
        # like transformers' setter: the bos/eos template replaces the post-processor (no trimming)
        setattr(self, "_" + name, check_bool(value, name))
        self.template = self._bos_eos_template()
        self.trim_offsets = False

    add_bos_token = property(lambda self: self._add_bos_token,
                             lambda self, value: self._set_bos_eos("add_bos_token", value),
                             doc="Put bos_token before each sequence (setting it rebuilds the template).")
    add_eos_token = property(lambda self: self._add_eos_token,
                             lambda self, value: self._set_bos_eos("add_eos_token", value),
                             doc="Put eos_token after each sequence (setting it rebuilds the template).")

    @property
    def pad_token(self) -> Optional[str]:
        return self._pad_token

    @pad_token.setter
    def pad_token(self, value):
        """Set the padding token (e.g. tokenizer.pad_token = tokenizer.eos_token); it must be known."""
        if value is not None and (not isinstance(value, str) or value not in self._all_vocab):
            raise ConfigError(f"pad_token: {value!r} is not in the vocabulary; use an existing token such as "
                              f"eos_token ({self.eos_token!r}) or add_special_tokens({{'pad_token': ...}})")
        self._pad_token = value

    bos_token_id = property(lambda self: self._token_id("bos_token"))
    eos_token_id = property(lambda self: self._token_id("eos_token"))

    def add_tokens(self, tokens, special_tokens: bool = False) -> int:
        """Add tokens (str or list of str) matched verbatim in the text; returns how many were not added yet.

        A token already in the vocabulary keeps its id (so an added "é" is the byte character 0xE9
        and decodes to U+FFFD on its own, as in transformers); any other gets the next free id."""
        check_bool(special_tokens, "special_tokens")
        if isinstance(tokens, str):
            tokens = [tokens]
        if not isinstance(tokens, (list, tuple)) or not all(isinstance(t, str) and t for t in tokens):
            raise ConfigError(f"tokens: expected a non-empty str or a list of them, got {tokens!r:.80}")
        new = 0
        for tok in tokens:
            if tok in self.added.ids:
                if special_tokens:
                    self.added.special_ids.add(self.added.ids[tok])
                continue
            self.added.add(tok, self._new_id(tok), special_tokens, not special_tokens)
            new += 1                                       # counted like transformers, even with a vocabulary id
        self._index_vocabulary()
        return new

    def add_special_tokens(self, special_tokens_dict: dict) -> int:
        """{"pad_token": "<pad>", ...}: add each as a special token and set the named attribute."""
        if not isinstance(special_tokens_dict, dict):
            raise ConfigError(f"special_tokens_dict: expected a dict, got {type(special_tokens_dict).__name__}")
        for name, tok in special_tokens_dict.items():
            if name not in _SPECIAL_NAMES:
                raise ConfigError(f"special_tokens_dict: unknown key {name!r}; expected one of {list(_SPECIAL_NAMES)}")
            if not isinstance(tok, str) or not tok:
                raise ConfigError(f"special_tokens_dict: {name} must be a non-empty str, got {tok!r}")
        new = self.add_tokens(list(dict.fromkeys(special_tokens_dict.values())), special_tokens=True)
        for name, tok in special_tokens_dict.items():
            setattr(self, name if name != "pad_token" else "_pad_token", tok)
        return new

    # ------------------------------------------------------------------ construction from files

    @classmethod
    def from_files(cls, vocab_file, merges_file, **kwargs) -> "GPT2Tokenizer":
        """Load vocab.json and merges.txt; kwargs as in __init__."""
        return cls(read_vocab_json(vocab_file), read_merges_txt(merges_file), **kwargs)

    @classmethod
    def from_tokenizer_json(cls, path, **kwargs) -> "GPT2Tokenizer":
        """Load a `tokenizers` tokenizer.json (path or parsed dict) of a byte-level BPE, as `tokenizers` does.

        Reads the BPE model (vocab, merges, unk_token, fuse_unk, ignore_merges), the ByteLevel
        pre-tokenizer (add_prefix_space), the post-processor (ByteLevel offset trimming,
        TemplateProcessing, or both in a Sequence), the ByteLevel decoder and the added tokens.
        The named special tokens are those of GPT-2 ("<|endoftext|>") if the file has it as an added
        token, else None. kwargs override (model_max_length, padding_side, pad_token, ...).
        """
        spec = load_tokenizer_json(path)
        model = spec.get("model") or {}
        if model.get("type") != "BPE":
            raise ConfigError(f"model: expected a BPE model in the tokenizer.json, got type {model.get('type')!r}")
        for key in ("dropout", "continuing_subword_prefix", "end_of_word_suffix"):
            if model.get(key):
                raise ConfigError(f"model: the BPE option {key}={model[key]!r} is not supported")
        if model.get("byte_fallback"):
            raise ConfigError("model: byte_fallback BPE models are not byte-level; not supported")
        if spec.get("normalizer") is not None:
            raise ConfigError(f"normalizer: a byte-level BPE here has no normalizer, got "
                              f"{spec['normalizer'].get('type')!r}")
        pre = spec.get("pre_tokenizer") or {}
        if pre.get("type") != "ByteLevel" or not pre.get("use_regex", True):
            raise ConfigError(f"pre_tokenizer: expected a ByteLevel pre-tokenizer with use_regex=true, "
                              f"got {pre!r:.120}")
        dec = spec.get("decoder")
        if dec is not None and dec.get("type") != "ByteLevel":
            raise ConfigError(f"decoder: expected a ByteLevel decoder or none, got {dec.get('type')!r}")
        vocab = model.get("vocab")
        if not isinstance(vocab, dict):
            raise ConfigError("model: the BPE model has no 'vocab' dict")
        template, trim, trim_aps = _parse_byte_level_post_processor(spec.get("post_processor"))
        added = added_tokens_from_spec(spec.get("added_tokens"))
        eot = "<|endoftext|>" if any(a[0] == "<|endoftext|>" for a in added) else None
        settings = dict(add_prefix_space=bool(pre.get("add_prefix_space", True)), trim_offsets=trim,
                        trim_add_prefix_space=trim_aps, unk_token=eot, bos_token=eot, eos_token=eot,
                        added_tokens=added, template=template if template is not None else Template.plain(),
                        model_unk_token=model.get("unk_token"), fuse_unk=bool(model.get("fuse_unk", False)),
                        ignore_merges=bool(model.get("ignore_merges", False)), decoder=dec is not None)
        settings.update(kwargs)
        return cls(vocab, _merges_from_spec(model.get("merges") or []), **settings)

    _CONFIG_KEYS = ("add_prefix_space", "bos_token", "eos_token", "unk_token", "pad_token", "model_max_length",
                    "padding_side", "truncation_side", "add_bos_token", "add_eos_token", "errors",
                    "clean_up_tokenization_spaces")

    @classmethod
    def from_pretrained(cls, directory, **kwargs) -> "GPT2Tokenizer":
        """Load a checkpoint directory the way transformers' GPT2Tokenizer.from_pretrained does.

        Files: tokenizer.json (vocab, merges, added tokens, post-processor), else vocab.json +
        merges.txt; tokenizer_config.json / special_tokens_map.json for the settings. kwargs
        (add_prefix_space, bos/eos/unk/pad_token, model_max_length, padding_side, truncation_side,
        add_bos_token, add_eos_token, errors, clean_up_tokenization_spaces) override the files.
        """
        if not isinstance(directory, (str, os.PathLike)) or not os.path.isdir(directory):
            raise CheckpointError(f"directory: no such directory: {directory!r}")
        for key in kwargs:
            if key not in cls._CONFIG_KEYS:
                raise ConfigError(f"{key}: not a GPT2Tokenizer.from_pretrained setting; expected one of "
                                  f"{list(cls._CONFIG_KEYS)}")
        config = {}
        for name in ("special_tokens_map.json", "tokenizer_config.json"):
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                data = load_json(path, "directory")
                if not isinstance(data, dict):
                    raise ConfigError(f"directory: {name} holds a JSON {type(data).__name__}, expected an object")
                config.update(data)
        settings = {k: config[k] for k in cls._CONFIG_KEYS if k in config}
        settings.update(kwargs)
        for name in _SPECIAL_NAMES:
            if name in settings:
                settings[name] = token_content(settings[name], name)
        if settings.get("model_max_length") is not None and settings["model_max_length"] >= NO_MAX_LENGTH:
            settings["model_max_length"] = None            # transformers' "no limit" marker

        tok_json = os.path.join(directory, "tokenizer.json")
        added, template, trim, trim_aps = [], None, False, False
        if os.path.isfile(tok_json):
            spec = load_json(tok_json, "directory")
            model = spec.get("model") if isinstance(spec, dict) else None
            if not isinstance(model, dict) or model.get("type") != "BPE" or not isinstance(model.get("vocab"), dict):
                raise ConfigError(f"directory: {tok_json!r} does not hold a BPE model with a vocab")
            vocab, merges = model["vocab"], _merges_from_spec(model.get("merges") or [])
            template, trim, trim_aps = _parse_byte_level_post_processor(spec.get("post_processor"))
            added = added_tokens_from_spec(spec.get("added_tokens"))
        else:
            vocab_file, merges_file = (os.path.join(directory, n) for n in ("vocab.json", "merges.txt"))
            if not (os.path.isfile(vocab_file) and os.path.isfile(merges_file)):
                raise CheckpointError(f"directory: {os.fspath(directory)!r} has neither tokenizer.json nor "
                                      f"vocab.json + merges.txt")
            vocab, merges = read_vocab_json(vocab_file), read_merges_txt(merges_file)
        for idx, tok in sorted((config.get("added_tokens_decoder") or {}).items(), key=lambda kv: int(kv[0])):
            if tok.get("content") not in {a[0] for a in added}:
                added += added_tokens_from_spec([dict(tok, id=int(idx))])
        if "add_bos_token" in settings or "add_eos_token" in settings:
            template, trim = None, False                   # transformers rebuilds the post-processor
        return cls(vocab, merges, trim_offsets=trim, trim_add_prefix_space=trim_aps, added_tokens=added,
                   template=template, **settings)

    def save_vocabulary(self, save_directory, filename_prefix: Optional[str] = None) -> tuple:
        """Write vocab.json and merges.txt (the `tokenizers` format); returns their paths."""
        if not isinstance(save_directory, (str, os.PathLike)) or not os.path.isdir(save_directory):
            raise ConfigError(f"save_directory: expected an existing directory, got {save_directory!r}")
        prefix = filename_prefix + "-" if filename_prefix else ""
        vocab_path = os.path.join(save_directory, prefix + "vocab.json")
        merges_path = os.path.join(save_directory, prefix + "merges.txt")
        with open(vocab_path, "w", encoding="utf-8") as fh:
            json.dump(dict(sorted(self.vocab.items(), key=lambda kv: kv[1])), fh, ensure_ascii=False)
        with open(merges_path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write("#version: 0.2\n")
            fh.writelines(f"{a} {b}\n" for a, b in self.model.merges)
        return vocab_path, merges_path

    # ------------------------------------------------------------------ encoding

    def _encode_segment(self, text: str) -> list:
        """Text between added tokens -> one list of (id, token, (start, end)) per GPT-2 word."""
        shift = 0
        if self.add_prefix_space and text and not text.startswith(" "):
            text, shift = " " + text, 1                    # the added space belongs to the first character
        words = []
        for a, b in split_gpt2(text):
            tokens = self._word(text[a:b])
            if a >= shift:                                 # position p of `text` is character p - shift
                a -= shift
                words.append([(idx, tok, (a + first, a + last + 1)) for idx, tok, first, last in tokens])
            else:                                          # the word holding the added space: p -> max(p - 1, 0)
                words.append([(idx, tok, (max(first - 1, 0), max(last - 1, 0) + 1))
                              for idx, tok, first, last in tokens])
        return words

    def _word(self, word: str) -> list:
        """[(id, token, first, last)] of one GPT-2 word; first/last: the word's characters the
        token's bytes come from. Cached per word."""
        hit = self._cache.get(word)
        if hit is None:
            data = word.encode("utf-8")
            owner = []                                     # per UTF-8 byte of the byte characters: its character
            for k, ch in enumerate(word):
                for b in ch.encode("utf-8"):
                    owner += [k] * _BYTE_CHAR_UTF8_LEN[b]
            hit = [(idx, self.model.id_to_token[idx], owner[s], owner[e - 1])
                   for idx, s, e in self.model.tokenize(bytes_to_chars(data))]
            if len(self._cache) >= 10000:
                self._cache.clear()
            self._cache[word] = hit
        return hit

    def _encode_text(self, text: str, word_id: Optional[int] = None) -> list:
        check_text(text)
        return super()._encode_text(text, word_id)

    def _process_sequence(self, seq: list) -> list:
        """The ByteLevel post-processor: trim spaces off each token's offsets (`tokenizers` rules)."""
        if not self.trim_offsets:
            return seq
        out = []
        for i, (idx, tok, (start, end), word) in enumerate(seq):
            lead = 0
            while lead < len(tok) and _is_space(tok[lead]):
                lead += 1
            trail = 0
            while trail < len(tok) and _is_space(tok[len(tok) - 1 - trail]):
                trail += 1
            if lead == 1 and (i == 0 or start == 0) and self.trim_add_prefix_space:
                lead = 0                                   # the space add_prefix_space may have put there
            if lead:
                start = min(start + lead, end)
            if trail and end >= trail:
                end = max(end - trail, start)
            out.append((idx, tok, (start, end), word))
        return out

    # ------------------------------------------------------------------ decoding

    def convert_tokens_to_string(self, tokens: list) -> str:
        """The ByteLevel decoder (bytes -> UTF-8, invalid sequences -> U+FFFD); no decoder: join with spaces."""
        return decode_tokens(tokens) if self.decoder else " ".join(tokens)

    def _clean_up(self, text: str, clean_up_tokenization_spaces: Optional[bool]) -> str:
        cleanup = (self.clean_up_tokenization_spaces if clean_up_tokenization_spaces is None
                   else clean_up_tokenization_spaces)
        if check_bool(cleanup, "clean_up_tokenization_spaces"):
            # transformers 5 skips this clean-up for BPE tokenizers (it would delete real spaces).
            warnings.warn("clean_up_tokenization_spaces=True is ignored for a byte-level BPE tokenizer, as in "
                          "transformers", stacklevel=3)
        return text

    def __repr__(self):
        return (f"GPT2Tokenizer(vocab_size={self.vocab_size}, merges={len(self.model.merges)}, "
                f"add_prefix_space={self.add_prefix_space}, trim_offsets={self.trim_offsets}, "
                f"model_max_length={self.model_max_length}, padding_side={self.padding_side!r})")
