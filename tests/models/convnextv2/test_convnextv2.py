"""ConvNeXt V2 against transformers 5.24 (tiny random config, same weights; GRN weights re-randomised, since
transformers starts them at 0 and the layer would be the identity): outputs, loss, the pixel_values gradient
and every parameter gradient (the GRN ones included), float64 tight and float32; drop path in training mode;
checkpoints; finite differences; bad inputs. The pieces shared with ConvNeXT are tested in test_convnext.py.
"""
import numpy as np
import pytest

pytestmark = [pytest.mark.torch, pytest.mark.transformers]
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from refimpl.core.errors import ConfigError, ShapeError  # noqa: E402
from refimpl.models.convnextv2 import (ConvNextV2Config, ConvNextV2ForImageClassification,  # noqa: E402
                                       ConvNextV2Model)
from refimpl.testing import gradcheck_model  # noqa: E402
from tests.models.convnext.test_convnext import B, BASE, C, DTYPES, H, IDS, PROBLEMS, W, pixels  # noqa: E402
from tests.models.hf_parity import (build_pair, classification_labels, numpy_rand, randomize_,  # noqa: E402
                                    run_parity)


def build(ref_cls, hf_name, dtype, seed=0, **overrides):
    """ConvNeXT's tiny config (test_convnext.BASE) as a V2 model pair."""
    cfg = {**BASE, **overrides}
    hf = getattr(transformers, hf_name)(transformers.ConvNextV2Config(**cfg))
    return build_pair(ref_cls, hf, ConvNextV2Config(**cfg), dtype, torch=torch, seed=seed, norms="type")


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_image_classification_parity(problem, dtype):
    n = PROBLEMS[problem]
    ref, hf = build(ConvNextV2ForImageClassification, "ConvNextV2ForImageClassification", dtype, num_labels=n)
    inputs = dict(pixel_values=pixels(dtype), labels=classification_labels(problem, B, n, dtype))
    run_parity(ref, hf, inputs, dtype=dtype, torch=torch, fields=("loss", "logits", "hidden_states"),
               cotangent_fields=("logits",), extra_kwargs=dict(output_hidden_states=True)).assert_ok()
    assert all(np.abs(p.grad).sum() > 0 for k, p in ref.named_parameters() if ".grn." in k)


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_base_model_every_output(dtype):
    ref, hf = build(ConvNextV2Model, "ConvNextV2Model", dtype)
    fields = ("last_hidden_state", "pooler_output", "hidden_states")
    cotangents = fields if np.dtype(dtype) == np.float64 else fields[:2]
    run_parity(ref, hf, dict(pixel_values=pixels(dtype, 17, 16)), dtype=dtype, torch=torch, fields=fields,
               cotangent_fields=cotangents, extra_kwargs=dict(output_hidden_states=True)).assert_ok()


def test_blocks_have_grn_and_no_layer_scale():
    model = ConvNextV2Model(ConvNextV2Config(**BASE))
    keys = list(model.state_dict())
    assert not any("layer_scale" in k for k in keys)
    assert "encoder.stages.0.layers.0.grn.weight" in keys
    assert model.encoder.stages[0].layers[0].grn.weight.shape == (1, 1, 1, 4 * BASE["hidden_sizes"][0])
    assert np.all(model.encoder.stages[0].layers[0].grn.weight.data == 0)          # transformers' init


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_drop_path_training_mode_same_masks(dtype, monkeypatch):
    ref, hf = build(ConvNextV2ForImageClassification, "ConvNextV2ForImageClassification", dtype, num_labels=3,
                    drop_path_rate=0.6, depths=[2, 2, 2])
    ref.train()
    hf.train()
    inputs = dict(pixel_values=pixels(dtype, b=6), labels=np.array([0, 1, 2, 0, 1, 2]))
    monkeypatch.setattr(torch, "rand", numpy_rand(torch, np.random.default_rng(5)))
    run_parity(ref, hf, inputs, dtype=dtype, torch=torch, fields=("loss", "logits"),
               ref_kwargs=dict(rng=np.random.default_rng(5))).assert_ok()


def test_gradcheck_against_finite_differences():
    ref, _ = build(ConvNextV2ForImageClassification, "ConvNextV2ForImageClassification", np.float64, num_labels=3,
                   hidden_sizes=[4, 6], depths=[1, 1], num_stages=2)
    gradcheck_model(ref, dict(pixel_values=pixels(np.float64, 8, 9), labels=np.array([0, 2])))


def test_loads_a_checkpoint_saved_by_transformers(tmp_path):
    hf = randomize_(transformers.ConvNextV2ForImageClassification(
        transformers.ConvNextV2Config(**BASE, num_labels=3)), torch, norms="type").eval()
    hf.save_pretrained(tmp_path)
    ref = ConvNextV2ForImageClassification.from_pretrained(tmp_path)
    x = pixels(np.float64)
    np.testing.assert_allclose(ref(pixel_values=x).logits, hf(pixel_values=torch.from_numpy(x)).logits.detach().numpy(),
                               rtol=1e-12, atol=1e-12)
    ref.save_pretrained(tmp_path / "back")
    loaded = transformers.ConvNextV2ForImageClassification.from_pretrained(tmp_path / "back",
                                                                           dtype=torch.float64).eval()
    np.testing.assert_allclose(loaded(pixel_values=torch.from_numpy(x)).logits.detach().numpy(),
                               ref(pixel_values=x).logits, rtol=1e-12, atol=1e-12)


def test_config_is_not_convnext_v1():
    from refimpl.models.convnext import ConvNextConfig
    with pytest.raises(ConfigError, match="config"):
        ConvNextV2Model(ConvNextConfig(**BASE))
    assert "layer_scale_init_value" not in ConvNextV2Config(**BASE).to_dict()


def test_bad_pixel_values():
    model = ConvNextV2ForImageClassification(ConvNextV2Config(**BASE, num_labels=3)).eval()
    with pytest.raises(ShapeError, match="pixel_values.*channels"):
        model(pixel_values=np.zeros((B, 1, H, W)))
    with pytest.raises(ShapeError, match="pixel_values.*too small"):
        model(pixel_values=np.zeros((B, C, H, 6)))
