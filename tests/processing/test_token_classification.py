"""Token classification: label alignment vs the rules of transformers' run_ner.py on word_ids of a real
fast tokenizer; word aggregation (first/average/max) and entity grouping vs TokenClassificationPipeline
on a tiny random BERT (WordPiece vocabulary trained here, no download); hand-computed cases; bad input."""
import numpy as np
import pytest

from refimpl.core.errors import ConfigError, DTypeError, IndexRangeError, ShapeError
from refimpl.processing.token_classification import (aggregate_word_predictions, align_labels_with_tokens,
                                                     b_to_i_map, group_entities)

torch = pytest.importorskip("torch")
tokenizers = pytest.importorskip("tokenizers")
transformers = pytest.importorskip("transformers")
from transformers import BertConfig, BertForTokenClassification, TokenClassificationPipeline  # noqa: E402

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-MISC", "ORG"]   # B-MISC has no I-, ORG no prefix
SENTENCES = ["marie curie met pierre curie in paris after radioactivity research",
             "the nobel prize committee in stockholm gave awards to the sorbonne",
             "radioactivity research continued at the sorbonne in paris, france.",
             "pierre and marie shared the prize with henri becquerel in stockholm"]


SPLIT = {"radioactivity": ["radio", "##activity"], "sorbonne": ["sor", "##bonne"], "stockholm": ["stock", "##holm"],
         "becquerel": [], "committee": []}                      # [] = letter by letter


@pytest.fixture(scope="module")
def tok(make_bert_tokenizer):
    return make_bert_tokenizer(SENTENCES, SPLIT)


@pytest.fixture(scope="module")
def model(tok):
    cfg = BertConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
                     label2id={n: i for i, n in enumerate(LABELS)})
    torch.manual_seed(0)
    m = BertForTokenClassification(cfg).eval()
    with torch.no_grad():                                      # confident, varied predictions per token
        m.classifier.weight.mul_(40.0)
    return m


# ---------------------------------------------------------------------------- alignment

def _hf_align(word_labels, word_ids, label_all_tokens, b_to_i):
    """tokenize_and_align_labels of run_ner.py, re-written from its rules."""
    out, prev = [], None
    for w in word_ids:
        if w is None:
            out.append(-100)
        elif w != prev:
            out.append(word_labels[w])
        else:
            out.append(b_to_i[word_labels[w]] if label_all_tokens else -100)
        prev = w
    return out


def test_b_to_i_map():
    assert b_to_i_map(LABELS).tolist() == [0, 2, 2, 4, 4, 5, 6]


@pytest.mark.parametrize("label_all_tokens", [False, True])
def test_alignment_matches_run_ner(tok, label_all_tokens):
    rng = np.random.default_rng(0)
    b_to_i = [LABELS.index("I-" + n[2:]) if n.startswith("B-") and "I-" + n[2:] in LABELS else k
              for k, n in enumerate(LABELS)]
    words = [s.split() for s in SENTENCES]
    enc = tok(words, is_split_into_words=True, truncation=True, max_length=16)   # truncation drops words
    n_cont = 0
    for i, ws in enumerate(words):
        word_labels = rng.integers(0, len(LABELS), size=len(ws)).tolist()
        wid = enc.word_ids(i)
        n_cont += sum(1 for a, b in zip(wid, wid[1:]) if a is not None and a == b)
        got = align_labels_with_tokens(word_labels, wid, label_all_tokens=label_all_tokens, label_names=LABELS)
        assert got.dtype == np.int64 and got.tolist() == _hf_align(word_labels, wid, label_all_tokens, b_to_i)
        # an array of word ids with -1 for special tokens means the same
        arr = np.array([-1 if w is None else w for w in wid])
        assert align_labels_with_tokens(np.array(word_labels), arr, label_all_tokens=label_all_tokens,
                                        label_names=LABELS).tolist() == got.tolist()
    assert n_cont > 5                                           # continuation pieces were exercised


def test_alignment_by_hand():
    word_ids = [None, 0, 1, 1, 1, 2, None]
    labels = [LABELS.index("O"), LABELS.index("B-PER"), LABELS.index("B-MISC")]
    assert align_labels_with_tokens(labels, word_ids).tolist() == [-100, 0, 1, -100, -100, 5, -100]
    assert align_labels_with_tokens(labels, word_ids, label_all_tokens=True).tolist() == [-100, 0, 1, 1, 1, 5, -100]
    assert align_labels_with_tokens(labels, word_ids, label_all_tokens=True,
                                    label_names=LABELS).tolist() == [-100, 0, 1, 2, 2, 5, -100]
    assert align_labels_with_tokens([-100, 3], [None, 0, 0, 1, None],
                                    label_all_tokens=True, label_names=LABELS).tolist() == [-100, -100, -100, 3, -100]


# ---------------------------------------------------------------------------- aggregation vs the pipeline

def _logits(model, tok, sentence):
    enc = tok(sentence, return_offsets_mapping=True, return_special_tokens_mask=True)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([enc["input_ids"]])).logits[0].numpy()
    return enc, logits


@pytest.mark.parametrize("strategy", ["first", "average", "max"])
def test_word_aggregation_matches_pipeline_internals(tok, model, strategy):
    pipe = TokenClassificationPipeline(model=model, tokenizer=tok)
    n_multi = 0
    for sentence in SENTENCES:
        enc, logits = _logits(model, tok, sentence)
        labels, scores = aggregate_word_predictions(logits.astype(np.float64), enc.word_ids(), strategy)
        # the pipeline's own steps: softmax -> gather_pre_entities -> aggregate_words
        z = np.exp(logits - logits.max(-1, keepdims=True))
        pre = pipe.gather_pre_entities(sentence, np.array(enc["input_ids"]), z / z.sum(-1, keepdims=True),
                                       enc["offset_mapping"], np.array(enc["special_tokens_mask"]), strategy)
        words = pipe.aggregate_words(pre, strategy)
        assert len(words) == len(labels)
        for w, (ent, lab, sc) in enumerate(zip(words, labels, scores)):
            assert ent["entity"] == LABELS[lab]
            np.testing.assert_allclose(sc, ent["score"], rtol=1e-5)
            a, b = enc.word_to_chars(w)
            assert (ent["start"], ent["end"]) == (a, b) and ent["word"] == sentence[a:b]
        n_multi += sum(1 for w in range(len(labels)) if len(set(enc.word_to_tokens(w))) > 1)
    assert n_multi > 3


def test_strategies_disagree_somewhere(tok, model):
    """The comparison above must be able to tell the strategies apart."""
    found = set()
    for sentence in SENTENCES:
        enc, logits = _logits(model, tok, sentence)
        res = {s: aggregate_word_predictions(logits.astype(np.float64), enc.word_ids(), s)[0].tolist()
               for s in ("first", "average", "max")}
        found |= {(a, b) for a in res for b in res if a < b and res[a] != res[b]}
    assert len(found) >= 2


@pytest.mark.parametrize("strategy", ["first", "average", "max"])
def test_grouped_entities_match_pipeline(tok, model, strategy):
    pipe = TokenClassificationPipeline(model=model, tokenizer=tok, aggregation_strategy=strategy)
    for sentence in SENTENCES:
        expected = pipe(sentence)
        enc, logits = _logits(model, tok, sentence)
        labels, scores = aggregate_word_predictions(logits.astype(np.float64), enc.word_ids(), strategy)
        spans = [enc.word_to_chars(w) for w in range(len(labels))]
        words = [sentence[a:b] for a, b in spans]
        got = group_entities(words, [LABELS[k] for k in labels], scores=scores)
        assert len(got) == len(expected), sentence
        for g, e in zip(got, expected):
            assert g["entity_group"] == e["entity_group"]
            # the pipeline decodes the group's words with the tokenizer (which glues punctuation on)
            assert g["word"] == " ".join(words[g["start"]:g["end"]])
            assert tok.convert_tokens_to_string(words[g["start"]:g["end"]]) == e["word"]
            assert (spans[g["start"]][0], spans[g["end"] - 1][1]) == (e["start"], e["end"])
            np.testing.assert_allclose(g["score"], e["score"], rtol=1e-5)


# ---------------------------------------------------------------------------- by hand

def test_aggregation_by_hand():
    # 2 classes; word 0 = tokens 1, 2; word 1 = token 3; tokens 0 and 4 special
    p = np.array([[0.5, 0.5], [0.6, 0.4], [0.1, 0.9], [0.3, 0.7], [0.5, 0.5]])
    logits = np.log(p)
    wid = [None, 0, 0, 1, None]
    lab, sc = aggregate_word_predictions(logits, wid, "first")
    assert lab.tolist() == [0, 1] and np.allclose(sc, [0.6, 0.7])
    lab, sc = aggregate_word_predictions(logits, wid, "max")          # token 2 holds the top score 0.9
    assert lab.tolist() == [1, 1] and np.allclose(sc, [0.9, 0.7])
    lab, sc = aggregate_word_predictions(logits, wid, "average")      # mean (0.35, 0.65)
    assert lab.tolist() == [1, 1] and np.allclose(sc, [0.65, 0.7])
    lab, sc = aggregate_word_predictions(np.array([7, 1, 0, 1, 7]), wid, "first")
    assert lab.tolist() == [1, 1] and np.isnan(sc).all()
    lab, sc = aggregate_word_predictions(logits, [None, 0, 0, 2, None], "first", num_words=4)
    assert lab.tolist() == [0, -100, 1, -100] and np.isnan(sc[[1, 3]]).all()


def test_group_entities_by_hand():
    words = ["marie", "curie", "met", "paris", "lyon", "france", "x", "y", "z"]
    labels = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "I-PER", "ORG", "ORG"]
    got = group_entities(words, labels, scores=[0.9, 0.7, 1, 0.5, 0.6, 0.8, 0.4, 0.2, 0.4])
    assert [(g["entity_group"], g["start"], g["end"], g["word"]) for g in got] == [
        ("PER", 0, 2, "marie curie"), ("LOC", 3, 4, "paris"), ("LOC", 4, 6, "lyon france"),
        ("PER", 6, 7, "x"), ("ORG", 7, 9, "y z")]
    assert np.allclose([g["score"] for g in got], [0.8, 0.5, 0.7, 0.4, 0.3])
    # I- after O starts a group; consecutive O are dropped; no scores -> None
    got = group_entities(["a", "b", "c"], ["O", "I-PER", "I-PER"])
    assert got == [dict(entity_group="PER", start=1, end=3, word="b c", score=None)]
    assert group_entities([], []) == []


def test_bad_input():
    with pytest.raises(IndexRangeError, match="word_ids"):
        align_labels_with_tokens([0, 1], [None, 0, 2, None])
    with pytest.raises(ConfigError, match=r"word_ids\[1\]"):
        align_labels_with_tokens([0, 1], [None, "a"])
    with pytest.raises(ShapeError, match="word_labels"):
        align_labels_with_tokens([[0, 1]], [None, 0])
    with pytest.raises(IndexRangeError, match="word_labels"):
        align_labels_with_tokens([0, 9], [0, 1, 1], label_all_tokens=True, label_names=LABELS)
    logits = np.zeros((4, 3))
    with pytest.raises(ConfigError, match="strategy"):
        aggregate_word_predictions(logits, [None, 0, 1, None], "simple")
    with pytest.raises(ConfigError, match="strategy"):
        aggregate_word_predictions(np.zeros(4, dtype=np.int64), [None, 0, 1, None], "max")
    with pytest.raises(ShapeError, match="word_ids"):
        aggregate_word_predictions(logits, [None, 0, 1], "first")
    with pytest.raises(DTypeError, match="token_predictions"):
        aggregate_word_predictions(logits.astype(np.complex128), [None, 0, 1, None], "first")
    with pytest.raises(ConfigError, match="token_predictions"):
        aggregate_word_predictions(np.full((4, 3), np.nan), [None, 0, 1, None], "first")
    with pytest.raises(IndexRangeError, match="num_words"):
        aggregate_word_predictions(logits, [None, 0, 1, None], "first", num_words=1)
    with pytest.raises(ShapeError, match="labels"):
        group_entities(["a", "b"], ["O"])
    with pytest.raises(ConfigError, match=r"labels\[0\]"):
        group_entities(["a"], [3])
