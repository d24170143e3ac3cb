"""CUDA (CuPy) depthwise conv2d (forward, dx, dw, db) vs the NumPy reference, by property tests.

Rule: err(kernel vs float64 reference) <= 2 x err(reference in the same precision vs float64) + floor.
Both the shared-memory tiled kernels and the direct ones (used when a patch does not fit) are run.
Runs only where CuPy sees a GPU; skips cleanly elsewhere.
"""
import numpy as np
import pytest

pytestmark = pytest.mark.gpu
cupy = pytest.importorskip("cupy")
from kernels.cuda._runtime import cuda_available  # noqa: E402

if not cuda_available():
    pytest.skip("CuPy is installed but sees no GPU", allow_module_level=True)

from hypothesis import given, strategies as st  # noqa: E402

from refimpl.core.kernel_dispatch import dispatch, use_kernels  # noqa: E402
from refimpl.functional import depthwise_conv as reference  # noqa: E402
from refimpl.functional.conv import conv2d  # noqa: E402
from refimpl.testing import assert_kernel_within_rule  # noqa: E402
from kernels.cuda import depthwise_conv as kernel  # noqa: E402


@st.composite
def conv_problems(draw):
    kh, kw = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding = draw(st.one_of(st.integers(0, 3), st.tuples(st.integers(0, 3), st.integers(0, 3)),
                             st.sampled_from(["same", "valid"])))
    stride = 1 if padding == "same" else draw(st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3),
                                                                                       st.integers(1, 3))))
    ph, pw = (0, 0) if isinstance(padding, str) else ((padding, padding) if isinstance(padding, int) else padding)
    # the input must cover at least one dilated window after padding; up to 40 to span several 16 x 32 tiles
    H = draw(st.integers(max(1, dh * (kh - 1) + 1 - 2 * ph), 40))
    W = draw(st.integers(max(1, dw * (kw - 1) + 1 - 2 * pw), 70))
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    bias = draw(st.booleans())
    direct = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    return dict(N=N, C=C, H=H, W=W, kh=kh, kw=kw, stride=stride, padding=padding, dilation=(dh, dw),
                bias=bias, direct=direct, seed=seed)


def _arrays(pb, dtype):
    r = np.random.default_rng(pb["seed"])
    x = r.standard_normal((pb["N"], pb["C"], pb["H"], pb["W"]))
    w = r.standard_normal((pb["C"], 1, pb["kh"], pb["kw"]))
    b = r.standard_normal(pb["C"]) if pb["bias"] else None
    cast = (lambda a: None if a is None else a.astype(dtype))
    return cast(x), cast(w), cast(b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(pb=conv_problems())
def test_forward_and_backward_within_rule(pb, dtype):
    kernel._FORCE_DIRECT = pb["direct"]
    try:
        _check_within_rule(pb, dtype)
    finally:
        kernel._FORCE_DIRECT = False


def _check_within_rule(pb, dtype):
    args = dict(stride=pb["stride"], padding=pb["padding"], dilation=pb["dilation"])
    x64, w64, b64 = _arrays(pb, np.float64)
    x, w, b = _arrays(pb, dtype)
    y64 = reference.depthwise_conv2d(x64, w64, b64, **args)
    dy64 = np.random.default_rng(pb["seed"] + 1).standard_normal(y64.shape)
    dy = dy64.astype(dtype)
    scale = max(1.0, float(np.abs(x64).max() * np.abs(w64).sum() / pb["C"]))
    assert_kernel_within_rule(kernel.depthwise_conv2d(x, w, b, **args), reference.depthwise_conv2d(x, w, b, **args),
                              y64, scale=scale, name="y")
    exact = reference.depthwise_conv2d_backward(dy64, x64, w64, b64, **args)
    same = reference.depthwise_conv2d_backward(dy, x, w, b, **args)
    got = kernel.depthwise_conv2d_backward(dy, x, w, b, **args)
    for name, g, s, e in zip(("dx", "dweight", "dbias"), got, same, exact):
        if e is None:
            assert g is None and s is None
            continue
        n_terms = dy.size / pb["C"] if name != "dx" else w.size
        assert_kernel_within_rule(g, s, e, scale=max(1.0, n_terms ** 0.5 * float(np.abs(dy64).max())), name=name)


@pytest.mark.parametrize("direct", [False, True])
def test_convnext_and_segformer_shapes_exactly_like_the_reference(rng, monkeypatch, direct):
    monkeypatch.setattr(kernel, "_FORCE_DIRECT", direct)
    for shape, k, pad in [((2, 8, 14, 14), 7, 3), ((2, 6, 9, 11), 3, 1), ((1, 3, 56, 56), 7, 3)]:
        x = rng.standard_normal(shape)
        w = rng.standard_normal((shape[1], 1, k, k))
        b = rng.standard_normal(shape[1])
        y = kernel.depthwise_conv2d(x, w, b, 1, pad)
        np.testing.assert_allclose(y, reference.depthwise_conv2d(x, w, b, 1, pad), rtol=1e-12, atol=1e-12)
        dy = rng.standard_normal(y.shape)
        for g, e in zip(kernel.depthwise_conv2d_backward(dy, x, w, b, 1, pad),
                        reference.depthwise_conv2d_backward(dy, x, w, b, 1, pad)):
            np.testing.assert_allclose(g, e, rtol=1e-11, atol=1e-11)


def test_large_kernel_and_dilation_take_the_direct_path(rng):
    x = rng.standard_normal((1, 2, 30, 30))
    w = rng.standard_normal((2, 1, 5, 5))
    args = dict(stride=1, padding=40, dilation=20)       # the 16 x 32 tile's patch no longer fits
    y = kernel.depthwise_conv2d(x, w, None, **args)
    np.testing.assert_allclose(y, reference.depthwise_conv2d(x, w, None, **args), rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    for g, e in zip(kernel.depthwise_conv2d_backward(dy, x, w, None, **args),
                    reference.depthwise_conv2d_backward(dy, x, w, None, **args)):
        if e is not None:
            np.testing.assert_allclose(g, e, rtol=1e-11, atol=1e-11)


def test_many_taps_use_several_tap_chunks(rng):
    x = rng.standard_normal((2, 3, 40, 40))
    w = rng.standard_normal((3, 1, 17, 17))               # 289 taps > 256 threads
    y = kernel.depthwise_conv2d(x, w, None, 1, 8)
    dy = rng.standard_normal(y.shape)
    for g, e in zip(kernel.depthwise_conv2d_backward(dy, x, w, None, 1, 8),
                    reference.depthwise_conv2d_backward(dy, x, w, None, 1, 8)):
        if e is not None:
            np.testing.assert_allclose(g, e, rtol=1e-11, atol=1e-10)


def test_cupy_in_cupy_out(rng):
    x = rng.standard_normal((2, 4, 20, 21)).astype(np.float32)
    w = rng.standard_normal((4, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    y = kernel.depthwise_conv2d(cupy.asarray(x), cupy.asarray(w), cupy.asarray(b), 2, 1)
    assert isinstance(y, cupy.ndarray)
    np.testing.assert_array_equal(y.get(), kernel.depthwise_conv2d(x, w, b, 2, 1))
    dy = rng.standard_normal(y.shape).astype(np.float32)
    grads = kernel.depthwise_conv2d_backward(cupy.asarray(dy), cupy.asarray(x), cupy.asarray(w), cupy.asarray(b),
                                             2, 1)
    for g, h in zip(grads, kernel.depthwise_conv2d_backward(dy, x, w, b, 2, 1)):
        assert isinstance(g, cupy.ndarray)
        np.testing.assert_array_equal(g.get(), h)


def test_conv2d_groups_equal_channels_routes_to_the_cuda_kernel(rng):
    x = rng.standard_normal((1, 3, 6, 6))
    w = rng.standard_normal((3, 1, 3, 3))
    with use_kernels("cuda"):
        assert dispatch("depthwise_conv", "depthwise_conv2d") is kernel.depthwise_conv2d
        y = conv2d(x, w, None, 1, 1, 1, 3)
    np.testing.assert_allclose(y, reference.depthwise_conv2d(x, w, None, 1, 1), rtol=1e-12)
