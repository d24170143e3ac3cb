"""Overflowing windows (return_overflowing_tokens, stride) of the byte-level BPE tokenizer against transformers'
GPT2TokenizerFast (backed by `tokenizers`) and the `tokenizers` library, on the BPE trained in test_bpe.

The window machinery is TokenizerBase's (the one test_overflow checks for WordPiece); here what is particular to
GPT-2 meets it: the ByteLevel post-processor trims offsets on every window (so a window's first token keeps its
leading space under add_prefix_space, as the first token of a text does), added tokens inside windows, the bos/eos
template (special tokens per window), padding with the eos token, and no special tokens at all (the default).
Every window is compared: ids, attention mask, special-tokens mask, offsets, length, word ids, sequence ids,
tokens and overflow_to_sample_mapping.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

tokenizers = pytest.importorskip("tokenizers")
transformers = pytest.importorskip("transformers")

from refimpl.core.errors import ConfigError  # noqa: E402
from tests.tokenizers.test_bpe import CORPUS, EOT, HARD_TEXTS  # noqa: E402
from tests.tokenizers.test_bpe import impls, trained  # noqa: E402,F401,F811 (pytest fixtures)
from tests.tokenizers.test_overflow import WINDOW_KW, _check  # noqa: E402

CONTEXT = (" naïve café 😀 owner said: Don't stop, it's fine." + EOT + "  12345 3.14159 emoji 👍🏽 的人有 任务\n"
           "the quick brown fox jumps over the lazy dog.")
QUESTION = "who said it's fine?"
SOURCES = [("json", False), ("json", True), ("json_trim", True), ("json_trim", False), ("json_trim_noaps", True)]
SOURCE_IDS = [f"{s}-aps{int(a)}" for s, a in SOURCES]


@pytest.mark.parametrize("source,aps", SOURCES, ids=SOURCE_IDS)
@pytest.mark.parametrize("side", ["right", "left"])
def test_single_text_windows_match_fast(impls, source, aps, side):
    """No special tokens (GPT-2's default), every max_length/stride, with and without offset trimming."""
    im = impls(source, aps, truncation_side=side)
    seen = {"ok": 0, "stride": 0, "other": 0}
    for text in [CONTEXT, CORPUS[8], "  x  ", ""]:
        for max_length in (1, 2, 3, 5, 9, 16):
            for stride in range(0, max_length + 1):
                seen[_check(im, (text,), dict(WINDOW_KW, truncation=True, max_length=max_length, stride=stride))] += 1
    assert seen["ok"] > 40 and seen["stride"] > 0 and seen["other"] == 0


@pytest.mark.parametrize("bos,eos", [(True, True), (False, True)])
@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("strategy", ["only_second", "longest_first", "only_first"])
def test_pair_windows_with_bos_eos_template_match_fast(impls, strategy, side, bos, eos):
    """The bos/eos template puts special tokens around every window; longest_first cuts both texts and pairs
    every window of the first with every window of the second."""
    im = impls("json_trim", True, truncation_side=side, add_bos_token=bos, add_eos_token=eos)
    seen = {"ok": 0, "stride": 0, "other": 0}
    for args in [(QUESTION, CONTEXT), (CONTEXT, QUESTION), (CONTEXT[:50], CONTEXT[30:])]:
        for max_length in (4, 6, 9, 14, 25, 40):
            for stride in sorted({s for s in (0, 1, 2, max_length // 2, max_length - 4, max_length - 3) if s >= 0}):
                seen[_check(im, args, dict(WINDOW_KW, truncation=strategy, max_length=max_length,
                                           stride=stride))] += 1
    assert seen["ok"] > 8 and seen["stride"] > 0
    if strategy != "longest_first":
        assert seen["other"] > 0                                  # "sequence too short" cases too


@pytest.mark.parametrize("padding,multiple", [(False, None), (True, None), (True, 4), ("max_length", None)])
@pytest.mark.parametrize("side", ["right", "left"])
def test_batch_windows_padding_and_mapping(impls, padding, multiple, side):
    im = impls("json_trim", True, pad_token=EOT, padding_side=side, truncation_side=side)
    batch = [(QUESTION, CONTEXT), ("hi", "short context"), ("who?", CONTEXT[:40]), ("hello world", "")]
    seen = {"ok": 0, "stride": 0, "other": 0}
    for max_length in (12, 16, 20):
        for stride in (0, 3, 5):
            for strategy in ("only_second", "longest_first"):
                kw = dict(WINDOW_KW, truncation=strategy, max_length=max_length, stride=stride, padding=padding,
                          pad_to_multiple_of=multiple if max_length % 4 == 0 else None)
                seen[_check(im, (batch,), kw)] += 1
    assert seen["ok"] >= 12 and seen["other"] == 0
    kw = dict(truncation="only_second", max_length=16, stride=4, padding="max_length", return_overflowing_tokens=True,
              return_tensors="np", return_offsets_mapping=True)
    out, fast = im.ours(batch, **kw), im.fast(batch, **kw)
    assert set(out) == set(fast)
    for key in out:
        assert out[key].dtype == np.int64, key
        np.testing.assert_array_equal(out[key], fast[key])
    mapping = out["overflow_to_sample_mapping"]
    assert set(mapping.tolist()) == {0, 1, 2, 3} and (np.diff(mapping) >= 0).all() and len(mapping) > 4


@pytest.mark.parametrize("source,aps", [("json_trim", True), ("json", False)], ids=["trim-aps1", "json-aps0"])
@pytest.mark.parametrize("strategy", ["only_second", "longest_first"])
def test_overflowing_matches_tokenizers_library(impls, source, aps, strategy):
    """The `tokenizers` Encoding.overflowing list, window by window (ours loaded from the same tokenizer.json)."""
    im = impls(source, aps)
    for direction in ("right", "left"):
        im.lib.enable_truncation(max_length=14, stride=2, strategy=strategy, direction=direction)
        try:
            enc = im.lib.encode(QUESTION, CONTEXT)
        finally:
            im.lib.no_truncation()
        im.ours_lib.truncation_side = direction
        out = im.ours_lib(QUESTION, CONTEXT, truncation=strategy, max_length=14, stride=2,
                          return_overflowing_tokens=True, return_offsets_mapping=True, return_special_tokens_mask=True)
        ref = [enc] + enc.overflowing
        assert len(out["input_ids"]) == len(ref) > 4
        for i, e in enumerate(ref):
            assert out["input_ids"][i] == e.ids and out["offset_mapping"][i] == e.offsets
            assert out["special_tokens_mask"][i] == e.special_tokens_mask
            assert out["attention_mask"][i] == e.attention_mask
            assert out.sequence_ids(i) == e.sequence_ids and out.word_ids(i) == e.word_ids and out.tokens(i) == e.tokens
        assert [w.ids for w in out.encodings[0].overflowing] == [e.ids for e in enc.overflowing]
    im.ours_lib.truncation_side = "right"


def test_trimming_runs_on_each_window(impls):
    """With add_prefix_space and trim_offsets, a window that starts at "Ġword" keeps the space in its offsets
    (it is that window's first token), while the same token inside the previous window is trimmed."""
    im = impls("json_trim", True)
    out = im.ours("the quick brown fox jumps over", truncation=True, max_length=3, stride=1,
                  return_overflowing_tokens=True, return_offsets_mapping=True)
    assert _check(im, ("the quick brown fox jumps over",),
                  dict(WINDOW_KW, truncation=True, max_length=3, stride=1)) == "ok"
    first, second = out["offset_mapping"][0], out["offset_mapping"][1]
    assert out["input_ids"][0][-1] == out["input_ids"][1][0]           # the shared (stride) token
    assert second[0] == (first[-1][0] - 1, first[-1][1])               # one leading space more: not trimmed there


@settings(max_examples=60, deadline=None)
@given(parts=st.lists(st.sampled_from(HARD_TEXTS[:60]), max_size=8),
       pair_parts=st.one_of(st.none(), st.lists(st.sampled_from(HARD_TEXTS[:60]), max_size=6)),
       source=st.sampled_from(SOURCES), template=st.sampled_from([(False, False), (True, True)]),
       truncation=st.sampled_from(["longest_first", "only_first", "only_second"]),
       max_length=st.integers(2, 14), stride=st.integers(0, 10), side=st.sampled_from(["right", "left"]))
def test_random_texts_windows_match_fast(impls, parts, pair_parts, source, template, truncation, max_length, stride,
                                         side):
    im = impls(*source, truncation_side=side, add_bos_token=template[0], add_eos_token=template[1])
    text = "".join(parts)
    pair = None if pair_parts is None else "".join(pair_parts)
    args = ([(text, pair)],) if pair is not None else (text,)     # a batch keeps a "" pair, as ours does
    _check(im, args, dict(WINDOW_KW, truncation=truncation, max_length=max_length, stride=stride))


def test_first_window_without_overflow_output_and_encode(impls):
    im = impls("json_trim", True)
    for kw in [dict(truncation="only_second", max_length=16, stride=4), dict(stride=3),
               dict(truncation=True, max_length=7, stride=2, return_offsets_mapping=True)]:
        assert _check(im, (QUESTION, CONTEXT), kw) == "ok"
    assert im.ours.encode(CONTEXT, max_length=7, stride=3) == im.fast.encode(CONTEXT, max_length=7, stride=3,
                                                                              truncation=True)


def test_bad_stride(impls):
    tok = impls("json_trim", True, add_bos_token=True, add_eos_token=True).ours
    # `tokenizers`' check when truncation is on: stride <= max_length - special tokens of one sequence (2 here)
    with pytest.raises(ConfigError, match="stride"):
        tok("hi", truncation=True, max_length=8, stride=7, return_overflowing_tokens=True)
    assert tok("hi", truncation=True, max_length=8, stride=6)["input_ids"]
    with pytest.raises(ConfigError, match="stride"):                   # a window of 2 tokens cannot slide by 2
        tok(CONTEXT, truncation=True, max_length=4, stride=2, return_overflowing_tokens=True)
    for bad in (-1, 1.5, None, True):
        with pytest.raises(ConfigError, match="stride"):
            tok(CONTEXT, truncation=True, max_length=8, stride=bad)
    with pytest.raises(ConfigError, match="return_overflowing_tokens"):
        tok(CONTEXT, return_overflowing_tokens="yes")
