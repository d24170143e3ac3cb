"""mask_tokens vs transformers' DataCollatorForLanguageModeling (same Bernoulli/uniform draws, both
directions) and its statistics; build_nsp_pairs' invariants (consecutive / foreign segments, length
budget, label balance); bad input."""
import numpy as np
import pytest

from refimpl.core.errors import ConfigError, DTypeError, IndexRangeError, ShapeError
from refimpl.processing.language_modeling import build_nsp_pairs, mask_tokens, truncate_seq_pair

torch = pytest.importorskip("torch")
tokenizers = pytest.importorskip("tokenizers")
transformers = pytest.importorskip("transformers")
from transformers import DataCollatorForLanguageModeling  # noqa: E402

CORPUS = ["the quick brown fox jumps over the lazy dog", "a stitch in time saves nine",
          "all that glitters is not gold", "where there is smoke there is fire",
          "the early bird catches the worm", "actions speak louder than words"]


@pytest.fixture(scope="module")
def tok(make_bert_tokenizer):
    """A BERT tokenizer on a WordPiece vocabulary made here (no download)."""
    return make_bert_tokenizer(CORPUS)


def _pad(seqs, pad_id):
    n = max(len(s) for s in seqs)
    return np.array([list(s) + [pad_id] * (n - len(s)) for s in seqs], dtype=np.int64)


def _texts(k=12):
    rng = np.random.default_rng(3)
    words = " ".join(CORPUS).split()
    return [" ".join(rng.choice(words, size=rng.integers(3, 20))) for _ in range(k)]


# ---------------------------------------------------------------------------- HF collator, same draws

PROBS = [(0.8, 0.1), (1.0, 0.0), (0.5, 0.4), (0.0, 1.0), (0.6, 0.0), (0.3, 0.7)]


@pytest.mark.parametrize("with_mask", [True, False], ids=["special_mask", "ids_only"])
@pytest.mark.parametrize("m,r", PROBS)
def test_matches_hf_collator_on_recorded_draws(tok, monkeypatch, m, r, with_mask):
    """Record the collator's torch.bernoulli / torch.randint outputs and feed them to ours."""
    enc = tok(_texts(), return_special_tokens_mask=with_mask)
    if with_mask:
        examples = [{"input_ids": ids, "special_tokens_mask": sm}
                    for ids, sm in zip(enc["input_ids"], enc["special_tokens_mask"])]
    else:
        examples = [list(ids) for ids in enc["input_ids"]]
    bern, rand = [], []
    real_bernoulli, real_randint = torch.bernoulli, torch.randint

    def rec_bernoulli(*a, **k):
        out = real_bernoulli(*a, **k)
        bern.append(out.bool().numpy().copy())
        return out

    def rec_randint(*a, **k):
        out = real_randint(*a, **k)
        rand.append(out.numpy().copy())
        return out

    monkeypatch.setattr(torch, "bernoulli", rec_bernoulli)
    monkeypatch.setattr(torch, "randint", rec_randint)
    coll = DataCollatorForLanguageModeling(tok, mlm_probability=0.5, mask_replace_prob=m, random_replace_prob=r,
                                           seed=7, return_tensors="pt")
    batch = coll(examples)
    monkeypatch.undo()
    assert len(bern) == (2 if (m == 1.0 or r == 0.0) else 3) and len(rand) == (len(bern) == 3)

    ids = _pad(enc["input_ids"], tok.pad_token_id)
    draws = dict(selection=bern[0], mask_draws=bern[1])
    if len(bern) == 3:
        draws.update(random_draws=bern[2], random_tokens=rand[0])
    out, labels = mask_tokens(ids, rng=None, vocab_size=len(tok), mask_token_id=tok.mask_token_id,
                              special_token_ids=tok.all_special_ids, pad_token_id=tok.pad_token_id,
                              mlm_probability=0.5, mask_replace_prob=m, random_replace_prob=r, **draws)
    np.testing.assert_array_equal(out, batch["input_ids"].numpy())
    np.testing.assert_array_equal(labels, batch["labels"].numpy())
    assert (labels != -100).any()


@pytest.mark.parametrize("m,r", PROBS)
def test_hf_collator_on_our_draws(tok, monkeypatch, m, r):
    """The documented draw order of our rng, replayed into the collator, gives our output."""
    enc = tok(_texts(), return_special_tokens_mask=True)
    ids = _pad(enc["input_ids"], tok.pad_token_id)
    vocab, p, seed = len(tok), 0.4, 11
    out, labels = mask_tokens(ids, rng=np.random.default_rng(seed), vocab_size=vocab, mask_token_id=tok.mask_token_id,
                              special_token_ids=tok.all_special_ids, mlm_probability=p, mask_replace_prob=m,
                              random_replace_prob=r)
    g = np.random.default_rng(seed)
    queue = [g.random(ids.shape) < p, g.random(ids.shape) < m]
    rand_queue = []
    if not (m == 1.0 or r == 0.0):
        queue.append(g.random(ids.shape) < r / (1 - m))
        rand_queue.append(g.integers(0, vocab, ids.shape))

    def fake_bernoulli(prob, *a, **k):
        draw = torch.from_numpy(queue.pop(0)).to(prob.dtype)
        return draw * (prob > 0)                                 # a zero probability never fires

    def fake_randint(*a, **k):
        return torch.from_numpy(rand_queue.pop(0))

    monkeypatch.setattr(torch, "bernoulli", fake_bernoulli)
    monkeypatch.setattr(torch, "randint", fake_randint)
    coll = DataCollatorForLanguageModeling(tok, mlm_probability=p, mask_replace_prob=m, random_replace_prob=r,
                                           return_tensors="pt")
    batch = coll([{"input_ids": a, "special_tokens_mask": s}
                  for a, s in zip(enc["input_ids"], enc["special_tokens_mask"])])
    monkeypatch.undo()
    assert not queue and not rand_queue
    np.testing.assert_array_equal(out, batch["input_ids"].numpy())
    np.testing.assert_array_equal(labels, batch["labels"].numpy())


# ---------------------------------------------------------------------------- statistics

def _within(count, n, p, sigmas=4.0):
    return abs(count - n * p) <= sigmas * np.sqrt(n * p * (1 - p)) + 1e-9


def test_masking_statistics():
    rng = np.random.default_rng(2024)
    V, MASK, PAD, CLS, SEP = 1000, 4, 0, 2, 3
    B, L = 64, 512
    ids = rng.integers(5, V, size=(B, L))
    lengths = rng.integers(L // 2, L + 1, size=B)
    ids[:, 0] = CLS
    for b, n in enumerate(lengths):
        ids[b, n - 1] = SEP
        ids[b, n:] = PAD
    special = np.isin(ids, [PAD, CLS, SEP])
    out, labels = mask_tokens(ids, rng=np.random.default_rng(0), vocab_size=V, mask_token_id=MASK,
                              special_token_ids=[CLS, SEP, MASK], pad_token_id=PAD)
    assert out.dtype == ids.dtype and labels.dtype == np.int64 and out.shape == labels.shape == ids.shape
    selected = labels != -100
    # labels: the original id exactly at selected positions; special tokens and padding never selected
    np.testing.assert_array_equal(labels[selected], ids[selected])
    assert not selected[special].any()
    np.testing.assert_array_equal(out[~selected], ids[~selected])
    n_cand, n_sel = int((~special).sum()), int(selected.sum())
    assert _within(n_sel, n_cand, 0.15)
    # of the selected: [MASK] 0.8 (+ random hits on MASK), kept 0.1 (+ random hits on itself), other 0.1 * (V-2)/V
    o, i = out[selected], ids[selected]
    assert _within(int((o == MASK).sum()), n_sel, 0.8 + 0.1 / V)
    assert _within(int((o == i).sum()), n_sel, 0.1 + 0.1 / V)
    assert _within(int(((o != MASK) & (o != i)).sum()), n_sel, 0.1 * (V - 2) / V)
    # the random replacements are uniform over the vocabulary: their mean and a coarse histogram
    rnd = o[(o != MASK) & (o != i)]
    assert abs(rnd.mean() - (V - 1) / 2) <= 4 * np.sqrt((V ** 2 - 1) / 12 / rnd.size)
    assert rnd.min() >= 0 and rnd.max() < V
    hist = np.bincount(rnd * 4 // V, minlength=4)
    assert all(_within(int(h), rnd.size, 0.25) for h in hist)


def test_special_tokens_mask_argument_and_selection_and():
    ids = np.arange(40).reshape(2, 20) % 17 + 5
    stm = np.zeros_like(ids)
    stm[:, :3] = 1
    sel = np.ones(ids.shape, dtype=bool)                        # ask for everything: specials still excluded
    keep = np.zeros(ids.shape, dtype=bool)
    out, labels = mask_tokens(ids, rng=None, vocab_size=30, mask_token_id=1, special_tokens_mask=stm,
                              special_token_ids=[ids[0, 5]], selection=sel, mask_draws=~keep, random_draws=keep,
                              random_tokens=np.zeros_like(ids))
    excluded = (stm == 1) | (ids == ids[0, 5])
    assert (labels[excluded] == -100).all() and (out[excluded] == ids[excluded]).all()
    assert (out[~excluded] == 1).all() and (labels[~excluded] == ids[~excluded]).all()


def test_same_seed_same_result_and_input_untouched():
    ids = np.random.default_rng(1).integers(0, 50, size=(4, 30))
    before = ids.copy()
    a = mask_tokens(ids, rng=np.random.default_rng(5), vocab_size=50, mask_token_id=3)
    b = mask_tokens(ids, rng=np.random.default_rng(5), vocab_size=50, mask_token_id=3)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(ids, before)


def test_mask_tokens_bad_input():
    ids = np.zeros((2, 4), dtype=np.int64) + 5
    kw = dict(rng=np.random.default_rng(0), vocab_size=10, mask_token_id=3)
    with pytest.raises(DTypeError, match="input_ids"):
        mask_tokens(ids.astype(np.float64), **kw)
    with pytest.raises(IndexRangeError, match="input_ids"):
        mask_tokens(ids + 10, **kw)
    with pytest.raises(IndexRangeError, match="mask_token_id"):
        mask_tokens(ids, rng=kw["rng"], vocab_size=10, mask_token_id=10)
    with pytest.raises(ConfigError, match="mask_replace_prob"):
        mask_tokens(ids, mask_replace_prob=0.9, random_replace_prob=0.2, **kw)
    with pytest.raises(ConfigError, match="mlm_probability"):
        mask_tokens(ids, mlm_probability=1.5, **kw)
    with pytest.raises(ShapeError, match="special_tokens_mask"):
        mask_tokens(ids, special_tokens_mask=np.zeros((2, 5), dtype=bool), **kw)
    with pytest.raises(ShapeError, match="selection"):
        mask_tokens(ids, selection=np.zeros(4, dtype=bool), **kw)
    with pytest.raises(IndexRangeError, match="mask_draws"):
        mask_tokens(ids, mask_draws=np.full(ids.shape, 2), **kw)
    with pytest.raises(IndexRangeError, match="random_tokens"):
        mask_tokens(ids, random_tokens=np.full(ids.shape, 10), **kw)
    with pytest.raises(ConfigError, match="rng"):
        mask_tokens(ids, rng=np.random.RandomState(0), vocab_size=10, mask_token_id=3)
    with pytest.raises(ConfigError, match="rng"):
        mask_tokens(ids, rng=None, vocab_size=10, mask_token_id=3, selection=np.ones(ids.shape, bool))
    with pytest.raises(ConfigError, match="vocab_size"):
        mask_tokens(ids, rng=kw["rng"], vocab_size=0, mask_token_id=3)


# ---------------------------------------------------------------------------- next sentence prediction

def _corpus(seed=0, n_docs=40, max_sents=12, max_len=5, empty_every=7):
    """Token id = doc * 10000 + sentence * 100 + position: every token says where it came from."""
    rng = np.random.default_rng(seed)
    docs = []
    for d in range(n_docs):
        n = 0 if d % empty_every == 3 else int(rng.integers(1, max_sents + 1))
        docs.append([[d * 10000 + s * 100 + k for k in range(int(rng.integers(1, max_len + 1)))]
                     for s in range(n)])
    return docs


def _is_contiguous_sub(part, whole):
    if not part:
        return False
    n = len(part)
    return any(whole[i:i + n] == part for i in range(len(whole) - n + 1))


@pytest.mark.parametrize("max_num_tokens,short_seq_prob,max_len", [(30, 0.1, 5), (12, 0.0, 9), (6, 0.5, 4)])
def test_nsp_pairs_invariants(max_num_tokens, short_seq_prob, max_len):
    docs = _corpus(max_len=max_len)
    pairs = build_nsp_pairs(docs, rng=np.random.default_rng(1), max_num_tokens=max_num_tokens,
                            short_seq_prob=short_seq_prob)
    assert pairs
    truncated = {"front": 0, "back": 0}
    covered = {d: [] for d in range(len(docs))}
    for p in pairs:
        a, b = p.tokens_a, p.tokens_b
        assert 1 <= len(a) and 1 <= len(b) and len(a) + len(b) <= max_num_tokens
        assert p.label == int(p.is_random_next)
        src_a = [t for s in docs[p.doc_index][slice(*p.a_sentences)] for t in s]
        src_b = [t for s in docs[p.b_doc_index][slice(*p.b_sentences)] for t in s]
        assert _is_contiguous_sub(a, src_a) and _is_contiguous_sub(b, src_b)
        assert all(t // 10000 == p.doc_index for t in a)
        if p.is_random_next:
            assert p.b_doc_index != p.doc_index and docs[p.b_doc_index]
            assert all(t // 10000 == p.b_doc_index for t in b)
        else:                                                    # B is what follows A in the same document
            assert p.b_doc_index == p.doc_index and p.b_sentences[0] == p.a_sentences[1]
            assert (max(t % 10000 for t in a) // 100) < (min(t % 10000 for t in b) // 100)
        if len(a) < len(src_a):
            truncated["front" if a[0] != src_a[0] else "back"] += 1
        covered[p.doc_index].append(p.a_sentences)
    # every document's sentences are used as A in order, without overlap (random B gives back the rest)
    for d, spans in covered.items():
        assert all(s1[1] <= s2[0] for s1, s2 in zip(spans, spans[1:]))
    if max_num_tokens == 6:
        assert truncated["front"] > 0 and truncated["back"] > 0  # both ends get cut


def test_nsp_label_balance():
    # sentences shorter than any target (short_seq_prob=0): a chunk has one sentence only when it
    # is a document's last sentence alone, which must be random; every other chunk flips a coin
    docs = _corpus(seed=5, n_docs=300, max_sents=20, max_len=4, empty_every=10 ** 6)
    pairs = build_nsp_pairs(docs, rng=np.random.default_rng(9), max_num_tokens=12, short_seq_prob=0.0,
                            nsp_probability=0.5)
    forced = [p for p in pairs if p.a_sentences[1] == len(docs[p.doc_index])]
    assert all(p.is_random_next for p in forced)
    free = [p for p in pairs if p.a_sentences[1] != len(docs[p.doc_index])]
    n_random = sum(p.is_random_next for p in free)
    assert len(free) > 500 and _within(n_random, len(free), 0.5)
    # nsp_probability = 0: only the forced single-sentence chunks are random
    pairs0 = build_nsp_pairs(docs, rng=np.random.default_rng(9), max_num_tokens=12, short_seq_prob=0.0,
                             nsp_probability=0.0)
    assert all((p.a_sentences[1] == len(docs[p.doc_index])) == p.is_random_next for p in pairs0)


def test_nsp_short_sequences_and_determinism():
    docs = _corpus(seed=2, n_docs=200, max_sents=30, max_len=3)
    a = build_nsp_pairs(docs, rng=np.random.default_rng(4), max_num_tokens=60, short_seq_prob=1.0)
    b = build_nsp_pairs(docs, rng=np.random.default_rng(4), max_num_tokens=60, short_seq_prob=1.0)
    assert a == b
    c = build_nsp_pairs(docs, rng=np.random.default_rng(4), max_num_tokens=60, short_seq_prob=0.0)
    mean_len = lambda ps: np.mean([len(p.tokens_a) + len(p.tokens_b) for p in ps])  # noqa: E731
    assert mean_len(a) < 0.75 * mean_len(c)                       # targets uniform in [2, 60] vs 60


def test_truncate_seq_pair():
    rng = np.random.default_rng(0)
    for la, lb, m in [(10, 3, 8), (3, 10, 8), (5, 5, 6), (2, 2, 4), (7, 1, 2)]:
        a, b = list(range(la)), list(range(100, 100 + lb))
        truncate_seq_pair(a, b, m, rng)
        assert len(a) + len(b) == min(m, la + lb)
        assert _is_contiguous_sub(a, list(range(la))) and _is_contiguous_sub(b, list(range(100, 100 + lb)))
    a, b = [1, 2, 3], [4, 5, 6]
    truncate_seq_pair(a, b, 5, rng)                              # a tie cuts B
    assert len(a) == 3 and len(b) == 2


def test_nsp_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match="documents"):
        build_nsp_pairs([[[1, 2], [3]]], rng=rng, max_num_tokens=10)
    with pytest.raises(ConfigError, match="documents"):
        build_nsp_pairs([[[1, 2], [3]], []], rng=rng, max_num_tokens=10)
    with pytest.raises(ConfigError, match=r"documents\[1\]\[0\]"):
        build_nsp_pairs([[[1]], [[]]], rng=rng, max_num_tokens=10)
    with pytest.raises(ConfigError, match=r"documents\[0\]\[0\]"):
        build_nsp_pairs([[[1.5]], [[2]]], rng=rng, max_num_tokens=10)
    with pytest.raises(ConfigError, match="max_num_tokens"):
        build_nsp_pairs([[[1]], [[2]]], rng=rng, max_num_tokens=1)
    with pytest.raises(ConfigError, match="nsp_probability"):
        build_nsp_pairs([[[1]], [[2]]], rng=rng, max_num_tokens=4, nsp_probability=2.0)
    with pytest.raises(ConfigError, match="rng"):
        build_nsp_pairs([[[1]], [[2]]], rng=0, max_num_tokens=4)
