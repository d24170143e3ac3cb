"""CUDA (CuPy) CTC loss and gradient vs the NumPy reference, by property tests.

Rule: err(kernel vs float64 reference) <= 2 x err(reference in the same precision vs float64) + floor
(the kernel's lattice runs in float64, so it is usually far inside). Infinite losses and NaN gradients
must sit exactly where the reference puts them. Runs only where CuPy sees a GPU; skips cleanly elsewhere.
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
from refimpl.losses import ctc as reference  # noqa: E402
from refimpl.testing import assert_kernel_within_rule  # noqa: E402
from kernels.cuda import ctc as kernel  # noqa: E402


@st.composite
def ctc_problems(draw):
    T = draw(st.integers(0, 40))
    B = draw(st.integers(1, 4))
    C = draw(st.integers(2, 7))
    blank = draw(st.integers(0, C - 1))
    S_max = draw(st.integers(0, 12))
    seed = draw(st.integers(0, 2**32 - 1))
    r = np.random.default_rng(seed)
    labels = [c for c in range(C) if c != blank]
    S = r.integers(0, S_max + 1, B)
    if draw(st.booleans()):                                  # repeated labels need a blank between them
        targets = r.choice(labels[:1], (B, S_max)) if S_max else np.zeros((B, 0), np.int64)
    else:
        targets = r.choice(labels, (B, S_max)) if S_max else np.zeros((B, 0), np.int64)
    L = r.integers(0, T + 1, B)
    layout = draw(st.sampled_from(["padded", "concatenated"]))
    if layout == "concatenated":
        targets = np.concatenate([targets[b, :S[b]] for b in range(B)]).astype(np.int64)
    logits = r.standard_normal((T, B, C)) * draw(st.sampled_from([1.0, 5.0]))
    lp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return dict(lp=lp, targets=targets.astype(np.int64), L=L.astype(np.int64), S=S.astype(np.int64), blank=blank,
                reduction=draw(st.sampled_from(["none", "mean", "sum"])), zero_infinity=draw(st.booleans()),
                seed=seed)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(pb=ctc_problems())
def test_loss_and_gradient_within_rule(pb, dtype):
    kw = dict(blank=pb["blank"], reduction=pb["reduction"], zero_infinity=pb["zero_infinity"])
    lp64 = pb["lp"]
    lp = lp64.astype(dtype)
    args = (pb["targets"], pb["L"], pb["S"])
    exact = reference.ctc_loss(lp64, *args, **kw)
    scale = max(1.0, float(np.abs(exact[np.isfinite(exact)]).max(initial=0.0)))
    assert_kernel_within_rule(kernel.ctc_loss(lp, *args, **kw), reference.ctc_loss(lp, *args, **kw), exact,
                              scale=scale, name="loss")
    B = lp.shape[1]
    go64 = np.random.default_rng(pb["seed"]).standard_normal(B) if pb["reduction"] == "none" else 0.7
    go = go64.astype(dtype) if pb["reduction"] == "none" else go64
    g_exact = reference.ctc_loss_backward(go64 if pb["reduction"] == "none" else go64, lp64, *args, **kw)
    g_same = reference.ctc_loss_backward(go, lp, *args, **kw)
    g = kernel.ctc_loss_backward(go, lp, *args, **kw)
    assert_kernel_within_rule(g, g_same, g_exact, scale=2.0, name="grad")


def test_wav2vec2_sized_batch_and_cupy_in_cupy_out(rng):
    T, B, C, S = 200, 4, 32, 40
    logits = rng.standard_normal((T, B, C))
    lp = (logits - np.log(np.exp(logits).sum(-1, keepdims=True))).astype(np.float32)
    targets = rng.integers(1, C, (B, S))
    L = np.array([200, 180, 150, 120])
    Sl = np.array([40, 35, 30, 0])
    loss = kernel.ctc_loss(cupy.asarray(lp), targets, L, Sl, reduction="none")
    assert isinstance(loss, cupy.ndarray)
    np.testing.assert_allclose(loss.get(), reference.ctc_loss(lp.astype(np.float64), targets, L, Sl,
                                                              reduction="none"), rtol=1e-5)
    g = kernel.ctc_loss_backward(1.0, cupy.asarray(lp), targets, L, Sl)
    assert isinstance(g, cupy.ndarray)
    np.testing.assert_allclose(g.get(), reference.ctc_loss_backward(1.0, lp.astype(np.float64), targets, L, Sl),
                               atol=1e-6)


def test_use_kernels_routes_ctc_to_cuda():
    with use_kernels("cuda"):
        assert dispatch("ctc", "ctc_loss") is kernel.ctc_loss
        assert dispatch("ctc", "ctc_loss_backward") is kernel.ctc_loss_backward
