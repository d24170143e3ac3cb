"""ViTImageProcessor and ConvNextImageProcessor against transformers 5.24.

backend="pil" is compared with transformers' ViTImageProcessorPil / ConvNextImageProcessorPil (the classes
transformers uses when torchvision is absent, as here): bit-identical pixel_values in float32, and within
float32 rounding (<~5e-7 x max|value|, far inside the issue's 1/255) in float64. backend="torchvision" is compared with
transformers' ViTImageProcessor / ConvNextImageProcessor when torchvision is installed (skipped otherwise),
and always with the same pipeline written in torch ops (interpolate with antialias, zero padding, the fused
float32 normalisation), as TorchvisionBackend runs it on CPU. Odd sizes, up and down, uint8/float/PIL
inputs, channel orders, flags, crop_pct, config files; hypothesis over sizes; bad input."""
import json
import warnings

import numpy as np
import pytest

from refimpl.core.errors import CheckpointError, ConfigError, DTypeError, ShapeError
from refimpl.processing.image import ConvNextImageProcessor, ImageProcessor, ViTImageProcessor
from refimpl.testing import assert_close

PIL_Image = pytest.importorskip("PIL.Image")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402
from transformers import ConvNextImageProcessorPil, ViTImageProcessorPil  # noqa: E402

ODD_SHAPES = [(37, 53), (300, 17), (17, 300), (1, 1), (5, 64), (64, 48)]
F32_ULP_AT_1 = 4 * 2.0 ** -23  # a few float32 roundings (x, mean, std, quotient) of values near 1: how far
                                # the float64 oracle may sit from transformers' float32 result


def _rgb(rng, hw, dtype=np.uint8):
    return rng.integers(0, 256, (*hw, 3), dtype=np.uint8) if dtype == np.uint8 else rng.random((*hw, 3)).astype(dtype)


def _hf(processor, images, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(processor(images, return_tensors="np", **kw)["pixel_values"])


def _check_pair(ours, hf, images, **kw):
    """float32: bit-identical to transformers; float64: within float32 rounding of it."""
    expected = _hf(hf, images, **kw)
    got32 = ours(images, **kw)["pixel_values"]
    got64 = ours(images, dtype=np.float64, **kw)["pixel_values"]
    assert got32.dtype == np.float32 and got64.dtype == np.float64
    np.testing.assert_array_equal(got32, expected.astype(np.float32))
    assert_close(got64, expected.astype(np.float64), rtol=0, atol=F32_ULP_AT_1 * max(1.0, np.abs(expected).max()))
    return expected


# ----------------------------------------------------------------------------- Pillow backend: ViT

@pytest.mark.parametrize("hw", ODD_SHAPES, ids=str)
@pytest.mark.parametrize("resample", [2, 3, 0])
def test_vit_pil_matches_transformers(rng, hw, resample):
    cfg = dict(size={"height": 24, "width": 40}, resample=resample)
    img = _rgb(rng, hw)
    fmt = {"input_data_format": "channels_last"} if hw == (1, 1) else {}     # (1, 1, 3) is ambiguous
    _check_pair(ViTImageProcessor(backend="pil", **cfg), ViTImageProcessorPil(**cfg), img, **fmt)


def test_vit_pil_defaults_224(rng):
    imgs = [_rgb(rng, (37, 53)), _rgb(rng, (300, 17)), _rgb(rng, (500, 400))]
    out = _check_pair(ViTImageProcessor(backend="pil"), ViTImageProcessorPil(), imgs)
    assert out.shape == (3, 3, 224, 224)


@pytest.mark.parametrize("kind", ["float01_f64", "float01_f32", "float255_f32", "chw_uint8", "pil_rgb", "batch4d",
                                  "nested"])
def test_vit_pil_input_forms(rng, kind):
    cfg = dict(size={"height": 20, "width": 28})
    ours, hf = ViTImageProcessor(backend="pil", **cfg), ViTImageProcessorPil(**cfg)
    img = _rgb(rng, (37, 53))
    images = {"float01_f64": img / 255.0,                           # through uint8 and back, scaled twice as in HF
              "float01_f32": (img / 255.0).astype(np.float32),
              "float255_f32": img.astype(np.float32),               # whole numbers: cast to uint8 as they are
              "chw_uint8": np.ascontiguousarray(np.moveaxis(img, -1, 0)),
              "pil_rgb": PIL_Image.fromarray(img),
              "batch4d": np.stack([img, _rgb(rng, (37, 53))]),
              "nested": [[img], [_rgb(rng, (9, 70)), PIL_Image.fromarray(_rgb(rng, (30, 30)))]]}[kind]
    _check_pair(ours, hf, images)


@pytest.mark.parametrize("flags", [dict(do_resize=False), dict(do_rescale=False), dict(do_normalize=False),
                                   dict(do_rescale=False, do_normalize=False),
                                   dict(image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225]),
                                   dict(rescale_factor=0.5, image_mean=0.3, image_std=2.0),
                                   dict(do_center_crop=True, crop_size={"height": 11, "width": 50}),
                                   dict(size={"shortest_edge": 20}),
                                   dict(size={"shortest_edge": 20, "longest_edge": 25}),
                                   dict(resample=1), dict(resample=4), dict(resample=5)], ids=str)
def test_vit_pil_flags(rng, flags):
    base = dict(size={"height": 16, "width": 24})
    cfg = {**base, **flags}
    img = _rgb(rng, (37, 53))
    _check_pair(ViTImageProcessor(backend="pil", **cfg), ViTImageProcessorPil(**cfg), img)
    # the same settings given per call instead of in the config
    np.testing.assert_array_equal(ViTImageProcessor(backend="pil", **base)(img, **flags)["pixel_values"],
                                  _hf(ViTImageProcessorPil(**base), img, **flags).astype(np.float32))


def test_vit_pil_grayscale_and_rgba(rng):
    ours, hf = ViTImageProcessor(backend="pil", size=12), ViTImageProcessorPil(size=12)
    gray, rgba = rng.integers(0, 256, (9, 7, 1), dtype=np.uint8), rng.integers(0, 256, (9, 7, 4), dtype=np.uint8)
    for image in (gray, rgba, PIL_Image.fromarray(gray[..., 0]), PIL_Image.fromarray(rgba),
                  PIL_Image.fromarray(_rgb(rng, (9, 7))).convert("P"), rgba / 255.0):
        _check_pair(ours, hf, image, do_convert_rgb=True)
    # grayscale without conversion: a single mean works, three do not (transformers fails there too)
    _check_pair(ours, hf, gray, image_mean=0.5, image_std=0.25)
    with pytest.raises(ConfigError, match="image_mean"):
        ours(gray)
    with pytest.raises(ValueError):
        _hf(hf, gray)
    with pytest.raises(ShapeError, match="do_convert_rgb"):                # RGBA needs the conversion
        ours(rgba)


def test_vit_pil_ambiguous_channel_axis_follows_transformers(rng):
    """(1, 1, 3) reads as 1 channel x 1 row x 3 columns in transformers; with do_convert_rgb it passes."""
    ours, hf = ViTImageProcessor(backend="pil", size=8), ViTImageProcessorPil(size=8)
    img = _rgb(rng, (1, 1))
    with pytest.warns(UserWarning, match="ambiguous"):
        _check_pair(ours, hf, img, do_convert_rgb=True)
    _check_pair(ours, hf, img, input_data_format="channels_last")


def test_vit_pil_default_to_square_and_stored_layouts(rng):
    """default_to_square=False turns an int size into a shortest edge; layouts may come from the config."""
    img = _rgb(rng, (37, 53))
    _check_pair(ViTImageProcessor(backend="pil", size=20, default_to_square=False),
                ViTImageProcessorPil(size=20, default_to_square=False), img)
    _check_pair(ViTImageProcessor(backend="pil", size=12), ViTImageProcessorPil(size=12), img,
                size=20, default_to_square=False)
    hwc = _rgb(rng, (3, 5))                                  # (3, 5, 3): ambiguous, inferred channels-first
    stored = ViTImageProcessor(backend="pil", size=8, input_data_format="channels_last", data_format="channels_last")
    np.testing.assert_array_equal(stored(hwc)["pixel_values"],
                                  np.moveaxis(_hf(ViTImageProcessorPil(size=8), hwc, input_data_format="channels_last"),
                                              1, -1))


def test_vit_pil_data_format_and_list_output(rng):
    ours = ViTImageProcessor(backend="pil", size=10)
    img = _rgb(rng, (13, 17))
    first = ours(img)["pixel_values"]
    np.testing.assert_array_equal(ours(img, data_format="channels_last")["pixel_values"], np.moveaxis(first, 1, -1))
    listed = ours([img, _rgb(rng, (5, 6))], return_tensors=None, do_resize=False)["pixel_values"]
    assert [x.shape for x in listed] == [(3, 13, 17), (3, 5, 6)]
    np.testing.assert_array_equal(listed[0], _hf(ViTImageProcessorPil(size=10), img, do_resize=False)[0])


# ------------------------------------------------------------------------ Pillow backend: ConvNeXT

CONVNEXT_CASES = ([(hw, se, pct) for hw in ODD_SHAPES for se, pct in [(24, 0.875), (20, 0.5), (16, 1.0), (30, 1.3)]]
                  + [(hw, 384, 0.875) for hw in [(37, 53), (300, 17)]])     # the warp branch (no crop) at 384


@pytest.mark.parametrize("hw,shortest_edge,crop_pct", CONVNEXT_CASES, ids=str)
def test_convnext_pil_matches_transformers(rng, hw, shortest_edge, crop_pct):
    cfg = dict(size={"shortest_edge": shortest_edge}, crop_pct=crop_pct)
    fmt = {"input_data_format": "channels_last"} if hw == (1, 1) else {}
    out = _check_pair(ConvNextImageProcessor(backend="pil", **cfg), ConvNextImageProcessorPil(**cfg),
                      _rgb(rng, hw), **fmt)
    assert out.shape[-2:] == (shortest_edge, shortest_edge)


def test_convnext_pil_defaults_and_resample(rng):
    imgs = [_rgb(rng, (37, 53)), _rgb(rng, (225, 225))]
    _check_pair(ConvNextImageProcessor(backend="pil"), ConvNextImageProcessorPil(), imgs)
    cfg = dict(size={"shortest_edge": 224}, resample=2, image_mean=[0.485, 0.456, 0.406],
               image_std=[0.229, 0.224, 0.225])
    _check_pair(ConvNextImageProcessor(backend="pil", **cfg), ConvNextImageProcessorPil(**cfg), imgs)
    _check_pair(ConvNextImageProcessor(backend="pil", size={"shortest_edge": 24}),
                ConvNextImageProcessorPil(size={"shortest_edge": 24}), imgs[0] / 255.0, crop_pct=0.6)


# -------------------------------------------------------------------------------------- hypothesis

@settings(max_examples=20, deadline=None)
@given(h=st.integers(2, 90), w=st.integers(2, 90), se=st.integers(4, 40), pct=st.floats(0.4, 1.2),
       resample=st.sampled_from([2, 3]), seed=st.integers(0, 2 ** 16))
def test_hypothesis_convnext_pil(h, w, se, pct, resample, seed):
    cfg = dict(size={"shortest_edge": se}, crop_pct=pct, resample=resample)
    img = _rgb(np.random.default_rng(seed), (h, w))
    _check_pair(ConvNextImageProcessor(backend="pil", **cfg), ConvNextImageProcessorPil(**cfg), img,
                input_data_format="channels_last")


@settings(max_examples=20, deadline=None)
@given(h=st.integers(1, 90), w=st.integers(1, 90), oh=st.integers(1, 50), ow=st.integers(1, 50),
       resample=st.sampled_from([0, 1, 2, 3, 4, 5]), as_float=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_hypothesis_vit_pil(h, w, oh, ow, resample, as_float, seed):
    cfg = dict(size={"height": oh, "width": ow}, resample=resample)
    img = _rgb(np.random.default_rng(seed), (h, w))
    _check_pair(ViTImageProcessor(backend="pil", **cfg), ViTImageProcessorPil(**cfg), img / 255.0 if as_float else img,
                input_data_format="channels_last")


# ------------------------------------------------------------------------------ torchvision backend

def _torchvision_reference(image_hwc, out_hw, resample, crop=None, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                           rf=1 / 255):
    """TorchvisionBackend's steps in torch ops on CPU: tvF.resize(antialias=True) -> interpolate on the uint8
    tensor (nearest -> "nearest-exact"); center crop with tvF.pad(fill=0) left/top = pad // 2; the fused
    normalisation (x - mean / rf) / (std / rf) in float32."""
    x = torch.from_numpy(np.ascontiguousarray(np.moveaxis(image_hwc, -1, 0)))[None]
    if tuple(x.shape[-2:]) != tuple(out_hw):
        if resample == "nearest":
            x = torch.nn.functional.interpolate(x, size=out_hw, mode="nearest-exact")
        else:
            x = torch.nn.functional.interpolate(x, size=out_hw, mode=resample, antialias=True, align_corners=False)
    if crop is not None:
        h, w = x.shape[-2:]
        ph, pw = max(crop[0] - h, 0), max(crop[1] - w, 0)
        x = torch.nn.functional.pad(x, (pw // 2, (pw + 1) // 2, ph // 2, (ph + 1) // 2))
        h, w = x.shape[-2:]
        top, left = int((h - crop[0]) / 2.0), int((w - crop[1]) / 2.0)
        x = x[..., top:top + crop[0], left:left + crop[1]]
    m, s = torch.tensor(mean) * (1.0 / rf), torch.tensor(std) * (1.0 / rf)
    return ((x.to(torch.float32) - m[:, None, None]) / s[:, None, None])[0].numpy()


@pytest.mark.parametrize("hw", ODD_SHAPES[:3] + [(64, 48)], ids=str)
@pytest.mark.parametrize("resample", ["bilinear", "bicubic", "nearest"])
def test_vit_torchvision_pipeline(rng, hw, resample):
    img = _rgb(rng, hw)
    ours = ViTImageProcessor(backend="torchvision", size={"height": 24, "width": 40}, resample=resample,
                             image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    expected = _torchvision_reference(img, (24, 40), resample, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    np.testing.assert_array_equal(ours(img)["pixel_values"][0], expected)
    assert_close(ours(img, dtype=np.float64)["pixel_values"][0], expected, rtol=0, atol=5 * F32_ULP_AT_1)


@pytest.mark.parametrize("hw", [(37, 53), (300, 17), (9, 70)], ids=str)
@pytest.mark.parametrize("shortest_edge,crop_pct", [(24, 0.875), (30, 1.3), (384, 0.875)])
def test_convnext_torchvision_pipeline(rng, hw, shortest_edge, crop_pct):
    img = _rgb(rng, hw)
    ours = ConvNextImageProcessor(backend="torchvision", size={"shortest_edge": shortest_edge}, crop_pct=crop_pct)
    if shortest_edge >= 384:
        expected = _torchvision_reference(img, (shortest_edge, shortest_edge), "bicubic")
    else:
        edge = int(shortest_edge / crop_pct)
        short, long = min(hw), max(hw)
        out = (int(edge * long / short), edge) if hw[1] <= hw[0] else (edge, int(edge * long / short))
        expected = _torchvision_reference(img, out, "bicubic", crop=(shortest_edge, shortest_edge))
    np.testing.assert_array_equal(ours(img)["pixel_values"][0], expected)


def test_backends_differ_by_at_most_a_level(rng):
    img = _rgb(rng, (300, 17))
    a = ViTImageProcessor(backend="pil", do_normalize=False)(img, dtype=np.float64)["pixel_values"]
    b = ViTImageProcessor(backend="torchvision", do_normalize=False)(img, dtype=np.float64)["pixel_values"]
    assert 0 < np.abs(a - b).max() <= 1 / 255 + 1e-12


def test_transformers_torchvision_processors(rng):
    pytest.importorskip("torchvision")
    from transformers import ConvNextImageProcessor as HFConvNext, ViTImageProcessor as HFViT
    imgs = [_rgb(rng, (37, 53)), _rgb(rng, (300, 17))]
    for ours, hf in [(ViTImageProcessor(backend="torchvision", size=24), HFViT(size=24)),
                     (ConvNextImageProcessor(backend="torchvision", size={"shortest_edge": 24}),
                      HFConvNext(size={"shortest_edge": 24})),
                     (ConvNextImageProcessor(backend="torchvision", size={"shortest_edge": 30}, crop_pct=1.3),
                      HFConvNext(size={"shortest_edge": 30}, crop_pct=1.3))]:
        _check_pair(ours, hf, imgs)


def test_auto_backend_is_transformers_choice():
    import importlib.util
    expected = "torchvision" if importlib.util.find_spec("torchvision") else "pil"
    assert ViTImageProcessor().backend == expected
    from transformers import ViTImageProcessor as HFViT
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert HFViT().backend == expected


# ------------------------------------------------------------------------------------ config files

def test_from_pretrained_reads_transformers_files(rng, tmp_path):
    hf = ConvNextImageProcessorPil(size={"shortest_edge": 20}, crop_pct=0.7, resample=2,
                                   image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    hf.save_pretrained(tmp_path)
    ours = ConvNextImageProcessor.from_pretrained(tmp_path, backend="pil")
    assert ours.crop_pct == 0.7 and ours.size == {"shortest_edge": 20} and ours.resample == "bilinear"
    _check_pair(ours, hf, _rgb(rng, (37, 53)))
    # our file is read by transformers the same way
    ours.save_pretrained(tmp_path / "ours")
    _check_pair(ours, ConvNextImageProcessorPil.from_pretrained(tmp_path / "ours"), _rgb(rng, (300, 17)))
    # a bare json path, a processor_config.json nesting, overrides
    cfg_file = tmp_path / "preprocessor_config.json"
    assert ConvNextImageProcessor.from_pretrained(cfg_file, backend="pil", crop_pct=0.9).crop_pct == 0.9
    nested = tmp_path / "processor_config.json"
    nested.write_text(json.dumps({"image_processor": json.loads(cfg_file.read_text())}))
    assert ConvNextImageProcessor.from_pretrained(nested, backend="pil").crop_pct == 0.7


def test_from_dict_legacy_forms(rng):
    """An int size (square for ViT, shortest edge for ConvNeXT), null values meaning the default."""
    vit = ViTImageProcessor.from_dict({"size": 18, "resample": 3, "do_normalize": None}, backend="pil")
    assert vit.size == {"height": 18, "width": 18} and vit.do_normalize is True
    cnx = ConvNextImageProcessor.from_dict({"size": 18, "crop_pct": None}, backend="pil")
    assert cnx.size == {"shortest_edge": 18} and cnx.crop_pct == 224 / 256
    img = _rgb(rng, (37, 53))
    _check_pair(vit, ViTImageProcessorPil(size=18, resample=3), img)
    _check_pair(cnx, ConvNextImageProcessorPil(size=18), img)


# --------------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("shape", [(9, 7, 2), (9, 7, 5), (2, 9, 7), (5, 9, 7)])
def test_wrong_channel_count(shape):
    img = np.zeros(shape, np.uint8)
    with pytest.raises(ShapeError, match="images"):
        ViTImageProcessor(backend="pil")(img)
    fmt = "channels_last" if shape[-1] in (2, 5) else "channels_first"
    with pytest.raises(ShapeError, match=r"images\[0\]: .*channels"):
        ViTImageProcessor(backend="pil")(img, input_data_format=fmt)


@pytest.mark.parametrize("backend", ["pil", "torchvision"])
def test_bad_images(backend):
    p = ViTImageProcessor(backend=backend, size=8)
    with pytest.raises(ShapeError, match="images"):
        p(np.zeros((0, 7, 3), np.uint8))
    with pytest.raises(ShapeError, match="images"):
        p(np.zeros((3, 9, 0), np.uint8), input_data_format="channels_first")
    with pytest.raises(ShapeError, match=r"images.*\(H, W, 1\)"):
        p(np.zeros((9, 7), np.uint8))
    with pytest.raises(ShapeError, match="images"):
        p(np.zeros((1, 1, 9, 7, 3), np.uint8))
    with pytest.raises(ShapeError, match="images"):
        p([])
    for dtype in (np.int32, np.float16, np.bool_, np.int64):
        with pytest.raises(DTypeError, match="images"):
            p(np.zeros((9, 7, 3), dtype))
    with pytest.raises(DTypeError, match="images"):
        p(torch.zeros(3, 9, 7))
    for mode in ("1", "I", "I;16"):                                          # PIL modes that are not 8-bit
        with pytest.raises(DTypeError, match=r"images\[0\]"):
            p(PIL_Image.new(mode, (7, 9)))
    with pytest.raises(DTypeError, match=r"images\[1\]"):
        p([np.zeros((9, 7, 3), np.uint8), "cat.png"])
    bad = np.full((9, 7, 3), 0.5)
    bad[0, 0, 0] = np.nan
    with pytest.raises(ConfigError, match="images"):
        p(bad)
    with pytest.raises(ShapeError, match="stacked"):
        p([np.zeros((9, 7, 3), np.uint8), np.zeros((5, 7, 3), np.uint8)], do_resize=False)


def test_float_out_of_range_for_pillow(rng):
    """Pillow needs uint8: floats must be in [0, 1] or whole numbers in [0, 255] (transformers raises too)."""
    img = rng.random((9, 7, 3)) * 1.5
    with pytest.raises(ConfigError, match="images"):
        ViTImageProcessor(backend="pil", size=8)(img)
    with pytest.raises(ValueError):
        _hf(ViTImageProcessorPil(size=8), img)
    ViTImageProcessor(backend="torchvision", size=8)(img)                   # torch resizes floats as they are


@pytest.mark.parametrize("pct", [0, -0.5, float("nan"), float("inf"), "0.8", True])
def test_bad_crop_pct(pct):
    with pytest.raises(ConfigError, match="crop_pct"):
        ConvNextImageProcessor(crop_pct=pct)
    with pytest.raises(ConfigError, match="crop_pct"):
        ConvNextImageProcessor(backend="pil")(np.zeros((9, 7, 3), np.uint8), crop_pct=pct)


@pytest.mark.parametrize("key,value", [("size", {"height": 0, "width": 3}), ("size", {"h": 3}), ("size", (3,)),
                                       ("size", -4), ("size", "224"), ("crop_size", {"width": 3}),
                                       ("resample", 9), ("resample", "cubic"), ("rescale_factor", float("nan")),
                                       ("rescale_factor", "1/255"), ("image_mean", [0.5, "a", 0.5]),
                                       ("image_std", [0.5, 0.0, 0.5]), ("image_mean", [[0.5]]),
                                       ("do_resize", "yes"), ("do_pad", True), ("patch_size", 16)])
def test_bad_config_values(key, value):
    with pytest.raises(ConfigError, match=key):
        ViTImageProcessor(**{key: value})


def test_bad_call_arguments(rng):
    p = ViTImageProcessor(backend="pil", size=8)
    img = _rgb(rng, (9, 7))
    with pytest.raises(ConfigError, match="image_mean"):
        p(img, image_mean=[0.5, 0.5])
    with pytest.raises(ConfigError, match="return_tensors"):
        p(img, return_tensors="pt")
    with pytest.raises(ConfigError, match="input_data_format"):
        p(img, input_data_format="HWC")
    with pytest.raises(ConfigError, match="data_format"):
        p(img, data_format="NCHW")
    with pytest.raises(DTypeError, match="dtype"):
        p(img, dtype=np.float16)
    with pytest.raises(ConfigError, match="crop_pct"):
        p(img, crop_pct=0.5)                                               # a ConvNeXT setting, not ViT's
    with pytest.raises(ConfigError, match="backend"):
        ViTImageProcessor(backend="opencv")
    with pytest.raises(ConfigError, match="resample"):
        ViTImageProcessor(backend="torchvision", size=8)(img, resample=1)  # no lanczos in torch
    with pytest.raises(ConfigError, match="size"):
        ConvNextImageProcessor(size={"height": 8, "width": 8})
    with pytest.raises(ConfigError, match="crop_size"):
        ViTImageProcessor(do_center_crop=True)


def test_missing_or_broken_config_file(tmp_path):
    with pytest.raises(CheckpointError, match="preprocessor_config.json"):
        ViTImageProcessor.from_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="path"):
        ViTImageProcessor.from_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="config"):
        ImageProcessor.from_dict([("size", 3)])
