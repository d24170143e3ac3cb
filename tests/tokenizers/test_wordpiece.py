"""refimpl.tokenizers (BERT WordPiece) against three Hugging Face implementations.

A WordPiece vocabulary is trained offline with the `tokenizers` library on a small corpus written
here (accents, CJK, Hangul, Kana, emoji, punctuation). For every normalization setting the same
vocabulary then drives
  lib    the `tokenizers` Tokenizer itself (BertNormalizer, BertPreTokenizer, TemplateProcessing),
  fast   transformers 5's BertTokenizer (tokenizers-backed) loaded from vocab.txt,
  legacy transformers' pure-Python BertTokenizerLegacy (ids only; no offsets),
and ours is built both from the tokenizer.json and from the vocab.txt.
"""
import json
import unicodedata
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

tokenizers = pytest.importorskip("tokenizers")
transformers = pytest.importorskip("transformers")
from tokenizers import decoders, models, normalizers, pre_tokenizers, processors, trainers  # noqa: E402
from transformers import BertTokenizer as HFBertTokenizer  # noqa: E402

from refimpl.core.errors import CheckpointError, ConfigError, IndexRangeError  # noqa: E402
from refimpl.tokenizers.basic import BasicTokenizer, pre_tokenize  # noqa: E402
from refimpl.tokenizers.wordpiece import BertTokenizer, WordPiece  # noqa: E402

try:
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy
except ImportError:  # older/newer transformers without the pure-Python class
    BertTokenizerLegacy = None

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

# No "x"/"X", "q" or "z" anywhere: words with them have an unmatchable piece and become [UNK].
CORPUS = [
    "Hello world! The naïve café owner said: mở bài lạc trôi.",
    "NAÏVE CAFÉ École ÉCOLE Straße İstanbul Über",
    "的人有 任务 我的人 你好世界 中文 字符",
    "unwanted running runner unaffable wanted want unable",
    "$5^2 = 25!!! ... wow? (yes) [no] {maybe} <tag> a+b=c 100% #1 @user ~tilde `code` |pipe|",
    "emoji 😀 🤗 test 👍🏽 smile",
    "한국어 텍스트 カタカナ ひらがな",
    "Don't stop, it's fine. I'm here; you're there. They've gone. I do not know.",
    "ΟΔΟΣ οδος οδοσ Σίσυφος",
    "aaaa aaaaaaaa bbbb bbbbbbbb hello hello world world the the",
    "full ｗｉｄｔｈ ＦＵＬＬ tab line para graph ctrl bad char",
]


def _strip_accents(s):
    return "".join(c for c in unicodedata.normalize("NFD", s) if unicodedata.category(c) != "Mn")


CONFIGS = [(True, None), (True, True), (True, False), (False, None), (False, True), (False, False)]
CONFIG_IDS = [f"lower={lo}-strip={st}" for lo, st in CONFIGS]

HARD_TEXTS = [
    "Hello, World!", "hello world", "naïve café", "NAÏVE CAFÉ", "mở bài lạc trôi", "Mở Bài LẠC Trôi",
    "的人有", "任务", "我的人x任务y", "한국어 텍스트", "カタカナ ひらがな", "emoji 😀🤗 test 👍🏽",
    "!!!...", "$5^2 = 25", "a+b=c 100% #1 @user ~`|", "(yes) [no] {maybe} <tag>",
    "a" * 100, "a" * 101, "b" * 99 + "x", "unwantedX running", "unaffable",
    "ctrl\x00a\x01b\x7fc\u200bd\u00ade", "bad\ufffd\ufffdchar \ufffd", "", "   ", "\t\n\r \u3000\u00a0 ",
    "Don't stop, it's fine. I'm here; you're there.", "İstanbul Straße École Über",
    "[MASK] is [CLS] and[SEP]x", "[mask] [Mask] [MASK][MASK]", "tab\tsep\nnew\r\nline",
    "\u2028para\u2029graph", "ＦＵＬＬ ｗｉｄｔｈ", "  leading and trailing  ", "I do not know .",
]

# Where transformers' legacy Python tokenizer and `tokenizers` disagree (documented in basic.py);
# ours follows `tokenizers`, so these are compared with lib/fast only.
LEGACY_DIFFERS = ["e\u0301cole", "ΟΔΟΣ", "Σίσυφος ΟΔΟΣ.", "\U0002B820x"]

PAIRS = [
    ("Hello, World!", "naïve café"), ("的人有 任务", "mở bài lạc trôi"), ("", "hello"), ("hello", ""),
    ("a" * 101, "!!!..."), ("Don't stop, it's fine.", "I'm here; you're there."),
    ("running runner unwanted", "wow? (yes) [no]"), ("the the the the the", "world"),
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One WordPiece vocabulary for every setting: trained cased, on the corpus plus its lower-cased
    and accent-stripped forms, so every normalization finds its pieces."""
    root = tmp_path_factory.mktemp("wordpiece")
    tok = tokenizers.Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    corpus = CORPUS + [c.lower() for c in CORPUS] + [_strip_accents(c) for c in CORPUS] \
        + [_strip_accents(c.lower()) for c in CORPUS]
    tok.train_from_iterator(corpus * 3, trainers.WordPieceTrainer(vocab_size=300, special_tokens=SPECIALS,
                                                                   show_progress=False))
    vocab = tok.get_vocab()
    assert [vocab[s] for s in SPECIALS] == [0, 1, 2, 3, 4]
    vocab_dir = root / "vocab"
    vocab_dir.mkdir()
    with open(vocab_dir / "vocab.txt", "w", encoding="utf-8") as fh:
        fh.writelines(t + "\n" for t in sorted(vocab, key=vocab.get))
    return {"root": root, "json": tok.to_str(), "vocab": vocab, "vocab_dir": vocab_dir}


class Impls:
    """The same setting in all implementations."""

    def __init__(self, trained, lower, strip, **kw):
        lib = tokenizers.Tokenizer.from_str(trained["json"])
        lib.normalizer = normalizers.BertNormalizer(lowercase=lower, strip_accents=strip)
        lib.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
        lib.decoder = decoders.WordPiece()
        path = trained["root"] / f"tokenizer-{lower}-{strip}.json"
        lib.save(str(path))
        self.lib = lib
        self.ours = BertTokenizer.from_tokenizer_json(path, **kw)
        self.ours_vocab = BertTokenizer.from_vocab_file(trained["vocab_dir"] / "vocab.txt", do_lower_case=lower,
                                                        strip_accents=strip, **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.fast = HFBertTokenizer.from_pretrained(str(trained["vocab_dir"]), do_lower_case=lower,
                                                        strip_accents=strip, **kw)
            self.legacy = (BertTokenizerLegacy.from_pretrained(str(trained["vocab_dir"]), do_lower_case=lower,
                                                               strip_accents=strip, **kw)
                           if BertTokenizerLegacy is not None else None)


@pytest.fixture(scope="module")
def impls(trained):
    cache = {}

    def get(lower=True, strip=None, **kw):
        key = (lower, strip, tuple(sorted(kw.items())))
        if key not in cache:
            cache[key] = Impls(trained, lower, strip, **kw)
        return cache[key]
    return get


def _hf(out):
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in dict(out).items()}


def _fast_one(fast, text, pair, **kw):
    """transformers' BertTokenizer on one example, as (dict of lists, word_ids).

    transformers drops an empty-string text_pair of an un-batched call (`if text_pair`); inside a
    batch it keeps it, like `tokenizers`, the legacy tokenizer and us, so "" pairs go as a batch.
    """
    if pair == "":
        out = fast([text], [pair], **kw)
        return {k: v[0] for k, v in _hf(out).items()}, out.word_ids(0)
    out = fast(text, pair, **kw)
    return _hf(out), out.word_ids()


def _compare_with_lib_and_fast(im, text, pair=None, legacy=True):
    kw = dict(return_offsets_mapping=True, return_special_tokens_mask=True)
    ours = im.ours(text, pair, **kw)
    assert dict(ours) == dict(im.ours_vocab(text, pair, **kw))
    fast, fast_words = _fast_one(im.fast, text, pair, **kw)
    assert dict(ours) == fast, (text, pair)
    assert ours.word_ids() == fast_words
    enc = im.lib.encode(text, pair) if pair is not None else im.lib.encode(text)
    assert ours["input_ids"] == enc.ids and ours["token_type_ids"] == enc.type_ids
    assert ours["offset_mapping"] == enc.offsets and ours.tokens() == enc.tokens
    assert ours.word_ids() == enc.word_ids and ours.sequence_ids() == enc.sequence_ids
    assert ours["special_tokens_mask"] == enc.special_tokens_mask and ours["attention_mask"] == enc.attention_mask
    if legacy and im.legacy is not None:
        old = im.legacy(text, pair, return_token_type_ids=True, return_special_tokens_mask=True)
        for key in ("input_ids", "token_type_ids", "attention_mask", "special_tokens_mask"):
            assert ours[key] == old[key], (key, text, pair)
    return ours


# ---------------------------------------------------------------------------- character classes


def _first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"at {i}: ours {a[max(0, i - 3):i + 3]!r} vs tokenizers {b[max(0, i - 3):i + 3]!r}"
    return f"lengths {len(a)} vs {len(b)}"


def test_normalizer_matches_tokenizers_on_every_code_point():
    everything = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    # clean_text (control/format/private use, U+0000, U+FFFD, whitespace) and the CJK ranges.
    ref = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False,
                                     lowercase=False).normalize_str(everything)
    ours, src = BasicTokenizer(do_lower_case=False, strip_accents=False).normalize(everything)
    if ours != ref:                                        # (pytest's own diff of 1M characters is slow)
        pytest.fail(_first_difference(ours, ref))
    assert len(src) == len(ours) and all(everything[i] == c for i, c in zip(src, ours) if c != " ")
    # Accent stripping (NFD + Mn) and lower-casing, on every code point Python's Unicode knows.
    # "a" between them keeps canonical reordering inside one code point: the Rust tables predate
    # the combining classes of some recent marks, whose order across code points then differs.
    known = "a".join(c for c in everything if unicodedata.category(c) != "Cn")
    ref = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True,
                                     lowercase=True).normalize_str(known)
    ours, _ = BasicTokenizer(do_lower_case=True, strip_accents=True, clean_text=False,
                             tokenize_chinese_chars=False).normalize(known)
    if ours != ref:                                        # (pytest's own diff of 1M characters is slow)
        pytest.fail(_first_difference(ours, ref))
    # Canonical reordering across code points where both know the classes: musical-symbol marks
    # (category Mc, so they survive stripping) with classes 226 and 216.
    for text in ["x\U0001D16D\U0001D165y", "e\u0301\U0001D16D\u0316\U0001D165!"]:
        strip = normalizers.BertNormalizer(strip_accents=True, lowercase=False).normalize_str(text)
        assert BasicTokenizer(do_lower_case=False, strip_accents=True).normalize(text)[0] == strip


def test_pre_tokenizer_matches_tokenizers_on_every_code_point():
    pre = pre_tokenizers.BertPreTokenizer()
    cps = [c for c in range(1, 0x110000) if not 0xD800 <= c <= 0xDFFF]
    for k in range(0, len(cps), 4096):                     # chunks keep the Rust offset conversion fast
        s = "a".join(chr(c) for c in cps[k:k + 4096])
        ref = [(w, tuple(o)) for w, o in pre.pre_tokenize_str(s)]
        assert pre_tokenize(s) == ref, f"chunk from U+{cps[k]:04X}"


@pytest.mark.parametrize("text", ["$5^2", "a`b", "x~y|z", "¿qué?", "«guillemets»", "em—dash", "a\u00b7b"])
def test_punctuation_rule_includes_ascii_symbols(text):
    # $ ^ ` ~ | are not Unicode P* but BERT splits on all non-alphanumeric ASCII
    words = BasicTokenizer(do_lower_case=False).tokenize(text)
    ref = [w for w, _ in pre_tokenizers.BertPreTokenizer().pre_tokenize_str(text)]
    assert words == ref


# ---------------------------------------------------------------------------- single texts


@pytest.mark.parametrize("lower,strip", CONFIGS, ids=CONFIG_IDS)
def test_hard_texts_match_all_implementations(impls, lower, strip):
    im = impls(lower, strip)
    for text in HARD_TEXTS:
        _compare_with_lib_and_fast(im, text)


@pytest.mark.parametrize("lower,strip", CONFIGS, ids=CONFIG_IDS)
def test_texts_where_legacy_differs_follow_tokenizers(impls, lower, strip):
    im = impls(lower, strip)
    for text in LEGACY_DIFFERS:
        _compare_with_lib_and_fast(im, text, legacy=False)


def test_legacy_differences_are_real(impls):
    """The documented legacy differences exist (so the exclusions above are not hiding bugs)."""
    if BertTokenizerLegacy is None:
        pytest.skip("no BertTokenizerLegacy in this transformers")
    cased = impls(False, False)
    # NFC: legacy composes "e" + U+0301 into "é"; `tokenizers` keeps the combining mark.
    assert cased.legacy.tokenize("e\u0301cole") != cased.ours.tokenize("e\u0301cole")
    # CJK range: U+2B820 is split off by legacy only.
    assert len(cased.legacy.tokenize("\U0002B820x")) != len(cased.ours.tokenize("\U0002B820x"))
    # lower-casing a whole word turns a final capital sigma into "ς" in legacy only.
    b = BasicTokenizer(do_lower_case=True, strip_accents=False)
    from transformers.models.bert.tokenization_bert_legacy import BasicTokenizer as LegacyBasic
    assert LegacyBasic(do_lower_case=True, strip_accents=False).tokenize("ΟΔΟΣ") == ["οδος"]
    rust = normalizers.BertNormalizer(strip_accents=False).normalize_str("ΟΔΟΣ")
    assert b.tokenize("ΟΔΟΣ") == ["οδοσ"] == [rust]


def test_wordpiece_edge_rules(impls):
    im = impls(True, None)
    assert im.ours.tokenize("a" * 100) != ["[UNK]"]
    assert im.ours.tokenize("a" * 101) == ["[UNK]"]              # more than 100 characters
    assert im.ours.tokenize("unwantedX") == ["[UNK]"]            # one unmatchable piece: the whole word
    out = im.ours("ok unwantedX", return_offsets_mapping=True)
    assert out["offset_mapping"][-2] == (3, 12)                  # the [UNK] covers the whole word
    wp = WordPiece({"[UNK]": 0, "un": 1, "##aff": 2, "##able": 3, "a": 4}, max_input_chars_per_word=5)
    assert wp.tokenize("unaffable") == [("[UNK]", 0, 9)]         # 9 > 5 characters
    wp = WordPiece({"[UNK]": 0, "un": 1, "##aff": 2, "##able": 3, "a": 4})
    assert wp.tokenize("unaffable") == [("un", 0, 2), ("##aff", 2, 5), ("##able", 5, 9)]
    wp = WordPiece({"[UNK]": 0, "un": 1, "##aff": 2, "##able": 3, "unaffable": 4})
    assert wp.tokenize("unaffable") == [("unaffable", 0, 9)]      # the longest entry matches whole
    wp = WordPiece({"[UNK]": 0, "un": 1, "##unaffable": 5})
    assert wp.tokenize("ununaffable") == [("un", 0, 2), ("##unaffable", 2, 11)]
    assert wp.tokenize("unx") == [("[UNK]", 0, 3)]


@pytest.mark.parametrize("lower,strip", CONFIGS, ids=CONFIG_IDS)
def test_never_split_matches_legacy(trained, lower, strip):
    if BertTokenizerLegacy is None:
        pytest.skip("no BertTokenizerLegacy in this transformers")
    never = ["Don't", "[foo]", "CAFÉ", "hello"]
    ours = BertTokenizer.from_vocab_file(trained["vocab_dir"] / "vocab.txt", do_lower_case=lower,
                                         strip_accents=strip, never_split=never)
    legacy = BertTokenizerLegacy.from_pretrained(str(trained["vocab_dir"]), do_lower_case=lower,
                                                 strip_accents=strip, never_split=never)
    for text in ["Don't stop [foo] [foo]x CAFÉ café", "hello Hello HELLO hello!", "x Don't, [foo].", "的[foo]人"]:
        assert ours.tokenize(text) == legacy.tokenize(text), text
        assert ours(text)["input_ids"] == legacy(text)["input_ids"], text
    out = ours("a [foo] b", return_offsets_mapping=True)
    assert out.tokens()[2] == "[foo]" and out["input_ids"][2] == 1 and out["offset_mapping"][2] == (2, 7)


FRAGMENTS = ["hello", "Hello", "world", "naïve", "café", "CAFÉ", "mở", "bài", "的", "人", "任务", "한국어", "カタ",
             "😀", "👍🏽", "!", "...", "$", "^", "'", ",", " ", "  ", "\t", "\n", "\x00", "\x01", "\ufffd", "\u200b",
             "\u00ad", "\u0301", "\u3000", "x", "a" * 60, "[MASK]", "[SEP]", "[mask]", "un", "##", "Σ", "İ", "ß",
             "running", "unwanted", "ＦＵＬＬ", "e\u0301"]


@given(parts=st.lists(st.sampled_from(FRAGMENTS), max_size=12),
       pair_parts=st.one_of(st.none(), st.lists(st.sampled_from(FRAGMENTS), max_size=8)),
       config=st.sampled_from(CONFIGS),
       truncation=st.sampled_from([None, "longest_first", "only_first", "only_second"]),
       max_length=st.integers(3, 20))
def test_random_texts_match_lib_and_fast(impls, parts, pair_parts, config, truncation, max_length):
    im = impls(*config)
    text = "".join(parts)
    pair = None if pair_parts is None else "".join(pair_parts)
    kw = dict(return_offsets_mapping=True, return_special_tokens_mask=True)
    if truncation is not None:
        kw.update(truncation=truncation, max_length=max_length)
    try:
        fast, fast_words = _fast_one(im.fast, text, pair, **kw)
    except Exception:                                      # `tokenizers` refuses this truncation
        with pytest.raises(ConfigError):
            im.ours(text, pair, **kw)
        return
    ours = im.ours(text, pair, **kw)
    assert dict(ours) == fast
    assert ours.word_ids() == fast_words
    if truncation is None:
        enc = im.lib.encode(text, pair) if pair is not None else im.lib.encode(text)
        assert ours.tokens() == enc.tokens and ours["offset_mapping"] == enc.offsets
        assert ours.word_ids() == enc.word_ids
        ids = ours["input_ids"]
        for skip in (False, True):
            assert im.ours.decode(ids, skip_special_tokens=skip) == im.lib.decode(ids, skip_special_tokens=skip)


# ---------------------------------------------------------------------------- pairs, truncation, padding


@pytest.mark.parametrize("lower,strip", [(True, None), (False, False)])
def test_pairs_match_all_implementations(impls, lower, strip):
    im = impls(lower, strip)
    for a, b in PAIRS:
        _compare_with_lib_and_fast(im, a, b)
    ours = im.ours("hello world", "café", add_special_tokens=False, return_offsets_mapping=True)
    fast = im.fast("hello world", "café", add_special_tokens=False, return_offsets_mapping=True)
    assert dict(ours) == _hf(fast)


@pytest.mark.parametrize("strategy", [True, "longest_first", "only_first", "only_second"])
def test_truncation_matches_fast(impls, strategy):
    im = impls(True, None)
    for a, b in PAIRS + [("the the the", "hello hello hello")]:
        n_special = 3
        for max_length in range(n_special, 16):
            kw = dict(truncation=strategy, max_length=max_length, return_offsets_mapping=True,
                      return_special_tokens_mask=True)
            try:
                fast, fast_words = _fast_one(im.fast, a, b, **kw)
            except Exception:                              # `tokenizers` cannot fit it either
                with pytest.raises(ConfigError, match="max_length"):
                    im.ours(a, b, **kw)
                continue
            ours = im.ours(a, b, **kw)
            assert dict(ours) == fast, (a, b, strategy, max_length)
            assert ours.word_ids() == fast_words
            # legacy agrees when the chosen sequence can lose enough (at max_length == 3 it does nothing)
            if strategy in ("only_first", "only_second") and max_length > n_special and im.legacy is not None:
                assert ours["input_ids"] == im.legacy(a, b, **{k: v for k, v in kw.items()
                                                                if k != "return_offsets_mapping"})["input_ids"]


def test_truncation_single_sequences_and_sides(impls):
    for side in ("right", "left"):
        im = impls(True, None, truncation_side=side)
        for text in HARD_TEXTS[:20]:
            for max_length in (2, 3, 5, 8):
                for strategy in (True, "only_first"):
                    kw = dict(truncation=strategy, max_length=max_length, return_offsets_mapping=True)
                    try:
                        fast = im.fast(text, **kw)
                    except Exception:
                        with pytest.raises(ConfigError):
                            im.ours(text, **kw)
                        continue
                    assert dict(im.ours(text, **kw)) == _hf(fast), (text, max_length, side)
        # max_length alone turns truncation on (transformers' rule)
        batch = ["hello world running"]
        assert dict(im.ours(batch, max_length=3)) == _hf(im.fast(batch, max_length=3))


def test_longest_first_follows_rust_not_legacy(impls):
    """Odd budget with len(A) <= len(B): Rust gives the extra token to B, legacy to A."""
    im = impls(True, None)
    a, b = "the the the", "hello hello hello"
    kw = dict(truncation="longest_first", max_length=3 + 3)
    ours = im.ours(a, b, **kw)["input_ids"]
    assert ours == im.fast(a, b, **kw)["input_ids"] == [2, im.ours.vocab["the"], 3] + [im.ours.vocab["hello"]] * 2 + [3]
    if im.legacy is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert im.legacy(a, b, **kw)["input_ids"] != ours


@pytest.mark.parametrize("padding", [False, True, "longest", "max_length"])
@pytest.mark.parametrize("pad_to_multiple_of", [None, 4])
@pytest.mark.parametrize("side", ["right", "left"])
def test_batch_padding_matches_fast(impls, padding, pad_to_multiple_of, side):
    im = impls(True, None, padding_side=side)
    batch = [("Hello, World!", "naïve café"), ("的人有", ""), ("a" * 101, "the the the the the the")]
    kw = dict(padding=padding, max_length=12 if padding == "max_length" else None,
              pad_to_multiple_of=pad_to_multiple_of, return_offsets_mapping=True, return_special_tokens_mask=True,
              return_length=True)
    ours = im.ours(batch, **kw)
    fast = im.fast(batch, **kw)
    assert dict(ours) == _hf(fast)
    for i in range(len(batch)):
        assert ours.word_ids(i) == fast.word_ids(i) and ours.sequence_ids(i) == fast.sequence_ids(i)
    # text + text_pair lists give the same as a list of tuples
    same = im.ours([a for a, _ in batch], [b for _, b in batch], **kw)
    assert dict(same) == dict(ours)
    # the tokenizers library with its own padding
    if padding in (True, "longest"):
        im.lib.enable_padding(pad_id=0, pad_token="[PAD]", direction=side, pad_to_multiple_of=pad_to_multiple_of)
        try:
            encs = im.lib.encode_batch(batch)
        finally:
            im.lib.no_padding()
        assert ours["input_ids"] == [e.ids for e in encs] and ours["attention_mask"] == [e.attention_mask for e in encs]
        assert ours["offset_mapping"] == [e.offsets for e in encs]


def test_truncation_and_padding_together(impls):
    im = impls(True, None)
    batch = ["Hello, World! naïve café mở bài lạc trôi", "的人有", "a" * 101]
    for strategy in (True, "only_first"):
        kw = dict(padding="max_length", truncation=strategy, max_length=8, return_tensors="np",
                  return_offsets_mapping=True, return_special_tokens_mask=True)
        ours, fast = im.ours(batch, **kw), im.fast(batch, **kw)
        assert set(ours) == set(fast)
        for key in ours:
            assert ours[key].dtype == np.int64 and ours[key].shape == fast[key].shape, key
            np.testing.assert_array_equal(ours[key], fast[key])


def test_numpy_output_single_and_batch(impls):
    im = impls(True, None)
    ours = im.ours("hello world", return_tensors="np", return_offsets_mapping=True)
    fast = im.fast("hello world", return_tensors="np", return_offsets_mapping=True)
    for key in fast:
        assert ours[key].dtype == np.int64 and ours[key].shape == fast[key].shape
        np.testing.assert_array_equal(ours[key], fast[key])
    assert ours["input_ids"].shape == (1, 4) and ours["offset_mapping"].shape == (1, 4, 2)
    for tensors in (None, "np"):
        kw = dict(return_length=True, return_special_tokens_mask=True, return_tensors=tensors)
        assert _hf(im.ours("naïve café", **kw)) == _hf(im.fast("naïve café", **kw))
    with pytest.raises(ConfigError, match="return_tensors"):
        im.ours(["hello", "hello world"], return_tensors="np")


# ---------------------------------------------------------------------------- batches, words, word ids


def test_batches_match_fast_and_lib(impls):
    im = impls(False, None)
    batch = HARD_TEXTS[:12]
    kw = dict(return_offsets_mapping=True, return_special_tokens_mask=True)
    ours, fast = im.ours(batch, **kw), im.fast(batch, **kw)
    assert dict(ours) == _hf(fast)
    encs = im.lib.encode_batch(batch)
    for i, e in enumerate(encs):
        assert ours.word_ids(i) == e.word_ids and ours.tokens(i) == e.tokens
    pairs = [tuple(p) for p in PAIRS]
    assert dict(im.ours(pairs, **kw)) == _hf(im.fast(pairs, **kw))


def test_split_into_words_for_ner(impls):
    im = impls(True, None)
    words = ["Hello,", "naïve", "wor ld", "的人", "a" * 101, "[MASK]", "unwantedX", ""]
    kw = dict(is_split_into_words=True, return_offsets_mapping=True, return_special_tokens_mask=True)
    ours, fast = im.ours(words, **kw), im.fast(words, **kw)
    assert dict(ours) == _hf(fast)
    assert ours.word_ids() == fast.word_ids()
    enc = im.lib.encode(words, is_pretokenized=True)
    assert ours.word_ids() == enc.word_ids and ours["offset_mapping"] == enc.offsets
    # labels aligned through word_ids: every input word that has tokens starts a labelled token
    starts = {w for w in ours.word_ids() if w is not None}
    assert starts == {i for i, w in enumerate(words) if w}
    batch = [words[:3], words[3:]]
    assert dict(im.ours(batch, **kw)) == _hf(im.fast(batch, **kw))
    pair_batch = [(words[:2], words[2:4])]
    assert dict(im.ours(pair_batch, **kw)) == _hf(im.fast(pair_batch, **kw))
    if im.legacy is not None:
        assert ours["input_ids"] == im.legacy(words, is_split_into_words=True)["input_ids"]


def test_word_ids_per_sequence(impls):
    im = impls(True, None)
    out = im.ours(["naïve café!", "的人有"], ["running runner", "x"])
    fast = im.fast(["naïve café!", "的人有"], ["running runner", "x"])
    for i in range(2):
        assert out.word_ids(i) == fast.word_ids(i)
        assert out.sequence_ids(i) == fast.sequence_ids(i)
        assert out.tokens(i) == fast.tokens(i)
    with pytest.raises(IndexRangeError, match="batch_index"):
        out.word_ids(2)


# ---------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("lower,strip", [(True, None), (False, False)])
def test_decode_matches_all_implementations(impls, lower, strip):
    im = impls(lower, strip)
    for text in HARD_TEXTS + [t for pair in PAIRS for t in pair]:
        ids = im.ours(text)["input_ids"]
        for skip in (False, True):
            assert im.ours.decode(ids, skip_special_tokens=skip) == im.lib.decode(ids, skip_special_tokens=skip)
            for cleanup in (None, True, False):
                kw = dict(skip_special_tokens=skip, clean_up_tokenization_spaces=cleanup)
                assert im.ours.decode(ids, **kw) == im.fast.decode(ids, **kw), (text, kw)
                assert im.ours_vocab.decode(np.asarray(ids), **kw) == im.fast.decode(ids, **kw)
            if im.legacy is not None:                  # legacy's decode agrees once cleanup is on
                kw = dict(skip_special_tokens=skip, clean_up_tokenization_spaces=True)
                assert im.ours.decode(ids, **kw) == im.legacy.decode(ids, **kw), (text, kw)
        assert im.ours.convert_ids_to_tokens(ids) == im.fast.convert_ids_to_tokens(ids)
        assert im.ours.convert_ids_to_tokens(ids, skip_special_tokens=True) == \
            im.fast.convert_ids_to_tokens(ids, skip_special_tokens=True)
        tokens = im.ours.convert_ids_to_tokens(ids)
        assert im.ours.convert_tokens_to_ids(tokens) == ids
    assert im.ours.batch_decode([[2, 5], [3]]) == im.fast.batch_decode([[2, 5], [3]])
    assert im.ours.convert_tokens_to_ids("no-such-token") == im.fast.convert_tokens_to_ids("no-such-token") == 1


def test_decode_cleanup_differs_between_hf_implementations(impls):
    im = impls(True, None)
    ids = im.ours("hello , world !")["input_ids"]
    assert im.ours.decode(ids, clean_up_tokenization_spaces=False) == "[CLS] hello, world! [SEP]"
    if im.legacy is not None:
        assert im.legacy.decode(ids, clean_up_tokenization_spaces=False) == "[CLS] hello , world ! [SEP]"


# ---------------------------------------------------------------------------- files


def test_from_vocab_file_and_json_agree_and_save_vocabulary(impls, trained, tmp_path):
    im = impls(True, None)
    (path,) = im.ours.save_vocabulary(tmp_path, filename_prefix="mine")
    assert path.endswith("mine-vocab.txt")
    original = (trained["vocab_dir"] / "vocab.txt").read_text(encoding="utf-8")
    assert open(path, encoding="utf-8").read() == original
    again = BertTokenizer.from_vocab_file(path)
    for text in HARD_TEXTS:
        assert again(text) == im.ours(text)
    assert im.ours.vocab_size == len(im.ours) == im.fast.vocab_size
    assert im.ours.all_special_ids == sorted(im.fast.all_special_ids)


def test_from_tokenizer_json_reads_settings(trained, tmp_path):
    spec = json.loads(trained["json"])
    spec["normalizer"] = {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": False,
                          "strip_accents": True, "lowercase": False}
    spec["post_processor"] = {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]}
    spec["decoder"] = {"type": "WordPiece", "prefix": "##", "cleanup": False}
    lib = tokenizers.Tokenizer.from_str(json.dumps(spec))
    ours = BertTokenizer.from_tokenizer_json(spec)
    for text, pair in [("的人有 Naïve CAFÉ, ok!", None), ("的人 x", "Über alles .")]:
        enc = lib.encode(text, pair) if pair else lib.encode(text)
        out = ours(text, pair, return_offsets_mapping=True)
        assert out["input_ids"] == enc.ids and out["token_type_ids"] == enc.type_ids
        assert out["offset_mapping"] == enc.offsets and out.word_ids() == enc.word_ids
        assert ours.decode(enc.ids) == lib.decode(enc.ids, skip_special_tokens=False)
    spec["post_processor"] = None
    spec["decoder"] = None
    lib = tokenizers.Tokenizer.from_str(json.dumps(spec))
    ours = BertTokenizer.from_tokenizer_json(spec)
    enc = lib.encode("hello", "world")
    assert ours("hello", "world")["input_ids"] == enc.ids and ours("hello", "world")["token_type_ids"] == enc.type_ids
    assert ours.decode(enc.ids + [2]) == lib.decode(enc.ids + [2], skip_special_tokens=False)


# ---------------------------------------------------------------------------- bad input


def test_bad_vocabularies(trained, tmp_path):
    with pytest.raises(ConfigError, match="unk_token"):
        BertTokenizer({"a": 0, "b": 1})
    with pytest.raises(ConfigError, match="unk_token"):
        BertTokenizer(trained["vocab"], unk_token="<unk>")
    dup = tmp_path / "dup.txt"
    dup.write_text("[UNK]\na\na\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="vocab_file"):
        BertTokenizer.from_vocab_file(dup)
    with pytest.raises(ConfigError, match="vocab_file"):
        BertTokenizer.from_vocab_file(tmp_path / "missing.txt")
    with pytest.raises(ConfigError, match="vocab"):
        BertTokenizer({"[UNK]": -1})
    with pytest.raises(ConfigError, match="strip_accents"):
        BertTokenizer(trained["vocab"], strip_accents="yes")
    with pytest.raises(ConfigError, match="padding_side"):
        BertTokenizer(trained["vocab"], padding_side="middle")
    no_unk = tmp_path / "vocab.txt"                       # a vocab.txt without [UNK] (issue 4's bad input)
    no_unk.write_text("[PAD]\n[CLS]\n[SEP]\nhello\n##s\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unk_token"):
        BertTokenizer.from_vocab_file(no_unk)
    with pytest.raises(ConfigError, match="unk_token"):
        WordPiece({"hello": 0, "##s": 1})
    gap = BertTokenizer({"[UNK]": 0, "a": 2})
    with pytest.raises(ConfigError, match="vocab"):
        gap.save_vocabulary(tmp_path)
    with pytest.raises(ConfigError, match="save_directory"):
        gap.save_vocabulary(tmp_path / "nope")


def test_bad_tokenizer_json(trained, tmp_path):
    bpe = tokenizers.Tokenizer(models.BPE(unk_token="[UNK]"))
    with pytest.raises(ConfigError, match="model"):
        BertTokenizer.from_tokenizer_json(json.loads(bpe.to_str()))
    spec = json.loads(trained["json"])
    for key, value, name in [("normalizer", {"type": "NFC"}, "normalizer"),
                             ("normalizer", None, "normalizer"),
                             ("pre_tokenizer", {"type": "Whitespace"}, "pre_tokenizer"),
                             ("post_processor", {"type": "RobertaProcessing"}, "post_processor"),
                             ("decoder", {"type": "BPEDecoder"}, "decoder")]:
        bad = dict(spec, **{key: value})
        with pytest.raises(ConfigError, match=name):
            BertTokenizer.from_tokenizer_json(bad)
    bad = dict(spec, added_tokens=[dict(spec["added_tokens"][0], lstrip=True)])
    with pytest.raises(ConfigError, match="added_tokens"):
        BertTokenizer.from_tokenizer_json(bad)
    bad = json.loads(trained["json"])
    del bad["model"]["vocab"]["[UNK]"]
    with pytest.raises(ConfigError, match="unk_token"):
        BertTokenizer.from_tokenizer_json(bad)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(CheckpointError, match="path"):
        BertTokenizer.from_tokenizer_json(broken)
    with pytest.raises(CheckpointError, match="path"):
        BertTokenizer.from_tokenizer_json(tmp_path / "missing.json")


def test_bad_call_arguments(impls):
    tok = impls(True, None).ours
    with pytest.raises(ConfigError, match="max_length"):
        tok("hello world", "café", truncation="only_second", max_length=5)   # "café" cannot lose 2 of its 1 token
    with pytest.raises(ConfigError, match="truncation"):
        tok("hello world running", truncation="only_second", max_length=3)
    with pytest.raises(ConfigError, match="max_length"):
        tok("hello", "world", truncation=True, max_length=2)                # fewer than the 3 special tokens
    with pytest.raises(ConfigError, match="max_length"):
        tok("hello", truncation=True)                                       # no max_length, no model_max_length
    with pytest.raises(ConfigError, match="max_length"):
        tok(["a", "b"], padding="max_length")
    with pytest.raises(ConfigError, match="max_length"):
        tok("hello", max_length=-1)
    with pytest.raises(ConfigError, match="padding"):
        tok("hello", padding="maximum")
    with pytest.raises(ConfigError, match="truncation"):
        tok("hello", truncation="only_third", max_length=4)
    with pytest.raises(ConfigError, match="return_tensors"):
        tok("hello", return_tensors="pt")
    with pytest.raises(ConfigError, match="pad_to_multiple_of"):
        tok(["a"], padding=True, truncation=True, max_length=6, pad_to_multiple_of=4)
    with pytest.raises(ConfigError, match="text"):
        tok(None)
    with pytest.raises(ConfigError, match="text"):
        tok(123)
    with pytest.raises(ConfigError, match="text"):
        tok([])
    with pytest.raises(ConfigError, match="text"):
        tok(["ok", 3])
    with pytest.raises(ConfigError, match="text_pair"):
        tok(["a", "b"], ["c"])
    with pytest.raises(ConfigError, match="text"):
        tok(["a", "b"], is_split_into_words=True, text_pair=5)
    with pytest.raises(IndexRangeError, match="ids"):
        tok.decode([2, 99999])
    with pytest.raises(IndexRangeError, match="ids"):
        tok.decode(np.array([-1]))
    with pytest.raises(IndexRangeError, match="ids"):
        tok.convert_ids_to_tokens(10 ** 6)
    with pytest.raises(ConfigError, match="ids"):
        tok.decode([[1, 2]])
    with pytest.raises(ConfigError, match="ids"):
        tok.decode(np.zeros(3))
    model = impls(True, None, model_max_length=6).ours
    assert model("hello world running hello world", truncation=True)["input_ids"] == \
        impls(True, None).ours("hello world running hello world", truncation=True, max_length=6)["input_ids"]
    no_pad = BertTokenizer({"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "a": 3})
    with pytest.raises(ConfigError, match="pad_token"):
        no_pad(["a", "a a"], padding=True)
    no_cls = BertTokenizer({"[UNK]": 0, "a": 1})
    assert no_cls("a a", add_special_tokens=False)["input_ids"] == [1, 1]
    with pytest.raises(ConfigError, match="cls_token"):
        no_cls("a a")
