"""GPT-2 and its heads against transformers (tiny random config, same weights): outputs, loss, all gradients,
the key/value cache, the PITFALLS.md GPT-2 traps, bad input.

float64 at the default tight tolerance, float32 at the float32 table. Batches are left-padded (the
generation layout: pad query rows see nothing, position_ids from the mask) or right-padded.
transformers' causal-LM loss runs in float32 even for a float64 model (HF_TINY_MODELS.md), so float64
tests give the transformers model a float64 loss with the same shift and mean.
"""
import numpy as np
import pytest

pytestmark = [pytest.mark.torch, pytest.mark.transformers]
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from transformers.cache_utils import DynamicCache  # noqa: E402

from refimpl.core.errors import ConfigError, DTypeError, IndexRangeError, ShapeError, StateDictError  # noqa: E402
from refimpl.core.grad_mode import no_grad  # noqa: E402
from refimpl.models.gpt2 import modeling as M  # noqa: E402
from refimpl.models.gpt2.config import GPT2Config  # noqa: E402
from refimpl.testing import assert_close, compare, gradcheck_model  # noqa: E402
from tests.models.hf_parity import (assert_loads_into_transformers, build_pair, compare_param_grads,  # noqa: E402
                                    embeds_of, hf_state, numpy_dropout, padded_batch, randomize_, run_parity)
from tests.models.hf_parity import labels_for as _labels_for  # noqa: E402

V, E, H, I, P, N, B, L = 40, 24, 3, 37, 16, 2, 3, 7
LENGTHS = (7, 5, 3)
PAD = 0
BASE = dict(vocab_size=V, n_embd=E, n_layer=N, n_head=H, n_inner=I, n_positions=P, bos_token_id=1, eos_token_id=1,
            pad_token_id=PAD)
DTYPES = [np.float64, np.float32]

# name -> (refimpl class, transformers class name, config overrides, label kind)
HEADS = {
    "base": (M.GPT2Model, "GPT2Model", {}, None),
    "lm": (M.GPT2LMHeadModel, "GPT2LMHeadModel", {}, "lm"),
    "seqcls_single": (M.GPT2ForSequenceClassification, "GPT2ForSequenceClassification", {"num_labels": 3}, "single"),
    "seqcls_regression": (M.GPT2ForSequenceClassification, "GPT2ForSequenceClassification", {"num_labels": 1},
                          "regression"),
    "seqcls_multi": (M.GPT2ForSequenceClassification, "GPT2ForSequenceClassification", {"num_labels": 3}, "multi"),
    "token_cls": (M.GPT2ForTokenClassification, "GPT2ForTokenClassification", {"num_labels": 4}, "token"),
    "qa": (M.GPT2ForQuestionAnswering, "GPT2ForQuestionAnswering", {}, "qa"),
}


# ------------------------------------------------------------------------------------------- helpers
def hf_float64_causal_lm_loss(logits, labels, vocab_size, **kwargs):
    """transformers' ForCausalLMLoss (shift by one, -100 ignored, mean) without its float32 upcast."""
    shifted = torch.nn.functional.pad(labels, (0, 1), value=-100)[..., 1:]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, vocab_size), shifted.reshape(-1), ignore_index=-100)


def hf_config(attn="sdpa", **overrides):
    return transformers.GPT2Config(**{**BASE, **overrides}, attn_implementation=attn)


def build(ref_cls, hf_name, overrides=None, dtype=np.float64, attn="sdpa", seed=0):
    """(refimpl model, transformers model), same random weights, both in `dtype` and eval mode."""
    overrides = dict(overrides or {})
    hf = getattr(transformers, hf_name)(hf_config(attn, **overrides))
    ref, hf = build_pair(ref_cls, hf, GPT2Config(**{**BASE, **overrides}), dtype, torch=torch, seed=seed)
    if np.dtype(dtype) == np.float64 and hf_name == "GPT2LMHeadModel":
        hf.loss_function = hf_float64_causal_lm_loss
    return ref, hf


def left_padded(lengths=LENGTHS, seq_len=L, seed=0):
    """input_ids with LEADING padding (id PAD), attention_mask, and position_ids = cumsum(mask) - 1 with pad
    positions set to 1, as transformers' generate builds them."""
    r = np.random.default_rng(seed)
    ids = r.integers(2, V, (len(lengths), seq_len))
    mask = np.zeros((len(lengths), seq_len), np.int64)
    for i, n in enumerate(lengths):
        mask[i, seq_len - n:] = 1
    ids[mask == 0] = PAD
    pos = np.where(mask == 1, mask.cumsum(1) - 1, 1)
    return dict(input_ids=ids, attention_mask=mask, position_ids=pos)


def right_padded(lengths=LENGTHS, seq_len=L, seed=0):
    return padded_batch(V, seq_len, lengths, seed, pairs=False)


def batch(padding):
    return left_padded() if padding == "left" else right_padded()


def labels_for(kind, inputs, dtype):
    if kind == "lm":                                            # labels = input_ids, pads ignored
        return dict(labels=np.where(inputs["attention_mask"] == 1, inputs["input_ids"], -100))
    return _labels_for(kind, inputs, dtype, V, num_labels=4 if kind == "token" else 3)


def t(x):
    return torch.from_numpy(np.ascontiguousarray(x))


def to_dynamic_cache(past):
    return DynamicCache(ddp_cache_data=[(t(k), t(v)) for k, v in past])


def from_dynamic_cache(cache):
    return tuple((layer.keys.detach().numpy(), layer.values.detach().numpy()) for layer in cache.layers)


# ------------------------------------------------------------------------------------------- parity per head
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("source,padding", [("input_ids", "left"), ("input_ids", "right"), ("inputs_embeds", "left")])
@pytest.mark.parametrize("head", list(HEADS))
def test_head_parity(head, source, padding, dtype):
    ref_cls, hf_name, overrides, kind = HEADS[head]
    ref, hf = build(ref_cls, hf_name, overrides, dtype)
    inputs = batch(padding)
    if kind is not None:
        inputs.update(labels_for(kind, inputs, dtype))
    if source == "inputs_embeds":
        inputs["inputs_embeds"] = embeds_of(hf, inputs.pop("input_ids"), dtype)
    if head == "qa":
        fields, cot = ("loss", "start_logits", "end_logits", "hidden_states"), ()
    elif head == "base":
        fields, cot = ("last_hidden_state", "hidden_states"), ("last_hidden_state", "hidden_states")
    else:                                    # a cotangent on every logit too: pad rows and unlabelled positions
        fields, cot = ("loss", "logits", "hidden_states"), ("logits",)
    run_parity(ref, hf, inputs, dtype=dtype, torch=torch, fields=fields, cotangent_fields=cot,
               extra_kwargs=dict(output_hidden_states=True)).assert_ok()


CONFIG_VARIANTS = {
    "inverse_layer_idx": dict(scale_attn_by_inverse_layer_idx=True, n_layer=3),
    "unscaled": dict(scale_attn_weights=False),
    "eps": dict(layer_norm_epsilon=1e-2),
    "n_inner_default": dict(n_inner=None),
    "exact_gelu": dict(activation_function="gelu"),
    "untied": dict(tie_word_embeddings=False),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("variant", list(CONFIG_VARIANTS))
def test_config_variants_lm_parity(variant, dtype):
    ref, hf = build(M.GPT2LMHeadModel, "GPT2LMHeadModel", CONFIG_VARIANTS[variant], dtype)
    inputs = left_padded()
    inputs.update(labels_for("lm", inputs, dtype))
    run_parity(ref, hf, inputs, dtype=dtype, torch=torch, fields=("loss", "logits"),
               cotangent_fields=("logits",)).assert_ok()
    if variant == "untied":
        assert ref.lm_head.weight is not ref.transformer.wte.weight


def test_scale_attn_by_inverse_layer_idx_matters():
    """The flag changes the logits beyond tolerance, so the parity test above can detect its omission."""
    over = CONFIG_VARIANTS["inverse_layer_idx"]
    ref, hf = build(M.GPT2LMHeadModel, "GPT2LMHeadModel", over, np.float64)
    plain = M.GPT2LMHeadModel(GPT2Config(**{**BASE, **over, "scale_attn_by_inverse_layer_idx": False})).eval()
    plain.load_state_dict(hf_state(hf))
    inputs = left_padded()
    c = compare(plain(**inputs).logits, ref(**inputs).logits, dtype=np.float64)
    assert not c.ok and c.max_abs > 1e-3, c.describe()


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_reorder_and_upcast_attn(dtype):
    """Same math, different rounding: float64 vs transformers' sdpa (which ignores the flag), float32 vs its
    eager upcast path (which rejects float64 outright)."""
    attn = "sdpa" if dtype == np.float64 else "eager"
    ref, hf = build(M.GPT2LMHeadModel, "GPT2LMHeadModel", dict(reorder_and_upcast_attn=True), dtype, attn=attn)
    inputs = right_padded()                                 # no pad query rows: eager and sdpa agree there
    inputs.update(labels_for("lm", inputs, dtype))
    run_parity(ref, hf, inputs, dtype=dtype, torch=torch, fields=("loss", "logits"),
               cotangent_fields=("logits",)).assert_ok()


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_token_type_ids_use_the_word_embeddings(dtype):
    ref, hf = build(M.GPT2LMHeadModel, "GPT2LMHeadModel", {}, dtype)
    inputs = left_padded()
    inputs["token_type_ids"] = np.random.default_rng(3).integers(0, V, inputs["input_ids"].shape)
    inputs.update(labels_for("lm", inputs, dtype))
    run_parity(ref, hf, inputs, dtype=dtype, torch=torch, fields=("loss", "logits")).assert_ok()


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_base_model_attentions_with_eager_attention(dtype):
    """transformers' eager attention returns the probabilities: cotangents on every output, attentions included."""
    ref, hf = build(M.GPT2Model, "GPT2Model", {}, dtype, attn="eager")
    inputs = right_padded()
    inputs["inputs_embeds"] = embeds_of(hf, inputs.pop("input_ids"), dtype)
    fields = ("last_hidden_state", "hidden_states", "attentions")
    run_parity(ref, hf, inputs, dtype=dtype, torch=torch, fields=fields, cotangent_fields=fields,
               extra_kwargs=dict(output_hidden_states=True, output_attentions=True)).assert_ok()


def test_eager_attention_differs_only_on_pad_query_rows():
    """Left padding: a pad query sees no key. sdpa (and refimpl) give 0 there, eager a uniform row; real
    tokens never attend to pads, so only pad positions differ."""
    ref, hf = build(M.GPT2Model, "GPT2Model", {}, np.float64, attn="eager")
    inputs = left_padded()
    out = ref(**inputs).last_hidden_state
    hf_out = hf(**{k: t(v) for k, v in inputs.items()}).last_hidden_state.detach().numpy()
    real = inputs["attention_mask"] == 1
    assert_close(out[real], hf_out[real])
    assert np.abs(out[~real] - hf_out[~real]).max() > 1e-3


def test_train_mode_replays_transformers_dropout(monkeypatch):
    """Every dropout (embeddings, attention probabilities (eager), residuals, MLP, classifier) with the masks
    transformers draws through a patched F.dropout from a generator of the same seed, in the same order."""
    over = dict(resid_pdrop=0.2, embd_pdrop=0.15, attn_pdrop=0.3, classifier_dropout=0.25, num_labels=4)
    ref, hf = build(M.GPT2ForTokenClassification, "GPT2ForTokenClassification", over, np.float64, attn="eager")
    ref.train()
    hf.train()
    inputs = right_padded()                                 # no pad query rows (eager makes them uniform)
    inputs.update(labels_for("token", inputs, np.float64))
    monkeypatch.setattr(torch.nn.functional, "dropout", numpy_dropout(torch, np.random.default_rng(7)))
    run_parity(ref, hf, inputs, dtype=np.float64, torch=torch, fields=("loss", "logits", "attentions"),
               extra_kwargs=dict(output_attentions=True), ref_kwargs=dict(rng=np.random.default_rng(7))).assert_ok()


def test_gradcheck_against_finite_differences():
    ref, _ = build(M.GPT2LMHeadModel, "GPT2LMHeadModel", {}, np.float64)
    inputs = left_padded()
    inputs.update(labels_for("lm", inputs, np.float64))
    inputs["inputs_embeds"] = np.random.default_rng(3).standard_normal((B, L, E))
    del inputs["input_ids"]
    gradcheck_model(ref, inputs)


def test_logits_to_keep_matches_transformers():
    ref, hf = build(M.GPT2LMHeadModel, "GPT2LMHeadModel", {}, np.float64)
    inputs = left_padded()
    run_parity(ref, hf, inputs, dtype=np.float64, torch=torch, fields=("logits",), cotangent_fields=("logits",),
               extra_kwargs=dict(logits_to_keep=2)).assert_ok()


# ------------------------------------------------------------------------------------------- sequence classification
def test_sequence_classification_reads_the_last_non_pad_token_like_transformers():
    """An all-pad row (-> position 0), a pad id inside the real tokens (only the rightmost counts), right and
    left padding in one batch."""
    ref, hf = build(M.GPT2ForSequenceClassification, "GPT2ForSequenceClassification", {"num_labels": 3},
                    np.float64)
    ids = np.random.default_rng(4).integers(2, V, (4, L))
    mask = np.ones((4, L), np.int64)
    ids[0, 5:], mask[0, 5:] = PAD, 0                       # right padding
    ids[1, :3], mask[1, :3] = PAD, 0                       # left padding
    ids[2, 2] = PAD                                        # a pad id among real tokens
    ids[3], mask[3] = PAD, 0                               # all padding
    inputs = dict(input_ids=ids, attention_mask=mask, labels=np.array([0, 1, 2, 1]))
    assert M.last_non_pad_index(ids, 4, L, PAD).tolist() == [4, L - 1, L - 1, 0]
    run_parity(ref, hf, inputs, dtype=np.float64, torch=torch, fields=("loss", "logits")).assert_ok()


def test_sequence_classification_without_pad_token_id():
    """No pad_token_id: the last position, one row only (a batch > 1 is transformers' ValueError)."""
    over = {"num_labels": 3, "pad_token_id": None}
    ref = M.GPT2ForSequenceClassification(GPT2Config(**{**BASE, **over})).eval()
    hf = randomize_(transformers.GPT2ForSequenceClassification(hf_config(**over)), torch).eval()
    ref.load_state_dict(hf_state(hf))
    ids = np.random.default_rng(4).integers(0, V, (1, L))
    run_parity(ref, hf, dict(input_ids=ids, labels=np.array([2])), dtype=np.float64, torch=torch,
               fields=("loss", "logits")).assert_ok()
    with pytest.raises(ValueError, match="padding token"):
        hf(input_ids=t(np.repeat(ids, 2, 0)))
    with pytest.raises(ConfigError, match="pad_token_id"):
        ref(input_ids=np.repeat(ids, 2, 0))


# ------------------------------------------------------------------------------------------- KV cache
CHUNKINGS = {"one_at_a_time": (1,) * L, "chunks": (3, 2, 1, 1), "prompt_then_steps": (4, 1, 1, 1)}


def _incremental(model, inputs, chunks, **kw):
    """Run `inputs` chunk by chunk with the cache; returns (logits (B, L, V), final cache)."""
    ids, mask, pos = inputs["input_ids"], inputs["attention_mask"], inputs["position_ids"]
    past, logits, start = None, [], 0
    for n in chunks:
        out = model(input_ids=ids[:, start:start + n], attention_mask=mask[:, :start + n],
                    position_ids=pos[:, start:start + n], past_key_values=past, use_cache=True, **kw)
        logits.append(out.logits)
        past, start = out.past_key_values, start + n
    return np.concatenate(logits, axis=1), past


@pytest.mark.parametrize("chunking", list(CHUNKINGS))
@pytest.mark.parametrize("padding", ["left", "right"])
def test_incremental_forward_equals_full_recomputation(chunking, padding):
    ref, _ = build(M.GPT2LMHeadModel, "GPT2LMHeadModel", CONFIG_VARIANTS["inverse_layer_idx"], np.float64)
    inputs = left_padded() if padding == "left" else right_padded()
    if padding == "right":
        inputs["position_ids"] = np.broadcast_to(np.arange(L), (B, L))
    full = ref(**inputs, use_cache=True)
    logits, past = _incremental(ref, inputs, CHUNKINGS[chunking])
    assert_close(logits, full.logits, rtol=0, atol=1e-12)
    assert len(past) == 3
    for (k, v), (fk, fv) in zip(past, full.past_key_values):
        assert k.shape == (B, H, L, E // H)
        assert_close(k, fk, rtol=0, atol=1e-12)
        assert_close(v, fv, rtol=0, atol=1e-12)


def test_default_positions_continue_after_the_cache():
    """position_ids=None with a cache means L_past + arange(L_new), as in transformers."""
    ref, _ = build(M.GPT2LMHeadModel, "GPT2LMHeadModel", {}, np.float64)
    ids = left_padded()["input_ids"]
    full = ref(input_ids=ids).logits
    past = ref(input_ids=ids[:, :4]).past_key_values
    assert_close(ref(input_ids=ids[:, 4:], past_key_values=past).logits, full[:, 4:], rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_cache_matches_transformers_dynamic_cache(dtype):
    """Prompt, then two chunks: refimpl's cache equals transformers' DynamicCache, and refimpl's cache fed to
    transformers (converted) gives refimpl's logits; parameter gradients of the step equal too."""
    ref, hf = build(M.GPT2LMHeadModel, "GPT2LMHeadModel", CONFIG_VARIANTS["inverse_layer_idx"], dtype)
    inputs = left_padded()
    ids, mask, pos = inputs["input_ids"], inputs["attention_mask"], inputs["position_ids"]
    out = ref(input_ids=ids[:, :4], attention_mask=mask[:, :4], position_ids=pos[:, :4], use_cache=True)
    hf_out = hf(input_ids=t(ids[:, :4]), attention_mask=t(mask[:, :4]), position_ids=t(pos[:, :4]), use_cache=True)
    assert_close(out.logits, hf_out.logits.detach().numpy(), dtype=dtype)
    for (k, v), (hk, hv) in zip(out.past_key_values, from_dynamic_cache(hf_out.cache)):
        assert_close(k, hk, dtype=dtype)
        assert_close(v, hv, dtype=dtype)
    past = out.past_key_values
    for start, stop in ((4, 6), (6, 7)):
        step = dict(input_ids=ids[:, start:stop], attention_mask=mask[:, :stop], position_ids=pos[:, start:stop])
        ref.zero_grad()
        hf.zero_grad(set_to_none=True)
        out = ref(**step, past_key_values=past, use_cache=True)
        hf_out = hf(**{k: t(v) for k, v in step.items()}, cache=to_dynamic_cache(past), use_cache=True)
        assert_close(out.logits, hf_out.logits.detach().numpy(), dtype=dtype)
        for (k, v), (hk, hv) in zip(out.past_key_values, from_dynamic_cache(hf_out.cache)):
            assert_close(k, hk, dtype=dtype)
            assert_close(v, hv, dtype=dtype)
        g = np.random.default_rng(start).standard_normal(out.logits.shape).astype(dtype)
        ref.backward(logits=g)
        (hf_out.logits * t(g)).sum().backward()
        for row in compare_param_grads(ref, hf, dtype):
            assert row.ok, row.describe()
        past = out.past_key_values


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_attentions_and_their_gradient_with_a_cache(dtype):
    """A cached step with output_attentions (eager transformers): probabilities (B, H, L_new, L_past + L_new),
    and parameter gradients from cotangents on logits and attentions (the cached keys get none)."""
    ref, hf = build(M.GPT2LMHeadModel, "GPT2LMHeadModel", CONFIG_VARIANTS["inverse_layer_idx"], dtype, attn="eager")
    inputs = right_padded()                                 # no pad query rows (eager makes them uniform)
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    with no_grad():
        past = ref(input_ids=ids[:, :4], attention_mask=mask[:, :4]).past_key_values
    step = dict(input_ids=ids[:, 4:], attention_mask=mask)
    out = ref(**step, past_key_values=past, output_attentions=True)
    hf_out = hf(**{k: t(v) for k, v in step.items()}, cache=to_dynamic_cache(past), output_attentions=True)
    assert out.attentions[0].shape == (B, H, 3, L)
    assert_close(out.logits, hf_out.logits.detach().numpy(), dtype=dtype)
    rng = np.random.default_rng(0)
    d_logits = rng.standard_normal(out.logits.shape).astype(dtype)
    d_att = tuple(rng.standard_normal(a.shape).astype(dtype) for a in out.attentions)
    for a, ha in zip(out.attentions, hf_out.attentions):
        assert_close(a, ha.detach().numpy(), dtype=dtype)
    ref.backward(logits=d_logits, attentions=d_att)
    (sum((ha * t(g)).sum() for ha, g in zip(hf_out.attentions, d_att)) + (hf_out.logits * t(d_logits)).sum()).backward()
    for row in compare_param_grads(ref, hf, dtype):
        assert row.ok, row.describe()


def test_gradcheck_with_a_cache():
    """The cache is a constant: finite differences over the parameters and inputs_embeds of the new chunk."""
    ref, _ = build(M.GPT2LMHeadModel, "GPT2LMHeadModel", {}, np.float64)
    inputs = left_padded()
    past = ref(input_ids=inputs["input_ids"][:, :4], attention_mask=inputs["attention_mask"][:, :4],
               position_ids=inputs["position_ids"][:, :4]).past_key_values
    step = dict(inputs_embeds=np.random.default_rng(3).standard_normal((B, 3, E)),
                attention_mask=inputs["attention_mask"], position_ids=inputs["position_ids"][:, 4:],
                past_key_values=past, labels=inputs["input_ids"][:, 4:])
    gradcheck_model(ref, step)


def test_no_grad_saves_nothing_and_cache_inputs_are_not_modified():
    ref, _ = build(M.GPT2LMHeadModel, "GPT2LMHeadModel", {}, np.float64)
    inputs = left_padded()
    with no_grad():
        logits, past = _incremental(ref, inputs, CHUNKINGS["chunks"])
    assert all(m._saved == [] for m in ref.modules())
    assert ref._output_records == [] and ref.transformer._output_records == []
    before = [(k.copy(), v.copy()) for k, v in past]
    ref(input_ids=inputs["input_ids"][:, :1], past_key_values=past, use_cache=True,
        attention_mask=np.ones((B, L + 1), np.int64))
    ref.backward(logits=np.ones((B, 1, V)))
    for (k, v), (k0, v0) in zip(past, before):
        assert np.array_equal(k, k0) and np.array_equal(v, v0)


def test_use_cache_flag_and_cache_alias():
    ref, _ = build(M.GPT2LMHeadModel, "GPT2LMHeadModel", {}, np.float64)
    ids = left_padded()["input_ids"]
    assert ref(input_ids=ids).past_key_values is not None                 # config.use_cache=True
    assert ref(input_ids=ids, use_cache=False).past_key_values is None
    out = ref(input_ids=ids[:, :4])
    assert out.cache is out.past_key_values and list(out.keys()) == ["logits", "past_key_values"]
    a = ref(input_ids=ids[:, 4:], cache=out.past_key_values).logits
    b = ref(input_ids=ids[:, 4:], past_key_values=out.past_key_values).logits
    assert np.array_equal(a, b)
    with pytest.raises(ConfigError, match="past_key_values"):
        ref(input_ids=ids[:, 4:], cache=out.past_key_values, past_key_values=out.past_key_values)
    ref.clear_saved()


def test_gradient_for_the_cache_is_refused():
    ref, _ = build(M.GPT2LMHeadModel, "GPT2LMHeadModel", {}, np.float64)
    out = ref(input_ids=left_padded()["input_ids"])
    d_past = tuple((np.zeros_like(k), np.zeros_like(v)) for k, v in out.past_key_values)
    with pytest.raises(ConfigError, match="past_key_values"):
        ref.backward(past_key_values=d_past)


# ------------------------------------------------------------------------------------------- PITFALLS.md 3.x
def test_gelu_new_is_the_default_and_a_swapped_gelu_is_detected():
    ref, hf = build(M.GPT2LMHeadModel, "GPT2LMHeadModel", {}, np.float64)
    assert GPT2Config().activation_function == "gelu_new"
    inputs = left_padded()
    hf_logits = hf(**{k: t(v) for k, v in inputs.items()}).logits.detach().numpy()
    assert_close(ref(**inputs).logits, hf_logits)
    wrong = M.GPT2LMHeadModel(GPT2Config(**BASE, activation_function="gelu")).eval()
    wrong.load_state_dict(hf_state(hf))
    c = compare(wrong(**inputs).logits, hf_logits, dtype=np.float64)
    assert not c.ok and c.max_abs > 1e-5, c.describe()


def test_conv1d_weights_keep_the_checkpoint_layout():
    """(in, out) as stored; a Linear-layout (transposed) checkpoint is refused, key by key (PITFALLS 3.1)."""
    ref, hf = build(M.GPT2Model, "GPT2Model", {}, np.float64)
    assert ref.h[0].attn.c_attn.weight.shape == (E, 3 * E) and ref.h[0].mlp.c_fc.weight.shape == (E, I)
    state = {k: (v.T if k.endswith(("c_attn.weight", "c_fc.weight", "mlp.c_proj.weight")) else v)
             for k, v in hf_state(hf).items()}
    with pytest.raises(StateDictError, match=r"h\.0\.attn\.c_attn\.weight.*\n.*h\.0\.mlp\.c_fc\.weight"):
        ref.load_state_dict(state)


def test_causal_mask_is_a_replacement_no_leak_with_huge_negative_scores():
    """Scores of future keys far below -1e4 (old HF's additive masked_bias): they must still have no influence."""
    ref, hf = build(M.GPT2LMHeadModel, "GPT2LMHeadModel", {}, np.float64)
    with torch.no_grad():
        for blk in hf.transformer.h:
            blk.attn.c_attn.weight[:, :E] *= 3e4          # query projection: huge scores of both signs
            blk.attn.c_attn.bias[:E] *= 3e4
    ref.load_state_dict(hf_state(hf))
    ids = left_padded(lengths=(L,) * B)["input_ids"]
    blk = ref.transformer.h[0]
    with no_grad():                                        # layer 0's raw scores, per head
        x = blk.ln_1(ref.transformer.wte(ids) + ref.transformer.wpe(np.arange(L)))
        q, k, _ = (blk.attn.heads._split(a) for a in np.split(blk.attn.c_attn(x), 3, axis=-1))
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(E // H)  # (B, H, L, L)
    assert scores[..., np.triu(np.ones((L, L), bool), 1)].min() < -1e4   # an additive -1e4 mask could leak
    changed = ids.copy()
    changed[:, 4:] = (changed[:, 4:] + 7) % V
    a, b = ref(input_ids=ids).logits, ref(input_ids=changed).logits
    assert np.array_equal(a[:, :4], b[:, :4])              # bit-identical prefix
    assert_close(a, hf(input_ids=t(ids)).logits.detach().numpy())


def test_left_padding_needs_position_ids():
    """A left-padded batch with position_ids = cumsum(mask) - 1 gives each row's unpadded logits (PITFALLS 3.4);
    the default positions (0..L-1) do not."""
    ref, _ = build(M.GPT2LMHeadModel, "GPT2LMHeadModel", {}, np.float64)
    inputs = left_padded()
    padded = ref(**inputs).logits
    no_pos = ref(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits
    for i, n in enumerate(LENGTHS):
        alone = ref(input_ids=inputs["input_ids"][i:i + 1, L - n:]).logits[0]
        assert_close(padded[i, L - n:], alone, rtol=0, atol=1e-12)
        if n < L:
            assert np.abs(no_pos[i, L - n:] - alone).max() > 1e-3


# ------------------------------------------------------------------------------------------- checkpoints
def test_checkpoint_roundtrip_through_save_pretrained(tmp_path):
    hf = randomize_(transformers.GPT2LMHeadModel(hf_config()), torch).eval()
    hf.loss_function = hf_float64_causal_lm_loss
    hf.save_pretrained(tmp_path / "hf")
    ref = M.GPT2LMHeadModel.from_pretrained(tmp_path / "hf")
    assert not ref.training and ref.lm_head.weight is ref.transformer.wte.weight
    inputs = left_padded()
    inputs.update(labels_for("lm", inputs, np.float64))
    run_parity(ref, hf, inputs, dtype=np.float64, torch=torch, fields=("loss", "logits")).assert_ok()
    assert_loads_into_transformers(ref, hf, tmp_path / "ref")


def test_old_checkpoint_mask_buffers_are_ignored():
    """Checkpoints such as openai-community/gpt2 carry h.{i}.attn.bias (and masked_bias) mask buffers."""
    ref, hf = build(M.GPT2Model, "GPT2Model", {}, np.float64)
    state = hf_state(hf)
    for i in range(N):
        state[f"h.{i}.attn.bias"] = np.tril(np.ones((P, P)))[None, None]
        state[f"h.{i}.attn.masked_bias"] = np.array(-1e4)
    ref.load_state_dict(state)


# ------------------------------------------------------------------------------------------- bad inputs
@pytest.fixture(scope="module")
def small():
    return M.GPT2LMHeadModel(GPT2Config(**BASE)).eval()


def test_sequence_longer_than_n_positions(small):
    with pytest.raises(ShapeError, match="input_ids.*n_positions=16"):
        small(input_ids=np.ones((1, P + 1), np.int64))
    past = small(input_ids=np.ones((1, 10), np.int64)).past_key_values
    with pytest.raises(ShapeError, match="input_ids.*10 cached"):
        small(input_ids=np.ones((1, 7), np.int64), past_key_values=past)
    with pytest.raises(ShapeError, match="inputs_embeds.*n_positions"):
        small(inputs_embeds=np.zeros((1, P + 1, E)))
    with pytest.raises(IndexRangeError, match="position_ids"):
        small(input_ids=np.ones((1, 3), np.int64), position_ids=np.array([[0, 1, P]]))


def test_empty_prompt(small):
    with pytest.raises(ShapeError, match="input_ids"):
        small(input_ids=np.zeros((2, 0), np.int64))
    with pytest.raises(ShapeError, match="inputs_embeds"):
        small(inputs_embeds=np.zeros((2, 0, E)))


def test_past_key_values_with_wrong_structure_or_shapes(small):
    small.clear_saved()
    ids = left_padded()["input_ids"]
    with no_grad():
        past = small(input_ids=ids[:, :4]).past_key_values
    new = ids[:, 4:]
    bad = {
        "layers": (past[:1], ShapeError, r"past_key_values: expected 2 layers"),
        "pair": ((past[0], past[1][:1]), ShapeError, r"past_key_values\[1\]"),
        "batch": (tuple((k[:2], v[:2]) for k, v in past), ShapeError, r"past_key_values\[0\]\[0\] \(key\).*batch=3"),
        "heads": (tuple((k[:, :2], v[:, :2]) for k, v in past), ShapeError, r"n_head=3"),
        "head_dim": (tuple((k[..., :5], v[..., :5]) for k, v in past), ShapeError, r"head_dim=8"),
        "k_v_length": (tuple((k, v[:, :, :3]) for k, v in past), ShapeError, r"\(value\).*L_past=4"),
        "rank": (tuple((k[0], v[0]) for k, v in past), ShapeError, r"past_key_values\[0\]\[0\]"),
        "dtype": (tuple((k.astype(np.float32), v.astype(np.float32)) for k, v in past), DTypeError,
                  r"past_key_values\[0\]\[0\]"),
        "not_a_tuple": (to_dynamic_cache(past), DTypeError, r"past_key_values: expected a tuple"),
    }
    for name, (p, err, pattern) in bad.items():
        with pytest.raises(err, match=pattern):
            small(input_ids=new, past_key_values=p)
    assert all(m._saved == [] for m in small.modules())     # every check runs before any forward work


def test_attention_mask_must_cover_past_and_new(small):
    ids = left_padded()["input_ids"]
    past = small(input_ids=ids[:, :4]).past_key_values
    with pytest.raises(ShapeError, match=r"attention_mask.*\(3, 7\).*4 cached and 3 new"):
        small(input_ids=ids[:, 4:], past_key_values=past, attention_mask=np.ones((B, 3), np.int64))
    with pytest.raises(ShapeError, match="attention_mask"):
        small(input_ids=ids, attention_mask=np.ones((B, L + 1), np.int64))
    with pytest.raises(ConfigError, match="attention_mask"):
        small(input_ids=ids, attention_mask=np.full((B, L), 2))
    small.clear_saved()


def test_other_bad_inputs(small):
    ids = left_padded()["input_ids"]
    bad_ids = ids.copy()
    bad_ids[0, 0] = V
    with pytest.raises(IndexRangeError, match="input_ids"):
        small(input_ids=bad_ids)
    with pytest.raises(IndexRangeError, match="token_type_ids"):
        small(input_ids=ids, token_type_ids=np.full(ids.shape, V))
    with pytest.raises(ShapeError, match="labels"):
        small(input_ids=ids, labels=ids[:, 1:])
    with pytest.raises(IndexRangeError, match="labels"):
        small(input_ids=ids, labels=np.full(ids.shape, V))
    with pytest.raises(ConfigError, match="logits_to_keep"):
        small(input_ids=ids, labels=ids, logits_to_keep=2)
    with pytest.raises(DTypeError, match="inputs_embeds"):
        small(inputs_embeds=np.zeros((B, L, E), np.float32))
    with pytest.raises(ConfigError, match="input_ids"):
        small()
    small.clear_saved()


def test_train_mode_needs_rng():
    model = M.GPT2LMHeadModel(GPT2Config(**BASE))             # fresh models train, as in transformers
    with pytest.raises(ConfigError, match="rng"):
        model(input_ids=left_padded()["input_ids"])


def test_config_checks_and_aliases():
    cfg = GPT2Config(**BASE)
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.max_position_embeddings) == \
        (E, N, H, P)
    assert GPT2Config(n_embd=16, n_head=2).inner_dim == 64
    d = hf_config(summary_activation="tanh").to_dict()
    assert GPT2Config.from_dict(d).summary_activation == "tanh"
    with pytest.raises(ConfigError, match="n_head"):
        GPT2Config(**{**BASE, "n_head": 5})
    with pytest.raises(ConfigError, match="add_cross_attention"):
        GPT2Config(**BASE, add_cross_attention=True)
    with pytest.raises(ConfigError, match="activation_function"):
        GPT2Config(**BASE, activation_function="mish")
    with pytest.raises(ConfigError, match="attn_pdrop"):
        GPT2Config(**BASE, attn_pdrop=1.5)
