"""Generation on refimpl's own GPT2LMHeadModel (weights saved by transformers, loaded with from_pretrained)
against transformers' generate() on the same weights: ids, per-step scores, beam scores, sampled paths."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
gpt2 = pytest.importorskip("refimpl.models.gpt2")

from refimpl.core.errors import ConfigError, ShapeError  # noqa: E402
from refimpl.generation import generate  # noqa: E402
from refimpl.testing import assert_close  # noqa: E402

from .adapters import hf_generate, tiny_gpt2  # noqa: E402

PROMPTS = np.array([[5, 6, 7, 8, 9], [0, 0, 9, 3, 4], [0, 12, 4, 21, 11]])
MASK = (PROMPTS != 0).astype(np.int64)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    hf = tiny_gpt2(1)
    directory = tmp_path_factory.mktemp("gpt2")
    hf.save_pretrained(directory)
    ours = gpt2.GPT2LMHeadModel.from_pretrained(directory)
    ours32 = gpt2.GPT2LMHeadModel.from_pretrained(directory, dtype=np.float32)
    return hf, ours, ours32


def _parity(hf, ours, rng_seed=None, **kw):
    kw = {"return_dict_in_generate": True, "output_scores": True, "max_new_tokens": 10, **kw}
    rng = (lambda: None) if rng_seed is None else (lambda: np.random.default_rng(rng_seed))
    ref = hf_generate(hf, PROMPTS, MASK, rng=rng(), **kw)
    out = generate(ours, PROMPTS, MASK, rng=rng(), **kw)
    np.testing.assert_array_equal(out.sequences, ref.sequences.numpy())
    assert len(out.scores) == len(ref.scores)
    for a, b in zip(out.scores, ref.scores):
        assert_close(a, b.numpy(), dtype=np.float64)
    if getattr(ref, "sequences_scores", None) is not None:
        assert_close(out.sequences_scores, ref.sequences_scores.numpy(), dtype=np.float64)
        np.testing.assert_array_equal(out.beam_indices, ref.beam_indices.numpy())


@pytest.mark.parametrize("settings", [
    dict(),
    dict(eos_token_id=18),
    dict(eos_token_id=[18, 5], num_beams=3, num_return_sequences=3),
    dict(eos_token_id=18, num_beams=4, length_penalty=2.0, early_stopping="never", num_return_sequences=2),
    dict(eos_token_id=18, num_beams=3, length_penalty=0.5, early_stopping=True),
    dict(no_repeat_ngram_size=2, repetition_penalty=1.3, min_new_tokens=3, eos_token_id=18, num_beams=2),
    dict(use_cache=False, eos_token_id=18, num_beams=3),
    dict(do_sample=True, top_k=8, top_p=0.9, temperature=0.8, num_return_sequences=2, rng_seed=0),
    dict(do_sample=True, num_beams=3, top_k=6, eos_token_id=18, rng_seed=1),
])
def test_refimpl_gpt2_generation_matches_transformers(models, settings):
    hf, ours, _ = models
    _parity(hf, ours, **settings)


def test_refimpl_gpt2_float32_matches_transformers_float32(models):
    """A float32 refimpl model against transformers' float32 model and its float32 generate()."""
    hf, _, ours32 = models
    hf32 = tiny_gpt2(1).float()
    kw = dict(max_new_tokens=8, num_beams=3, eos_token_id=18, return_dict_in_generate=True, output_scores=True)
    ref = hf_generate(hf32, PROMPTS, MASK, float64=False, **kw)
    out = generate(ours32, PROMPTS, MASK, **kw)
    np.testing.assert_array_equal(out.sequences, ref.sequences.numpy())
    assert out.scores[0].dtype == np.float32
    for a, b in zip(out.scores, ref.scores):
        assert_close(a, b.numpy(), dtype=np.float32)


def test_refimpl_gpt2_bad_input(models):
    _, ours, _ = models
    with pytest.raises(ShapeError, match="input_ids.*n_positions"):
        generate(ours, np.arange(1, 34)[None], max_new_tokens=2)
    with pytest.raises(ConfigError, match="max_new_tokens"):
        generate(ours, PROMPTS, MASK, max_new_tokens=30)
    with pytest.raises(ShapeError, match="empty prompt"):
        generate(ours, np.zeros((1, 0), np.int64), max_new_tokens=2)
