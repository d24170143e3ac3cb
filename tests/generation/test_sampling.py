"""Sampling: the sampler's empirical distribution equals the processed probabilities (chi-square, fixed seed),
runs are reproducible from a seeded Generator, and with torch.multinomial replaced by the same sampler
transformers' sampling / beam-sampling paths equal refimpl's draw for draw."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
scipy_stats = pytest.importorskip("scipy.stats")

from refimpl.core.errors import ConfigError  # noqa: E402
from refimpl.functional.activation import softmax  # noqa: E402
from refimpl.generation import GenerationConfig, build_logits_processor, generate, multinomial  # noqa: E402
from refimpl.generation.sampling import sample_next_tokens  # noqa: E402
from refimpl.testing import assert_close  # noqa: E402

from .adapters import HFCausalLMAdapter, hf_generate, tiny_gpt2  # noqa: E402

PROMPTS = np.array([[5, 6, 7, 8, 9], [0, 0, 9, 3, 4], [0, 12, 4, 21, 11]])
MASK = (PROMPTS != 0).astype(np.int64)


@pytest.fixture(scope="module")
def gpt2():
    hf = tiny_gpt2(3, std=0.2, pos_std=1.0)
    return hf, HFCausalLMAdapter(hf)


@pytest.mark.parametrize("settings", [
    dict(temperature=0.8, top_k=6, top_p=0.9, repetition_penalty=1.2),
    dict(temperature=1.5, top_k=0, top_p=0.7),
    dict(top_k=3),
])
def test_empirical_distribution_matches_processed_probabilities(settings):
    """Chi-square goodness of fit of 40000 draws against softmax(processed scores), fixed seed; filtered
    tokens (probability 0) are never drawn."""
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(1, 30)) * 2
    ids = np.array([[3, 4, 3]])
    cfg = GenerationConfig(do_sample=True, **settings).fill_defaults()
    processed = build_logits_processor(cfg, 3)(ids, scores)
    probs = softmax(processed)[0]
    draws = multinomial(np.repeat(probs[None], 40000, axis=0), np.random.default_rng(123))[:, 0]
    counts = np.bincount(draws, minlength=30)
    kept = probs > 0
    assert counts[~kept].sum() == 0 and kept.sum() < 30
    _, p_value = scipy_stats.chisquare(counts[kept], 40000 * probs[kept] / probs[kept].sum())
    assert p_value > 1e-3


def test_sampler_is_reproducible_and_rejects_empty_rows():
    probs = softmax(np.random.default_rng(1).normal(size=(4, 9)))
    a = multinomial(probs, np.random.default_rng(7), 3)
    b = multinomial(probs, np.random.default_rng(7), 3)
    np.testing.assert_array_equal(a, b)
    c = multinomial(probs, np.random.default_rng(7), 9, replacement=False)
    assert all(sorted(row) == list(range(9)) for row in c.tolist())          # without replacement: a permutation
    with pytest.raises(ConfigError, match="probs: row 1"):
        multinomial(np.array([[0.5, 0.5], [0.0, 0.0]]), np.random.default_rng(0))
    few = multinomial(np.array([[0.0, 0.5, 0.5, 0.0]]), np.random.default_rng(0), 4, replacement=False)
    assert sorted(few[0, :2]) == [1, 2] and few[0, 2:].tolist() == [0, 3]  # zero-probability ones last
    with pytest.raises(ConfigError, match="probs: row 0"):
        sample_next_tokens(np.full((1, 3), -np.inf), np.random.default_rng(0))
    with pytest.raises(ConfigError, match="rng"):
        multinomial(probs, 7)


def test_sampled_generation_is_reproducible_from_the_seed(gpt2):
    _, adapter = gpt2
    kw = dict(do_sample=True, max_new_tokens=12, top_k=0, num_return_sequences=2, eos_token_id=None)
    a = generate(adapter, PROMPTS, MASK, rng=np.random.default_rng(5), **kw)
    b = generate(adapter, PROMPTS, MASK, rng=np.random.default_rng(5), **kw)
    c = generate(adapter, PROMPTS, MASK, rng=np.random.default_rng(6), **kw)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (6, 17) and not np.array_equal(a, c)


@pytest.mark.parametrize("settings", [
    dict(),                                                                  # default top_k=50 only
    dict(temperature=0.7, top_k=8, top_p=0.85),
    dict(temperature=1.3, top_p=0.6, repetition_penalty=1.4, no_repeat_ngram_size=2, num_return_sequences=3),
    dict(top_k=5, min_new_tokens=4, bad_words_ids=[[7], [9, 30]]),
    dict(num_beams=3, top_k=10, temperature=0.9),                            # beam sampling
    dict(num_beams=3, top_p=0.8, num_return_sequences=2, length_penalty=2.0, early_stopping=True),
])
def test_sampling_paths_match_transformers_draw_for_draw(gpt2, settings):
    """transformers' generate with torch.multinomial replaced by refimpl's sampler on the same seed: the whole
    sampled path (warper chain, eos/pad handling, beam-sample bookkeeping) must be identical."""
    hf, adapter = gpt2
    probe = generate(adapter, PROMPTS, MASK, max_new_tokens=6, eos_token_id=None)
    kw = dict(do_sample=True, max_new_tokens=10, eos_token_id=int(probe[0, 7]), return_dict_in_generate=True,
              output_scores=True, **settings)
    ref = hf_generate(hf, PROMPTS, MASK, rng=np.random.default_rng(11), **kw)
    out = generate(adapter, PROMPTS, MASK, rng=np.random.default_rng(11), **kw)
    np.testing.assert_array_equal(out.sequences, ref.sequences.numpy())
    assert len(out.scores) == len(ref.scores)
    for a, b in zip(out.scores, ref.scores):
        assert_close(a, b.numpy(), dtype=np.float64)
    if "num_beams" in settings:
        assert_close(out.sequences_scores, ref.sequences_scores.numpy(), dtype=np.float64)
        np.testing.assert_array_equal(out.beam_indices, ref.beam_indices.numpy())
