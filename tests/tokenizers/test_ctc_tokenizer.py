"""Wav2Vec2CTCTokenizer vs transformers' Wav2Vec2CTCTokenizer on a vocab.json written here: decode
(grouping, pad = blank, skip_special_tokens before grouping, word delimiter, lower case, clean-up, char and
word offsets) over hypothesis-generated id sequences, encode, from_pretrained, greedy CTC decoding of logits
end to end, bad input."""
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl.core.errors import CheckpointError, ConfigError, IndexRangeError
from refimpl.processing.ctc_decoding import ctc_greedy_decode
from refimpl.tokenizers.ctc import Wav2Vec2CTCTokenizer

transformers = pytest.importorskip("transformers")
HFTokenizer = transformers.Wav2Vec2CTCTokenizer

VOCAB = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, "E": 5, "T": 6, "A": 7, "O": 8, "'": 9,
         "H": 10, "L": 11, ".": 12, "S": 13, "OO": 14, "N": 15}


@pytest.fixture(scope="module")
def vocab_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("ctc_vocab")
    (d / "vocab.json").write_text(json.dumps(VOCAB), encoding="utf-8")
    return d


_HF_CACHE = {}


def _pair(vocab_dir, **kw):
    key = tuple(sorted(kw.items()))
    if key not in _HF_CACHE:
        _HF_CACHE[key] = HFTokenizer(str(vocab_dir / "vocab.json"), **kw)
    return Wav2Vec2CTCTokenizer(VOCAB, **kw), _HF_CACHE[key]


def _plain(x):
    """transformers' output (ModelOutput with np.int64 offsets) as plain Python data."""
    if isinstance(x, str) or x is None:
        return x
    if isinstance(x, dict) or hasattr(x, "keys"):
        return {k: _plain(x[k]) for k in ("text", "char_offsets", "word_offsets") if k in x} \
            if "text" in x else {k: (int(v) if isinstance(v, (np.integer, int)) else v) for k, v in x.items()}
    if isinstance(x, list):
        return [_plain(v) for v in x]
    return x


def _hf_decode_result(out):
    if isinstance(out, str):
        return out
    return {"text": out.text, "char_offsets": _plain(out.char_offsets), "word_offsets": _plain(out.word_offsets)}


ids_strategy = st.lists(st.sampled_from(sorted(VOCAB.values()) + [0, 0, 4, 5, 5]), max_size=30)
options = st.fixed_dictionaries({
    "skip_special_tokens": st.booleans(), "group_tokens": st.booleans(),
    "spaces_between_special_tokens": st.booleans(),
    "clean_up_tokenization_spaces": st.sampled_from([None, True, False]),
    "output_char_offsets": st.booleans(), "output_word_offsets": st.booleans()})
CTOR = [{}, {"do_lower_case": True}, {"replace_word_delimiter_char": "_"}, {"word_delimiter_token": "'"},
        {"pad_token": "<unk>", "unk_token": "<pad>"}]


@pytest.mark.parametrize("kw", CTOR, ids=["default", "lower", "replace_char", "delimiter", "pad_unk_swapped"])
@given(ids=ids_strategy, opts=options)
def test_decode_matches_transformers(vocab_dir, kw, ids, opts):
    ours, hf = _pair(vocab_dir, **kw)
    expected = _hf_decode_result(hf.decode(ids, **opts))
    assert ours.decode(ids, **opts) == expected
    assert ours.decode(np.array(ids, dtype=np.int64), **opts) == expected


@given(batch=st.lists(ids_strategy, min_size=1, max_size=3), offsets=st.booleans())
def test_batch_decode_matches_transformers(vocab_dir, batch, offsets):
    ours, hf = _pair(vocab_dir)
    kw = dict(output_char_offsets=offsets, output_word_offsets=offsets)
    e = hf.batch_decode(batch, **kw)
    a = ours.batch_decode(batch, **kw)
    if offsets:
        assert a == {"text": e.text, "char_offsets": _plain(e.char_offsets), "word_offsets": _plain(e.word_offsets)}
    else:
        assert a == e


def test_documented_decode_examples(vocab_dir):
    ours, hf = _pair(vocab_dir)
    ids = [0, 10, 10, 0, 10, 4, 4, 5, 0, 4, 3, 1]                    # <pad> H H <pad> H | | E <pad> | <unk> <s>
    assert ours.decode(ids) == hf.decode(ids) == "HH E <unk><s>"
    # skipping special tokens happens before grouping: the blank between the two Hs disappears
    assert ours.decode(ids, skip_special_tokens=True) == hf.decode(ids, skip_special_tokens=True) == "H E"


TEXTS = ["HELLO <unk> WORLD", "A<pad>B", "A  B", " HE L ", "TOO", "hello too", "A\tB\nC", "A <s>E</s> T",
         "OOO", "TO OO", "", "  ", "it's that.", "<unk><unk>", "<pad> A <pad>"]


@pytest.mark.parametrize("kw", [{}, {"do_lower_case": True}])
@pytest.mark.parametrize("text", TEXTS)
def test_encode_matches_transformers(vocab_dir, text, kw):
    ours, hf = _pair(vocab_dir, **kw)
    assert ours.tokenize(text) == hf.tokenize(text)
    assert ours(text) == dict(hf(text))


@given(st.text(alphabet=list("OTHE LS<>unkpad'.x"), max_size=20), st.booleans())
def test_encode_random_text_matches_transformers(vocab_dir, text, lower):
    ours, hf = _pair(vocab_dir, **({"do_lower_case": True} if lower else {}))
    assert ours.tokenize(text) == hf.tokenize(text)
    assert ours.encode(text) == hf(text)["input_ids"]


def test_batch_encode_with_padding(vocab_dir):
    ours, hf = _pair(vocab_dir)
    texts = ["HE", "HELLO", "A TOO"]
    assert ours(texts, padding=True) == dict(hf(texts, padding=True))
    assert ours(texts) == dict(hf(texts))


def test_from_pretrained_reads_transformers_files(vocab_dir, tmp_path):
    hf = HFTokenizer(str(vocab_dir / "vocab.json"), do_lower_case=True, word_delimiter_token="'")
    hf.save_pretrained(str(tmp_path))
    ours = Wav2Vec2CTCTokenizer.from_pretrained(str(tmp_path))
    assert ours.do_lower_case and ours.word_delimiter_token == "'" and ours.pad_token == "<pad>"
    ids = [10, 5, 9, 9, 0, 11, 4, 6, 8, 8, 0, 8]
    assert ours.decode(ids, output_word_offsets=True) == _hf_decode_result(hf.decode(ids, output_word_offsets=True))
    with pytest.raises(CheckpointError, match="directory"):
        Wav2Vec2CTCTokenizer.from_pretrained(str(tmp_path / "nothing"))


def test_nested_vocab_target_lang(tmp_path):
    nested = {"eng": {"<pad>": 0, "|": 1, "A": 2, "B": 3}, "fra": {"<pad>": 0, "|": 1, "É": 2, "B": 3}}
    (tmp_path / "vocab.json").write_text(json.dumps(nested), encoding="utf-8")
    hf = HFTokenizer(str(tmp_path / "vocab.json"), target_lang="fra")
    ours = Wav2Vec2CTCTokenizer(nested, target_lang="fra")
    assert ours.decode([2, 2, 0, 2, 1, 3]) == hf.decode([2, 2, 0, 2, 1, 3])
    with pytest.raises(ConfigError, match="target_lang"):
        Wav2Vec2CTCTokenizer(nested, target_lang="deu")
    with pytest.raises(ConfigError, match="target_lang"):
        Wav2Vec2CTCTokenizer(nested)


def test_greedy_ctc_transcription_end_to_end(vocab_dir):
    """logits -> argmax -> tokenizer.decode (what transformers' pipeline does) == our greedy decoder + join."""
    ours, hf = _pair(vocab_dir)
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((2, 40, len(VOCAB)))
    logits[..., 0] += 1.5                                            # blanks frequent, as in real CTC output
    pred = logits.argmax(-1)
    hf_text = hf.batch_decode(pred)
    assert ours.batch_decode(pred) == hf_text
    labels = ctc_greedy_decode(logits, blank=ours.pad_token_id)
    # the greedy labels, joined, give the same text (no group_tokens needed: repeats already collapsed)
    assert [ours.decode(lab, group_tokens=False) for lab in labels] == hf_text


def test_bad_input(vocab_dir):
    ours = Wav2Vec2CTCTokenizer(VOCAB)
    with pytest.raises(IndexRangeError, match="token_ids.*-100.*pad_token_id"):
        ours.decode([5, -100, 6])
    with pytest.raises(IndexRangeError, match="token_ids: id 16"):
        ours.decode([5, 16])
    with pytest.raises(ConfigError, match="token_ids"):
        ours.decode(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(ConfigError, match="token_ids"):
        ours.decode([1.0, 2.0])
    with pytest.raises(ConfigError, match="sequences"):
        ours.batch_decode(np.zeros(3, dtype=np.int64))
    with pytest.raises(ConfigError, match="vocab"):
        Wav2Vec2CTCTokenizer({})
    with pytest.raises(ConfigError, match="vocab"):
        Wav2Vec2CTCTokenizer({"A": "1"})
    with pytest.raises(ConfigError, match="text"):
        ours.tokenize(5)
    with pytest.raises(ConfigError, match="padding"):
        ours(["A"], padding="max_length")
