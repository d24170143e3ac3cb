"""What every tokenizer does around its model: added tokens, templates, truncation, overflow, padding, decoding.

A tokenizer here is `tokenizers`' pipeline with the model step left to a subclass:

    raw text --(added/special tokens cut out verbatim)--> segments
             --(subclass: _encode_segment: normalize, pre-tokenize, model)--> words of tokens
             --(truncation: longest_first / only_first / only_second, side right/left, stride)--> windows
             --(subclass: _process_sequence, e.g. byte-level offset trimming, on every window)-->
             --(Template: special tokens, type ids)--> Encoding (+ overflowing Encodings)
             --(padding right/left)--> BatchEncoding

Each token is (id, token string, (start, end) character offsets into the ORIGINAL text of its own
sequence, word index). The rules are those of the `tokenizers` library as transformers 5 drives it:
  - added tokens: longest match at the leftmost position; tokens matched on the raw text
    (special or not normalized) first, then the normalized ones inside the remaining pieces.
  - truncation counts the special tokens the template will add; max_length equal to that number
    empties both sequences; longest_first gives the odd token of a pair's budget to the longer one.
  - overflowing tokens (return_overflowing_tokens=True, stride): what truncation cuts off comes back
    as more windows, consecutive ones sharing `stride` tokens, each with its own offsets, word ids
    and sequence ids (question answering over a long context); overflow_to_sample_mapping gives the
    example of every window. The windows and their order are those of `tokenizers` (see _windows and
    _assemble), so they also hold for longest_first on a pair, where both texts are cut.
  - padding: to the longest example or to max_length, rounded up to pad_to_multiple_of; padded
    positions get attention_mask 0, special_tokens_mask 1, offsets (0, 0), word id None.

Where transformers/`tokenizers` would return something odd we raise instead, with the argument
named (the `tokenizers` library raises on most of these too; transformers' legacy Python
tokenizers silently return untruncated or over-truncated output):
  - truncation="only_first"/"only_second" when the chosen sequence cannot shrink enough while
    keeping at least one token -> ConfigError naming max_length ("only_second" without a pair
    -> ConfigError naming truncation).
  - max_length smaller than the number of special tokens -> ConfigError naming max_length
    (`tokenizers` underflows and silently skips truncation).
  - truncation/padding="max_length" without max_length and without model_max_length -> ConfigError
    (transformers silently skips them when model_max_length is unset).
  - decode / convert_ids_to_tokens with an unknown id -> IndexRangeError naming ids (HF drops it).
  - a stride that does not let the windows advance -> ConfigError naming stride, exactly where
    `tokenizers` refuses it: stride > max_length - (special tokens of one sequence) when truncation
    is switched on (a ValueError there), or stride >= the tokens kept of a sequence that is cut (a
    Rust panic there, e.g. only_second with a long question).
Where transformers' two implementations (`tokenizers`-backed and legacy Python) differ, we follow
`tokenizers`: add_special_tokens=False on a pair gives type ids 0 for the first text and 1 for the
second (legacy: all 0); text_pair="" is a pair with an empty second text, as in `tokenizers` and
transformers' batched call (its un-batched call drops a "" pair).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..core.errors import CheckpointError, ConfigError, IndexRangeError
from .encoding import BatchEncoding, Encoding, build_batch

# transformers' VERY_LARGE_INTEGER: the model_max_length of a tokenizer that has none.
NO_MAX_LENGTH = int(1e30)

_PADDING = {False: None, "do_not_pad": None, True: "longest", "longest": "longest", "max_length": "max_length"}
_TRUNCATION = {None: None, False: None, "do_not_truncate": None, True: "longest_first",
               "longest_first": "longest_first", "only_first": "only_first", "only_second": "only_second"}


def check_bool(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name}: expected True or False, got {value!r}")
    return value


def check_optional_int(value, name: str, *, minimum: int) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name}: expected None or an integer >= {minimum}, got {value!r}")
    return int(value)


def check_side(value, name: str) -> str:
    if value not in ("right", "left"):
        raise ConfigError(f"{name}: expected 'right' or 'left', got {value!r}")
    return value


def load_json(path, name: str = "path"):
    """Parse a JSON file; a missing or broken file is a CheckpointError naming `name`."""
    if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
        raise CheckpointError(f"{name}: no such file: {path!r}")
    try:
        with open(path, "r", encoding="utf-8") as fh:
            return json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{name}: {path!r} is not valid JSON ({exc})") from exc


def token_content(value, name: str, error=ConfigError) -> Optional[str]:
    """A special token from tokenizer_config.json / special_tokens_map.json: a str, an AddedToken dict
    {"content": ...}, or None. Anything else raises `error` naming `name`."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    raise error(f"{name}: expected a str, an AddedToken object {{'content': ...}} or None, got {value!r}")


def added_tokens_from_spec(entries, unsupported=("single_word", "lstrip", "rstrip")) -> list:
    """The added_tokens of a tokenizer.json -> [(content, id, special, normalized)]; a token that sets one of
    the `unsupported` flags is a ConfigError (only plain added tokens, matched verbatim, are supported)."""
    out = []
    for tok in entries or []:
        flags = [k for k in unsupported if tok.get(k)]
        if flags:
            raise ConfigError(f"added_tokens: token {tok.get('content')!r} sets {flags}; only plain added tokens "
                              f"(matched verbatim in the raw text) are supported")
        out.append((tok.get("content"), tok.get("id"), bool(tok.get("special")), tok.get("normalized")))
    return out


# transformers' clean_up_tokenization: (old, new) replacements, applied in this order.
CLEAN_UP_RULES = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                  (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


def clean_up_tokenization(text: str, rules=CLEAN_UP_RULES) -> str:
    """Remove the space before punctuation and English contractions (transformers' clean-up, by default)."""
    for old, new in rules:
        text = text.replace(old, new)
    return text


def load_tokenizer_json(path) -> dict:
    """A `tokenizers` tokenizer.json, from a path or already parsed (a dict, returned as it is)."""
    spec = path if isinstance(path, dict) else load_json(path)
    if not isinstance(spec, dict):
        raise ConfigError(f"path: {path!r} holds a JSON {type(spec).__name__}, not a tokenizer object")
    return spec


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

    @staticmethod
    def from_spec(spec: dict) -> "Template":
        """A `tokenizers` TemplateProcessing JSON object -> Template."""
        specials = {}
        for key, entry in (spec.get("special_tokens") or {}).items():
            if not isinstance(entry, dict) or len(entry.get("ids", ())) != len(entry.get("tokens", ())):
                raise ConfigError(f"post_processor: special token {key!r} needs as many 'ids' as 'tokens', "
                                  f"got {entry!r}")
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

        return Template(items(spec.get("single", []), "single"), items(spec.get("pair", []), "pair"), specials)

    def ids(self) -> set:
        return {idx for entry in self.special_tokens.values() for idx, _ in entry}


class AddedVocabulary:
    """Added tokens: strings cut out of the raw text whole and mapped to one id each.

    tokens: [(content, id, special, normalized)]. Tokens that are special or not normalized are
    matched on the raw text first, the others inside what remains (`tokenizers`' two passes; with no
    normalizer the order is all that differs). At one position the longest token wins.
    """

    def __init__(self, tokens=()):
        self.ids = {}                                      # content -> id
        self.special_ids = set()
        self._normalized = set()
        for item in tokens:
            self.add(*item)

    def add(self, content: str, idx: int, special: bool = False, normalized: Optional[bool] = None) -> None:
        if not isinstance(content, str) or not content:
            raise ConfigError(f"added_tokens: expected a non-empty str content, got {content!r}")
        if isinstance(idx, bool) or not isinstance(idx, (int, np.integer)) or idx < 0:
            raise ConfigError(f"added_tokens: token {content!r} needs an id >= 0, got {idx!r}")
        self.ids[content] = int(idx)
        if special:
            self.special_ids.add(int(idx))
        if normalized is None:                             # the `tokenizers` default: normalized unless special
            normalized = not special
        (self._normalized.add if normalized else self._normalized.discard)(content)
        self._patterns = None

    def _compile(self):
        def pattern(tokens):
            tokens = sorted(tokens, key=len, reverse=True)  # longest first: the longest match at a position
            return re.compile("|".join(re.escape(t) for t in tokens)) if tokens else None
        raw = [t for t in self.ids if t not in self._normalized]
        self._patterns = (pattern(raw), pattern([t for t in self.ids if t in self._normalized]))

    def split(self, text: str) -> list:
        """[(start, end, added_token_or_None)] covering `text` (no empty pieces)."""
        if self._patterns is None:
            self._compile()
        pieces = [(0, len(text), None)] if text else []
        for pat in self._patterns:
            if pat is None:
                continue
            out = []
            for a, b, tok in pieces:
                if tok is not None:
                    out.append((a, b, tok))
                    continue
                pos = a
                for m in pat.finditer(text, a, b):
                    if m.start() > pos:
                        out.append((pos, m.start(), None))
                    out.append((m.start(), m.end(), m.group()))
                    pos = m.end()
                if pos < b:
                    out.append((pos, b, None))
            pieces = out
        return pieces


def split_examples(text, text_pair, is_split_into_words: bool):
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


class TokenizerBase:
    """The shared pipeline. A subclass sets, in its __init__:

    self.vocab ({token: id} of the model), self.added (AddedVocabulary), self.template (Template,
    or None with self._template_error saying why special tokens cannot be added),
    self.model_max_length, self.padding_side, self.truncation_side, self.pad_token, self.unk_token,
    self.clean_up_tokenization_spaces; then calls self._index_vocabulary(). It implements
    _encode_segment(text) -> [word], word = [(id, token, (start, end))] with offsets into `text`,
    and convert_tokens_to_string(tokens); it may override _process_sequence and _clean_up.
    """

    model_input_names = ("input_ids", "token_type_ids", "attention_mask")

    # ------------------------------------------------------------------ settings

    @property
    def padding_side(self) -> str:
        return self._padding_side

    @padding_side.setter
    def padding_side(self, value):
        self._padding_side = check_side(value, "padding_side")

    @property
    def truncation_side(self) -> str:
        return self._truncation_side

    @truncation_side.setter
    def truncation_side(self, value):
        self._truncation_side = check_side(value, "truncation_side")

    # ------------------------------------------------------------------ vocabulary

    def _index_vocabulary(self) -> None:
        """Build the joint token -> id and id -> token maps (added tokens win, as in `tokenizers`)."""
        self._all_vocab = {**self.vocab, **self.added.ids}
        self._id_to_token = {idx: tok for tok, idx in self.vocab.items()}
        for tok, idx in self.added.ids.items():
            self._id_to_token[idx] = tok

    @property
    def vocab_size(self) -> int:
        """Size of the model's vocabulary (without added tokens outside it), like transformers."""
        return len(self.vocab)

    def __len__(self) -> int:
        return len(self._id_to_token)

    def get_vocab(self) -> dict:
        return dict(self._all_vocab)

    def _token_id(self, name: str) -> Optional[int]:
        tok = getattr(self, name)
        return self._all_vocab.get(tok) if tok is not None else None

    unk_token_id = property(lambda self: self._token_id("unk_token"))
    pad_token_id = property(lambda self: self._token_id("pad_token"))

    @property
    def all_special_ids(self) -> list:
        return sorted(self.added.special_ids)

    @property
    def all_special_tokens(self) -> list:
        return [self._id_to_token[i] for i in self.all_special_ids]

    def convert_tokens_to_ids(self, tokens):
        """str -> id, list of str -> list of ids; unknown tokens map to the unk_token's id (as in HF)."""
        if isinstance(tokens, str):
            return self._lookup(tokens)
        if not isinstance(tokens, (list, tuple)) or not all(isinstance(t, str) for t in tokens):
            raise ConfigError(f"tokens: expected a str or a list of str, got {tokens!r:.80}")
        return [self._lookup(t) for t in tokens]

    def _lookup(self, token: str) -> int:
        if token in self._all_vocab:
            return self._all_vocab[token]
        unk = self._token_id("unk_token")
        if unk is None:
            raise ConfigError(f"tokens: {token!r} is not in the vocabulary and there is no unk_token to stand for it")
        return unk

    def _check_ids(self, ids, name: str = "ids") -> list:
        """ids as a list of Python ints, each one a known id (IndexRangeError otherwise)."""
        if isinstance(ids, (int, np.integer)) and not isinstance(ids, bool):
            ids = [ids]
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
        check_bool(skip_special_tokens, "skip_special_tokens")
        if isinstance(ids, (int, np.integer)) and not isinstance(ids, bool):
            return self._id_to_token[self._check_ids([ids])[0]]
        return [self._id_to_token[i] for i in self._check_ids(ids)
                if not (skip_special_tokens and i in self.added.special_ids)]

    # ------------------------------------------------------------------ encoding

    def _encode_segment(self, text: str) -> list:
        raise NotImplementedError

    def _process_sequence(self, seq: list) -> list:
        """Hook between truncation and the template (e.g. offset trimming), run on every window; default: nothing."""
        return seq

    def _encode_text(self, text: str, word_id: Optional[int] = None) -> list:
        """One text -> [(id, token, (start, end), word)] before special tokens; offsets index `text`."""
        out, word = [], 0
        for a, b, added in self.added.split(text):
            if added is not None:
                out.append((self.added.ids[added], added, (a, b), word))
                word += 1
                continue
            for pieces in self._encode_segment(text[a:b]):
                out += [(idx, tok, (a + s, a + e), word) for idx, tok, (s, e) in pieces]
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
        out = self(text, text_pair, add_special_tokens=add_special_tokens, truncation=truncation,
                   max_length=max_length, stride=stride, is_split_into_words=is_split_into_words)
        if out.is_batched:
            raise ConfigError("text: encode takes one example (a str, or one list of words with "
                              "is_split_into_words=True); use __call__ for a batch")
        return out["input_ids"]

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return self.template.num_special_tokens(pair) if self.template is not None else 0

    def __call__(self, text, text_pair=None, *, add_special_tokens: bool = True, padding=False,
                 truncation=None, max_length: Optional[int] = None, stride: int = 0,
                 pad_to_multiple_of: Optional[int] = None, is_split_into_words: bool = False,
                 return_tensors: Optional[str] = None, return_token_type_ids: Optional[bool] = None,
                 return_attention_mask: Optional[bool] = None, return_overflowing_tokens: bool = False,
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
        return_token_type_ids / return_attention_mask: None = whether the tokenizer's
          model_input_names hold them.
        return_tensors: None (lists; flat for one un-batched text) or "np" (int64 arrays of shape
          (batch, length), offsets (batch, length, 2); every row must have the same length).
        Returns a BatchEncoding: input_ids, then (as asked) token_type_ids, attention_mask,
        special_tokens_mask, offset_mapping ((start, end) in the ORIGINAL text of each token's own
        sequence, (0, 0) for special/padding tokens), length and overflow_to_sample_mapping;
        .word_ids(i), .sequence_ids(i), .tokens(i) per row.
        """
        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self.model_input_names
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        for name, value in (("add_special_tokens", add_special_tokens), ("is_split_into_words", is_split_into_words),
                            ("return_token_type_ids", return_token_type_ids),
                            ("return_attention_mask", return_attention_mask),
                            ("return_overflowing_tokens", return_overflowing_tokens),
                            ("return_special_tokens_mask", return_special_tokens_mask),
                            ("return_offsets_mapping", return_offsets_mapping), ("return_length", return_length)):
            check_bool(value, name)
        if return_tensors not in (None, "np"):
            raise ConfigError(f"return_tensors: expected None or 'np' (refimpl works in NumPy), got {return_tensors!r}")
        max_length = check_optional_int(max_length, "max_length", minimum=0)
        stride = check_optional_int(stride, "stride", minimum=0)
        if stride is None:
            raise ConfigError("stride: expected an integer >= 0, got None")
        pad_to_multiple_of = check_optional_int(pad_to_multiple_of, "pad_to_multiple_of", minimum=1)
        pad_mode, trunc_mode, max_length = self._strategies(padding, truncation, max_length, pad_to_multiple_of)
        if trunc_mode is not None:
            self._check_stride(stride, max_length)
        examples, batched = split_examples(text, text_pair, is_split_into_words)

        encodings = []                                    # one per example; further windows in .overflowing
        for first, second in examples:
            a = self._encode_sequence(first, is_split_into_words)
            b = self._encode_sequence(second, is_split_into_words) if second is not None else None
            if trunc_mode is not None:
                a_windows, b_windows = self._truncate(a, b, trunc_mode, max_length, add_special_tokens, stride)
            else:
                a_windows, b_windows = [a], (None if b is None else [b])
            a_windows = [self._process_sequence(w) for w in a_windows]
            b_windows = None if b_windows is None else [self._process_sequence(w) for w in b_windows]
            encodings.append(self._assemble(a_windows, b_windows, add_special_tokens))

        if pad_mode is not None:
            if self.pad_token is None or self.pad_token not in self._all_vocab:
                raise ConfigError(f"pad_token: {self.pad_token!r} is not in the vocabulary, so padding is impossible"
                                  + ("; set pad_token (e.g. to eos_token) first" if self.pad_token is None else ""))
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
            # one int per row, a list even for one un-batched text (as transformers 5 returns it)
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
                                      None if b_windows is None else b_windows[combo.get(1, 0)], template)
        enc = build(main)
        enc.overflowing = [build(c) for c in overflowing]
        return enc

    @staticmethod
    def _post_process(a: list, b: Optional[list], template: Template) -> Encoding:
        """Lay out special tokens and the sequences per the template, with type/sequence/word ids and offsets."""
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
        raise NotImplementedError

    def _clean_up(self, text: str, clean_up_tokenization_spaces: Optional[bool]) -> str:
        cleanup = (self.clean_up_tokenization_spaces if clean_up_tokenization_spaces is None
                   else clean_up_tokenization_spaces)
        return clean_up_tokenization(text) if check_bool(cleanup, "clean_up_tokenization_spaces") else text

    def decode(self, ids, skip_special_tokens: bool = False,
               clean_up_tokenization_spaces: Optional[bool] = None) -> str:
        """ids (list of ints / 1-D int array / one int) -> text; skip_special_tokens drops the special
        added tokens; clean_up_tokenization_spaces (default: the tokenizer's) joins " 's", " ." etc."""
        check_bool(skip_special_tokens, "skip_special_tokens")
        tokens = [self._id_to_token[i] for i in self._check_ids(ids)
                  if not (skip_special_tokens and i in self.added.special_ids)]
        return self._clean_up(self.convert_tokens_to_string(tokens), clean_up_tokenization_spaces)

    def batch_decode(self, sequences, **kwargs) -> list:
        if isinstance(sequences, np.ndarray):
            if sequences.ndim != 2:
                raise ConfigError(f"sequences: expected a 2-D array of ids, got shape {sequences.shape}")
            sequences = list(sequences)
        if not isinstance(sequences, (list, tuple)):
            raise ConfigError(f"sequences: expected a list of id lists, got {type(sequences).__name__}")
        return [self.decode(s, **kwargs) for s in sequences]
