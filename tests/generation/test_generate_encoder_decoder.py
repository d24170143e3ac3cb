"""The same generation code on encoder-decoder models (tiny random BART and T5 from transformers, float64, behind
the numpy adapter) against transformers' generate(): ids, per-step scores, sequences_scores, beam_indices."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from refimpl.core.errors import ConfigError, ShapeError  # noqa: E402
from refimpl.generation import beam_fill_value, generate  # noqa: E402
from refimpl.testing import assert_close  # noqa: E402

from .adapters import HFSeq2SeqAdapter, hf_generate, tiny_bart, tiny_t5  # noqa: E402

ENC = np.array([[5, 6, 7, 8, 9, 10], [9, 3, 4, 11, 12, 13], [12, 4, 21, 11, 14, 15]])
LENGTHS = [6, 4, 5]                                      # rows 1 and 2 are right-padded encoder inputs
_MODELS = {}


def model(family, seed):
    """(hf model, adapter, encoder ids, encoder mask, eos choices) per family and seed."""
    key = (family, seed)
    if key not in _MODELS:
        hf = (tiny_bart if family == "bart" else tiny_t5)(seed)
        pad = hf.config.pad_token_id
        mask = (np.arange(ENC.shape[1])[None, :] < np.array(LENGTHS)[:, None]).astype(np.int64)
        ids = np.where(mask == 1, ENC, pad)
        adapter = HFSeq2SeqAdapter(hf)
        probe = generate(adapter, ids, mask, max_new_tokens=8, eos_token_id=None, forced_eos_token_id=None)[:, 1:]
        values, counts = np.unique(probe[:, :4], return_counts=True)
        frequent = int(values[np.argmax(counts)])
        eos = {"default": hf.config.eos_token_id, "frequent": frequent}
        _MODELS[key] = (hf, adapter, ids, mask, eos)
    return _MODELS[key]


def check_parity(family, seed, eos="default", rng_seed=None, **kw):
    hf, adapter, ids, mask, eos_ids = model(family, seed)
    kw = {"return_dict_in_generate": True, "output_scores": True, "max_new_tokens": 9,
          "eos_token_id": eos_ids[eos], **kw}
    ref = hf_generate(hf, ids, mask, rng=None if rng_seed is None else np.random.default_rng(rng_seed), **kw)
    out = generate(adapter, ids, mask, rng=None if rng_seed is None else np.random.default_rng(rng_seed), **kw)
    np.testing.assert_array_equal(out.sequences, ref.sequences.numpy())
    assert len(out.scores) == len(ref.scores)
    for step, (a, b) in enumerate(zip(out.scores, ref.scores)):
        assert_close(a, b.numpy(), dtype=np.float64, name=f"scores[{step}]")
    if getattr(ref, "sequences_scores", None) is not None:
        assert_close(out.sequences_scores, ref.sequences_scores.numpy(), dtype=np.float64)
        np.testing.assert_array_equal(out.beam_indices, ref.beam_indices.numpy())
    return out


CASES = [
    dict(),
    dict(eos="frequent"),
    dict(num_beams=3, num_return_sequences=2),
    dict(num_beams=4, length_penalty=2.0, early_stopping="never", eos="frequent", num_return_sequences=4),
    dict(num_beams=3, length_penalty=0.5, early_stopping=True, eos="frequent"),
    dict(num_beams=4, eos="frequent", num_return_sequences=3),
    dict(no_repeat_ngram_size=2, repetition_penalty=1.3, num_beams=3),
    dict(min_new_tokens=4, eos="frequent", num_beams=2),
    dict(forced_bos_token_id=3, bad_words_ids=[[5], [6, 7]]),
    dict(forced_eos_token_id=4, num_beams=3),
    dict(use_cache=False, num_beams=3, eos="frequent"),
    dict(do_sample=True, top_k=5, temperature=0.8, rng_seed=3),
    dict(do_sample=True, num_beams=3, top_k=8, temperature=1.2, rng_seed=4, eos="frequent"),
]


@pytest.mark.parametrize("family, seed", [("bart", 0), ("bart", 1), ("t5", 0), ("t5", 1)])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_matches_transformers(family, seed, case):
    check_parity(family, seed, **CASES[case])


def test_decoder_prompt_and_given_encoder_outputs():
    hf, adapter, ids, mask, _ = model("bart", 1)
    start = hf.config.decoder_start_token_id
    prefix = np.array([[start, 7], [start, 8], [start, 9]])
    kw = dict(max_new_tokens=5, return_dict_in_generate=True, output_scores=True)
    ref = hf_generate(hf, ids, mask, decoder_input_ids=torch.from_numpy(prefix), **kw)
    out = generate(adapter, ids, mask, decoder_input_ids=prefix, **kw)
    np.testing.assert_array_equal(out.sequences, ref.sequences.numpy())
    # a prefix without the start token gets it prepended (transformers' rule)
    out2 = generate(adapter, ids, mask, decoder_input_ids=prefix[:, 1:], **kw)
    np.testing.assert_array_equal(out2.sequences, out.sequences)
    # encoder run once outside: the same result from encoder_outputs
    enc = adapter.get_encoder()(input_ids=ids, attention_mask=mask)
    out3 = generate(adapter, None, mask, encoder_outputs=enc, decoder_input_ids=prefix, **kw)
    np.testing.assert_array_equal(out3.sequences, out.sequences)


def test_cache_holds_self_and_cross_attention():
    _, adapter, ids, mask, _ = model("t5", 0)
    adapter.calls.clear()
    out = generate(adapter, ids, mask, max_new_tokens=3, num_beams=2, eos_token_id=None,
                   return_dict_in_generate=True)
    assert adapter.calls == [((6, 1), 0), ((6, 1), 1), ((6, 1), 2)]
    self_k, _, cross_k, _ = out.past_key_values[0]
    assert self_k.shape[:3] == (6, 2, 3) and cross_k.shape[:3] == (6, 2, 6)


def test_beam_fill_value_follows_transformers():
    # `pad_token_id or eos_token_id[0]`: T5's pad id 0 is falsy, so finished T5 beams are filled with eos
    assert beam_fill_value(0, [1]) == 1
    assert beam_fill_value(1, [2]) == 1
    assert beam_fill_value(None, [2, 3]) == 2
    assert beam_fill_value(5, None) == -1


def test_encoder_decoder_bad_input():
    hf, adapter, ids, mask, _ = model("bart", 0)
    with pytest.raises(ShapeError, match="input_ids: encoder input of length 33"):
        generate(adapter, np.full((1, 33), 5), None, max_new_tokens=2)
    with pytest.raises(ConfigError, match="max_new_tokens"):
        generate(adapter, ids, mask, max_new_tokens=40)
    with pytest.raises(ConfigError, match="input_ids"):
        generate(adapter, None, None, max_new_tokens=2)
    with pytest.raises(ShapeError, match="input_ids: empty prompt"):
        generate(adapter, np.zeros((2, 0), np.int64), None, max_new_tokens=2)
    with pytest.raises(ShapeError, match="decoder_input_ids"):
        generate(adapter, ids, mask, decoder_input_ids=np.array([[2, 5]]), max_new_tokens=2)
    hf_t5, t5, t5_ids, t5_mask, _ = model("t5", 0)
    t5.config.decoder_start_token_id = None
    try:
        with pytest.raises(ConfigError, match="decoder_start_token_id"):
            generate(t5, t5_ids, t5_mask, max_new_tokens=2)
    finally:
        t5.config.decoder_start_token_id = 0
