"""refimpl.processing.image.resize against the libraries it reimplements:
Pillow's Image.resize (uint8 "L"/"RGB" fixed point and float32 "F" mode, all six filters) and torch's
antialiased interpolate on uint8 / float32 / float64 tensors plus "nearest-exact", which is what
torchvision.transforms.v2.functional.resize(antialias=True) calls on CPU (torchvision itself is not
needed for these). Odd sizes, 1-pixel images, up- and downscaling, one axis up and one down; hypothesis
over sizes; bad input."""
import numpy as np
import pytest

from refimpl.core.errors import ConfigError, DTypeError, ShapeError
from refimpl.processing.image.resize import filter_coefficients, pass_order, resample_name, resize
from refimpl.testing import assert_close

PIL_Image = pytest.importorskip("PIL.Image")
torch = pytest.importorskip("torch")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

PIL_CODES = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3, "box": 4, "hamming": 5}
# (H, W) -> (H_out, W_out): odd sizes, 1-pixel images, up, down, and one axis up while the other goes down
SIZE_PAIRS = [((37, 53), (24, 24)), ((300, 17), (40, 40)), ((17, 300), (12, 9)), ((1, 1), (7, 5)),
              ((53, 37), (1, 1)), ((5, 64), (64, 5)), ((9, 11), (31, 29)), ((64, 48), (48, 64)), ((2, 3), (3, 2))]


def _pil_resize(img_chw, size, resample):
    """Pillow on a (C, H, W) uint8 or (1, H, W) float32 array -> (C, H_out, W_out)."""
    hwc = np.moveaxis(img_chw, 0, -1)
    if img_chw.dtype == np.float32:
        pil = PIL_Image.fromarray(hwc[..., 0], mode="F")
    else:
        pil = PIL_Image.fromarray(hwc[..., 0] if hwc.shape[-1] == 1 else hwc)
    out = np.array(pil.resize((size[1], size[0]), resample=PIL_CODES[resample]))
    return out[None] if out.ndim == 2 else np.moveaxis(out, -1, 0)


def _torch_resize(img_chw, size, resample):
    """What torchvision's resize(antialias=True) runs on CPU for a (C, H, W) tensor of this dtype."""
    mode = "nearest-exact" if resample == "nearest" else resample
    kw = {} if resample == "nearest" else dict(align_corners=False, antialias=True)
    x = torch.from_numpy(np.ascontiguousarray(img_chw))[None]
    return torch.nn.functional.interpolate(x, size=size, mode=mode, **kw)[0].numpy()


def _image(rng, shape, dtype=np.uint8):
    if dtype == np.uint8:
        return rng.integers(0, 256, shape, dtype=np.uint8)
    return rng.random(shape).astype(dtype)


# ----------------------------------------------------------------------------------------- Pillow

@pytest.mark.parametrize("resample", list(PIL_CODES))
@pytest.mark.parametrize("sizes", SIZE_PAIRS, ids=lambda p: f"{p[0]}->{p[1]}")
@pytest.mark.parametrize("channels", [1, 3])
def test_pil_uint8_is_bit_exact(rng, resample, sizes, channels):
    (h, w), out = sizes
    img = _image(rng, (channels, h, w))
    np.testing.assert_array_equal(resize(img, out, resample, backend="pil"), _pil_resize(img, out, resample))


@pytest.mark.parametrize("resample", list(PIL_CODES))
@pytest.mark.parametrize("sizes", SIZE_PAIRS[:5], ids=lambda p: f"{p[0]}->{p[1]}")
def test_pil_float32_F_mode_matches(rng, resample, sizes):
    (h, w), out = sizes
    img = _image(rng, (1, h, w), np.float32)
    assert_close(resize(img, out, resample, backend="pil"), _pil_resize(img, out, resample), dtype=np.float32)


def test_pil_pass_order_decides_the_last_bit(rng):
    """Pillow >= 13 resizes vertically first when the height shrinks by more than twice as many pixels
    as the width; the other order rounds the intermediate differently and misses Pillow's pixels."""
    img = _image(rng, (3, 300, 17))
    assert pass_order((300, 17), (224, 224)) == "height_first"
    ref = _pil_resize(img, (224, 224), "bicubic")
    np.testing.assert_array_equal(resize(img, (224, 224), "bicubic"), ref)
    wrong = resize(img, (224, 224), "bicubic", order="width_first")
    assert np.abs(wrong.astype(int) - ref).max() > 0
    assert pass_order((40, 30), (20, 20)) == "width_first"      # 20 rows shrunk, not more than 2 * 10 columns
    assert pass_order((40, 30), (19, 20)) == "height_first"     # 21 rows > 2 * 10 columns
    assert pass_order((40, 30), (50, 2)) == "width_first"       # the height grows
    for out in [(20, 20), (19, 20)]:                             # the boundary, against Pillow
        img = _image(rng, (1, 40, 30))
        np.testing.assert_array_equal(resize(img, out, "lanczos"), _pil_resize(img, out, "lanczos"))


def test_pil_same_size_is_a_copy(rng):
    img = _image(rng, (3, 7, 9))
    out = resize(img, (7, 9), "bicubic")
    np.testing.assert_array_equal(out, img)
    assert out is not img


# ---------------------------------------------------------------------------------- torch / torchvision

# a 1x1 output with 3 uint8 channels trips an internal assert in torch's AVX kernel (a torch bug), so the
# torch comparisons leave that output size out
TORCH_PAIRS = [p for p in SIZE_PAIRS if p[1] != (1, 1)] + [((53, 37), (1, 2))]


@pytest.mark.parametrize("resample", ["bilinear", "bicubic", "nearest"])
@pytest.mark.parametrize("sizes", TORCH_PAIRS, ids=lambda p: f"{p[0]}->{p[1]}")
@pytest.mark.parametrize("channels", [1, 3])
def test_torch_uint8_is_bit_exact(rng, resample, sizes, channels):
    (h, w), out = sizes
    img = _image(rng, (channels, h, w))
    np.testing.assert_array_equal(resize(img, out, resample, backend="torchvision"), _torch_resize(img, out, resample))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("resample", ["bilinear", "bicubic", "nearest"])
@pytest.mark.parametrize("sizes", TORCH_PAIRS, ids=lambda p: f"{p[0]}->{p[1]}")
def test_torch_float_matches(rng, dtype, resample, sizes):
    (h, w), out = sizes
    img = _image(rng, (3, h, w), dtype)
    got = resize(img, out, resample, backend="torchvision")
    assert got.dtype == dtype
    assert_close(got, _torch_resize(img, out, resample), dtype=dtype)


def test_torch_and_pil_differ_where_documented(rng):
    """Same filter, different fixed point (int16 vs int32 weights): a level apart at some pixels, never more
    for bilinear; nearest picks different source pixels (torch floors (i + 0.5) * scale in float32)."""
    img = _image(rng, (3, 300, 17))
    a = resize(img, (224, 224), "bilinear", backend="pil", order="width_first").astype(int)
    b = resize(img, (224, 224), "bilinear", backend="torchvision").astype(int)
    assert 0 < np.abs(a - b).max() <= 1


# -------------------------------------------------------------------------------------- properties

@settings(max_examples=30, deadline=None)
@given(h=st.integers(1, 70), w=st.integers(1, 70), oh=st.integers(1, 70), ow=st.integers(1, 70),
       resample=st.sampled_from(list(PIL_CODES)), seed=st.integers(0, 2 ** 16))
def test_hypothesis_pil_uint8(h, w, oh, ow, resample, seed):
    img = _image(np.random.default_rng(seed), (3, h, w))
    np.testing.assert_array_equal(resize(img, (oh, ow), resample), _pil_resize(img, (oh, ow), resample))


@settings(max_examples=30, deadline=None)
@given(h=st.integers(1, 70), w=st.integers(1, 70), oh=st.integers(2, 70), ow=st.integers(1, 70),
       resample=st.sampled_from(["bilinear", "bicubic", "nearest"]), seed=st.integers(0, 2 ** 16))
def test_hypothesis_torch_uint8(h, w, oh, ow, resample, seed):
    img = _image(np.random.default_rng(seed), (3, h, w))
    np.testing.assert_array_equal(resize(img, (oh, ow), resample, backend="torchvision"),
                                  _torch_resize(img, (oh, ow), resample))


@pytest.mark.parametrize("backend", ["pil", "torchvision"])
@pytest.mark.parametrize("resample", ["bilinear", "bicubic"])
@pytest.mark.parametrize("n_in,n_out", [(7, 3), (3, 7), (300, 17), (1, 5), (5, 1)])
def test_weights_are_normalised_and_local(backend, resample, n_in, n_out):
    xmin, xsize, w = filter_coefficients(n_in, n_out, resample, backend)
    np.testing.assert_allclose(w.sum(1), 1.0, rtol=0, atol=1e-12)
    assert (xmin >= 0).all() and (xmin + xsize <= n_in).all()


def test_constant_image_stays_constant(rng):
    img = np.full((3, 13, 29), 77, np.uint8)
    for backend in ("pil", "torchvision"):
        for resample in ("bilinear", "bicubic"):
            assert (resize(img, (40, 8), resample, backend=backend) == 77).all()


def test_leading_axes_are_kept(rng):
    img = _image(rng, (2, 3, 9, 7))
    out = resize(img, (4, 5), "bicubic")
    assert out.shape == (2, 3, 4, 5)
    np.testing.assert_array_equal(out[1], resize(img[1], (4, 5), "bicubic"))


# --------------------------------------------------------------------------------------- bad input

def test_resample_names_and_codes():
    assert [resample_name(c) for c in range(6)] == ["nearest", "lanczos", "bilinear", "bicubic", "box", "hamming"]
    assert resample_name("BICUBIC") == "bicubic"
    assert resample_name(PIL_Image.Resampling.BILINEAR) == "bilinear"
    for bad in (6, -1, "cubic", 2.0, True, None):
        with pytest.raises(ConfigError, match="resample"):
            resample_name(bad)


@pytest.mark.parametrize("dtype", [np.int32, np.float16, np.bool_, np.int64])
def test_bad_dtype(dtype):
    with pytest.raises(DTypeError, match="image"):
        resize(np.zeros((3, 4, 4), dtype), (2, 2))


def test_bad_inputs():
    img = np.zeros((3, 4, 5), np.uint8)
    with pytest.raises(DTypeError, match="image"):
        resize([[1, 2], [3, 4]], (2, 2))
    with pytest.raises(ShapeError, match="image"):
        resize(np.zeros((3, 0, 5), np.uint8), (2, 2))
    with pytest.raises(ShapeError, match="image"):
        resize(np.zeros(5, np.uint8), (2, 2))
    for size in [(0, 3), (3,), 3, (2.5, 3), (-1, 2), (True, 2)]:
        with pytest.raises(ConfigError, match="size"):
            resize(img, size)
    with pytest.raises(ConfigError, match="backend"):
        resize(img, (2, 2), backend="cv2")
    with pytest.raises(ConfigError, match="resample"):
        resize(img, (2, 2), "lanczos", backend="torchvision")
    with pytest.raises(ConfigError, match="order"):
        resize(img, (2, 2), order="random")
