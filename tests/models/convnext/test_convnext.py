"""ConvNeXT against transformers 5.24 (tiny random config, same weights): outputs, loss, the pixel_values
gradient and every parameter gradient, float64 at the default tight tolerance and float32 at the float32 table.

Covered: the classification head with the three problem types, the base model with every output under
random cotangents, image sizes that are not multiples of the strides, no layer scale, a non-default final
LayerNorm eps (the block LayerNorms keep 1e-6), drop path in training mode with the same masks (and the
exact float32 schedule), the depthwise-conv kernel dispatch, checkpoints written by transformers, finite
differences, and bad inputs.
"""
import numpy as np
import pytest

pytestmark = [pytest.mark.torch, pytest.mark.transformers]
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from refimpl.core import kernel_dispatch  # noqa: E402
from refimpl.core.errors import ConfigError, DTypeError, ShapeError  # noqa: E402
import refimpl.functional.depthwise_conv  # noqa: E402,F401  (registers the reference)
from refimpl.models.convnext import ConvNextConfig, ConvNextForImageClassification, ConvNextModel  # noqa: E402
from refimpl.testing import gradcheck_model  # noqa: E402
from tests.models.hf_parity import (build_pair, classification_labels, numpy_rand, randomize_,  # noqa: E402
                                    run_parity)

C, B, H, W = 3, 2, 18, 22                     # 18x22 with patch 2: 9x11 -> 4x5 -> 2x2 (floors on the way)
BASE = dict(num_channels=C, patch_size=2, num_stages=3, hidden_sizes=[8, 12, 16], depths=[2, 1, 2])
DTYPES = [np.float64, np.float32]
IDS = ["f64", "f32"]
PROBLEMS = {"regression": 1, "single": 3, "multi": 3}


def build(ref_cls, hf_name, dtype, seed=0, **overrides):
    cfg = {**BASE, **overrides}
    hf = getattr(transformers, hf_name)(transformers.ConvNextConfig(**cfg))
    return build_pair(ref_cls, hf, ConvNextConfig(**cfg), dtype, torch=torch, seed=seed, norms="type")


def pixels(dtype, h=H, w=W, b=B, seed=0):
    return np.random.default_rng(seed).standard_normal((b, C, h, w)).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_image_classification_parity(problem, dtype):
    n = PROBLEMS[problem]
    ref, hf = build(ConvNextForImageClassification, "ConvNextForImageClassification", dtype, num_labels=n)
    inputs = dict(pixel_values=pixels(dtype), labels=classification_labels(problem, B, n, dtype))
    run_parity(ref, hf, inputs, dtype=dtype, torch=torch, fields=("loss", "logits", "hidden_states"),
               cotangent_fields=("logits",), extra_kwargs=dict(output_hidden_states=True)).assert_ok()


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_base_model_every_output(dtype):
    """Cotangents on last_hidden_state, pooler_output and (float64) every hidden state."""
    ref, hf = build(ConvNextModel, "ConvNextModel", dtype)
    fields = ("last_hidden_state", "pooler_output", "hidden_states")
    cotangents = fields if np.dtype(dtype) == np.float64 else fields[:2]
    run_parity(ref, hf, dict(pixel_values=pixels(dtype)), dtype=dtype, torch=torch, fields=fields,
               cotangent_fields=cotangents, extra_kwargs=dict(output_hidden_states=True)).assert_ok()


@pytest.mark.parametrize("size", [(16, 16), (21, 17), (8, 9)], ids=["16x16", "21x17", "8x9"])
def test_other_image_sizes(size):
    """Any size >= patch * 2^(stages-1): the strided convolutions floor, as in transformers."""
    ref, hf = build(ConvNextForImageClassification, "ConvNextForImageClassification", np.float64, num_labels=3)
    inputs = dict(pixel_values=pixels(np.float64, *size), labels=np.array([0, 2]))
    run_parity(ref, hf, inputs, dtype=np.float64, torch=torch, fields=("loss", "logits")).assert_ok()


def test_no_layer_scale_and_other_final_eps():
    """layer_scale_init_value 0: no γ key. layer_norm_eps only reaches the final pooled LayerNorm (0.3 would
    visibly change every block LayerNorm, which transformers keeps at 1e-6)."""
    ref, hf = build(ConvNextModel, "ConvNextModel", np.float64, layer_scale_init_value=0.0, layer_norm_eps=0.3)
    assert not any("layer_scale" in k for k in ref.state_dict())
    assert ref.layernorm.eps == 0.3 and ref.embeddings.layernorm.eps == 1e-6
    fields = ("last_hidden_state", "pooler_output")
    run_parity(ref, hf, dict(pixel_values=pixels(np.float64)), dtype=np.float64, torch=torch, fields=fields,
               cotangent_fields=fields).assert_ok()


def test_num_labels_zero_is_identity_head():
    ref, hf = build(ConvNextForImageClassification, "ConvNextForImageClassification", np.float64, num_labels=0)
    run_parity(ref, hf, dict(pixel_values=pixels(np.float64)), dtype=np.float64, torch=torch,
               fields=("logits",), cotangent_fields=("logits",)).assert_ok()


# ------------------------------------------------------------------------------------------- drop path
def test_drop_path_rates_are_transformers_float32_schedule():
    rate = 0.37
    ref, hf = build(ConvNextModel, "ConvNextModel", np.float64, drop_path_rate=rate, depths=[3, 2, 4])
    hf_rates = [getattr(layer.drop_path, "drop_prob", 0.0) for st in hf.encoder.stages for layer in st.layers]
    ref_rates = [layer.drop_path.drop_prob for st in ref.encoder.stages for layer in st.layers]
    assert ref_rates == hf_rates                                  # bit-identical Python floats
    assert ref_rates[0] == 0.0 and ref_rates[-1] == np.float32(rate)


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_drop_path_training_mode_same_masks(dtype, monkeypatch):
    """transformers draws torch.rand for each active block; patched to take refimpl's uniforms, in block order."""
    ref, hf = build(ConvNextForImageClassification, "ConvNextForImageClassification", dtype, num_labels=3,
                    drop_path_rate=0.6, depths=[2, 2, 2])
    ref.train()
    hf.train()
    inputs = dict(pixel_values=pixels(dtype, b=6), labels=np.array([0, 1, 2, 0, 1, 2]))
    monkeypatch.setattr(torch, "rand", numpy_rand(torch, np.random.default_rng(11)))
    run_parity(ref, hf, inputs, dtype=dtype, torch=torch, fields=("loss", "logits"),
               ref_kwargs=dict(rng=np.random.default_rng(11))).assert_ok()
    masks = [layer.drop_path.last_mask for st in ref.convnext.encoder.stages for layer in st.layers]
    dropped = sum(int((m == 0).sum()) for m in masks if m is not None)
    assert dropped > 0                                            # some samples really lost a branch


def test_drop_path_needs_rng_in_training():
    model = ConvNextModel(ConvNextConfig(**BASE, drop_path_rate=0.2))
    with pytest.raises(ConfigError, match="rng"):
        model(pixel_values=pixels(np.float64))
    model.eval()
    model(pixel_values=pixels(np.float64))                        # eval: identity, no rng needed


# ------------------------------------------------------------------------------------------- kernels, checkpoints
def test_depthwise_conv_goes_through_the_kernel_dispatch(monkeypatch):
    calls = {"fwd": 0, "bwd": 0}
    fwd = kernel_dispatch._reference[("depthwise_conv", "depthwise_conv2d")]
    bwd = kernel_dispatch._reference[("depthwise_conv", "depthwise_conv2d_backward")]

    def counting(fn, key):
        def wrapped(*a, **k):
            calls[key] += 1
            return fn(*a, **k)
        return wrapped
    monkeypatch.setitem(kernel_dispatch._reference, ("depthwise_conv", "depthwise_conv2d"), counting(fwd, "fwd"))
    monkeypatch.setitem(kernel_dispatch._reference, ("depthwise_conv", "depthwise_conv2d_backward"),
                        counting(bwd, "bwd"))
    model = ConvNextForImageClassification(ConvNextConfig(**BASE, num_labels=3)).eval()
    model(pixel_values=pixels(np.float64), labels=np.array([0, 1]))
    model.backward()
    assert calls == {"fwd": sum(BASE["depths"]), "bwd": sum(BASE["depths"])}


def test_gradcheck_against_finite_differences():
    ref, _ = build(ConvNextForImageClassification, "ConvNextForImageClassification", np.float64, num_labels=3,
                   hidden_sizes=[4, 6], depths=[1, 1], num_stages=2)
    gradcheck_model(ref, dict(pixel_values=pixels(np.float64, 8, 9), labels=np.array([0, 2])))


def test_loads_a_checkpoint_saved_by_transformers(tmp_path):
    cfg = transformers.ConvNextConfig(**BASE, num_labels=3)
    hf = randomize_(transformers.ConvNextForImageClassification(cfg), torch, norms="type").eval()
    hf.save_pretrained(tmp_path)
    ref = ConvNextForImageClassification.from_pretrained(tmp_path)
    x = pixels(np.float64)
    np.testing.assert_allclose(ref(pixel_values=x).logits, hf(pixel_values=torch.from_numpy(x)).logits.detach().numpy(),
                               rtol=1e-12, atol=1e-12)


def test_transformers_loads_a_refimpl_checkpoint(tmp_path):
    ref, _ = build(ConvNextForImageClassification, "ConvNextForImageClassification", np.float64, num_labels=3)
    ref.save_pretrained(tmp_path)
    loaded = transformers.ConvNextForImageClassification.from_pretrained(tmp_path, dtype=torch.float64).eval()
    x = pixels(np.float64)
    np.testing.assert_allclose(loaded(pixel_values=torch.from_numpy(x)).logits.detach().numpy(),
                               ref(pixel_values=x).logits, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------------------- bad inputs
@pytest.fixture(scope="module")
def small():
    return ConvNextForImageClassification(ConvNextConfig(**BASE, num_labels=3)).eval()


def test_wrong_channel_count(small):
    with pytest.raises(ShapeError, match="pixel_values.*channels"):
        small(pixel_values=np.zeros((B, C + 1, H, W)))


def test_image_smaller_than_a_patch(small):
    with pytest.raises(ShapeError, match="pixel_values.*smaller than one patch"):
        small(pixel_values=np.zeros((B, C, 1, W)))


def test_image_too_small_for_the_downsamplings(small):
    with pytest.raises(ShapeError, match="pixel_values.*too small"):
        small(pixel_values=np.zeros((B, C, 7, W)))                 # 7 // 2 = 3 -> 1 -> a 2x2 conv cannot fit


def test_wrong_rank_and_dtype(small):
    with pytest.raises(ShapeError, match="pixel_values"):
        small(pixel_values=np.zeros((C, H, W)))
    with pytest.raises(DTypeError, match="pixel_values"):
        small(pixel_values=np.zeros((B, C, H, W), np.float32))
    with pytest.raises(ConfigError, match="pixel_values"):
        small()


def test_config_checks():
    with pytest.raises(ConfigError, match="hidden_sizes"):
        ConvNextConfig(**{**BASE, "hidden_sizes": [8, 12]})
    with pytest.raises(ConfigError, match="drop_path_rate"):
        ConvNextConfig(**BASE, drop_path_rate=1.0)
    assert ConvNextConfig(**BASE).num_hidden_layers == 3           # transformers' alias of num_stages
