"""refimpl.tokenizers.bpe (GPT-2 byte-level BPE) against the Hugging Face implementations.

A byte-level BPE vocabulary (all 256 byte characters, <|endoftext|>, ~500 merges) is trained offline
with the `tokenizers` library on a corpus written here, and saved as vocab.json + merges.txt and as
tokenizer.json files with the post-processors GPT-2 checkpoints use. The same vocabulary drives
  lib    the `tokenizers` Tokenizer itself (ByteLevel pre-tokenizer / post-processor / decoder),
  fast   transformers 5's GPT2Tokenizer (= GPT2TokenizerFast, `tokenizers`-backed) from_pretrained,
  slow   the pure-Python GPT-2 BPE that transformers 5 still ships (GPT2Tokenizer's legacy code lives
         on in ClvpTokenizer: bytes_to_unicode, the `regex` pattern, bpe(), errors="replace"), with
         CLVP's English text normaliser switched off; it has no add_prefix_space logic, so it is
         compared with add_prefix_space=False (ids and decoding);
and ours is built by from_pretrained, from_files and from_tokenizer_json.
transformers 5 has no separate slow GPT2Tokenizer any more (GPT2Tokenizer is GPT2TokenizerFast).
"""
import json
import shutil
import unicodedata
import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

tokenizers = pytest.importorskip("tokenizers")
transformers = pytest.importorskip("transformers")
from tokenizers import decoders, models, pre_tokenizers, processors, trainers  # noqa: E402
from transformers import GPT2TokenizerFast  # noqa: E402

from refimpl.core.errors import CheckpointError, ConfigError, IndexRangeError  # noqa: E402
from refimpl.tokenizers.base import Template  # noqa: E402
from refimpl.tokenizers.bpe import BPE, GPT2Tokenizer  # noqa: E402
from refimpl.tokenizers.byte_level import BYTE_TO_CHAR, CHAR_TO_BYTE, split_gpt2  # noqa: E402
from refimpl.tokenizers.unicode_tables import LETTER, NUMBER, WHITE_SPACE  # noqa: E402

try:
    from transformers.models.clvp.tokenization_clvp import ClvpTokenizer, bytes_to_unicode
except ImportError:  # a transformers without CLVP: no pure-Python GPT-2 BPE to compare with
    ClvpTokenizer = bytes_to_unicode = None

EOT = "<|endoftext|>"

CORPUS = [
    "Don't stop, it's fine. I'm here; you're there. They've gone, we'll see, he'd go.",
    "DON'T STOP, IT'S FINE. I'M HERE; YOU'RE THERE. THEY'VE GONE, WE'LL SEE, HE'D GO.",
    "the quick brown fox jumps over the lazy dog. The Quick Brown Fox! hello world, Hello World.",
    "Numbers: 12345 3.14159 2024-01-01 1,000,000 42nd ²³ ½ Ⅻ ١٢٣ ४२ 0x1F600",
    "naïve café résumé São Paulo Zürich straße İstanbul Ελληνικά Русский текст",
    "e\u0301cole a\u0308 n\u0303 क्षत्रिय नमस्ते ภาษาไทย",
    "的人有 任务 我的人 中文字符 日本語のテキスト カタカナ ひらがな 한국어 텍스트",
    "مرحبا بالعالم שלום עולם",
    "emoji 😀 🤗 👍🏽 👨\u200d👩\u200d👧\u200d👦 🏳\ufe0f\u200d🌈 🇩🇪 ❤\ufe0f ✨ 😀😀",
    "   spaces\t\ttabs\n\nnewlines\r\n \u00a0nbsp \u3000ideographic  double  spaces ",
    "def f(x):\n    return x**2  # comment\n\nclass A:\n\tpass\n",
    "a<|endoftext|>b <|endoftext|> end of text",
]

# one to three code points of every general category in the BMP (Cs aside: no UTF-8 for them)
_BY_CATEGORY = {}
for _cp in range(0x10000):
    _cat = unicodedata.category(chr(_cp))
    if _cat != "Cs":
        _BY_CATEGORY.setdefault(_cat, []).append(chr(_cp))
CATEGORY_SAMPLES = {cat: [cs[0], cs[len(cs) // 2], cs[-1]] for cat, cs in sorted(_BY_CATEGORY.items())}

HARD_TEXTS = [
    "", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "x \u3000y\u00a0 z", "\u00a0\u00a0x", "\u3000\u3000",
    "Hello world", " Hello  world ", "  x", "x  ", "a\t\tb\n\nc   d", "tab\tsep\nnew\r\nline\x0bvt\x0cff",
    "I'M", "don't", "Don'T", "it'S we'LL 'll 'LL 's 'd 'D 're 'RE 've 'm", "''s", "x'sy", "!'ll", "' s",
    "12345 3.14 1,000 007 ²³ ½ Ⅻ ١٢٣", "a1b2 x99y", "2024-01-01T12:00",
    "naïve café", "e\u0301cole a\u0308\u0308", "\u0301\u0301x", "क्षत्रिय", "ภาษาไทย",
    "的人有 任务", "日本語のテキスト", "한국어 텍스트", "مرحبا بالعالم", "שלום עולם!", "abc مرحبا 123",
    "😀", "😀😀x", "👨\u200d👩\u200d👧\u200d👦", " 👍🏽", "🏳\ufe0f\u200d🌈🇩🇪", "❤\ufe0f✨",
    EOT, f"a{EOT}b", f"a {EOT} b", f"{EOT}{EOT}", f" {EOT}x", f"x{EOT} ", "<|endoftext|", "<|endoftext|>>",
    "\x00\x01\x1c\x1d\x1e\x1f\x7f\x85", "\ufffd\ufeff\u200b\u2028\u2029", "\U0010ffff\U000e0001\U000f0000",
    "\u1c89\ua7cb\U000105c0 \u088f", "\U0002ebf0\U00031350",
    " ".join(c for cs in CATEGORY_SAMPLES.values() for c in cs),
    "".join(c for cs in CATEGORY_SAMPLES.values() for c in cs),
]

# Letters of Unicode 17, which the legacy code's `regex` module knows and `tokenizers` does not
# (test_unicode_version_follows_tokenizers_not_legacy): no id comparison with legacy around them.
LEGACY_DIFFERS = "\u088f"

PAIRS = [("Hello world", "naïve café"), ("的人有", "😀 x"), ("hello", ""), ("a" * 30, "b b b b"),
         (f"x{EOT}", " y  z ")]


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("bpe")
    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=256 + 1 + 500, special_tokens=[EOT], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 3, trainer)
    assert tok.token_to_id(EOT) == 0 and tok.get_vocab_size() > 256 + 1 + 300
    files = root / "files"
    files.mkdir()
    tok.model.save(str(files))                              # vocab.json + merges.txt
    out = {"root": root, "files": files, "vocab": tok.get_vocab()}
    # tokenizer.json with the post-processors of GPT-2 checkpoints (the hub's gpt2 has trim_offsets=false)
    for name, trim, aps in [("json", False, True), ("json_trim", True, True), ("json_trim_noaps", True, False)]:
        tok.post_processor = processors.ByteLevel(trim_offsets=trim, add_prefix_space=aps)
        d = root / name
        d.mkdir()
        tok.save(str(d / "tokenizer.json"))
        out[name] = d
    return out


SOURCES = ["files", "json", "json_trim", "json_trim_noaps"]


class Impls:
    """One setting in all implementations."""

    def __init__(self, trained, source, aps, **kw):
        directory = trained[source]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.fast = GPT2TokenizerFast.from_pretrained(str(directory), add_prefix_space=aps, **kw)
        self.ours = GPT2Tokenizer.from_pretrained(directory, add_prefix_space=aps, **kw)
        lib_json = trained["json" if source == "files" else source] / "tokenizer.json"
        self.lib = tokenizers.Tokenizer.from_file(str(lib_json))
        self.lib.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=aps)
        self.ours_lib = GPT2Tokenizer.from_tokenizer_json(json.loads(self.lib.to_str()))
        self.slow = None
        if ClvpTokenizer is not None and not aps:
            self.slow = _slow(trained["files"])


def _slow(directory, vocab="vocab.json", merges="merges.txt"):
    class LegacyGPT2(ClvpTokenizer):
        normalizer = property(lambda self: (lambda text: text))   # CLVP's English normaliser off
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LegacyGPT2(str(directory / vocab), str(directory / merges), unk_token=EOT, bos_token=EOT,
                          eos_token=EOT, pad_token=EOT)


@pytest.fixture(scope="module")
def impls(trained):
    cache = {}

    def get(source="files", aps=False, **kw):
        key = (source, aps, tuple(sorted(kw.items())))
        if key not in cache:
            cache[key] = Impls(trained, source, aps, **kw)
        return cache[key]
    return get


def _hf(out):
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in dict(out).items()}


KW = dict(return_offsets_mapping=True, return_special_tokens_mask=True, return_token_type_ids=True)


def _compare(im, text, pair=None):
    """ours == fast (all outputs, word ids), == lib (ids, tokens, offsets, word ids), decode alike."""
    ours = im.ours(text, pair, **KW)
    if pair == "":                                          # transformers drops an un-batched "" pair
        out = im.fast([text], [pair], **KW)
        fast, fast_words = {k: v[0] for k, v in _hf(out).items()}, out.word_ids(0)
    else:
        out = im.fast(text, pair, **KW)
        fast, fast_words = _hf(out), out.word_ids()
    assert dict(ours) == fast, (text, pair)
    assert ours.word_ids() == fast_words, (text, pair)
    enc = im.lib.encode(text, pair) if pair is not None else im.lib.encode(text)
    assert ours["input_ids"] == enc.ids and ours.tokens() == enc.tokens, (text, pair)
    assert ours["offset_mapping"] == enc.offsets and ours.word_ids() == enc.word_ids, (text, pair)
    assert ours["token_type_ids"] == enc.type_ids and ours["special_tokens_mask"] == enc.special_tokens_mask
    lib_ours = im.ours_lib(text, pair, **KW)
    assert lib_ours["input_ids"] == enc.ids and lib_ours["offset_mapping"] == enc.offsets
    ids = ours["input_ids"]
    for skip in (False, True):
        expected = im.fast.decode(ids, skip_special_tokens=skip)
        assert im.ours.decode(ids, skip_special_tokens=skip) == expected == im.lib.decode(ids, skip_special_tokens=skip)
    if im.slow is not None and pair is None and not any(c in LEGACY_DIFFERS for c in text):
        assert ids == im.slow(text)["input_ids"], text
        assert im.ours.decode(ids) == im.slow.decode(ids), text
    return ours


# ---------------------------------------------------------------------------- byte level, pattern


def test_byte_table_matches_gpt2_and_tokenizers():
    assert len(set(BYTE_TO_CHAR)) == 256
    assert set(BYTE_TO_CHAR) == set(pre_tokenizers.ByteLevel.alphabet())
    assert BYTE_TO_CHAR[ord(" ")] == "Ġ" and BYTE_TO_CHAR[ord("\n")] == "Ċ" and BYTE_TO_CHAR[ord("!")] == "!"
    if bytes_to_unicode is not None:
        assert {b: c for b, c in enumerate(BYTE_TO_CHAR)} == bytes_to_unicode()


def _pattern_spans(s):
    return [tuple(o) for _, o in pre_tokenizers.ByteLevel(add_prefix_space=False).pre_tokenize_str(s)]


def test_character_classes_match_tokenizers_on_every_assigned_code_point():
    """Every code point of planes 0-3 and 14 (all that Unicode assigns outside private use) and a
    sample of the rest: grouped by OUR class (letter, number, whitespace, other), each group written
    as one run after a character of known class must stay ONE piece for `tokenizers`' ByteLevel
    pre-tokenizer (any character it classifies otherwise would break the run) and for split_gpt2."""
    cps = np.array([c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF
                    and (c < 0x40000 or 0xE0000 <= c < 0xE1000 or c % 251 == 0 or c in (0xF0000, 0x10FFFD))])

    def member(table):
        starts, lasts = np.asarray(table[0]), np.asarray(table[1])
        i = np.searchsorted(starts, cps, side="right") - 1
        return (i >= 0) & (cps <= lasts[np.maximum(i, 0)])
    letter, number, space = member(LETTER), member(NUMBER), member(WHITE_SPACE)
    assert not (letter & number).any() and not ((letter | number) & space).any()
    pre = pre_tokenizers.ByteLevel(add_prefix_space=False)
    for lead, group in (("a", letter), ("1", number), ("\t", space), ("!", ~(letter | number | space))):
        members = cps[group].tolist()
        for k in range(0, len(members), 16384):
            run = lead + "".join(map(chr, members[k:k + 16384]))
            pieces = pre.pre_tokenize_str(run)
            assert len(pieces) == 1, f"class of {lead!r}: `tokenizers` splits at {pieces[1][1][0] - 1} " \
                f"(U+{ord(run[pieces[1][1][0]]):04X})"
            assert split_gpt2(run) == [(0, len(run))], f"class of {lead!r}, chunk from U+{members[k]:04X}"
    assert chr(0x20) in "".join(map(chr, cps[space].tolist())) and space.sum() == 25


@pytest.mark.parametrize("text,why", [
    ("a\x1cb\x1fc", "U+001C..U+001F are whitespace for str.isspace and re's \\s, not for Oniguruma"),
    ("a\u1c89b x\U000105c0y", "Unicode 16 letters, unknown to Python 3.11's unicodedata"),
    ("a\u088fb", "U+088F is a letter only from Unicode 17 on"),
    ("I'M don't it'S we'LL", "contractions are lower case only"),
    ("  x\n\ny \t z   ", "a whitespace run leaves its last space to the next word"),
    ("ab12 3.5 ½x ²", "numbers are their own words, any script"),
])
def test_pattern_traps(text, why):
    assert split_gpt2(text) == _pattern_spans(text), why


# ---------------------------------------------------------------------------- single texts


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("aps", [False, True], ids=["no_prefix", "add_prefix_space"])
def test_hard_texts_match_all_implementations(impls, source, aps):
    im = impls(source, aps)
    for text in HARD_TEXTS:
        _compare(im, text)


@pytest.mark.parametrize("source", ["files", "json_trim"])
@pytest.mark.parametrize("aps", [False, True], ids=["no_prefix", "add_prefix_space"])
def test_pairs_match_all_implementations(impls, source, aps):
    im = impls(source, aps)
    for a, b in PAIRS:
        _compare(im, a, b)


def test_offsets_of_split_characters_and_prefix_space(impls):
    """A token covering part of a character reports the whole character; the added prefix space
    belongs to the segment's first character, after every added token too (compared with fast)."""
    unicorn = "\U0001f984"                                     # not in the corpus: several byte tokens
    for aps in (False, True):
        im = impls("files", aps)
        for text in [unicorn, f"x{unicorn}y", f"{unicorn}x{EOT}b", f"{EOT}{unicorn}"]:
            ours = im.ours(text, return_offsets_mapping=True)
            assert dict(ours) == _hf(im.fast(text, return_offsets_mapping=True)), text
    out = impls("files", False).ours(unicorn, return_offsets_mapping=True)
    assert len(out["input_ids"]) >= 2 and all(o == (0, 1) for o in out["offset_mapping"])


FRAGMENTS = ["hello", "Hello", " world", "naïve", "café", "的", "人有", "한국어", "😀", "👍🏽", "\u200d", "👨",
             "!", "...", "'s", "'S", "'ll", "'", " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\x1c", "1",
             "23", "½", "\u0301", "e\u0301", "مرحبا", "\u088f", EOT, "<|", "|>", "x", "a" * 20, "\ufffd"]


@given(parts=st.lists(st.sampled_from(FRAGMENTS), max_size=12),
       pair_parts=st.one_of(st.none(), st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=6)),
       source=st.sampled_from(SOURCES), aps=st.booleans())
def test_random_texts_match_fast_and_lib(impls, parts, pair_parts, source, aps):
    im = impls(source, aps)
    _compare(im, "".join(parts), None if pair_parts is None else "".join(pair_parts))


@given(text=st.text(max_size=40))
def test_any_text_matches_lib_and_round_trips(impls, text):
    assume(EOT not in text)
    im = impls("json_trim", False)
    ours = im.ours(text, return_offsets_mapping=True)
    enc = im.lib.encode(text)
    assert ours["input_ids"] == enc.ids and ours["offset_mapping"] == enc.offsets
    assert im.ours.decode(ours["input_ids"]) == text               # decode(encode(s)) == s for any str
    with_prefix = impls("files", True)
    ids = with_prefix.ours.encode(text)
    assert ids == with_prefix.fast.encode(text)
    assert with_prefix.ours.decode(ids) == (text if not text or text.startswith(" ") else " " + text)


@given(data=st.binary(max_size=24))
def test_invalid_utf8_decodes_like_hf(impls, data):
    """Byte-level round trip: any bytes are byte-character tokens; decoding replaces invalid UTF-8
    with U+FFFD exactly like transformers/`tokenizers` (Rust from_utf8_lossy) and Python's "replace"."""
    im = impls("files", False)
    ids = im.ours.convert_tokens_to_ids([BYTE_TO_CHAR[b] for b in data])
    expected = data.decode("utf-8", errors="replace")
    assert im.ours.decode(ids) == im.fast.decode(ids) == im.lib.decode(ids) == expected
    if im.slow is not None:
        assert im.slow.decode(ids) == expected
    tokens = im.ours.convert_ids_to_tokens(ids)
    assert bytes(CHAR_TO_BYTE[ch] for t in tokens for ch in t) == data


def test_decoding_cut_characters_and_partial_tokens(impls):
    im = impls("files", False)
    ids = im.ours("héllo 😀 wörld 的人有 👨\u200d👩\u200d👧")["input_ids"]
    for k in range(len(ids) + 1):
        for part in (ids[:k], ids[k:], ids[k:k + 1]):
            assert im.ours.decode(part) == im.fast.decode(part)
    assert "\ufffd" in im.ours.decode(ids[:1] + ids[-1:]) or len(ids) < 2
    assert im.ours.batch_decode([ids, ids[:3]]) == im.fast.batch_decode([ids, ids[:3]])
    assert im.ours.batch_decode(np.asarray([ids[:2], ids[2:4]])) == im.fast.batch_decode([ids[:2], ids[2:4]])


def test_decode_special_tokens_and_cleanup(impls):
    im = impls("files", False)
    ids = im.ours(f"a{EOT}b , c !")["input_ids"]
    for skip in (False, True):
        assert im.ours.decode(ids, skip_special_tokens=skip) == im.fast.decode(ids, skip_special_tokens=skip)
    # transformers 5 ignores clean_up_tokenization_spaces for BPE (it would remove real spaces)
    with pytest.warns(UserWarning, match="clean_up_tokenization_spaces"):
        assert im.ours.decode(ids, clean_up_tokenization_spaces=True) == f"a{EOT}b , c !"
    assert im.ours.convert_ids_to_tokens(ids) == im.fast.convert_ids_to_tokens(ids)
    assert im.ours.convert_ids_to_tokens(ids, skip_special_tokens=True) == \
        im.fast.convert_ids_to_tokens(ids, skip_special_tokens=True)
    assert im.ours.convert_ids_to_tokens(ids[1]) == im.fast.convert_ids_to_tokens(ids[1])
    assert im.ours.convert_tokens_to_ids(im.ours.convert_ids_to_tokens(ids)) == ids
    assert im.ours.convert_tokens_to_ids("no-such-token") == im.fast.convert_tokens_to_ids("no-such-token") == 0


# ---------------------------------------------------------------------------- batches


@pytest.mark.parametrize("padding", [True, "longest", "max_length"])
@pytest.mark.parametrize("pad_to_multiple_of", [None, 4])
@pytest.mark.parametrize("side", ["right", "left"])
def test_batch_padding_matches_fast(impls, padding, pad_to_multiple_of, side):
    im = impls("json_trim", True)
    im.ours.pad_token = im.ours.eos_token
    im.fast.pad_token = im.fast.eos_token
    im.ours.padding_side = im.fast.padding_side = side
    try:
        batch = ["Hello world", "", "的人有 😀 naïve café résumé", f"x{EOT}y"]
        kw = dict(KW, padding=padding, max_length=24 if padding == "max_length" else None,
                  pad_to_multiple_of=pad_to_multiple_of, return_length=True)
        ours, fast = im.ours(batch, **kw), im.fast(batch, **kw)
        assert dict(ours) == _hf(fast)
        for i in range(len(batch)):
            assert ours.word_ids(i) == fast.word_ids(i) and ours.sequence_ids(i) == fast.sequence_ids(i)
        pairs = [("Hello", "world !"), ("a", "b c d e f")]
        assert dict(im.ours(pairs, **kw)) == _hf(im.fast(pairs, **kw))
        arr = im.ours(batch, padding=True, return_tensors="np")
        ref = im.fast(batch, padding=True, return_tensors="np")
        for key in ref:
            assert arr[key].dtype == np.int64 and arr[key].shape == ref[key].shape
            np.testing.assert_array_equal(arr[key], ref[key])
    finally:
        im.ours.padding_side = im.fast.padding_side = "right"


@pytest.mark.parametrize("strategy", [True, "longest_first", "only_first", "only_second"])
@pytest.mark.parametrize("side", ["right", "left"])
def test_truncation_matches_fast(impls, strategy, side):
    im = impls("json_trim", True)
    im.ours.truncation_side = im.fast.truncation_side = side
    try:
        for a, b in PAIRS + [("Hello world the quick brown fox", None)]:
            for max_length in range(0, 12):
                kw = dict(KW, truncation=strategy, max_length=max_length)
                try:
                    out = im.fast(a, b, **kw) if b != "" else im.fast([a], [b], **kw)
                except Exception:                                     # `tokenizers` cannot fit it either
                    with pytest.raises(ConfigError):
                        im.ours(a, b, **kw)
                    continue
                fast = _hf(out) if b != "" else {k: v[0] for k, v in _hf(out).items()}
                assert dict(im.ours(a, b, **kw)) == fast, (a, b, strategy, max_length, side)
    finally:
        im.ours.truncation_side = im.fast.truncation_side = "right"


def test_split_into_words_matches_fast(impls):
    for aps in (False, True):
        im = impls("json_trim", aps)
        words = ["Hello", " wor ld", "", f"{EOT}x", "naïve", "😀"]
        kw = dict(KW, is_split_into_words=True)
        ours, fast = im.ours(words, **kw), im.fast(words, **kw)
        assert dict(ours) == _hf(fast) and ours.word_ids() == fast.word_ids()
        batch = [words[:2], words[2:]]
        assert dict(im.ours(batch, **kw)) == _hf(im.fast(batch, **kw))


@pytest.mark.parametrize("bos,eos", [(True, False), (False, True), (True, True), (False, False)])
def test_bos_eos_template_matches_fast(impls, bos, eos):
    im = impls("json_trim", True, add_bos_token=bos, add_eos_token=eos)
    assert im.ours.num_special_tokens_to_add() == im.fast.num_special_tokens_to_add() == bos + eos
    for text, pair in [(" Hello", None), ("Hello world", "x y"), ("", None)]:
        ours = im.ours(text, pair, **KW)
        assert dict(ours) == _hf(im.fast(text, pair, **KW))
        for skip in (False, True):
            assert im.ours.decode(ours["input_ids"], skip_special_tokens=skip) == \
                im.fast.decode(ours["input_ids"], skip_special_tokens=skip)
    kw = dict(truncation=True, max_length=3)
    assert im.ours("Hello world again", **kw)["input_ids"] == im.fast("Hello world again", **kw)["input_ids"]


def test_setting_add_bos_token_rebuilds_the_template(trained):
    ours = GPT2Tokenizer.from_pretrained(trained["json_trim"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = GPT2TokenizerFast.from_pretrained(str(trained["json_trim"]))
    for flag in ("add_bos_token", "add_eos_token"):
        setattr(ours, flag, True)
        setattr(fast, flag, True)
        assert dict(ours(" Hello world", "x", **KW)) == _hf(fast(" Hello world", "x", **KW))
    with pytest.raises(ConfigError, match="add_bos_token"):
        ours.add_bos_token = "yes"


def test_added_tokens_and_save_reload(impls, trained, tmp_path):
    ours = GPT2Tokenizer.from_pretrained(trained["files"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = GPT2TokenizerFast.from_pretrained(str(trained["files"]))
    assert ours.add_special_tokens({"pad_token": "<pad>"}) == fast.add_special_tokens({"pad_token": "<pad>"}) == 1
    # "é" is a byte character of the vocabulary: added with its id, counted by transformers all the same
    assert ours.add_tokens(["new tok", "é"]) == fast.add_tokens(["new tok", "é"]) == 2
    assert ours.pad_token_id == fast.pad_token_id and len(ours) == len(fast)
    assert ours.all_special_ids == sorted(fast.all_special_ids)
    text = "a<pad>b new tok é x<|endoftext|>"
    assert dict(ours(text, **KW)) == _hf(fast(text, **KW))
    ids = ours(text)["input_ids"]
    for skip in (False, True):                       # "é" as an added token decodes to its byte: U+FFFD
        assert ours.decode(ids, skip_special_tokens=skip) == fast.decode(ids, skip_special_tokens=skip)
    batch = ["a b c", "d"]
    assert dict(ours(batch, padding=True)) == _hf(fast(batch, padding=True))
    # transformers' save (tokenizer.json + tokenizer_config.json) loads back with the added tokens
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast.save_pretrained(str(tmp_path / "saved"))
        fast2 = GPT2TokenizerFast.from_pretrained(str(tmp_path / "saved"))
    again = GPT2Tokenizer.from_pretrained(tmp_path / "saved")
    assert again.pad_token == "<pad>" and dict(again(text, **KW)) == _hf(fast2(text, **KW))
    assert dict(again(batch, padding=True)) == _hf(fast2(batch, padding=True))


def test_special_tokens_missing_from_vocab_get_new_ids(trained, tmp_path):
    vocab = {t: i for t, i in trained["vocab"].items() if t != EOT}
    vocab = {t: k for k, t in enumerate(sorted(vocab, key=vocab.get))}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    shutil.copy(trained["files"] / "merges.txt", tmp_path / "merges.txt")
    ours = GPT2Tokenizer.from_pretrained(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = GPT2TokenizerFast.from_pretrained(str(tmp_path))
    assert ours.eos_token_id == fast.eos_token_id == len(vocab) and len(ours) == len(fast)
    assert ours(f"x{EOT}")["input_ids"] == fast(f"x{EOT}")["input_ids"]


def test_loaders_agree_and_save_vocabulary(impls, trained, tmp_path):
    im = impls("json", False)
    from_files = GPT2Tokenizer.from_files(trained["files"] / "vocab.json", trained["files"] / "merges.txt")
    from_json = GPT2Tokenizer.from_tokenizer_json(trained["json"] / "tokenizer.json")
    old_format = json.loads((trained["json"] / "tokenizer.json").read_text(encoding="utf-8"))
    old_format["model"]["merges"] = [" ".join(m) for m in old_format["model"]["merges"]]   # "a b" strings
    from_old = GPT2Tokenizer.from_tokenizer_json(old_format)
    assert from_old.model.merges == from_json.model.merges == from_files.model.merges
    vocab_path, merges_path = from_files.save_vocabulary(tmp_path, filename_prefix="mine")
    assert vocab_path.endswith("mine-vocab.json") and merges_path.endswith("mine-merges.txt")
    assert open(merges_path, encoding="utf-8").read() == (trained["files"] / "merges.txt").read_text(encoding="utf-8")
    reloaded = GPT2Tokenizer.from_files(vocab_path, merges_path)
    for text in HARD_TEXTS:
        ids = im.fast(text)["input_ids"]
        assert from_files(text)["input_ids"] == from_json(text)["input_ids"] == reloaded(text)["input_ids"] == ids
    assert from_files.vocab_size == im.fast.vocab_size == len(from_files)
    assert from_files.bos_token_id == from_files.eos_token_id == from_files.unk_token_id == 0
    assert from_files.pad_token is None and from_json.pad_token is None


def test_from_tokenizer_json_reads_the_pipeline(trained):
    """from_tokenizer_json follows the file like `tokenizers` (pre-tokenizer's add_prefix_space, no
    decoder, a Sequence post-processor); from_pretrained follows transformers, which ignores it."""
    spec = json.loads((trained["json_trim"] / "tokenizer.json").read_text(encoding="utf-8"))
    spec["pre_tokenizer"]["add_prefix_space"] = True
    spec["decoder"] = None
    spec["post_processor"] = {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": EOT, "type_id": 0}},
                                                  {"Sequence": {"id": "A", "type_id": 0}}],
         "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
         "special_tokens": {EOT: {"id": EOT, "ids": [0], "tokens": [EOT]}}}]}
    lib = tokenizers.Tokenizer.from_str(json.dumps(spec))
    ours = GPT2Tokenizer.from_tokenizer_json(spec)
    for text, pair in [(" Hello  world ", None), ("naïve café", " x "), ("", None)]:
        enc = lib.encode(text, pair) if pair is not None else lib.encode(text)
        out = ours(text, pair, **KW)
        assert out["input_ids"] == enc.ids and out["offset_mapping"] == enc.offsets
        assert out["token_type_ids"] == enc.type_ids and out["special_tokens_mask"] == enc.special_tokens_mask
        assert ours.decode(enc.ids) == lib.decode(enc.ids, skip_special_tokens=False)


def test_hf_ignores_the_tokenizer_json_prefix_space(trained, tmp_path):
    spec = json.loads((trained["json"] / "tokenizer.json").read_text(encoding="utf-8"))
    spec["pre_tokenizer"]["add_prefix_space"] = True
    (tmp_path / "tokenizer.json").write_text(json.dumps(spec), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = GPT2TokenizerFast.from_pretrained(str(tmp_path))
    ours = GPT2Tokenizer.from_pretrained(tmp_path)
    lib = GPT2Tokenizer.from_tokenizer_json(tmp_path / "tokenizer.json")
    assert ours("Hello")["input_ids"] == fast("Hello")["input_ids"] != lib("Hello")["input_ids"]
    assert lib("Hello")["input_ids"] == tokenizers.Tokenizer.from_str(json.dumps(spec)).encode("Hello").ids


# ---------------------------------------------------------------------------- slow vs fast


def _tiny(tmp_path, vocab_tokens, merges, header=True):
    vocab = {t: i for i, t in enumerate([EOT] + vocab_tokens)}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    lines = (["#version: 0.2"] if header else []) + [f"{a} {b}" for a, b in merges]
    (tmp_path / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = GPT2TokenizerFast.from_pretrained(str(tmp_path))
    return GPT2Tokenizer.from_pretrained(tmp_path), fast


@pytest.mark.skipif(ClvpTokenizer is None, reason="no pure-Python GPT-2 BPE in this transformers")
def test_merge_order_follows_tokenizers_not_legacy(tmp_path):
    """With "ab a" ranked before "a b": `tokenizers` merges the new pair at once ("aba" + "b"), the
    legacy loop first merges every "a b" ("ab" + "ab")."""
    ours, fast = _tiny(tmp_path, ["a", "b", "ab", "aba", "abab"], [("ab", "a"), ("a", "b")])
    slow = _slow(tmp_path)
    assert ours.tokenize("abab") == fast.tokenize("abab") == ["aba", "b"]
    assert slow.tokenize("abab") == ["ab", "ab"]


@pytest.mark.skipif(ClvpTokenizer is None, reason="no pure-Python GPT-2 BPE in this transformers")
def test_unicode_version_follows_tokenizers_not_legacy(tmp_path):
    """U+088F (Unicode 17): a letter for the `regex` module of the legacy code, not for `tokenizers`."""
    utf8 = [BYTE_TO_CHAR[b] for b in "\u088f".encode("utf-8")]
    ours, fast = _tiny(tmp_path, ["a", *utf8, "a" + utf8[0]], [("a", utf8[0])])
    slow = _slow(tmp_path)
    if len(slow._tokenize("a\u088f")) == 1 + len(utf8):             # the `regex` module in use is older
        pytest.skip("this `regex` module does not know U+088F either")
    assert ours("a\u088f")["input_ids"] == fast("a\u088f")["input_ids"] != slow("a\u088f")["input_ids"]


@pytest.mark.skipif(ClvpTokenizer is None, reason="no pure-Python GPT-2 BPE in this transformers")
def test_unknown_bytes_and_headerless_merges_follow_tokenizers(tmp_path):
    """A byte missing from the vocabulary vanishes in `tokenizers` (its neighbours may merge, later
    offsets shift); legacy maps it to the unk id. A merges.txt without "#version" loses its first
    merge in legacy (it always skips line 1), not in `tokenizers`."""
    ours, fast = _tiny(tmp_path, ["a", "b", "ab", "Ġ"], [("a", "b")], header=False)
    slow = _slow(tmp_path)
    for text in ["axb", "ab", "xab b", "a b"]:
        assert dict(ours(text, return_offsets_mapping=True)) == _hf(fast(text, return_offsets_mapping=True))
        assert ours(text)["input_ids"] != slow(text)["input_ids"] or text == "a b"
    assert ours.tokenize("axb") == ["ab"]


@pytest.mark.parametrize("word,merges", [
    ("aaaa", [("a", "a"), ("aa", "aa")]),
    ("abcabc", [("b", "c"), ("a", "bc"), ("abc", "abc")]),
    ("abcd", [("c", "d"), ("b", "c"), ("a", "b"), ("ab", "cd")]),
])
def test_bpe_model_matches_tokenizers_model(word, merges):
    vocab = {}
    for t in list(word) + [a + b for a, b in merges]:
        vocab.setdefault(t, len(vocab))
    ref = tokenizers.Tokenizer(models.BPE(vocab=vocab, merges=merges))
    ours = BPE(vocab, merges)
    assert [(i, s, e) for i, s, e in ours.tokenize(word)] == [(t.id, *t.offsets) for t in ref.model.tokenize(word)]


@pytest.mark.parametrize("fuse_unk", [False, True])
@pytest.mark.parametrize("ignore_merges", [False, True])
def test_bpe_model_options_match_tokenizers_model(fuse_unk, ignore_merges):
    vocab = {"<unk>": 0, "a": 1, "b": 2, "c": 3, "ab": 4, "abc": 5, "é": 6, "bab": 7}
    merges = [("a", "b"), ("ab", "c")]
    ref = models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=fuse_unk, ignore_merges=ignore_merges)
    ours = BPE(vocab, merges, unk_token="<unk>", fuse_unk=fuse_unk, ignore_merges=ignore_merges)
    for word in ["abc", "axxb", "xab", "abxx", "éab", "😀😀c", "bab", "x"]:
        assert ours.tokenize(word) == [(t.id, *t.offsets) for t in ref.tokenize(word)], word


# ---------------------------------------------------------------------------- bad input


def test_bad_files(trained, tmp_path):
    with pytest.raises(CheckpointError, match="directory"):
        GPT2Tokenizer.from_pretrained(tmp_path / "missing")
    with pytest.raises(CheckpointError, match="directory"):
        GPT2Tokenizer.from_pretrained(tmp_path)                       # exists but holds no tokenizer files
    with pytest.raises(CheckpointError, match="vocab_file"):
        GPT2Tokenizer.from_files(tmp_path / "vocab.json", trained["files"] / "merges.txt")
    with pytest.raises(CheckpointError, match="merges_file"):
        GPT2Tokenizer.from_files(trained["files"] / "vocab.json", tmp_path / "merges.txt")
    shutil.copy(trained["files"] / "vocab.json", tmp_path / "vocab.json")
    good = (trained["files"] / "merges.txt").read_text(encoding="utf-8").split("\n")
    for bad_line in ["Ġ t h", "Ġt", "", "Ġ  t"]:
        (tmp_path / "merges.txt").write_text("\n".join(good[:3] + [bad_line] + good[3:]), encoding="utf-8")
        with pytest.raises(ConfigError, match="merges_file: line 4"):
            GPT2Tokenizer.from_pretrained(tmp_path)
        with warnings.catch_warnings(), pytest.raises(Exception):     # transformers refuses it too
            warnings.simplefilter("ignore")
            GPT2TokenizerFast.from_pretrained(str(tmp_path))
    (tmp_path / "merges.txt").write_text("#version: 0.2\nq z\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="merges"):                  # "qz" is not in the vocabulary
        GPT2Tokenizer.from_pretrained(tmp_path)
    (tmp_path / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    (tmp_path / "vocab.json").write_text('{"a": 0, "b": "1"}', encoding="utf-8")
    with pytest.raises(ConfigError, match="vocab_file"):
        GPT2Tokenizer.from_pretrained(tmp_path)
    (tmp_path / "vocab.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ConfigError, match="vocab_file"):
        GPT2Tokenizer.from_pretrained(tmp_path)
    (tmp_path / "vocab.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(CheckpointError, match="vocab_file"):
        GPT2Tokenizer.from_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="vocab"):
        GPT2Tokenizer({"a": 0, "b": 0}, [])
    with pytest.raises(ConfigError, match="merges"):
        GPT2Tokenizer({"a": 0}, "a a")
    with pytest.raises(ConfigError, match="unknown_setting"):
        GPT2Tokenizer.from_pretrained(trained["files"], unknown_setting=1)


def test_bad_tokenizer_json(trained):
    spec = json.loads((trained["json"] / "tokenizer.json").read_text(encoding="utf-8"))
    wordpiece = json.loads(tokenizers.Tokenizer(models.WordPiece(unk_token="[UNK]")).to_str())
    with pytest.raises(ConfigError, match="model"):
        GPT2Tokenizer.from_tokenizer_json(wordpiece)
    for key, value, name in [("normalizer", {"type": "NFC"}, "normalizer"),
                             ("pre_tokenizer", {"type": "Whitespace"}, "pre_tokenizer"),
                             ("post_processor", {"type": "RobertaProcessing"}, "post_processor"),
                             ("decoder", {"type": "WordPiece"}, "decoder")]:
        with pytest.raises(ConfigError, match=name):
            GPT2Tokenizer.from_tokenizer_json(dict(spec, **{key: value}))
    with pytest.raises(ConfigError, match="model"):
        GPT2Tokenizer.from_tokenizer_json(dict(spec, model=dict(spec["model"], dropout=0.1)))
    with pytest.raises(ConfigError, match="added_tokens"):
        GPT2Tokenizer.from_tokenizer_json(dict(spec, added_tokens=[dict(spec["added_tokens"][0], lstrip=True)]))
    bad_template = {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                                             {"Sequence": {"id": "A", "type_id": 0}}],
                    "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [999999], "tokens": ["<s>"]}}}
    with pytest.raises(ConfigError, match="template"):                # a special token id nobody knows
        GPT2Tokenizer.from_tokenizer_json(dict(spec, post_processor=bad_template))


def test_bad_call_arguments(impls):
    tok = impls("files", False).ours
    for bad in (None, 123, b"bytes", ["ok", 3], [], {"a": 1}):
        with pytest.raises(ConfigError, match="text"):
            tok(bad)
    with pytest.raises(ConfigError, match="text"):
        tok("lone \ud800 surrogate")
    with pytest.raises(ConfigError, match="text_pair"):
        tok("a", 5)
    with pytest.raises(ConfigError, match="text"):
        tok.encode(["a", "b"])
    with pytest.raises(ConfigError, match="pad_token"):
        tok(["a", "a b"], padding=True)                                 # GPT-2 has no pad token
    with pytest.raises(ConfigError, match="pad_token"):
        tok.pad_token = "<not-a-token>"
    with pytest.raises(ConfigError, match="max_length"):
        tok("hello", truncation=True)                                   # no max_length, no model_max_length
    with pytest.raises(ConfigError, match="padding_side"):
        tok.padding_side = "middle"
    with pytest.raises(IndexRangeError, match="ids"):
        tok.decode([0, 10 ** 6])
    with pytest.raises(IndexRangeError, match="ids"):
        tok.decode(np.array([-1]))
    with pytest.raises(IndexRangeError, match="ids"):
        tok.convert_ids_to_tokens(10 ** 6)
    with pytest.raises(ConfigError, match="ids"):
        tok.decode([[1, 2]])
    with pytest.raises(ConfigError, match="ids"):
        tok.decode("hello")
    with pytest.raises(ConfigError, match="sequences"):
        tok.batch_decode(np.zeros(3, dtype=np.int64))
    with pytest.raises(ConfigError, match="skip_special_tokens"):
        tok.decode([1], skip_special_tokens="yes")
    with pytest.raises(ConfigError, match="special_tokens_dict"):
        tok.add_special_tokens({"cls_token": "<cls>"})
    vocab = {"a": 0, "b": 1, "ab": 2}
    with pytest.raises(ConfigError, match="errors"):
        GPT2Tokenizer(vocab, [("a", "b")], errors="strict")
    with pytest.raises(ConfigError, match="bos_token"):
        GPT2Tokenizer(vocab, [("a", "b")], bos_token=None, add_bos_token=True)
    with pytest.raises(ConfigError, match="template"):
        GPT2Tokenizer(vocab, [("a", "b")], template=Template((("special", "<s>", 0),), (), {"<s>": ((99, "<s>"),)}))
    with pytest.raises(ConfigError, match="model_max_length"):
        GPT2Tokenizer(vocab, [("a", "b")], model_max_length=0)
    with pytest.raises(ConfigError, match="add_prefix_space"):
        GPT2Tokenizer(vocab, [("a", "b")], add_prefix_space="yes")
