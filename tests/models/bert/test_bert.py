"""BERT and every head against transformers (tiny random config, same weights): outputs, loss, all gradients.

float64 at the default tight tolerance, float32 at the float32 table. Inputs: a padded batch (rows of
different lengths), sentence pairs (token_type_ids), labels with ignored (-100) positions.
"""
import numpy as np
import pytest

pytestmark = [pytest.mark.torch, pytest.mark.transformers]
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from refimpl.core.errors import ConfigError, DTypeError, IndexRangeError, ShapeError  # noqa: E402
from refimpl.models.bert.config import BertConfig  # noqa: E402
from refimpl.models.bert import modeling as M  # noqa: E402
from refimpl.testing import assert_close, compare, gradcheck_model  # noqa: E402
from tests.models.hf_parity import (assert_loads_into_transformers, build_pair, embeds_of, hf_state,  # noqa: E402
                                    numpy_dropout, padded_batch, randomize_, run_parity)
from tests.models.hf_parity import labels_for as _labels_for  # noqa: E402

V, E, H, I, P, B, L = 40, 24, 3, 37, 12, 3, 7
LENGTHS = (7, 5, 3)
BASE = dict(vocab_size=V, hidden_size=E, num_hidden_layers=2, num_attention_heads=H, intermediate_size=I,
            max_position_embeddings=P, type_vocab_size=2, pad_token_id=0)
DTYPES = [np.float64, np.float32]

# name -> (refimpl class, transformers class name, config overrides, label kind)
HEADS = {
    "pretraining": (M.BertForPreTraining, "BertForPreTraining", {}, "pretraining"),
    "masked_lm": (M.BertForMaskedLM, "BertForMaskedLM", {}, "mlm"),
    "nsp": (M.BertForNextSentencePrediction, "BertForNextSentencePrediction", {}, "nsp"),
    "seqcls_regression": (M.BertForSequenceClassification, "BertForSequenceClassification", {"num_labels": 1},
                          "regression"),
    "seqcls_single": (M.BertForSequenceClassification, "BertForSequenceClassification", {"num_labels": 3},
                      "single"),
    "seqcls_multi": (M.BertForSequenceClassification, "BertForSequenceClassification", {"num_labels": 3}, "multi"),
    "token_cls": (M.BertForTokenClassification, "BertForTokenClassification", {"num_labels": 4}, "token"),
    "qa": (M.BertForQuestionAnswering, "BertForQuestionAnswering", {}, "qa"),
}
FIELDS = {"pretraining": ("loss", "prediction_logits", "seq_relationship_logits", "hidden_states"),
          "qa": ("loss", "start_logits", "end_logits", "hidden_states")}


def batch(seed=0, lengths=LENGTHS):
    return padded_batch(V, L, lengths, seed)


def labels_for(kind, inputs, dtype):
    return _labels_for(kind, inputs, dtype, V, num_labels=4 if kind == "token" else 3)


def hf_config(attn="sdpa", **overrides):
    return transformers.BertConfig(**{**BASE, **overrides}, attn_implementation=attn)


def build(ref_cls, hf_name, overrides, dtype, attn="sdpa", seed=0):
    """(refimpl model, transformers model), same random weights, both in `dtype` and eval mode."""
    hf = getattr(transformers, hf_name)(hf_config(attn, **overrides))
    return build_pair(ref_cls, hf, BertConfig(**BASE, **overrides), dtype, torch=torch, seed=seed)


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
    fields = FIELDS.get(head, ("loss", "logits", "hidden_states"))
    report = run_parity(ref, hf, inputs, dtype=dtype, torch=torch, fields=fields,
                        extra_kwargs=dict(output_hidden_states=True))
    report.assert_ok()


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_base_model_every_output_and_attentions(dtype):
    """BertModel with eager attention (which returns the probabilities): cotangents on last_hidden_state,
    pooler_output, every hidden state and every attention map; gradients of the weights and inputs_embeds."""
    ref, hf = build(M.BertModel, "BertModel", {}, dtype, attn="eager")
    inputs = batch()
    inputs["inputs_embeds"] = embeds_of(hf, inputs.pop("input_ids"), dtype)
    fields = ("last_hidden_state", "pooler_output", "hidden_states", "attentions")
    report = run_parity(ref, hf, inputs, dtype=dtype, torch=torch, fields=fields, cotangent_fields=fields,
                        extra_kwargs=dict(output_hidden_states=True, output_attentions=True))
    report.assert_ok()


def test_all_padding_row_is_finite_and_matches_sdpa():
    """A sequence with attention_mask all 0: torch SDPA gives 0 for its fully masked rows; so does refimpl."""
    ref, hf = build(M.BertForTokenClassification, "BertForTokenClassification", {"num_labels": 4}, np.float64)
    inputs = batch(lengths=(7, 0, 3))
    inputs["labels"] = np.where(inputs["attention_mask"] == 1, 1, -100)
    report = run_parity(ref, hf, inputs, dtype=np.float64, torch=torch, fields=("loss", "logits", "hidden_states"),
                        extra_kwargs=dict(output_hidden_states=True))
    report.assert_ok()
    out = ref(**inputs)
    assert np.isfinite(out.logits).all()


def test_pad_token_row_gets_no_gradient():
    ref, hf = build(M.BertForMaskedLM, "BertForMaskedLM", {}, np.float64)
    inputs = batch()
    inputs.update(labels_for("mlm", inputs, np.float64))
    ref(**inputs)
    ref.backward()
    g = ref.bert.embeddings.word_embeddings.weight.grad    # tied: embedding use + decoder use
    hf(**{k: torch.from_numpy(v) for k, v in inputs.items()}).loss.backward()
    assert_close(g, hf.bert.embeddings.word_embeddings.weight.grad.numpy())


# ------------------------------------------------------------------------------------------- checkpoints
def test_checkpoint_roundtrip_through_save_pretrained(tmp_path):
    """transformers save_pretrained (tied weights saved once) -> refimpl from_pretrained, and back."""
    hf = randomize_(transformers.BertForPreTraining(hf_config()), torch).eval()
    hf.save_pretrained(tmp_path / "hf")
    ref = M.BertForPreTraining.from_pretrained(tmp_path / "hf")
    assert not ref.training
    assert ref.cls.predictions.decoder.weight is ref.bert.embeddings.word_embeddings.weight
    assert ref.cls.predictions.decoder.bias is ref.cls.predictions.bias
    inputs = batch()
    inputs.update(labels_for("pretraining", inputs, np.float64))
    run_parity(ref, hf, inputs, dtype=np.float64, torch=torch,
               fields=("loss", "prediction_logits", "seq_relationship_logits")).assert_ok()
    # refimpl's checkpoint loads into transformers with no missing or unexpected keys
    assert_loads_into_transformers(ref, hf, tmp_path / "ref")


def test_base_checkpoint_into_head(tmp_path):
    hf = randomize_(transformers.BertModel(hf_config()), torch).eval()
    hf.save_pretrained(tmp_path)
    ref, info = M.BertForSequenceClassification.from_pretrained(tmp_path, output_loading_info=True)
    assert set(info["newly_initialized_keys"]) == {"classifier.weight", "classifier.bias"}
    out = ref.bert(**batch())
    assert_close(out.last_hidden_state, hf(**{k: torch.from_numpy(v) for k, v in batch().items()})
                 .last_hidden_state.detach().numpy())


def test_untied_config_keeps_decoder_separate():
    ref, hf = build(M.BertForMaskedLM, "BertForMaskedLM", {"tie_word_embeddings": False}, np.float64)
    assert ref.cls.predictions.decoder.weight is not ref.bert.embeddings.word_embeddings.weight
    assert ref.cls.predictions.decoder.bias is not ref.cls.predictions.bias
    inputs = batch()
    inputs.update(labels_for("mlm", inputs, np.float64))
    run_parity(ref, hf, inputs, dtype=np.float64, torch=torch, fields=("loss", "logits")).assert_ok()


# ------------------------------------------------------------------------------------------- activations
def test_gelu_new_matches_and_a_swapped_gelu_is_detected():
    ref, hf = build(M.BertForSequenceClassification, "BertForSequenceClassification",
                    {"hidden_act": "gelu_new", "num_labels": 3}, np.float64)
    inputs = batch()
    inputs.update(labels_for("single", inputs, np.float64))
    run_parity(ref, hf, inputs, dtype=np.float64, torch=torch, fields=("loss", "logits")).assert_ok()
    # the same weights with exact GELU: the test suite must see the difference
    wrong = M.BertForSequenceClassification(BertConfig(**BASE, num_labels=3, hidden_act="gelu"), np.float64).eval()
    wrong.load_state_dict(hf_state(hf))
    hf_logits = hf(**{k: torch.from_numpy(v) for k, v in inputs.items()}).logits.detach().numpy()
    c = compare(wrong(**inputs).logits, hf_logits, dtype=np.float64)
    assert not c.ok and c.max_abs > 1e-5, c.describe()


# ------------------------------------------------------------------------------------------- train mode
def test_train_mode_replays_transformers_dropout(monkeypatch):
    """Dropout everywhere (eager attention so its probability dropout goes through F.dropout): transformers'
    F.dropout is replaced by refimpl's mask draw from a generator of the same seed, in the same order."""
    overrides = dict(hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.3, classifier_dropout=0.25,
                     num_labels=3)
    ref, hf = build(M.BertForSequenceClassification, "BertForSequenceClassification", overrides, np.float64,
                    attn="eager")
    ref.train()
    hf.train()
    inputs = batch()
    inputs.update(labels_for("single", inputs, np.float64))
    monkeypatch.setattr(torch.nn.functional, "dropout", numpy_dropout(torch, np.random.default_rng(7)))
    run_parity(ref, hf, inputs, dtype=np.float64, torch=torch, fields=("loss", "logits", "attentions"),
               extra_kwargs=dict(output_attentions=True),
               ref_kwargs=dict(rng=np.random.default_rng(7))).assert_ok()


def test_gradcheck_against_finite_differences():
    ref, _ = build(M.BertForQuestionAnswering, "BertForQuestionAnswering", {}, np.float64)
    inputs = batch()
    inputs["inputs_embeds"] = np.random.default_rng(3).standard_normal((B, L, E))
    del inputs["input_ids"]
    inputs.update(labels_for("qa", inputs, np.float64))
    gradcheck_model(ref, inputs)


# ------------------------------------------------------------------------------------------- bad inputs
@pytest.fixture(scope="module")
def small():
    return M.BertForMaskedLM(BertConfig(**BASE), np.float64).eval()


def test_ids_out_of_range(small):
    ids = batch()["input_ids"]
    ids[1, 2] = V
    with pytest.raises(IndexRangeError, match="input_ids"):
        small(input_ids=ids)


def test_attention_mask_shape(small):
    with pytest.raises(ShapeError, match="attention_mask"):
        small(input_ids=batch()["input_ids"], attention_mask=np.ones((B, L + 1), np.int64))


def test_attention_mask_values(small):
    with pytest.raises(ConfigError, match="attention_mask"):
        small(input_ids=batch()["input_ids"], attention_mask=np.full((B, L), 2))


def test_sequence_longer_than_max_positions(small):
    with pytest.raises(ShapeError, match="max_position_embeddings"):
        small(input_ids=np.ones((1, P + 1), np.int64))


def test_labels_out_of_range(small):
    labels = np.full((B, L), -100)
    labels[0, 1] = V
    with pytest.raises(IndexRangeError, match="labels"):
        small(input_ids=batch()["input_ids"], labels=labels)


def test_labels_shape(small):
    with pytest.raises(ShapeError, match="labels"):
        small(input_ids=batch()["input_ids"], labels=np.zeros((B, L + 1), np.int64))


def test_ids_and_embeds_both_or_neither(small):
    ids = batch()["input_ids"]
    with pytest.raises(ConfigError, match="inputs_embeds"):
        small(input_ids=ids, inputs_embeds=np.zeros((B, L, E)))
    with pytest.raises(ConfigError, match="input_ids"):
        small()


def test_token_type_ids_out_of_range(small):
    with pytest.raises(IndexRangeError, match="token_type_ids"):
        small(input_ids=batch()["input_ids"], token_type_ids=np.full((B, L), 2))


def test_inputs_embeds_dtype(small):
    with pytest.raises(DTypeError, match="inputs_embeds"):
        small(inputs_embeds=np.zeros((B, L, E), np.float32))


def test_train_mode_needs_rng():
    model = M.BertForMaskedLM(BertConfig(**BASE), np.float64)      # fresh models train, as in transformers
    with pytest.raises(ConfigError, match="rng"):
        model(input_ids=batch()["input_ids"])


def test_sequence_classification_label_kinds():
    model = M.BertForSequenceClassification(BertConfig(**BASE, num_labels=3), np.float64).eval()
    ids = batch()["input_ids"]
    with pytest.raises(IndexRangeError, match="labels"):
        model(input_ids=ids, labels=np.array([0, 3, 1]))
    with pytest.raises(ShapeError, match="labels"):
        model(input_ids=ids, labels=np.zeros((B, 2)))           # float labels -> multi-label (B, 3)


def test_config_checks():
    with pytest.raises(ConfigError, match="position_embedding_type"):
        BertConfig(**BASE, position_embedding_type="relative_key")
    with pytest.raises(ConfigError, match="num_attention_heads"):
        BertConfig(**{**BASE, "num_attention_heads": 5})
    with pytest.raises(ConfigError, match="num_labels"):
        M.BertForQuestionAnswering(BertConfig(**BASE, num_labels=3))
