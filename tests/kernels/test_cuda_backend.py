"""The CUDA backend without a GPU (CI): its modules import, bad arguments get the reference's errors
before anything touches CuPy, and valid calls raise ConfigError naming the "cuda" backend when CuPy or
a GPU is missing. Runs everywhere; the GPU-only tests live in test_cuda_<op>.py.
"""
import importlib

import numpy as np
import pytest

from refimpl.core.errors import ConfigError, DTypeError, ShapeError
from refimpl.core.kernel_dispatch import HOT_PATHS, dispatch, use_kernels
from kernels.cuda._runtime import cuda_available

needs_no_gpu = pytest.mark.skipif(cuda_available(), reason="a GPU is present: the kernels run instead")


@pytest.mark.parametrize("op", HOT_PATHS)
def test_modules_import_without_cupy_and_match_the_reference_names(op):
    module = importlib.import_module(f"kernels.cuda.{op}")
    numba_names = {"attention": ["scaled_dot_product_attention", "scaled_dot_product_attention_backward"],
                   "depthwise_conv": ["depthwise_conv2d", "depthwise_conv2d_backward"],
                   "matching": ["linear_sum_assignment", "batched_linear_sum_assignment"],
                   "ctc": ["ctc_loss", "ctc_loss_backward"]}[op]
    assert sorted(module.__all__) == sorted(numba_names)
    for name in numba_names:
        assert callable(getattr(module, name))


def _valid_calls():
    from kernels.cuda import attention, ctc, depthwise_conv, matching
    r = np.random.default_rng(0)
    q = r.standard_normal((2, 3, 4))
    x, w = r.standard_normal((1, 2, 5, 5)), r.standard_normal((2, 1, 3, 3))
    lp = np.log(np.full((6, 2, 4), 0.25))
    tg, il, tl = np.array([[1, 2], [3, 0]]), np.array([6, 5]), np.array([2, 1])
    return {"attention": lambda: attention.scaled_dot_product_attention(q, q, q),
            "depthwise_conv": lambda: depthwise_conv.depthwise_conv2d(x, w),
            "matching": lambda: matching.linear_sum_assignment(r.random((3, 4))),
            "ctc": lambda: ctc.ctc_loss(lp, tg, il, tl)}


@needs_no_gpu
@pytest.mark.parametrize("op", HOT_PATHS)
def test_missing_cupy_or_gpu_is_a_clear_config_error(op):
    with pytest.raises(ConfigError, match=r"use_kernels\('cuda'\).*" + op):
        _valid_calls()[op]()


@needs_no_gpu
def test_dispatch_reaches_the_cuda_module_and_its_error():
    x, w = np.ones((1, 2, 5, 5)), np.ones((2, 1, 3, 3))
    with use_kernels("cuda"):
        fn = dispatch("depthwise_conv", "depthwise_conv2d")
        assert fn.__module__ == "kernels.cuda.depthwise_conv"
        with pytest.raises(ConfigError, match="cuda"):
            fn(x, w)


def test_bad_arguments_are_reported_before_cupy_is_needed():
    from kernels.cuda import attention, ctc, depthwise_conv, matching
    r = np.random.default_rng(1)
    q, k, v = (r.standard_normal((2, 3, 4)) for _ in range(3))
    with pytest.raises(ShapeError, match="k"):
        attention.scaled_dot_product_attention(q, k[..., :2], v)
    with pytest.raises(DTypeError):
        attention.scaled_dot_product_attention(q.astype(np.float32), k, v)
    with pytest.raises(ShapeError, match="attn_mask"):
        attention.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((5,), bool))
    with pytest.raises(ConfigError, match="dropout"):
        attention.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    with pytest.raises(ConfigError, match="attn_mask"):
        attention.scaled_dot_product_attention(q, k, v, attn_mask=np.full((3, 3), np.nan))
    with pytest.raises(ConfigError, match="fully_masked_rows"):
        attention.scaled_dot_product_attention(q, k, v, fully_masked_rows="nan")
    with pytest.raises(ShapeError, match="dout"):
        attention.scaled_dot_product_attention_backward(np.zeros((2, 3, 5)), q, k, v)
    x = r.standard_normal((1, 3, 6, 6))
    with pytest.raises(ShapeError, match="weight"):
        depthwise_conv.depthwise_conv2d(x, r.standard_normal((2, 1, 3, 3)))
    with pytest.raises(ConfigError, match="padding"):
        depthwise_conv.depthwise_conv2d(x, r.standard_normal((3, 1, 3, 3)), stride=2, padding="same")
    with pytest.raises(ShapeError, match="dy"):
        depthwise_conv.depthwise_conv2d_backward(np.zeros((1, 3, 5, 5)), x, r.standard_normal((3, 1, 3, 3)))
    with pytest.raises(ConfigError, match=r"costs\[1\]"):
        matching.batched_linear_sum_assignment([np.zeros((2, 2)), np.full((2, 2), np.nan)])
    with pytest.raises(ShapeError, match="costs"):
        matching.batched_linear_sum_assignment(np.zeros((2, 2)))
    lp = np.log(np.full((6, 2, 4), 0.25))
    with pytest.raises(ShapeError, match="input_lengths"):
        ctc.ctc_loss(lp, np.array([[1, 2], [3, 0]]), np.array([6]), np.array([2, 1]))
