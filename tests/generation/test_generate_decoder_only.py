"""Greedy and beam search on a decoder-only model (tiny random GPT-2 from transformers, float64, behind the numpy
adapter) against transformers' generate(): identical token ids, per-step scores, sequences_scores and
beam_indices, on a left-padded batch, for many settings; plus the bad-input errors."""
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from refimpl.core.errors import ConfigError, DTypeError, IndexRangeError, ShapeError  # noqa: E402
from refimpl.core.grad_mode import is_grad_enabled  # noqa: E402
from refimpl.generation import GenerationConfig, generate  # noqa: E402
from refimpl.testing import assert_close  # noqa: E402

from .adapters import HFCausalLMAdapter, hf_generate, tiny_gpt2  # noqa: E402

PROMPTS = np.array([[5, 6, 7, 8, 9],
                    [0, 0, 9, 3, 4],          # left-padded (pad_token_id = 0)
                    [0, 12, 4, 21, 11]])
MASK = (PROMPTS != 0).astype(np.int64)
_MODELS = {}


def model(seed):
    """(transformers model, adapter, eos choices) for a seed; eos ids picked from an eos-free greedy probe:
    'frequent' (the most common early token: hypotheses end after a few steps) and 'rare'."""
    if seed not in _MODELS:
        hf = tiny_gpt2(seed)
        adapter = HFCausalLMAdapter(hf)
        probe = generate(adapter, PROMPTS, MASK, max_new_tokens=12, eos_token_id=None)[:, 5:]
        values, counts = np.unique(probe[:, 1:6], return_counts=True)
        frequent = int(values[np.argmax(counts)])
        rare = int(next(t for t in probe[0, 5:] if t != frequent))
        eos = {"frequent": frequent, "rare": rare, "list": [rare, frequent], "default": hf.config.eos_token_id}
        _MODELS[seed] = (hf, adapter, eos)
    return _MODELS[seed]


def check_parity(hf, adapter, ids, mask, **kw):
    """Run both; sequences equal, every per-step score / sequences_scores / beam_indices equal (float64)."""
    kw = {"return_dict_in_generate": True, "output_scores": True, **kw}
    ref = hf_generate(hf, ids, mask, **kw)
    out = generate(adapter, ids, mask, **kw)
    np.testing.assert_array_equal(out.sequences, ref.sequences.numpy())
    assert len(out.scores) == len(ref.scores)
    for step, (a, b) in enumerate(zip(out.scores, ref.scores)):
        assert_close(a, b.numpy(), dtype=np.float64, name=f"scores[{step}]")
    if getattr(ref, "sequences_scores", None) is not None:
        assert_close(out.sequences_scores, ref.sequences_scores.numpy(), dtype=np.float64, name="sequences_scores")
        np.testing.assert_array_equal(out.beam_indices, ref.beam_indices.numpy())
    return out, ref


# ------------------------------------------------------------------------------------------ greedy
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("eos", ["frequent", "rare", "list", "default"])
def test_greedy_matches_transformers(seed, eos):
    hf, adapter, eos_ids = model(seed)
    out, _ = check_parity(hf, adapter, PROMPTS, MASK, max_new_tokens=10, eos_token_id=eos_ids[eos])
    if eos == "frequent":   # rows stopped early and were padded: eos handling was exercised
        assert (out.sequences[:, -1] == 0).any()


# ------------------------------------------------------------------------------------------ beam search
BEAM_CASES = [  # seed, eos, num_beams, length_penalty, early_stopping, num_return_sequences
    (1, "frequent", 3, 1.0, False, 1),
    (1, "frequent", 3, 1.0, True, 3),
    (1, "frequent", 3, 1.0, "never", 2),
    (1, "frequent", 4, 2.0, False, 4),
    (1, "frequent", 4, 2.0, True, 1),
    (1, "frequent", 4, 2.0, "never", 4),
    (1, "frequent", 4, 0.5, "never", 2),
    (1, "frequent", 3, 0.0, "never", 3),
    (2, "rare", 3, 0.5, False, 3),
    (2, "rare", 4, 1.0, True, 2),
    (2, "rare", 4, 2.0, "never", 1),
    (2, "rare", 3, -1.0, False, 2),
    (0, "list", 3, 1.0, False, 3),
    (0, "list", 4, 0.5, True, 4),
    (0, "list", 4, 2.0, "never", 4),
    (2, "default", 3, 1.0, False, 2),
]


@pytest.mark.parametrize("seed, eos, num_beams, length_penalty, early_stopping, nrs", BEAM_CASES)
def test_beam_search_matches_transformers(seed, eos, num_beams, length_penalty, early_stopping, nrs):
    hf, adapter, eos_ids = model(seed)
    check_parity(hf, adapter, PROMPTS, MASK, max_new_tokens=10, eos_token_id=eos_ids[eos], num_beams=num_beams,
                 length_penalty=length_penalty, early_stopping=early_stopping, num_return_sequences=nrs)


def test_early_stopping_variants_really_differ():
    """The case above where True / False / 'never' give three different results (PITFALLS 4.2), so the
    parity matrix exercises each stopping rule."""
    hf, adapter, eos_ids = model(1)
    results = {}
    for es in (True, False, "never"):
        out = generate(adapter, PROMPTS, MASK, max_new_tokens=10, eos_token_id=eos_ids["frequent"], num_beams=3,
                       num_return_sequences=3, length_penalty=1.0, early_stopping=es, return_dict_in_generate=True,
                       output_scores=True)
        results[es] = (out.sequences.tolist(), np.round(out.sequences_scores, 9).tolist())
    assert results[True] != results[False] != results["never"] != results[True]


def test_beam_scores_are_length_normalised_log_probs():
    """sequences_scores = sum of the chosen tokens' processed log-probs / generated_length ** length_penalty."""
    hf, adapter, eos_ids = model(1)
    eos = eos_ids["frequent"]
    out = generate(adapter, PROMPTS, MASK, max_new_tokens=8, eos_token_id=eos, num_beams=3, num_return_sequences=3,
                   length_penalty=2.0, return_dict_in_generate=True, output_scores=True)
    steps = np.stack(out.scores)                                       # (T, B*K, V)
    for row in range(out.sequences.shape[0]):
        total, n = 0.0, 0
        for t, src in enumerate(out.beam_indices[row]):
            if src < 0:
                break
            token = out.sequences[row, PROMPTS.shape[1] + t]
            total += steps[t, src, token]
            n += 1
        np.testing.assert_allclose(out.sequences_scores[row], total / n ** 2.0, rtol=1e-12)


# ------------------------------------------------------------------------------------------ processors
def _processor_cases(eos_ids):
    f, r = eos_ids["frequent"], eos_ids["rare"]
    return [
        dict(no_repeat_ngram_size=2),
        dict(repetition_penalty=1.5),
        dict(repetition_penalty=0.7, no_repeat_ngram_size=3),
        dict(min_new_tokens=5, eos_token_id=f),
        dict(min_length=9, eos_token_id=f),
        dict(bad_words_ids=[[f], [r, 3], [7, 26]], eos_token_id=r),
        dict(forced_eos_token_id=r, eos_token_id=r),
        dict(forced_eos_token_id=[r, f], eos_token_id=[r, f]),
        dict(suppress_tokens=[f, 31], begin_suppress_tokens=[r]),
        dict(sequence_bias={(f,): -2.0, (5, r): 1.5}, renormalize_logits=True),
        dict(remove_invalid_values=True, bad_words_ids=[[r]], max_length=12),
    ]


@pytest.mark.parametrize("case", range(11))
@pytest.mark.parametrize("num_beams", [1, 3])
def test_processors_in_generate_match_transformers(case, num_beams):
    hf, adapter, eos_ids = model(1)
    kw = dict(max_new_tokens=8, num_beams=num_beams)
    kw.update(_processor_cases(eos_ids)[case])
    if "max_length" in kw:
        kw.pop("max_new_tokens")
    check_parity(hf, adapter, PROMPTS, MASK, **kw)


@pytest.mark.parametrize("num_beams", [1, 3])
def test_forced_bos_on_one_token_prompts(num_beams):
    hf, adapter, eos_ids = model(0)
    ids = np.array([[5], [9]])
    check_parity(hf, adapter, ids, np.ones_like(ids), max_new_tokens=6, forced_bos_token_id=7, num_beams=num_beams,
                 begin_suppress_tokens=[3], eos_token_id=eos_ids["rare"])


# ------------------------------------------------------------------------------------------ lengths, cache, padding
@pytest.mark.parametrize("num_beams", [1, 3])
def test_max_length_and_default_length(num_beams):
    hf, adapter, _ = model(2)
    check_parity(hf, adapter, PROMPTS, MASK, max_length=9, num_beams=num_beams)
    long = np.tile(PROMPTS, (1, 3))                                    # 15 tokens: 20 new ones would pass 32
    long_mask = (long != 0).astype(np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, _ = check_parity(hf, adapter, long, long_mask, num_beams=num_beams, eos_token_id=None)
    assert out.sequences.shape[1] == 32                                # default 20 + 15, capped at n_positions


def test_max_new_tokens_wins_over_max_length_with_a_warning():
    _, adapter, _ = model(0)
    with pytest.warns(UserWarning, match="max_new_tokens"):
        out = generate(adapter, PROMPTS, MASK, max_new_tokens=3, max_length=20, eos_token_id=None)
    assert out.shape[1] == PROMPTS.shape[1] + 3


@pytest.mark.parametrize("num_beams", [1, 4])
def test_without_cache_same_result(num_beams):
    hf, adapter, eos_ids = model(1)
    kw = dict(max_new_tokens=7, num_beams=num_beams, eos_token_id=eos_ids["rare"], return_dict_in_generate=True,
              output_scores=True)
    cached = generate(adapter, PROMPTS, MASK, **kw)
    uncached, _ = check_parity(hf, adapter, PROMPTS, MASK, use_cache=False, **kw)
    np.testing.assert_array_equal(cached.sequences, uncached.sequences)
    for a, b in zip(cached.scores, uncached.scores):
        assert_close(a, b, dtype=np.float64)


def test_kv_cache_is_used_incrementally():
    _, adapter, _ = model(0)
    adapter.calls.clear()
    generate(adapter, PROMPTS, MASK, max_new_tokens=4, num_beams=2, eos_token_id=None)
    assert adapter.calls[0] == ((6, 5), 0)                             # the prompt once, rows repeated per beam
    assert adapter.calls[1:] == [((6, 1), 5), ((6, 1), 6), ((6, 1), 7)]


def test_left_padded_row_equals_unpadded_run():
    """PITFALLS 3.4: a left-padded prompt continues exactly as the same prompt alone (position_ids from the mask)."""
    _, adapter, eos_ids = model(2)
    kw = dict(max_new_tokens=8, eos_token_id=eos_ids["rare"], return_dict_in_generate=True, output_scores=True)
    batch = generate(adapter, PROMPTS, MASK, **kw)
    alone = generate(adapter, PROMPTS[1:2, 2:], None, **kw)
    np.testing.assert_array_equal(batch.sequences[1, 2:2 + alone.sequences.shape[1]], alone.sequences[0])
    for step, a in enumerate(alone.scores):
        assert_close(a[0], batch.scores[step][1], dtype=np.float64)


def test_attention_mask_inferred_from_pad_tokens():
    _, adapter, eos_ids = model(2)
    explicit = generate(adapter, PROMPTS, MASK, max_new_tokens=5, eos_token_id=eos_ids["rare"])
    inferred = generate(adapter, PROMPTS, max_new_tokens=5, eos_token_id=eos_ids["rare"])
    np.testing.assert_array_equal(explicit, inferred)


def test_float32_transformers_same_ids_and_close_scores():
    """Unpatched transformers processes float32-cast logits; on this model (no near-ties) the ids agree
    with refimpl's float64 run and with compute_dtype=float32, and the scores agree to float32 precision."""
    hf, adapter, eos_ids = model(1)
    kw = dict(max_new_tokens=8, num_beams=3, eos_token_id=eos_ids["frequent"], return_dict_in_generate=True,
              output_scores=True, num_return_sequences=2)
    ref = hf_generate(hf, PROMPTS, MASK, float64=False, **kw)
    for compute_dtype in (None, np.float32):
        out = generate(adapter, PROMPTS, MASK, compute_dtype=compute_dtype, **kw)
        np.testing.assert_array_equal(out.sequences, ref.sequences.numpy())
        assert out.scores[0].dtype == (np.float64 if compute_dtype is None else np.float32)
        for a, b in zip(out.scores, ref.scores):
            assert_close(a.astype(np.float32), b.numpy(), dtype=np.float32)
        assert_close(out.sequences_scores.astype(np.float32), ref.sequences_scores.numpy(), dtype=np.float32)


def test_return_values_without_dict_and_with_logits():
    hf, adapter, _ = model(0)
    ids_only = generate(adapter, PROMPTS, MASK, max_new_tokens=3)
    assert isinstance(ids_only, np.ndarray) and ids_only.dtype == np.int64
    out = generate(adapter, PROMPTS, MASK, max_new_tokens=3, return_dict_in_generate=True, output_logits=True)
    ref = hf_generate(hf, PROMPTS, MASK, max_new_tokens=3, return_dict_in_generate=True, output_logits=True)
    assert out.scores is None and len(out.logits) == 3
    for a, b in zip(out.logits, ref.logits):
        assert_close(a, b.numpy(), dtype=np.float64)
    assert len(out.past_key_values) == 2 and out.past_key_values[0][0].shape == (3, 2, 7, 8)


def test_generation_runs_under_no_grad():
    class Probe:
        config = GenerationConfig()  # no vocab / positions: unchecked

        def __init__(self):
            self.config = type("C", (), {"vocab_size": 4, "is_encoder_decoder": False})()
            self.grad = []

        def __call__(self, input_ids, attention_mask, position_ids, past_key_values, use_cache):
            self.grad.append(is_grad_enabled())
            logits = np.zeros(input_ids.shape + (4,))
            logits[..., 3] = 1.0
            return type("O", (), {"logits": logits, "past_key_values": None})()

    probe = Probe()
    out = generate(probe, np.array([[1, 2]]), max_new_tokens=3)
    np.testing.assert_array_equal(out, [[1, 2, 3, 3, 3]])
    assert probe.grad == [False] * 3 and is_grad_enabled()


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("kwargs, error, match", [
    (dict(input_ids=np.arange(1, 34)[None]), ShapeError, "input_ids.*positions"),
    (dict(max_new_tokens=40), ConfigError, "max_new_tokens"),
    (dict(max_length=4), ConfigError, "max_length"),
    (dict(input_ids=np.zeros((2, 0), np.int64)), ShapeError, "input_ids: empty prompt"),
    (dict(input_ids=np.zeros((0, 3), np.int64)), ShapeError, "input_ids: empty batch"),
    (dict(attention_mask=np.array([[1] * 5, [0] * 5, [1] * 5])), ShapeError, "attention_mask: row 1"),
    (dict(attention_mask=np.ones((3, 4), np.int64)), ShapeError, "attention_mask"),
    (dict(attention_mask=MASK * 2), ConfigError, "attention_mask"),
    (dict(input_ids=PROMPTS[0]), ShapeError, "input_ids"),
    (dict(input_ids=PROMPTS.astype(np.float64)), DTypeError, "input_ids"),
    (dict(input_ids=PROMPTS + 39), IndexRangeError, "input_ids"),
    (dict(input_ids=PROMPTS.tolist()), DTypeError, "input_ids"),
    (dict(num_beams=2, num_return_sequences=3), ConfigError, "num_return_sequences"),
    (dict(num_return_sequences=2), ConfigError, "num_return_sequences"),
    (dict(num_beams=0), ConfigError, "num_beams"),
    (dict(do_sample=True, top_p=1.5), ConfigError, "top_p"),
    (dict(do_sample=True, top_p=0.0), ConfigError, "top_p"),
    (dict(do_sample=True, temperature=0.0), ConfigError, "temperature"),
    (dict(do_sample=True, temperature=-1.0), ConfigError, "temperature"),
    (dict(do_sample=True), ConfigError, "rng"),
    (dict(max_new_tokens=0), ConfigError, "max_new_tokens"),
    (dict(early_stopping="sometimes"), ConfigError, "early_stopping"),
    (dict(repetition_penalty=0.0), ConfigError, "repetition_penalty"),
    (dict(no_repeat_ngram_size=-1), ConfigError, "no_repeat_ngram_size"),
    (dict(eos_token_id=40), IndexRangeError, "eos_token_id"),
    (dict(pad_token_id=-1), ConfigError, "pad_token_id"),
    (dict(bad_words_ids=[[3, 45]]), IndexRangeError, "bad_words_ids"),
    (dict(bad_words_ids=[3, 4]), ConfigError, "bad_words_ids"),
    (dict(forced_eos_token_id=5, suppress_tokens=[5]), ConfigError, "forced_eos_token_id"),
    (dict(typo_setting=3), ConfigError, "typo_setting"),
    (dict(min_p=0.1), ConfigError, "min_p"),
    (dict(compute_dtype=np.int32), DTypeError, "compute_dtype"),
])
def test_bad_input_is_refused_with_a_clear_error(kwargs, error, match):
    _, adapter, _ = model(0)
    kwargs = dict(kwargs)
    ids = kwargs.pop("input_ids", PROMPTS)
    mask = kwargs.pop("attention_mask", MASK if ids is PROMPTS else None)
    kwargs.setdefault("max_new_tokens", 4) if "max_length" not in kwargs else None
    with pytest.raises(error, match=match):
        generate(adapter, ids, mask, **kwargs)


def test_transformers_rejects_the_same_contradictions():
    """The settings refimpl refuses are refused (or would crash) in transformers too."""
    hf, _, _ = model(0)
    for kw in (dict(num_beams=2, num_return_sequences=3), dict(num_return_sequences=2), dict(max_length=4)):
        with pytest.raises(ValueError):
            hf_generate(hf, PROMPTS, MASK, **kw)
    with pytest.raises(IndexError):                                     # positions beyond n_positions
        hf_generate(hf, np.arange(1, 34)[None], None, max_new_tokens=2)


def test_generation_mixin_gives_models_a_generate_method():
    from refimpl.generation import GenerationMixin

    class WithGenerate(HFCausalLMAdapter, GenerationMixin):
        pass

    hf, adapter, eos_ids = model(1)
    mixed = WithGenerate(hf)
    kw = dict(max_new_tokens=5, num_beams=2, eos_token_id=eos_ids["rare"])
    np.testing.assert_array_equal(mixed.generate(PROMPTS, MASK, **kw), generate(adapter, PROMPTS, MASK, **kw))


def test_too_many_beams_for_the_vocabulary():
    class TwoTokens:
        config = type("C", (), {"vocab_size": 2, "is_encoder_decoder": False})()

        def __call__(self, input_ids, attention_mask, position_ids, past_key_values, use_cache):
            return type("O", (), {"logits": np.zeros(input_ids.shape + (2,)), "past_key_values": None})()

    with pytest.raises(ConfigError, match="num_beams"):
        generate(TwoTokens(), np.array([[1]]), num_beams=3, max_new_tokens=2, eos_token_id=[0, 1])
