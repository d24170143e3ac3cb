"""Each logits processor / warper against transformers' own on random logits (ties and -inf included),
and the chain generate() builds against the chain transformers' generate() builds."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from hypothesis import given, strategies as st  # noqa: E402
from transformers.generation import logits_process as hf_lp  # noqa: E402

from refimpl.core.errors import ConfigError, IndexRangeError  # noqa: E402
from refimpl.generation import logits_process as lp  # noqa: E402
from refimpl.generation.configuration import GenerationConfig  # noqa: E402
from refimpl.generation.logits_process import build_logits_processor  # noqa: E402

DTYPES = [np.float64, np.float32]


@st.composite
def logits_and_ids(draw, max_rows=4, max_vocab=12, max_len=8, id_overflow=2, min_len=1):
    """Scores drawn from a small grid (many ties) plus -inf; ids may exceed the vocabulary by id_overflow."""
    n = draw(st.integers(1, max_rows))
    v = draw(st.integers(2, max_vocab))
    length = draw(st.integers(min_len, max_len))
    grid = st.sampled_from([-3.0, -1.5, -0.5, 0.0, 0.5, 1.0, 2.5, -math.inf])
    free = st.floats(-6, 6, allow_nan=False, width=32)
    values = draw(st.lists(st.one_of(grid, free), min_size=n * v, max_size=n * v))
    scores = np.array(values, dtype=np.float64).reshape(n, v)
    ids = np.array(draw(st.lists(st.integers(0, v - 1 + id_overflow), min_size=n * length, max_size=n * length)),
                   dtype=np.int64).reshape(n, length)
    return ids, scores


def _hf(proc, ids, scores):
    return proc(torch.from_numpy(ids), torch.from_numpy(scores.copy())).numpy()


def _assert_same(mine, ref):
    assert mine.dtype == ref.dtype
    np.testing.assert_array_equal(mine, ref)


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=logits_and_ids(), temperature=st.floats(0.05, 5.0))
def test_temperature(dtype, data, temperature):
    ids, scores = data
    scores = scores.astype(dtype)
    _assert_same(lp.TemperatureLogitsWarper(temperature)(ids, scores),
                 _hf(hf_lp.TemperatureLogitsWarper(temperature), ids, scores))


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=logits_and_ids(), top_k=st.integers(1, 14), keep=st.integers(1, 4))
def test_top_k(dtype, data, top_k, keep):
    ids, scores = data
    scores = scores.astype(dtype)
    _assert_same(lp.TopKLogitsWarper(top_k, min_tokens_to_keep=keep)(ids, scores),
                 _hf(hf_lp.TopKLogitsWarper(top_k, min_tokens_to_keep=keep), ids, scores))


def _assert_top_p_same(mine, ref, scores, top_p, dtype):
    """Equal, except where torch's unstable sort split a group of EQUAL scores at the boundary differently:
    there the number kept per tied group must agree; and rows whose cumulative mass sits within rounding
    of 1 - top_p are a near-tie the test reports as undecidable (skipped)."""
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for r in range(scores.shape[0]):
        s = np.sort(scores[r].astype(np.float64))
        with np.errstate(invalid="ignore"):
            p = np.exp(s - s.max()) / np.exp(s - s.max()).sum()
        if np.any(np.abs(np.cumsum(p) - (1 - top_p)) < tol):
            continue                                                     # boundary near-tie: undecidable
        for value in np.unique(scores[r]):
            group = scores[r] == value
            assert np.sum(np.isneginf(mine[r][group])) == np.sum(np.isneginf(ref[r][group])), (r, value)
            if group.sum() == 1:
                assert mine[r][group][0] == ref[r][group][0] or (np.isnan(mine[r][group][0])
                                                                 and np.isnan(ref[r][group][0]))


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=logits_and_ids(), top_p=st.floats(0.0, 1.0), keep=st.integers(1, 3))
def test_top_p(dtype, data, top_p, keep):
    ids, scores = data
    scores = scores.astype(dtype)
    mine = lp.TopPLogitsWarper(top_p, min_tokens_to_keep=keep)(ids, scores)
    ref = _hf(hf_lp.TopPLogitsWarper(top_p, min_tokens_to_keep=keep), ids, scores)
    assert mine.dtype == ref.dtype
    _assert_top_p_same(mine, ref, scores, top_p, dtype)


def test_top_p_keeps_the_token_that_crosses_the_threshold():
    # PITFALLS 4.4: probabilities [0.5, 0.3, 0.15, 0.05] with top_p 0.6 keep 2 tokens
    scores = np.log(np.array([[0.5, 0.3, 0.15, 0.05]]))
    out = lp.TopPLogitsWarper(0.6)(np.zeros((1, 1), np.int64), scores)
    assert np.isfinite(out[0]).tolist() == [True, True, False, False]


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=logits_and_ids(), penalty=st.sampled_from([0.5, 1.0, 1.3, 2.0]), ignore=st.integers(0, 3),
       per_row=st.booleans())
def test_repetition_penalty(dtype, data, penalty, ignore, per_row):
    ids, scores = data
    scores = scores.astype(dtype)
    if per_row:  # generate() passes each row's left-padding length
        ignore = np.arange(ids.shape[0]) % (ids.shape[1] + 1)
        hf_ignore = torch.from_numpy(ignore)
    else:
        hf_ignore = ignore
    _assert_same(lp.RepetitionPenaltyLogitsProcessor(penalty, prompt_ignore_length=ignore)(ids, scores),
                 _hf(hf_lp.RepetitionPenaltyLogitsProcessor(penalty, prompt_ignore_length=hf_ignore), ids, scores))


def test_repetition_penalty_sign_rule():
    # PITFALLS 4.5: a repeated token with a negative logit must go DOWN (multiplied), a positive one divided
    out = lp.RepetitionPenaltyLogitsProcessor(2.0)(np.array([[0, 1]]), np.array([[-1.0, 4.0, 3.0]]))
    np.testing.assert_array_equal(out, [[-2.0, 2.0, 3.0]])


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=logits_and_ids(max_vocab=5, max_len=12), n=st.integers(1, 4))
def test_no_repeat_ngram(dtype, data, n):
    ids, scores = data
    scores = scores.astype(dtype)
    _assert_same(lp.NoRepeatNGramLogitsProcessor(n)(ids, scores),
                 _hf(hf_lp.NoRepeatNGramLogitsProcessor(n), ids, scores))


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=logits_and_ids(), min_length=st.integers(0, 10), eos=st.sampled_from([0, 1, [0, 3], [1, 20]]))
def test_min_length(dtype, data, min_length, eos):
    ids, scores = data
    scores = scores.astype(dtype)
    _assert_same(lp.MinLengthLogitsProcessor(min_length, eos)(ids, scores),
                 _hf(hf_lp.MinLengthLogitsProcessor(min_length, eos), ids, scores))


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=logits_and_ids(), skip=st.integers(0, 6), min_new=st.integers(0, 6), eos=st.sampled_from([1, [0, 2]]))
def test_min_new_tokens(dtype, data, skip, min_new, eos):
    ids, scores = data
    scores = scores.astype(dtype)
    _assert_same(lp.MinNewTokensLengthLogitsProcessor(skip, min_new, eos)(ids, scores),
                 _hf(hf_lp.MinNewTokensLengthLogitsProcessor(skip, min_new, eos), ids, scores))


bad_words = st.lists(st.lists(st.integers(0, 4), min_size=1, max_size=3), min_size=1, max_size=4)


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=logits_and_ids(max_vocab=5, id_overflow=0, min_len=0), bad=bad_words,
       eos=st.sampled_from([None, 1, [1, 2]]))
def test_no_bad_words(dtype, data, bad, eos):
    ids, scores = data
    scores = np.concatenate([scores, scores[:, ::-1], scores], axis=1).astype(dtype)   # vocab >= 6: bad ids valid
    _assert_same(lp.NoBadWordsLogitsProcessor(bad, eos)(ids, scores),
                 _hf(hf_lp.NoBadWordsLogitsProcessor(bad, eos), ids, scores))


@given(data=logits_and_ids(max_vocab=5, id_overflow=0), seqs=bad_words,
       biases=st.lists(st.sampled_from([-2.0, -0.5, 0.25, 1.5, 3.0]), min_size=4, max_size=4))
def test_sequence_bias(data, seqs, biases):
    ids, scores = data
    scores = np.concatenate([scores, scores[:, ::-1], scores], axis=1)
    bias = [[s, b] for s, b in zip(seqs, biases)]    # float32-exact biases (transformers stores them as float32)
    _assert_same(lp.SequenceBiasLogitsProcessor(bias)(ids, scores),
                 _hf(hf_lp.SequenceBiasLogitsProcessor(bias), ids, scores))


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=logits_and_ids(max_len=3), bos=st.integers(0, 1), max_length=st.integers(1, 5),
       eos=st.sampled_from([0, [0, 1]]))
def test_forced_bos_eos(dtype, data, bos, max_length, eos):
    ids, scores = data
    scores = scores.astype(dtype)
    _assert_same(lp.ForcedBOSTokenLogitsProcessor(bos)(ids, scores),
                 _hf(hf_lp.ForcedBOSTokenLogitsProcessor(bos), ids, scores))
    _assert_same(lp.ForcedEOSTokenLogitsProcessor(max_length, eos)(ids, scores),
                 _hf(hf_lp.ForcedEOSTokenLogitsProcessor(max_length, eos), ids, scores))


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=logits_and_ids(max_len=4), tokens=st.lists(st.integers(0, 14), max_size=5), begin=st.integers(1, 4))
def test_suppress_tokens(dtype, data, tokens, begin):
    ids, scores = data
    scores = scores.astype(dtype)
    _assert_same(lp.SuppressTokensLogitsProcessor(tokens)(ids, scores),
                 _hf(hf_lp.SuppressTokensLogitsProcessor(tokens), ids, scores))
    _assert_same(lp.SuppressTokensAtBeginLogitsProcessor(tokens, begin)(ids, scores),
                 _hf(hf_lp.SuppressTokensAtBeginLogitsProcessor(tokens, begin), ids, scores))


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=logits_and_ids())
def test_inf_nan_remove_and_normalization(dtype, data):
    ids, scores = data
    scores = scores.astype(dtype)
    scores[0, 0] = np.nan
    scores[-1, -1] = np.inf
    _assert_same(lp.InfNanRemoveLogitsProcessor()(ids, scores), _hf(hf_lp.InfNanRemoveLogitsProcessor(), ids, scores))
    finite = np.nan_to_num(scores, nan=0.0, posinf=3.0)
    mine = lp.LogitNormalization()(ids, finite)
    ref = _hf(hf_lp.LogitNormalization(), ids, finite)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(mine, ref, rtol=tol, atol=tol)


def test_processors_do_not_modify_their_input():
    ids = np.array([[1, 2, 1, 2]])
    scores = np.array([[0.5, -1.0, 2.0, 0.0]])
    keep = scores.copy()
    for proc in (lp.RepetitionPenaltyLogitsProcessor(1.5), lp.NoRepeatNGramLogitsProcessor(2),
                 lp.TopKLogitsWarper(2), lp.TopPLogitsWarper(0.5), lp.MinLengthLogitsProcessor(9, 1),
                 lp.NoBadWordsLogitsProcessor([[2, 1]]), lp.SuppressTokensLogitsProcessor([0]),
                 lp.ForcedEOSTokenLogitsProcessor(5, 1), lp.TemperatureLogitsWarper(0.5)):
        proc(ids, scores)
        np.testing.assert_array_equal(scores, keep, err_msg=type(proc).__name__)


@pytest.mark.parametrize("make, match", [
    (lambda: lp.TemperatureLogitsWarper(0.0), "temperature"),
    (lambda: lp.TemperatureLogitsWarper(-1.0), "temperature"),
    (lambda: lp.TopKLogitsWarper(0), "top_k"),
    (lambda: lp.TopKLogitsWarper(3, min_tokens_to_keep=0), "min_tokens_to_keep"),
    (lambda: lp.TopPLogitsWarper(1.5), "top_p"),
    (lambda: lp.RepetitionPenaltyLogitsProcessor(0.0), "penalty"),
    (lambda: lp.NoRepeatNGramLogitsProcessor(0), "ngram_size"),
    (lambda: lp.MinLengthLogitsProcessor(-1, 2), "min_length"),
    (lambda: lp.NoBadWordsLogitsProcessor([]), "bad_words_ids"),
    (lambda: lp.NoBadWordsLogitsProcessor([[1, -2]]), "bad_words_ids"),
    (lambda: lp.SequenceBiasLogitsProcessor({(): 1.0}), "sequence_bias"),
])
def test_bad_processor_arguments(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_bad_word_outside_vocabulary():
    with pytest.raises(IndexRangeError, match="bad_words_ids"):
        lp.NoBadWordsLogitsProcessor([[7]])(np.zeros((1, 2), np.int64), np.zeros((1, 5)))


# ------------------------------------------------------------------------------------------ the chain
CHAIN_SETTINGS = [
    dict(do_sample=True, temperature=0.7, top_k=5, top_p=0.8, repetition_penalty=1.3),
    dict(do_sample=True, top_k=0, top_p=0.9),                                   # top_k 0 disables top-k
    dict(do_sample=True),                                                       # the default top_k=50 applies
    dict(do_sample=True, num_beams=3, top_k=1, top_p=0.01, eos_token_id=[2, 3]),  # beams keep >= n_eos + 1
    dict(no_repeat_ngram_size=2, bad_words_ids=[[4], [5, 6]], min_new_tokens=3, min_length=2,
         repetition_penalty=0.8, forced_eos_token_id=2, suppress_tokens=[7], begin_suppress_tokens=[8],
         renormalize_logits=True, remove_invalid_values=True, sequence_bias={(9,): 1.5}),
    dict(forced_bos_token_id=1, begin_suppress_tokens=[3], max_length=9),
]


@pytest.mark.parametrize("settings_", CHAIN_SETTINGS)
@pytest.mark.parametrize("prompt_len", [1, 4])
def test_chain_matches_transformers(settings_, prompt_len):
    from transformers import GenerationConfig as HFGenerationConfig

    from .adapters import tiny_gpt2
    hf_model = tiny_gpt2(0)
    vocab = hf_model.config.vocab_size
    settings_ = dict(settings_)
    settings_.setdefault("eos_token_id", 2)
    settings_.setdefault("max_length", 12)
    rng = np.random.default_rng(prompt_len)
    ids = rng.integers(0, vocab, size=(3, prompt_len + 2))
    mask = np.ones_like(ids)
    mask[0, :2] = 0                                          # row 0 is left-padded
    # transformers' chain, built by its generate() helpers
    hf_cfg, _ = hf_model._prepare_generation_config(HFGenerationConfig(**settings_))
    hf_model._prepare_special_tokens(hf_cfg, True, device="cpu")
    hf_chain = hf_model._get_logits_processor(hf_cfg, input_ids_seq_length=prompt_len,
                                              encoder_input_ids=torch.from_numpy(ids[:, :prompt_len]),
                                              logits_processor=hf_lp.LogitsProcessorList(), device="cpu",
                                              model_kwargs={"attention_mask": torch.from_numpy(mask)})
    cfg = GenerationConfig(**settings_).fill_defaults(GenerationConfig.from_model_config(hf_model.config))
    eos = settings_["eos_token_id"]
    chain = build_logits_processor(cfg, prompt_len, eos_token_id=[eos] if isinstance(eos, int) else eos,
                                   prompt_ignore_length=np.argmax(mask != 0, axis=1))
    assert [type(p).__name__ for p in chain] == [type(p).__name__ for p in hf_chain]
    for step_len in (prompt_len, prompt_len + 1, prompt_len + 2, 11):
        step_ids = rng.integers(0, vocab, size=(3, step_len))
        scores = rng.normal(size=(3, vocab)) * 3
        scores[:, 10] = scores[:, 11] = -30.0                # a tie (far from any top-p boundary)
        mine = chain(step_ids, scores)
        ref = hf_chain(torch.from_numpy(step_ids), torch.from_numpy(scores.copy())).numpy()
        np.testing.assert_allclose(mine, ref, rtol=1e-13, atol=1e-13)


def test_custom_processor_replaces_builtin_of_same_class():
    cfg = GenerationConfig(repetition_penalty=1.5, no_repeat_ngram_size=2).fill_defaults()
    custom = lp.RepetitionPenaltyLogitsProcessor(3.0)
    other = lambda ids, scores: scores + 1.0  # noqa: E731
    chain = build_logits_processor(cfg, 2, custom=[custom, other])
    assert chain[0] is custom and chain[-1] is other and len(chain) == 3
