"""Overflowing windows (return_overflowing_tokens, stride) against transformers' BertTokenizer (backed by
`tokenizers`) and the `tokenizers` library itself, on the WordPiece vocabulary trained in test_wordpiece.

Every window is compared: ids, type ids, attention mask, special-tokens mask, offsets, length, word ids,
sequence ids, tokens and overflow_to_sample_mapping, for truncation only_first / only_second /
longest_first, both truncation sides, single texts, pairs and batches, with and without padding. Where
Hugging Face refuses (a stride that cannot advance, a sequence too short to truncate) we must raise a
ConfigError naming the same argument.
"""
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

tokenizers = pytest.importorskip("tokenizers")
transformers = pytest.importorskip("transformers")

from refimpl.core.errors import ConfigError  # noqa: E402
from tests.tokenizers.test_wordpiece import CONFIGS, FRAGMENTS, _hf  # noqa: E402
from tests.tokenizers.test_wordpiece import impls, trained  # noqa: E402,F401,F811 (pytest fixtures)

QUESTION = "who said hello?"
CONTEXT = ("The naïve café owner said: mở bài lạc trôi. Running runner, unwanted wanted want unable! "
           "Hello world — 的人有 任务 — emoji 😀 test, and the end.")
SHORT = "hello world"


def _hf_call(fast, args, kw):
    """(output, None) or (None, the exception) — a stride the Rust code cannot use is a panic, which is a
    BaseException, not an Exception."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fast(*args, **kw), None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:                          # noqa: B036 (pyo3 PanicException)
        return None, exc


def _check(im, args, kw):
    """Ours against transformers on one call; returns "ok", "stride" or "other" (the kind of error)."""
    fast, err = _hf_call(im.fast, args, kw)
    if err is not None:
        about_stride = "stride" in str(err)
        with pytest.raises(ConfigError, match="stride" if about_stride else "max_length|truncation"):
            im.ours(*args, **kw)
        return "stride" if about_stride else "other"
    ours = im.ours(*args, **kw)
    assert dict(ours) == _hf(fast), (args, kw)
    n = len(ours["input_ids"]) if kw.get("return_overflowing_tokens") else 1
    for i in range(n):
        assert ours.word_ids(i) == fast.word_ids(i), (args, kw, i)
        assert ours.sequence_ids(i) == fast.sequence_ids(i), (args, kw, i)
        assert ours.tokens(i) == fast.tokens(i), (args, kw, i)
    return "ok"


WINDOW_KW = dict(return_overflowing_tokens=True, return_offsets_mapping=True, return_special_tokens_mask=True,
                 return_length=True)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("strategy", ["only_second", "longest_first", "only_first"])
def test_pair_windows_match_fast(impls, strategy, side):
    """Question + long context (the QA case), the reverse, and two long texts (longest_first cuts both and
    pairs every window of A with every window of B), over max_length and every stride."""
    im = impls(True, None, truncation_side=side)
    seen = {"ok": 0, "stride": 0, "other": 0}
    for args in [(QUESTION, CONTEXT), (CONTEXT, QUESTION), (CONTEXT[:60], CONTEXT[40:])]:
        for max_length in (3, 4, 5, 8, 13, 21, 26, 30, 34, 45):
            for stride in sorted({s for s in (0, 1, 2, max_length // 2, max_length - 4, max_length - 3,
                                              max_length - 2) if s >= 0}):
                seen[_check(im, args, dict(WINDOW_KW, truncation=strategy, max_length=max_length,
                                           stride=stride))] += 1
    assert seen["ok"] > 10 and seen["stride"] > 0                 # both paths really ran
    if strategy != "longest_first":
        assert seen["other"] > 0                                  # "sequence too short" cases too


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("strategy", ["longest_first", "only_first"])
def test_single_text_windows_match_fast(impls, strategy, side):
    im = impls(False, None, truncation_side=side)
    seen = {"ok": 0, "stride": 0, "other": 0}
    for text in [CONTEXT, SHORT, "", "a" * 101 + " " + SHORT]:
        for max_length in (2, 3, 4, 7, 12, 30):
            for stride in range(0, max_length + 1):
                seen[_check(im, (text,), dict(WINDOW_KW, truncation=strategy, max_length=max_length,
                                              stride=stride))] += 1
    assert seen["ok"] > 20 and seen["stride"] > 0 and seen["other"] == 0


def test_window_structure(impls):
    """What the windows are, independent of HF: a QA context cut into overlapping windows."""
    im = impls(True, None)
    out = im.ours(QUESTION, CONTEXT, truncation="only_second", max_length=24, stride=5, **WINDOW_KW)
    n_windows = len(out["input_ids"])
    assert n_windows >= 3 and out["overflow_to_sample_mapping"] == [0] * n_windows
    n_question = out.sequence_ids(0).count(0)
    whole = im.ours(QUESTION, CONTEXT, return_offsets_mapping=True)
    context_offsets = [o for o, s in zip(whole["offset_mapping"], whole.sequence_ids()) if s == 1]
    pos = 0                                                   # where each window starts in the context tokens
    for i in range(n_windows):
        sids = out.sequence_ids(i)
        assert sids[:n_question + 2] == [None] + [0] * n_question + [None] and sids[-1] is None
        ctx = [o for o, s in zip(out["offset_mapping"][i], sids) if s == 1]
        assert ctx == context_offsets[pos:pos + len(ctx)]         # a contiguous slice of the context
        assert len(out["input_ids"][i]) <= 24
        if i + 1 < n_windows:
            assert len(ctx) == 24 - n_question - 3
            pos += len(ctx) - 5                                   # the next window repeats the last 5 tokens
        else:
            assert pos + len(ctx) == len(context_offsets)         # the last window reaches the end


@pytest.mark.parametrize("padding,multiple", [(False, None), (True, None), (True, 4), ("max_length", None)])
@pytest.mark.parametrize("side", ["right", "left"])
def test_batch_windows_padding_and_mapping(impls, padding, multiple, side):
    im = impls(True, None, padding_side=side, truncation_side=side)
    batch = [(QUESTION, CONTEXT), ("hi", "short context"), ("who?", CONTEXT[:50]), (SHORT, "")]
    seen = {"ok": 0, "stride": 0, "other": 0}
    for max_length in (16, 20, 28):
        for stride in (0, 3, 6):
            for strategy in ("only_second", "longest_first"):
                kw = dict(WINDOW_KW, truncation=strategy, max_length=max_length, stride=stride, padding=padding,
                          pad_to_multiple_of=multiple if max_length % 4 == 0 else None)
                seen[_check(im, (batch,), kw)] += 1
    assert seen["ok"] >= 12 and seen["other"] == 0
    out = im.ours(batch, truncation="only_second", max_length=20, stride=4, padding="max_length",
                  return_overflowing_tokens=True, return_tensors="np", return_offsets_mapping=True)
    fast = im.fast(batch, truncation="only_second", max_length=20, stride=4, padding="max_length",
                   return_overflowing_tokens=True, return_tensors="np", return_offsets_mapping=True)
    assert set(out) == set(fast)
    for key in out:
        assert out[key].dtype == np.int64, key
        np.testing.assert_array_equal(out[key], fast[key])
    mapping = out["overflow_to_sample_mapping"]
    assert mapping.shape == (out["input_ids"].shape[0],) and set(mapping.tolist()) == {0, 1, 2, 3}
    assert (np.diff(mapping) >= 0).all()                          # the windows of one example are together


def test_no_room_for_text_overflows_whole_sequences(impls):
    """max_length == the special tokens: `tokenizers` keeps empty sequences and returns each whole
    sequence as one overflowing window (with padding=True such a window is longer than the first and
    stays unpadded)."""
    im = impls(True, None)
    for padding in (False, True):
        for args in [(QUESTION, "naïve café"), (SHORT,)]:
            kw = dict(WINDOW_KW, truncation="longest_first", max_length=3 if len(args) == 2 else 2, padding=padding)
            assert _check(im, args, kw) == "ok"
    out = im.ours(QUESTION, "naïve café", truncation="longest_first", max_length=3, return_overflowing_tokens=True)
    assert len(out["input_ids"][0]) == 3 and len(out["input_ids"]) == 4   # (A0,B0) + (A1,B0), (A1,B1), (A0,B1)


@pytest.mark.parametrize("strategy", ["only_second", "longest_first"])
def test_overflowing_matches_tokenizers_library(impls, strategy):
    """The `tokenizers` Encoding.overflowing list, window by window."""
    im = impls(True, None)
    for direction in ("right", "left"):
        ours_tok = impls(True, None, truncation_side=direction).ours
        im.lib.enable_truncation(max_length=18, stride=3, strategy=strategy, direction=direction)
        try:
            enc = im.lib.encode(QUESTION, CONTEXT)
        finally:
            im.lib.no_truncation()
        out = ours_tok(QUESTION, CONTEXT, truncation=strategy, max_length=18, stride=3, return_overflowing_tokens=True,
                       return_offsets_mapping=True, return_special_tokens_mask=True)
        ref = [enc] + enc.overflowing
        assert len(out["input_ids"]) == len(ref) > 2
        for i, e in enumerate(ref):
            assert out["input_ids"][i] == e.ids and out["token_type_ids"][i] == e.type_ids
            assert out["offset_mapping"][i] == e.offsets and out["special_tokens_mask"][i] == e.special_tokens_mask
            assert out.sequence_ids(i) == e.sequence_ids and out.word_ids(i) == e.word_ids and out.tokens(i) == e.tokens
        # the Encoding of the first window carries the others, like the library's
        first = out.encodings[0]
        assert [w.ids for w in first.overflowing] == [e.ids for e in enc.overflowing]


def test_stride_without_overflow_output_and_without_truncation(impls):
    im = impls(True, None)
    # without return_overflowing_tokens only the first window comes back, but the stride rules still apply
    for kw in [dict(truncation="only_second", max_length=20, stride=4), dict(stride=3),
               dict(truncation="only_second", max_length=20, stride=4, padding=True)]:
        assert _check(im, ([(QUESTION, CONTEXT)],), kw) == "ok"
        assert _check(im, (QUESTION, CONTEXT), kw) == "ok"
    # nothing cut: one window per example, the mapping is the identity
    out = im.ours(["a b", "c"], return_overflowing_tokens=True, truncation=True, max_length=30, stride=2)
    assert out["overflow_to_sample_mapping"] == [0, 1] and len(out["input_ids"]) == 2
    # add_special_tokens=False: the windows are the bare text
    assert _check(im, (QUESTION, CONTEXT), dict(WINDOW_KW, truncation="only_second", max_length=15, stride=2,
                                                add_special_tokens=False)) == "ok"
    # pre-split words (offsets per word)
    words = CONTEXT.split()
    assert _check(im, (words,), dict(WINDOW_KW, truncation=True, max_length=9, stride=2,
                                     is_split_into_words=True)) == "ok"


@given(parts=st.lists(st.sampled_from(FRAGMENTS), max_size=14),
       pair_parts=st.one_of(st.none(), st.lists(st.sampled_from(FRAGMENTS), max_size=10)),
       config=st.sampled_from(CONFIGS),
       truncation=st.sampled_from(["longest_first", "only_first", "only_second"]),
       max_length=st.integers(3, 16), stride=st.integers(0, 12), side=st.sampled_from(["right", "left"]))
def test_random_texts_windows_match_fast(impls, parts, pair_parts, config, truncation, max_length, stride, side):
    im = impls(*config, truncation_side=side)
    text = "".join(parts)
    pair = None if pair_parts is None else "".join(pair_parts)
    args = ([(text, pair)],) if pair is not None else (text,)     # a batch keeps a "" pair, as ours does
    _check(im, args, dict(WINDOW_KW, truncation=truncation, max_length=max_length, stride=stride))


def test_bad_stride(impls):
    tok = impls(True, None).ours
    # the check `tokenizers` makes when truncation is switched on: stride <= max_length - 2
    with pytest.raises(ConfigError, match="stride"):
        tok("hi", "yo", truncation=True, max_length=8, stride=7, return_overflowing_tokens=True)
    assert len(tok("hi", "yo", truncation=True, max_length=8, stride=6)["input_ids"]) == 7   # fits: fine
    # the window left for the context is 2 tokens: a stride of 2 could never advance
    with pytest.raises(ConfigError, match="stride"):
        tok(QUESTION, CONTEXT, truncation="only_second", max_length=len(tok(QUESTION)["input_ids"]) + 3,
            stride=2, return_overflowing_tokens=True)
    for bad in (-1, 1.5, None, True):
        with pytest.raises(ConfigError, match="stride"):
            tok(QUESTION, CONTEXT, truncation="only_second", max_length=30, stride=bad)
    with pytest.raises(ConfigError, match="return_overflowing_tokens"):
        tok(QUESTION, return_overflowing_tokens=1)
    # ragged windows cannot become one array
    with pytest.raises(ConfigError, match="return_tensors"):
        tok(QUESTION, CONTEXT, truncation="only_second", max_length=20, stride=2, return_overflowing_tokens=True,
            return_tensors="np")
