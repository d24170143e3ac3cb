"""DistilBERT and every head against transformers (tiny random config, same weights): outputs, loss, all gradients.

float64 at the default tight tolerance, float32 at the float32 table; a padded batch (rows of different
lengths), labels with ignored positions, input_ids or inputs_embeds.
"""
import numpy as np
import pytest

pytestmark = [pytest.mark.torch, pytest.mark.transformers]
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from refimpl.core.errors import ConfigError, DTypeError, IndexRangeError, ShapeError  # noqa: E402
from refimpl.models.distilbert import modeling as M  # noqa: E402
from refimpl.models.distilbert.config import DistilBertConfig  # noqa: E402
from refimpl.testing import assert_close, compare, gradcheck_model  # noqa: E402
from tests.models.hf_parity import (assert_loads_into_transformers, build_pair, embeds_of, hf_state,  # noqa: E402
                                    numpy_dropout, padded_batch, randomize_, run_parity)
from tests.models.hf_parity import labels_for as _labels_for  # noqa: E402

V, D, H, FF, P, B, L = 40, 24, 3, 37, 12, 3, 7
BASE = dict(vocab_size=V, dim=D, n_layers=2, n_heads=H, hidden_dim=FF, max_position_embeddings=P, pad_token_id=0)
DTYPES = [np.float64, np.float32]

# name -> (refimpl class, transformers class name, config overrides, label kind)
HEADS = {
    "masked_lm": (M.DistilBertForMaskedLM, "DistilBertForMaskedLM", {}, "mlm"),
    "seqcls_regression": (M.DistilBertForSequenceClassification, "DistilBertForSequenceClassification",
                          {"num_labels": 1}, "regression"),
    "seqcls_single": (M.DistilBertForSequenceClassification, "DistilBertForSequenceClassification",
                      {"num_labels": 3}, "single"),
    "seqcls_multi": (M.DistilBertForSequenceClassification, "DistilBertForSequenceClassification",
                     {"num_labels": 3}, "multi"),
    "token_cls": (M.DistilBertForTokenClassification, "DistilBertForTokenClassification", {"num_labels": 4},
                  "token"),
    "qa": (M.DistilBertForQuestionAnswering, "DistilBertForQuestionAnswering", {}, "qa"),
}


def batch(seed=0, lengths=(7, 5, 3)):
    return padded_batch(V, L, lengths, seed, pairs=False)


def labels_for(kind, inputs, dtype):
    return _labels_for(kind, inputs, dtype, V, num_labels=4 if kind == "token" else 3)


def hf_config(attn="sdpa", **overrides):
    return transformers.DistilBertConfig(**{**BASE, **overrides}, attn_implementation=attn)


def build(ref_cls, hf_name, overrides, dtype, attn="sdpa", seed=0):
    """(refimpl model, transformers model), same random weights, both in `dtype` and eval mode."""
    hf = getattr(transformers, hf_name)(hf_config(attn, **overrides))
    return build_pair(ref_cls, hf, DistilBertConfig(**BASE, **overrides), dtype, torch=torch, seed=seed)


def torch_inputs(inputs):
    return {k: torch.from_numpy(v) for k, v in inputs.items()}


# ------------------------------------------------------------------------------------------- parity per head
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("source", ["input_ids", "inputs_embeds"])
@pytest.mark.parametrize("head", list(HEADS))
def test_head_parity(head, source, dtype):
    ref_cls, hf_name, overrides, kind = HEADS[head]
    ref, hf = build(ref_cls, hf_name, overrides, dtype)
    inputs = batch()
    if source == "inputs_embeds":
        inputs["inputs_embeds"] = embeds_of(hf, inputs.pop("input_ids"), dtype)
    inputs.update(labels_for(kind, inputs, dtype))
    fields = ("loss", "start_logits", "end_logits", "hidden_states") if head == "qa" else \
        ("loss", "logits", "hidden_states")
    run_parity(ref, hf, inputs, dtype=dtype, torch=torch, fields=fields,
               extra_kwargs=dict(output_hidden_states=True)).assert_ok()


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_base_model_every_output_and_attentions(dtype):
    """DistilBertModel with eager attention: cotangents on last_hidden_state, every hidden state and every
    attention map; gradients of every weight and of inputs_embeds."""
    ref, hf = build(M.DistilBertModel, "DistilBertModel", {}, dtype, attn="eager")
    inputs = batch()
    inputs["inputs_embeds"] = embeds_of(hf, inputs.pop("input_ids"), dtype)
    fields = ("last_hidden_state", "hidden_states", "attentions")
    run_parity(ref, hf, inputs, dtype=dtype, torch=torch, fields=fields, cotangent_fields=fields,
               extra_kwargs=dict(output_hidden_states=True, output_attentions=True)).assert_ok()


def test_all_padding_row_is_finite_and_matches_sdpa():
    """PITFALLS 2.1 (NaN for an all-pad sequence) does not occur in transformers 5: SDPA gives 0 there."""
    ref, hf = build(M.DistilBertForSequenceClassification, "DistilBertForSequenceClassification",
                    {"num_labels": 3}, np.float64)
    inputs = batch(lengths=(7, 0, 3))
    inputs.update(labels_for("single", inputs, np.float64))
    run_parity(ref, hf, inputs, dtype=np.float64, torch=torch, fields=("loss", "logits", "hidden_states"),
               extra_kwargs=dict(output_hidden_states=True)).assert_ok()
    assert np.isfinite(ref(**inputs).logits).all()


# ------------------------------------------------------------------------------------------- checkpoints
def test_checkpoint_roundtrip_through_save_pretrained(tmp_path):
    hf = randomize_(transformers.DistilBertForMaskedLM(hf_config()), torch).eval()
    hf.save_pretrained(tmp_path / "hf")
    ref = M.DistilBertForMaskedLM.from_pretrained(tmp_path / "hf")
    assert ref.vocab_projector.weight is ref.distilbert.embeddings.word_embeddings.weight
    inputs = batch()
    inputs.update(labels_for("mlm", inputs, np.float64))
    run_parity(ref, hf, inputs, dtype=np.float64, torch=torch, fields=("loss", "logits")).assert_ok()
    assert_loads_into_transformers(ref, hf, tmp_path / "ref")


def test_sinusoidal_init_matches_transformers():
    """Only the initial table (checkpoints overwrite it); transformers rounds it to float32, and keeps it
    trainable, so refimpl does too."""
    hf = transformers.DistilBertModel(hf_config(sinusoidal_pos_embds=True))
    ref = M.DistilBertModel(DistilBertConfig(**BASE, sinusoidal_pos_embds=True))
    table = ref.embeddings.position_embeddings.weight
    assert table.requires_grad
    assert_close(table.data, hf.embeddings.position_embeddings.weight.detach().double().numpy(),
                 dtype=np.float32)


# ------------------------------------------------------------------------------------------- activations
def test_gelu_new_matches_and_a_swapped_gelu_is_detected():
    ref, hf = build(M.DistilBertForMaskedLM, "DistilBertForMaskedLM", {"activation": "gelu_new"}, np.float64)
    inputs = batch()
    inputs.update(labels_for("mlm", inputs, np.float64))
    run_parity(ref, hf, inputs, dtype=np.float64, torch=torch, fields=("loss", "logits")).assert_ok()
    wrong = M.DistilBertForMaskedLM(DistilBertConfig(**BASE, activation="gelu"), np.float64).eval()
    wrong.load_state_dict(hf_state(hf))
    c = compare(wrong(**inputs).logits, hf(**torch_inputs(inputs)).logits.detach().numpy(), dtype=np.float64)
    assert not c.ok and c.max_abs > 1e-5, c.describe()


# ------------------------------------------------------------------------------------------- train mode
@pytest.mark.parametrize("head", ["seqcls_single", "qa"])
def test_train_mode_replays_transformers_dropout(head, monkeypatch):
    ref_cls, hf_name, overrides, kind = HEADS[head]
    overrides = dict(overrides, dropout=0.2, attention_dropout=0.3, seq_classif_dropout=0.25, qa_dropout=0.15)
    ref, hf = build(ref_cls, hf_name, overrides, np.float64, attn="eager")
    ref.train()
    hf.train()
    inputs = batch()
    inputs.update(labels_for(kind, inputs, np.float64))
    monkeypatch.setattr(torch.nn.functional, "dropout", numpy_dropout(torch, np.random.default_rng(11)))
    run_parity(ref, hf, inputs, dtype=np.float64, torch=torch, fields=("loss", "attentions"),
               extra_kwargs=dict(output_attentions=True), ref_kwargs=dict(rng=np.random.default_rng(11))).assert_ok()


def test_gradcheck_against_finite_differences():
    ref, _ = build(M.DistilBertForSequenceClassification, "DistilBertForSequenceClassification",
                   {"num_labels": 3}, np.float64)
    inputs = batch()
    inputs["inputs_embeds"] = np.random.default_rng(3).standard_normal((B, L, D))
    del inputs["input_ids"]
    inputs.update(labels_for("multi", inputs, np.float64))
    gradcheck_model(ref, inputs)


# ------------------------------------------------------------------------------------------- bad inputs
@pytest.fixture(scope="module")
def small():
    return M.DistilBertForMaskedLM(DistilBertConfig(**BASE), np.float64).eval()


def test_ids_out_of_range(small):
    ids = batch()["input_ids"]
    ids[0, 0] = -1
    with pytest.raises(IndexRangeError, match="input_ids"):
        small(input_ids=ids)


def test_attention_mask_shape(small):
    with pytest.raises(ShapeError, match="attention_mask"):
        small(input_ids=batch()["input_ids"], attention_mask=np.ones((B + 1, L), np.int64))


def test_sequence_longer_than_max_positions(small):
    with pytest.raises(ShapeError, match="max_position_embeddings"):
        small(inputs_embeds=np.zeros((1, P + 1, D)))


def test_position_ids_out_of_range(small):
    with pytest.raises(IndexRangeError, match="position_ids"):
        small(input_ids=batch()["input_ids"], position_ids=np.arange(L)[None] + P - 3)


def test_labels_out_of_range(small):
    labels = np.full((B, L), -100)
    labels[2, 2] = -5
    with pytest.raises(IndexRangeError, match="labels"):
        small(input_ids=batch()["input_ids"], labels=labels)


def test_ids_and_embeds_both(small):
    with pytest.raises(ConfigError, match="inputs_embeds"):
        small(input_ids=batch()["input_ids"], inputs_embeds=np.zeros((B, L, D)))


def test_inputs_embeds_shape_and_dtype(small):
    with pytest.raises(ShapeError, match="inputs_embeds"):
        small(inputs_embeds=np.zeros((B, L, D + 1)))
    with pytest.raises(DTypeError, match="inputs_embeds"):
        small(inputs_embeds=np.zeros((B, L, D), np.float32))


def test_qa_positions_shape():
    model = M.DistilBertForQuestionAnswering(DistilBertConfig(**BASE), np.float64).eval()
    with pytest.raises(ShapeError, match="start_positions"):
        model(input_ids=batch()["input_ids"], start_positions=np.zeros((B, 2), np.int64),
              end_positions=np.zeros(B, np.int64))


def test_config_checks():
    with pytest.raises(ConfigError, match="n_heads"):
        DistilBertConfig(**{**BASE, "n_heads": 5})
    with pytest.raises(ConfigError, match="num_labels"):
        M.DistilBertForQuestionAnswering(DistilBertConfig(**BASE, num_labels=3))
    assert DistilBertConfig(hidden_size=32, num_attention_heads=4).dim == 32      # HF's aliases
