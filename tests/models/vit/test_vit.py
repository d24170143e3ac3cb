"""ViT against transformers 5.24 (tiny random config, same weights): outputs, loss, the pixel_values gradient
and every parameter gradient, float64 at the default tight tolerance and float32 at the float32 table.

Covered: the classification head with the three problem types, the base model with every output
(pooler, hidden_states, attentions) under random cotangents, interpolate_pos_encoding at other image
sizes (up, down, non-square, non-multiples of the patch), mask_token / bool_masked_pos, attention_mask,
training-mode dropout with the same masks, qkv_bias=False and a non-default pooler, checkpoints written by
transformers, finite differences, and bad inputs.
"""
import numpy as np
import pytest

pytestmark = [pytest.mark.torch, pytest.mark.transformers]
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from transformers.models.vit import modeling_vit  # noqa: E402

from refimpl.core.errors import ConfigError, DTypeError, ShapeError  # noqa: E402
from refimpl.core.grad_mode import no_grad  # noqa: E402
from refimpl.models.vit import ViTConfig, ViTForImageClassification, ViTModel  # noqa: E402
from refimpl.testing import gradcheck_model  # noqa: E402
from tests.models.hf_parity import (build_pair, classification_labels, numpy_dropout, randomize_,  # noqa: E402
                                    run_parity)
from tests.models.vit.vision_parity import eager_attention_float64  # noqa: E402

E, HEADS, I, IMG, P, B, C = 24, 3, 37, 12, 4, 2, 3
BASE = dict(hidden_size=E, num_hidden_layers=2, num_attention_heads=HEADS, intermediate_size=I, image_size=IMG,
            patch_size=P, num_channels=C)
DTYPES = [np.float64, np.float32]
IDS = ["f64", "f32"]
PROBLEMS = {"regression": 1, "single": 3, "multi": 3}


def build(ref_cls, hf_name, dtype, seed=0, hf_kwargs=None, ref_kwargs=None, attn="sdpa", **overrides):
    """(refimpl model, transformers model) with the same random weights, both in `dtype` and eval mode."""
    cfg = {**BASE, **overrides}
    hf = getattr(transformers, hf_name)(transformers.ViTConfig(**cfg, attn_implementation=attn),
                                        **dict(hf_kwargs or {}))
    return build_pair(ref_cls, hf, ViTConfig(**cfg), dtype, torch=torch, seed=seed, norms="type",
                      **dict(ref_kwargs or {}))


def pixels(dtype, h=IMG, w=IMG, b=B, seed=0):
    return np.random.default_rng(seed).standard_normal((b, C, h, w)).astype(dtype)


# ------------------------------------------------------------------------------------------- heads
@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_image_classification_parity(problem, dtype):
    ref, hf = build(ViTForImageClassification, "ViTForImageClassification", dtype, num_labels=PROBLEMS[problem])
    inputs = dict(pixel_values=pixels(dtype), labels=classification_labels(problem, B, PROBLEMS[problem], dtype))
    report = run_parity(ref, hf, inputs, dtype=dtype, torch=torch, fields=("loss", "logits", "hidden_states"),
                        cotangent_fields=("logits",), extra_kwargs=dict(output_hidden_states=True))
    report.assert_ok()


def test_classifier_reads_cls_after_final_layernorm_not_pooler():
    """PITFALLS 7.1: the head has no pooler; its logits are classifier(last_hidden_state[:, 0])."""
    ref, _ = build(ViTForImageClassification, "ViTForImageClassification", np.float64, num_labels=3)
    assert ref.vit.pooler is None and not any("pooler" in k for k in ref.state_dict())
    x = pixels(np.float64)
    out = ref(pixel_values=x)
    base = ref.vit(pixel_values=x)
    w, b = ref.classifier.weight.data, ref.classifier.bias.data
    np.testing.assert_allclose(out.logits, base.last_hidden_state[:, 0] @ w.T + b, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_base_model_every_output_and_attentions(dtype, monkeypatch):
    """ViTModel with pooler: cotangents on last_hidden_state, pooler_output, every hidden state and every
    attention map (eager attention with the softmax kept in the model dtype).

    float32 takes cotangents on the two main outputs only: with random cotangents on all 2L + 3 outputs the
    weight gradients grow to ~40, and both float32 runs then sit ~3e-5 from the float64 truth (the same
    for refimpl and transformers: rounding, not a bug); float64 checks the routing of every output."""
    monkeypatch.setattr(modeling_vit, "eager_attention_forward", eager_attention_float64)
    ref, hf = build(ViTModel, "ViTModel", dtype, attn="eager")
    fields = ("last_hidden_state", "pooler_output", "hidden_states", "attentions")
    cotangents = fields if np.dtype(dtype) == np.float64 else fields[:2]
    report = run_parity(ref, hf, dict(pixel_values=pixels(dtype)), dtype=dtype, torch=torch, fields=fields,
                        cotangent_fields=cotangents,
                        extra_kwargs=dict(output_hidden_states=True, output_attentions=True))
    report.assert_ok()


def test_hidden_states_layout():
    """hidden_states: embeddings, then each layer's output BEFORE the final LayerNorm (transformers' capture)."""
    ref, _ = build(ViTModel, "ViTModel", np.float64)
    out = ref(pixel_values=pixels(np.float64), output_hidden_states=True)
    assert len(out.hidden_states) == BASE["num_hidden_layers"] + 1
    assert all(h.shape == (B, (IMG // P) ** 2 + 1, E) for h in out.hidden_states)
    assert not np.allclose(out.hidden_states[-1], out.last_hidden_state)
    with no_grad():
        np.testing.assert_array_equal(ref.layernorm(out.hidden_states[-1]), out.last_hidden_state)


def test_qkv_without_bias_and_other_pooler():
    ref, hf = build(ViTModel, "ViTModel", np.float64, qkv_bias=False, pooler_output_size=10, pooler_act="gelu")
    assert "encoder.layer.0.attention.attention.query.bias" not in ref.state_dict()
    fields = ("last_hidden_state", "pooler_output")
    run_parity(ref, hf, dict(pixel_values=pixels(np.float64)), dtype=np.float64, torch=torch, fields=fields,
               cotangent_fields=fields).assert_ok()


def test_num_labels_zero_is_identity_head():
    ref, hf = build(ViTForImageClassification, "ViTForImageClassification", np.float64, num_labels=0)
    run_parity(ref, hf, dict(pixel_values=pixels(np.float64)), dtype=np.float64, torch=torch,
               fields=("logits",), cotangent_fields=("logits",)).assert_ok()


# ------------------------------------------------------------------------------------------- interpolation
# (h, w): larger, smaller (square: same side but fewer patches), non-square, sides that are not multiples of
# the patch (the border is dropped), and the same patch count as the table but h != w (still resized)
SIZES = [(20, 20), (8, 8), (16, 28), (14, 19), (4, 36), (36, 4), (12, 12)]


@pytest.mark.parametrize("size", SIZES, ids=[f"{h}x{w}" for h, w in SIZES])
def test_interpolate_pos_encoding_f64(size):
    ref, hf = build(ViTForImageClassification, "ViTForImageClassification", np.float64, num_labels=3)
    inputs = dict(pixel_values=pixels(np.float64, *size), labels=np.array([2, 0]))
    report = run_parity(ref, hf, inputs, dtype=np.float64, torch=torch, fields=("loss", "logits"),
                        cotangent_fields=("logits",), extra_kwargs=dict(interpolate_pos_encoding=True))
    report.assert_ok()
    if size[0] // P >= IMG // P and size[1] // P >= IMG // P:       # upsampling reads every stored position
        g = ref.vit.embeddings.position_embeddings.grad
        assert np.abs(g[0, 1:]).sum(axis=-1).min() > 0


def test_interpolate_pos_encoding_f32_and_base_model():
    ref, hf = build(ViTModel, "ViTModel", np.float32)
    fields = ("last_hidden_state", "pooler_output", "hidden_states")
    report = run_parity(ref, hf, dict(pixel_values=pixels(np.float32, 16, 28)), dtype=np.float32, torch=torch,
                        fields=fields, cotangent_fields=fields[:2],
                        extra_kwargs=dict(interpolate_pos_encoding=True, output_hidden_states=True))
    report.assert_ok()


def test_interpolation_is_bicubic_align_corners_false():
    """The resized table equals torch's bicubic interpolate (size=, align_corners=False) of the stored grid."""
    ref, _ = build(ViTModel, "ViTModel", np.float64)
    emb = ref.embeddings
    table = emb._resized_table(emb._resize_plan((5, 7), 20, 28))
    s = IMG // P
    grid = torch.from_numpy(emb.position_embeddings.data[:, 1:].reshape(1, s, s, E)).permute(0, 3, 1, 2)
    want = torch.nn.functional.interpolate(grid, size=(5, 7), mode="bicubic", align_corners=False)
    np.testing.assert_allclose(table[:, 1:], want.permute(0, 2, 3, 1).reshape(1, 35, E).numpy(), rtol=1e-13,
                               atol=1e-14)
    np.testing.assert_array_equal(table[:, :1], emb.position_embeddings.data[:, :1])     # [CLS] untouched


def test_other_size_without_interpolation_is_an_error_in_both():
    ref, hf = build(ViTForImageClassification, "ViTForImageClassification", np.float64)
    x = pixels(np.float64, 16, 20)
    with pytest.raises(ShapeError, match="pixel_values.*interpolate_pos_encoding"):
        ref(pixel_values=x)
    with pytest.raises(ValueError):
        hf(pixel_values=torch.from_numpy(x))


def test_same_size_with_interpolation_flag_uses_table_unchanged():
    ref, hf = build(ViTModel, "ViTModel", np.float64)
    x = pixels(np.float64)
    a = ref(pixel_values=x, interpolate_pos_encoding=True).last_hidden_state
    b = ref(pixel_values=x).last_hidden_state
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------------------- other inputs
@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_bool_masked_pos_mask_token(dtype):
    ref, hf = build(ViTModel, "ViTModel", dtype, hf_kwargs=dict(use_mask_token=True),
                    ref_kwargs=dict(use_mask_token=True))
    n = (IMG // P) ** 2
    masked = np.random.default_rng(3).random((B, n)) < 0.4
    masked[0, 0] = True
    inputs = dict(pixel_values=pixels(dtype), bool_masked_pos=masked)
    fields = ("last_hidden_state", "pooler_output")
    run_parity(ref, hf, inputs, dtype=dtype, torch=torch, fields=fields, cotangent_fields=fields).assert_ok()
    assert np.abs(ref.embeddings.mask_token.grad).sum() > 0


def test_attention_mask():
    ref, hf = build(ViTModel, "ViTModel", np.float64)
    n = (IMG // P) ** 2 + 1
    mask = np.ones((B, n), np.int64)
    mask[1, 5:] = 0
    inputs = dict(pixel_values=pixels(np.float64), attention_mask=mask)
    fields = ("last_hidden_state", "pooler_output")
    run_parity(ref, hf, inputs, dtype=np.float64, torch=torch, fields=fields,
               cotangent_fields=fields).assert_ok()


def test_training_mode_dropout_same_masks(monkeypatch):
    """Hidden and attention-probability dropout active; transformers draws refimpl's masks, in refimpl's order."""
    monkeypatch.setattr(modeling_vit, "eager_attention_forward", eager_attention_float64)
    ref, hf = build(ViTForImageClassification, "ViTForImageClassification", np.float64, attn="eager", num_labels=3,
                    hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.3)
    ref.train()
    hf.train()
    inputs = dict(pixel_values=pixels(np.float64), labels=np.array([1, 2]))
    monkeypatch.setattr(torch.nn.functional, "dropout", numpy_dropout(torch, np.random.default_rng(7)))
    run_parity(ref, hf, inputs, dtype=np.float64, torch=torch, fields=("loss", "logits", "attentions"),
               extra_kwargs=dict(output_attentions=True),
               ref_kwargs=dict(rng=np.random.default_rng(7))).assert_ok()


def test_training_mode_needs_rng():
    ref = ViTForImageClassification(ViTConfig(**BASE, hidden_dropout_prob=0.1))
    with pytest.raises(ConfigError, match="rng"):
        ref(pixel_values=pixels(np.float64))


def test_gradcheck_against_finite_differences():
    ref, _ = build(ViTForImageClassification, "ViTForImageClassification", np.float64, num_labels=3,
                   num_hidden_layers=1)
    gradcheck_model(ref, dict(pixel_values=pixels(np.float64, 9, 13), labels=np.array([0, 2]),
                              interpolate_pos_encoding=True))


# ------------------------------------------------------------------------------------------- checkpoints
def test_loads_a_checkpoint_saved_by_transformers(tmp_path):
    """transformers 5.24 writes the legacy keys (encoder.layer.N.attention.attention.query...): refimpl's names."""
    hf = randomize_(transformers.ViTForImageClassification(transformers.ViTConfig(**BASE, num_labels=3)),
                    torch, norms="type").eval()
    hf.save_pretrained(tmp_path)
    ref = ViTForImageClassification.from_pretrained(tmp_path)
    x = pixels(np.float64)
    want = hf(pixel_values=torch.from_numpy(x)).logits.detach().numpy()
    np.testing.assert_allclose(ref(pixel_values=x).logits, want, rtol=1e-12, atol=1e-12)
    base = ViTModel.from_pretrained(tmp_path, strict=False)          # head checkpoint into the base model
    np.testing.assert_allclose(base(pixel_values=x).last_hidden_state[:, 0] @ ref.classifier.weight.data.T
                               + ref.classifier.bias.data, want, rtol=1e-12, atol=1e-12)


def test_transformers_loads_a_refimpl_checkpoint(tmp_path):
    ref, hf = build(ViTForImageClassification, "ViTForImageClassification", np.float64, num_labels=3)
    ref.save_pretrained(tmp_path)
    loaded = transformers.ViTForImageClassification.from_pretrained(tmp_path, dtype=torch.float64).eval()
    x = pixels(np.float64)
    np.testing.assert_allclose(loaded(pixel_values=torch.from_numpy(x)).logits.detach().numpy(),
                               ref(pixel_values=x).logits, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------------------- bad inputs
@pytest.fixture(scope="module")
def small():
    return ViTForImageClassification(ViTConfig(**BASE, num_labels=3)).eval()


def test_wrong_channel_count(small):
    with pytest.raises(ShapeError, match="pixel_values.*channels"):
        small(pixel_values=np.zeros((B, 1, IMG, IMG)))


def test_image_smaller_than_a_patch(small):
    with pytest.raises(ShapeError, match="pixel_values.*smaller than one patch"):
        small(pixel_values=np.zeros((B, C, P - 1, IMG)), interpolate_pos_encoding=True)


def test_non_divisible_size_without_interpolation(small):
    with pytest.raises(ShapeError, match="pixel_values.*not a multiple of the patch size"):
        small(pixel_values=np.zeros((B, C, IMG + 1, IMG)))


def test_wrong_rank_and_dtype(small):
    with pytest.raises(ShapeError, match="pixel_values"):
        small(pixel_values=np.zeros((C, IMG, IMG)))
    with pytest.raises(DTypeError, match="pixel_values"):
        small(pixel_values=np.zeros((B, C, IMG, IMG), np.float32))
    with pytest.raises(DTypeError, match="pixel_values"):
        small(pixel_values=np.zeros((B, C, IMG, IMG), np.int64))
    with pytest.raises(ConfigError, match="pixel_values"):
        small()


def test_bad_labels(small):
    x = pixels(np.float64)
    with pytest.raises(Exception, match="labels"):
        small(pixel_values=x, labels=np.array([0, 3]))
    with pytest.raises(ShapeError, match="labels"):
        small(pixel_values=x, labels=np.zeros(B + 1, np.int64))


def test_bool_masked_pos_needs_mask_token_and_shape():
    model = ViTModel(ViTConfig(**BASE)).eval()
    n = (IMG // P) ** 2
    with pytest.raises(ConfigError, match="bool_masked_pos"):
        model(pixel_values=pixels(np.float64), bool_masked_pos=np.zeros((B, n), bool))
    model = ViTModel(ViTConfig(**BASE), use_mask_token=True).eval()
    with pytest.raises(ShapeError, match="bool_masked_pos"):
        model(pixel_values=pixels(np.float64), bool_masked_pos=np.zeros((B, n + 1), bool))


def test_non_square_table_cannot_be_interpolated():
    model = ViTModel(ViTConfig(**{**BASE, "image_size": [8, 12]})).eval()
    model(pixel_values=pixels(np.float64, 8, 12))                    # its own size is fine
    with pytest.raises(ConfigError, match="interpolate_pos_encoding"):
        model(pixel_values=pixels(np.float64, 12, 12), interpolate_pos_encoding=True)


def test_config_checks():
    with pytest.raises(ConfigError, match="num_attention_heads"):
        ViTConfig(**{**BASE, "num_attention_heads": 5})
    with pytest.raises(ConfigError, match="image_size"):
        ViTConfig(**{**BASE, "image_size": 2})
    with pytest.raises(ConfigError, match="pooler_act"):
        ViTConfig(**BASE, pooler_act="nope")
