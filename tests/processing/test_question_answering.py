"""QA post-processing: hand-built cases, an exhaustive brute-force reference over all valid (start, end)
pairs, several windows per example, and span labels on windows made by transformers' BertTokenizerFast
(WordPiece vocabulary trained here, no download)."""
import os

import numpy as np
import pytest

from refimpl.core.errors import ConfigError, DTypeError, IndexRangeError, ShapeError
from refimpl.processing.question_answering import (char_span_to_token_positions, postprocess_qa_batch,
                                                   postprocess_qa_predictions)

tokenizers = pytest.importorskip("tokenizers")
transformers = pytest.importorskip("transformers")

# ---------------------------------------------------------------------------- hand-built feature
#            0      1        2       3      4      5      6      7     8      9      10     11     12
TOKENS = ["[CLS]", "where", "cat", "[SEP]", "the", "cat", "s", "##at", "on", "the", "mat", ".", "[SEP]"]
CONTEXT = "The cat sat on the mat."
OFFSETS = np.array([(0, 0), (0, 5), (6, 9), (0, 0), (0, 3), (4, 7), (8, 9), (9, 11), (12, 14), (15, 18),
                    (19, 22), (22, 23), (0, 0)])
SEQ_IDS = [None, 0, 0, None, 1, 1, 1, 1, 1, 1, 1, 1, None]
L = len(TOKENS)


def _logits(start_at, end_at, base=-5.0):
    s, e = np.full(L, base), np.full(L, base)
    for k, v in start_at.items():
        s[k] = v
    for k, v in end_at.items():
        e[k] = v
    return s, e


def _none_offsets():
    return [tuple(o) if sid == 1 else None for o, sid in zip(OFFSETS.tolist(), SEQ_IDS)]


def test_answer_found_across_word_pieces():
    s, e = _logits({5: 4.0}, {7: 3.0})                      # "cat" .. "##at"
    pred = postprocess_qa_predictions(s, e, OFFSETS, CONTEXT, sequence_ids=SEQ_IDS)
    assert pred.text == "cat sat" and (pred.start_char, pred.end_char) == (4, 11)
    best = pred.n_best[0]
    assert (best["start_index"], best["end_index"], best["score"]) == (5, 7, 7.0)
    # the same with HF's None offsets instead of sequence_ids
    assert postprocess_qa_predictions(s, e, _none_offsets(), CONTEXT).text == "cat sat"


def test_end_before_start_is_skipped():
    s, e = _logits({10: 10.0, 5: 5.0}, {5: 10.0, 6: 4.0, 10: 0.0})   # (mat, cat) = 20 is best but backwards
    pred = postprocess_qa_predictions(s, e, OFFSETS, CONTEXT, sequence_ids=SEQ_IDS)
    # valid pairs by hand: (cat, cat) = 15, (mat, mat) = 10, (cat, s) = 9, then (mat, .) = 5
    assert pred.text == "cat" and pred.n_best[0]["score"] == 15.0
    assert [c["text"] for c in pred.n_best[:4]] == ["cat", "mat", "cat s", "mat."]


def test_max_answer_length():
    s, e = _logits({4: 10.0, 8: 2.0}, {10: 10.0, 8: 1.0})   # "the" .. "mat" is 7 tokens long
    long = postprocess_qa_predictions(s, e, OFFSETS, CONTEXT, sequence_ids=SEQ_IDS, max_answer_length=7)
    assert long.text == "The cat sat on the mat"
    short = postprocess_qa_predictions(s, e, OFFSETS, CONTEXT, sequence_ids=SEQ_IDS, max_answer_length=6)
    # remaining by hand: (the@4, on@8) = 11, (on@8, mat@10) = 12 -> "on the mat"
    assert short.text == "on the mat" and short.n_best[0]["score"] == 12.0
    assert all(c["end_index"] - c["start_index"] + 1 <= 6 for c in short.n_best)


def test_question_and_special_tokens_excluded():
    s, e = _logits({1: 50.0, 2: 40.0, 0: 60.0, 12: 60.0, 9: 1.0}, {2: 50.0, 0: 60.0, 12: 60.0, 10: 1.0})
    for kw in (dict(offset_mapping=OFFSETS, sequence_ids=SEQ_IDS), dict(offset_mapping=_none_offsets())):
        pred = postprocess_qa_predictions(s, e, context=CONTEXT, **kw)
        assert pred.text == "the mat"
        assert all(4 <= c["start_index"] <= c["end_index"] <= 11 for c in pred.n_best)


def test_n_best_probabilities_and_order():
    rng = np.random.default_rng(0)
    s, e = rng.standard_normal(L), rng.standard_normal(L)
    pred = postprocess_qa_predictions(s, e, OFFSETS, CONTEXT, sequence_ids=SEQ_IDS, n_best_size=5)
    scores = np.array([c["score"] for c in pred.n_best])
    assert len(pred.n_best) == 5 and np.all(np.diff(scores) <= 0)
    probs = np.array([c["probability"] for c in pred.n_best])
    np.testing.assert_allclose(probs, np.exp(scores) / np.exp(scores).sum(), rtol=1e-12)
    for c in pred.n_best:
        assert c["score"] == c["start_logit"] + c["end_logit"]
        assert c["text"] == CONTEXT[OFFSETS[c["start_index"]][0]:OFFSETS[c["end_index"]][1]]


def test_null_answer_and_empty_placeholder():
    s, e = _logits({0: 8.0, 5: 3.0}, {0: 8.0, 5: 3.0})
    pred = postprocess_qa_predictions(s, e, OFFSETS, CONTEXT, sequence_ids=SEQ_IDS, null_score=True)
    assert pred.text == "" and pred.null_score_diff == 16.0 - 6.0
    assert pred.n_best[0]["text"] == "" and pred.n_best[0]["score"] == 16.0
    kept = postprocess_qa_predictions(s, e, OFFSETS, CONTEXT, sequence_ids=SEQ_IDS, null_score=True,
                                      null_score_diff_threshold=11.0)
    assert kept.text == "cat"
    # null not in the n-best cut: appended at the end
    s2, e2 = _logits({0: -50.0, 5: 3.0, 9: 2.0}, {0: -50.0, 5: 3.0, 10: 2.0})
    low = postprocess_qa_predictions(s2, e2, OFFSETS, CONTEXT, sequence_ids=SEQ_IDS, null_score=True, n_best_size=2)
    assert len(low.n_best) == 3 and low.n_best[-1]["text"] == "" and low.text == "cat"
    # no valid span in the top-1 lists: HF's "empty" placeholder with score 0
    s3, e3 = _logits({1: 9.0}, {1: 9.0})
    none = postprocess_qa_predictions(s3, e3, OFFSETS, CONTEXT, sequence_ids=SEQ_IDS, n_best_size=1)
    assert none.text == "empty" and none.start_char is None and none.n_best[0]["probability"] == 1.0


# ---------------------------------------------------------------------------- brute force

def _brute_force(starts, ends, valid, offsets, context, max_len, n_best):
    cands = []
    for f in range(starts.shape[0]):
        for i in range(starts.shape[1]):
            for j in range(i, min(i + max_len, starts.shape[1])):
                if valid[f][i] and valid[f][j]:
                    cands.append((starts[f, i] + ends[f, j], f, i, j))
    cands.sort(key=lambda c: -c[0])
    return [(sc, f, i, j, context[offsets[f][i][0]:offsets[f][j][1]]) for sc, f, i, j in cands[:n_best]]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("n_features", [1, 3])
def test_exhaustive_reference(seed, n_features):
    rng = np.random.default_rng(seed)
    context = "".join(rng.choice(list("abcde "), size=80))
    Lf = 24
    starts, ends = rng.standard_normal((n_features, Lf)), rng.standard_normal((n_features, Lf))
    offsets, seq_ids, valid = [], [], []
    for f in range(n_features):
        q = int(rng.integers(1, 6))                          # [CLS] + q question tokens + [SEP]
        n_ctx = int(rng.integers(3, Lf - q - 2))
        cuts = np.sort(rng.choice(np.arange(1, 80), size=n_ctx, replace=False))
        bounds = np.concatenate([[int(rng.integers(0, cuts[0]))], cuts])
        ctx = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
        sid = [None] + [0] * q + [None] + [1] * len(ctx) + [None]
        sid += [None] * (Lf - len(sid))                       # padding
        offs = [(0, 0)] + [(0, 1)] * q + [(0, 0)] + ctx + [(0, 0)] * (Lf - 2 - q - len(ctx))
        offsets.append(offs)
        seq_ids.append(sid)
        valid.append([s == 1 for s in sid])
    max_len = int(rng.integers(1, 8))
    pred = postprocess_qa_predictions(starts if n_features > 1 else starts[0], ends if n_features > 1 else ends[0],
                                      np.array(offsets) if n_features > 1 else np.array(offsets[0]), context,
                                      sequence_ids=seq_ids if n_features > 1 else seq_ids[0],
                                      n_best_size=Lf, max_answer_length=max_len)
    ref = _brute_force(starts, ends, valid, offsets, context, max_len, Lf)
    got = [(c["score"], c["feature_index"], c["start_index"], c["end_index"], c["text"]) for c in pred.n_best]
    assert got == ref
    assert pred.text == ref[0][4]


def test_batch_matches_per_example_calls():
    rng = np.random.default_rng(3)
    contexts = ["The cat sat on the mat.", "The cat sat on the mat!"]
    mapping = np.array([0, 1, 0, 1, 1])
    N = len(mapping)
    s, e = rng.standard_normal((N, L)), rng.standard_normal((N, L))
    offs = np.stack([OFFSETS] * N)
    sids = [SEQ_IDS] * N
    out = postprocess_qa_batch(s, e, offs, contexts, mapping, sequence_ids=sids, n_best_size=4)
    for ex in range(2):
        f = np.flatnonzero(mapping == ex)
        one = postprocess_qa_predictions(s[f], e[f], offs[f], contexts[ex], sequence_ids=[sids[k] for k in f],
                                         n_best_size=4)
        assert out[ex] == one
        # the best over several windows is the best of the windows' own bests
        bests = [postprocess_qa_predictions(s[k], e[k], offs[k], contexts[ex], sequence_ids=sids[k]).n_best[0]
                 for k in f]
        assert one.n_best[0]["score"] == max(b["score"] for b in bests)


# ---------------------------------------------------------------------------- real tokenizer windows

QA_CONTEXT = ("Marie Curie was a physicist and chemist who conducted pioneering research on radioactivity. "
              "She was the first woman to win a Nobel Prize, the first person to win a Nobel Prize twice, "
              "and the only person to win a Nobel Prize in two scientific fields. Her husband, Pierre Curie, "
              "was a co-winner of her first Nobel Prize.")
QUESTION = "Who was the husband of Marie Curie?"


SPLIT = {"radioactivity": ["radio", "##act", "##ivity"], "scientific": ["scien", "##tific"],
         "physicist": ["physic", "##ist"], "pioneering": []}     # [] = letter by letter


@pytest.fixture(scope="module")
def tok(make_bert_tokenizer):
    return make_bert_tokenizer([QA_CONTEXT, QUESTION], SPLIT)


def _run_qa_positions(offsets, sequence_ids, start_char, end_char, cls_index=0):
    """prepare_train_features of transformers' run_qa.py, re-written from its rules."""
    k0 = 0
    while sequence_ids[k0] != 1:
        k0 += 1
    k1 = len(offsets) - 1
    while sequence_ids[k1] != 1:
        k1 -= 1
    if not (offsets[k0][0] <= start_char and offsets[k1][1] >= end_char):
        return cls_index, cls_index
    while k0 < len(offsets) and offsets[k0][0] <= start_char:
        k0 += 1
    while offsets[k1][1] >= end_char:
        k1 -= 1
    return k0 - 1, k1 + 1


@pytest.mark.parametrize("answer", ["Pierre Curie", "radioactivity", "Marie Curie", "two scientific fields",
                                    "co-winner", "Nobel Prize."])
@pytest.mark.parametrize("max_length,stride", [(32, 8), (48, 16)])
def test_span_labels_on_overflowing_windows(tok, answer, max_length, stride):
    a = QA_CONTEXT.index(answer)
    enc = tok(QUESTION, QA_CONTEXT, truncation="only_second", max_length=max_length, stride=stride,
              return_overflowing_tokens=True, return_offsets_mapping=True, padding="max_length")
    n_windows = len(enc["input_ids"])
    assert n_windows >= 3
    found = 0
    for w in range(n_windows):
        offs, sids = enc["offset_mapping"][w], enc.sequence_ids(w)
        start, end = char_span_to_token_positions(offs, sids, a, answer)
        ctx = [k for k, s in enumerate(sids) if s == 1]
        inside = offs[ctx[0]][0] <= a and offs[ctx[-1]][1] >= a + len(answer)
        if not inside:
            assert (start, end) == (0, 0)
            continue
        found += 1
        assert sids[start] == sids[end] == 1 and start <= end
        # the tokens cover the answer exactly (the answers sit on word boundaries)
        assert QA_CONTEXT[offs[start][0]:offs[end][1]] == answer
        if start != ctx[-1]:                                 # run_qa.py agrees unless the answer starts at the end
            assert (start, end) == _run_qa_positions(offs, sids, a, a + len(answer))
        # and post-processing recovers the answer from logits peaked at the labels
        sl, el = np.zeros(max_length), np.zeros(max_length)
        sl[start], el[end] = 5.0, 5.0
        pred = postprocess_qa_predictions(sl, el, np.array(offs), QA_CONTEXT, sequence_ids=sids)
        assert pred.text == answer
    assert found >= 1
    # unanswerable: the CLS index everywhere
    assert char_span_to_token_positions(enc["offset_mapping"][0], enc.sequence_ids(0), None, None) == (0, 0)


def test_answer_at_the_last_context_token(tok):
    """The final "." is the window's last context token: we label it; run_qa.py's start search runs on
    through [SEP] and the padding (offsets (0, 0) <= start) and ends on the last position."""
    a = len(QA_CONTEXT) - 1
    enc = tok(QUESTION, QA_CONTEXT, truncation="only_second", max_length=48, stride=16,
              return_overflowing_tokens=True, return_offsets_mapping=True, padding="max_length")
    offs, sids = enc["offset_mapping"][-1], enc.sequence_ids(len(enc["input_ids"]) - 1)
    last_ctx = max(k for k, s in enumerate(sids) if s == 1)
    assert char_span_to_token_positions(offs, sids, a, ".") == (last_ctx, last_ctx)
    assert _run_qa_positions(offs, sids, a, a + 1) == (len(offs) - 1, last_ctx)


def test_batch_on_real_windows(tok):
    contexts = [QA_CONTEXT, QA_CONTEXT[:120]]
    enc = tok([QUESTION, "Who won?"], contexts, truncation="only_second", max_length=40, stride=10,
              return_overflowing_tokens=True, return_offsets_mapping=True, padding="max_length")
    mapping = np.array(enc["overflow_to_sample_mapping"])
    n = len(mapping)
    rng = np.random.default_rng(0)
    s, e = rng.standard_normal((n, 40)), rng.standard_normal((n, 40))
    sids = [enc.sequence_ids(i) for i in range(n)]
    preds = postprocess_qa_batch(s, e, enc["offset_mapping"], contexts, mapping, sequence_ids=sids,
                                 max_answer_length=10)
    assert len(preds) == 2
    for ex, p in enumerate(preds):
        feats = np.flatnonzero(mapping == ex)
        for c in p.n_best:
            f = feats[c["feature_index"]]
            assert sids[f][c["start_index"]] == sids[f][c["end_index"]] == 1
            assert c["text"] == contexts[ex][c["start_char"]:c["end_char"]]


# ---------------------------------------------------------------------------- refimpl tokenizer windows

@pytest.fixture(scope="module")
def ours(tok):
    from refimpl.tokenizers.wordpiece import BertTokenizer
    return BertTokenizer.from_vocab_file(os.path.join(tok.name_or_path, "vocab.txt"))


@pytest.mark.parametrize("max_length,stride", [(32, 8), (40, 12)])
def test_refimpl_windows_to_answer(tok, ours, max_length, stride):
    """refimpl's tokenizer windows (equal to transformers') -> logits peaked at the answer in ONE window, a
    weaker decoy span in another -> postprocess_qa_batch returns the answer text from that window."""
    questions = [QUESTION, "What did she research?", "Who won twice?"]
    contexts = [QA_CONTEXT, QA_CONTEXT, QA_CONTEXT[:150]]
    answers = ["Pierre Curie", "radioactivity", "Marie Curie"]
    kw = dict(truncation="only_second", max_length=max_length, stride=stride, return_overflowing_tokens=True,
              return_offsets_mapping=True, padding="max_length")
    enc = ours(questions, contexts, **kw)
    ref = tok(questions, contexts, **kw)
    assert dict(enc) == dict(ref)
    n = len(enc["input_ids"])
    mapping = np.asarray(enc["overflow_to_sample_mapping"])
    sids = [enc.sequence_ids(i) for i in range(n)]
    assert sids == [ref.sequence_ids(i) for i in range(n)] and n > 5
    rng = np.random.default_rng(0)
    s, e = 0.1 * rng.standard_normal((n, max_length)), 0.1 * rng.standard_normal((n, max_length))
    chosen = {}
    for ex, answer in enumerate(answers):
        a = contexts[ex].index(answer)
        feats = np.flatnonzero(mapping == ex).tolist()
        spans = {f: char_span_to_token_positions(enc["offset_mapping"][f], sids[f], a, answer) for f in feats}
        holding = [f for f in feats if spans[f] != (0, 0)]
        assert holding, (ex, answer)
        target = holding[-1]                                   # the last window that holds the whole answer
        chosen[ex] = feats.index(target)
        s[target, spans[target][0]] = e[target, spans[target][1]] = 8.0
        decoy = next((f for f in feats if f not in holding), None)
        if decoy is not None:                                  # a lower-scoring span elsewhere
            ctx = [k for k, sid in enumerate(sids[decoy]) if sid == 1]
            s[decoy, ctx[0]] = e[decoy, ctx[1]] = 6.0
    for seq_ids, offsets in [(sids, enc["offset_mapping"]),                       # lists
                             (sids, np.asarray(enc["offset_mapping"]))]:          # (N, L, 2) array
        preds = postprocess_qa_batch(s, e, offsets, contexts, mapping, sequence_ids=seq_ids, max_answer_length=10)
        for ex, answer in enumerate(answers):
            p = preds[ex]
            assert p.text == answer and p.n_best[0]["feature_index"] == chosen[ex], (ex, p.n_best[:2])
            assert (p.start_char, p.end_char) == (contexts[ex].index(answer), contexts[ex].index(answer) + len(answer))
    # the special and question tokens never become answers, even with the highest logits
    s2, e2 = s.copy(), e.copy()
    s2[:, 0] = e2[:, 0] = 50.0                                 # [CLS]
    s2[:, 1] = e2[:, 2] = 40.0                                 # question tokens
    preds = postprocess_qa_batch(s2, e2, enc["offset_mapping"], contexts, mapping, sequence_ids=sids,
                                 max_answer_length=10)
    assert [p.text for p in preds] == answers


# ---------------------------------------------------------------------------- bad input

def test_bad_input():
    s, e = np.zeros(L), np.zeros(L)
    with pytest.raises(ShapeError, match="end_logits"):
        postprocess_qa_predictions(s, np.zeros(L + 1), OFFSETS, CONTEXT)
    with pytest.raises(DTypeError, match="start_logits"):
        postprocess_qa_predictions(np.zeros(L, dtype=np.int64), e, OFFSETS, CONTEXT)
    with pytest.raises(ShapeError, match="offset_mapping"):
        postprocess_qa_predictions(s, e, OFFSETS[:-1], CONTEXT)
    with pytest.raises(ShapeError, match="sequence_ids"):
        postprocess_qa_predictions(s, e, OFFSETS, CONTEXT, sequence_ids=SEQ_IDS[:-1])
    with pytest.raises(IndexRangeError, match="offset_mapping"):
        postprocess_qa_predictions(s, e, OFFSETS, CONTEXT[:10], sequence_ids=SEQ_IDS)
    with pytest.raises(ConfigError, match="n_best_size"):
        postprocess_qa_predictions(s, e, OFFSETS, CONTEXT, n_best_size=0)
    with pytest.raises(ConfigError, match="start_logits"):
        postprocess_qa_predictions(np.full(L, np.nan), e, OFFSETS, CONTEXT)
    with pytest.raises(ConfigError, match="sample_mapping"):
        postprocess_qa_batch(s[None], e[None], OFFSETS[None], [CONTEXT, CONTEXT], np.array([0]))
    with pytest.raises(IndexRangeError, match="sample_mapping"):
        postprocess_qa_batch(s[None], e[None], OFFSETS[None], [CONTEXT], np.array([1]))
    with pytest.raises(ShapeError, match="sequence_ids"):
        char_span_to_token_positions(OFFSETS, SEQ_IDS[:-1], 4, "cat")
    with pytest.raises(ConfigError, match="answer_start_char"):
        char_span_to_token_positions(OFFSETS, SEQ_IDS, -1, "cat")
