"""Numba CTC loss and gradient vs the NumPy (log-space) reference, by property tests.

Rule: err(kernel vs float64 reference) <= 2 x err(reference in the same precision vs float64) + floor, the floor
scaled by the size of the losses (the reference's own log-space rounding grows with |log p|). inf/NaN (infeasible
samples) must sit exactly where the float64 reference has them.
"""
import numpy as np
import pytest

numba = pytest.importorskip("numba")
from hypothesis import given, strategies as st  # noqa: E402

from refimpl.core.errors import ConfigError, DTypeError, IndexRangeError, ShapeError  # noqa: E402
from refimpl.core.kernel_dispatch import dispatch, use_kernels  # noqa: E402
from refimpl.losses import ctc as reference  # noqa: E402
from refimpl.testing import assert_kernel_within_rule  # noqa: E402
from kernels.numba_cpu import ctc as kernel  # noqa: E402


def _min_frames(row):
    """Frames a target needs: its labels plus one blank between each adjacent repeated pair."""
    return len(row) + sum(int(a == b) for a, b in zip(row[1:], row[:-1]))


@st.composite
def ctc_problems(draw, max_T=12, max_B=4, max_C=6, max_S=5):
    """A batch with repeats, any blank index, empty targets, L = 0, barely feasible and infeasible samples, both
    target layouts, and log-probabilities from tame to far outside float64's exp range."""
    C = draw(st.integers(2, max_C))
    blank = draw(st.sampled_from(sorted({0, C - 1, C // 2, draw(st.integers(0, C - 1))})))
    labels = [c for c in range(C) if c != blank]
    T = draw(st.integers(0, max_T))
    B = draw(st.integers(1, max_B))
    rows, L = [], []
    for _ in range(B):
        pool = labels[:draw(st.integers(1, len(labels)))]          # few labels -> frequent repeats
        row = [draw(st.sampled_from(pool)) for _ in range(draw(st.integers(0, min(max_S, T))))]
        kind = draw(st.sampled_from(["barely", "short", "any", "zero"]))
        need = _min_frames(row)
        Lb = {"barely": need, "short": need - 1, "zero": 0}.get(kind)
        if Lb is None:
            Lb = draw(st.integers(0, T))
        rows.append(row)
        L.append(int(np.clip(Lb, 0, T)))
    S_max = max(len(r) for r in rows) + draw(st.integers(0, 2))        # sometimes extra padding
    pad = draw(st.sampled_from([blank, -1, C, labels[0]]))             # padding is never read
    padded = np.full((B, S_max), pad, dtype=draw(st.sampled_from([np.int64, np.int32])))
    for b, r in enumerate(rows):
        padded[b, :len(r)] = r
    concat = np.array([c for r in rows for c in r], dtype=padded.dtype)
    targets = padded if draw(st.booleans()) else concat
    values = draw(st.sampled_from(["log_softmax", "peaky", "unnormalised", "far_below", "far_above"]))
    return dict(T=T, B=B, C=C, blank=blank, targets=targets, L=np.array(L, np.int64),
                S=np.array([len(r) for r in rows], np.int64), values=values,
                reduction=draw(st.sampled_from(["none", "mean", "sum"])), zero_infinity=draw(st.booleans()),
                seed=draw(st.integers(0, 2**32 - 1)))


def _log_probs(pb):
    """float64 (T, B, C); 'far_*' shift whole frames by hundreds, so alphas leave float64's exp range (e^-1000s)."""
    r = np.random.default_rng(pb["seed"])
    shape = (pb["T"], pb["B"], pb["C"])
    x = r.standard_normal(shape)
    if pb["values"] == "peaky":
        x = 30.0 * x
    if pb["values"] in ("log_softmax", "peaky", "far_below"):
        m = x.max(-1, keepdims=True)
        x = x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))
    if pb["values"] == "far_below":
        x = x - r.uniform(100.0, 400.0, shape[:2] + (1,))
    if pb["values"] == "far_above":
        x = 3.0 * x + r.uniform(100.0, 400.0, shape[:2] + (1,))
    return x


def _upstream(pb, dtype):
    r = np.random.default_rng(pb["seed"] + 1)
    g = r.standard_normal(pb["B"]) if pb["reduction"] == "none" else r.standard_normal()
    return np.asarray(g, dtype=dtype) if pb["reduction"] == "none" else dtype(g)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(pb=ctc_problems())
def test_loss_and_gradient_within_rule(pb, dtype):
    args = (pb["targets"], pb["L"], pb["S"])
    kw = dict(blank=pb["blank"], reduction=pb["reduction"], zero_infinity=pb["zero_infinity"])
    lp64 = _log_probs(pb)
    lp = lp64.astype(dtype)
    exact = reference.ctc_loss(lp64, *args, **kw)
    finite = np.abs(exact[np.isfinite(exact)])
    scale = max(1.0, float(finite.max(initial=0.0)))                    # log-space rounding grows with |log p|
    assert_kernel_within_rule(kernel.ctc_loss(lp, *args, **kw), reference.ctc_loss(lp, *args, **kw), exact,
                              scale=scale, name="loss")
    g = _upstream(pb, dtype)
    g64 = np.asarray(g, np.float64) if pb["reduction"] == "none" else np.float64(g)
    assert_kernel_within_rule(kernel.ctc_loss_backward(g, lp, *args, **kw),
                              reference.ctc_loss_backward(g, lp, *args, **kw),
                              reference.ctc_loss_backward(g64, lp64, *args, **kw),
                              scale=scale * max(1.0, float(np.abs(g64).max())), name="d log_probs")


def test_infeasible_empty_and_zero_length_samples_exactly_like_the_reference(rng):
    # sample 0: (1, 1) needs 3 frames, gets 2 -> inf / NaN; 1: empty target; 2: L = 0, S = 0; 3: L = 0, S = 2;
    # 4: barely feasible (1, 2, 2, 1 needs 5)
    targets = np.array([[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [2, 1, 0, 0], [1, 2, 2, 1]])
    S = np.array([2, 0, 0, 2, 4])
    L = np.array([2, 5, 0, 0, 5])
    x = rng.standard_normal((6, 5, 3))
    lp = x - np.log(np.exp(x).sum(-1, keepdims=True))
    for zero_infinity in (False, True):
        kw = dict(blank=0, reduction="none", zero_infinity=zero_infinity)
        loss = kernel.ctc_loss(lp, targets, L, S, **kw)
        np.testing.assert_allclose(loss, reference.ctc_loss(lp, targets, L, S, **kw), rtol=1e-13, atol=0)
        assert loss[2] == 0.0 and (loss[0] == loss[3] == (0.0 if zero_infinity else np.inf))
        g = kernel.ctc_loss_backward(np.ones(5), lp, targets, L, S, **kw)
        expected = reference.ctc_loss_backward(np.ones(5), lp, targets, L, S, **kw)
        np.testing.assert_array_equal(np.isnan(g), np.isnan(expected))
        np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-14)
        assert np.isnan(g[:2, 0]).all() != zero_infinity and not g[2:, 0].any() and not g[:, 2:4].any()


def test_long_sequences_far_outside_exp_range(rng):
    """T = 300 frames of peaky log-probabilities: alpha spans e^-10000s, many exponent classes apart."""
    T, B, C, S = 300, 3, 7, 40
    x = 20.0 * rng.standard_normal((T, B, C))
    lp = x - x.max(-1, keepdims=True) - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True))
    targets = rng.integers(1, C, (B, S))
    L, Sl = np.array([300, 250, 81]), np.array([40, 33, 40])
    for reduction in ("none", "mean"):
        kw = dict(reduction=reduction)
        want = reference.ctc_loss(lp, targets, L, Sl, **kw)
        np.testing.assert_allclose(kernel.ctc_loss(lp, targets, L, Sl, **kw), want, rtol=1e-12)
        assert np.all(np.abs(want) > 700) or reduction == "mean"     # p itself is far below float64's range
        g = np.ones(B) if reduction == "none" else 1.0
        np.testing.assert_allclose(kernel.ctc_loss_backward(g, lp, targets, L, Sl, **kw),
                                   reference.ctc_loss_backward(g, lp, targets, L, Sl, **kw),
                                   rtol=1e-9, atol=1e-12 * float(np.abs(want).max()))


def test_use_kernels_routes_the_ctc_hot_path(rng):
    assert dispatch("ctc", "ctc_loss") is reference.ctc_loss
    with use_kernels("numba"):
        assert dispatch("ctc", "ctc_loss") is kernel.ctc_loss
        assert dispatch("ctc", "ctc_loss_backward") is kernel.ctc_loss_backward
    assert dispatch("ctc", "ctc_loss_backward") is reference.ctc_loss_backward


def test_nonsense_magnitudes_go_to_the_reference(rng, monkeypatch):
    lp = rng.standard_normal((4, 2, 3))
    lp[1, 0, 1] = -1e200                                                 # finite, but nothing left below 1e184
    targets, L, S = np.array([[1, 2], [2, 2]]), np.array([4, 4]), np.array([2, 2])
    monkeypatch.setattr(kernel, "_forward", None)                        # compiled code must not be reached
    monkeypatch.setattr(kernel, "_backward", None)
    for zero_infinity in (False, True):
        kw = dict(reduction="none", zero_infinity=zero_infinity)
        np.testing.assert_array_equal(kernel.ctc_loss(lp, targets, L, S, **kw),
                                      reference.ctc_loss(lp, targets, L, S, **kw))
        np.testing.assert_array_equal(kernel.ctc_loss_backward(np.ones(2), lp, targets, L, S, **kw),
                                      reference.ctc_loss_backward(np.ones(2), lp, targets, L, S, **kw))


BAD_INPUTS = [
    # (what changes, error, argument named in the message)
    (dict(log_probs=np.zeros((3, 2))), ShapeError, "log_probs"),
    (dict(log_probs=np.zeros((3, 2, 4), np.float16)), DTypeError, "log_probs"),
    (dict(log_probs=np.full((3, 2, 4), np.nan)), ConfigError, "log_probs"),
    (dict(blank=4), ConfigError, "blank"),
    (dict(blank=True), ConfigError, "blank"),
    (dict(reduction="avg"), ConfigError, "reduction"),
    (dict(zero_infinity=1), ConfigError, "zero_infinity"),
    (dict(targets=np.array([[1, 4], [2, 3]])), IndexRangeError, "targets"),
    (dict(targets=np.array([[1, 0], [2, 3]])), IndexRangeError, "targets"),       # a label equal to the blank
    (dict(targets=np.array([[1.0, 2.0], [2.0, 3.0]])), DTypeError, "targets"),
    (dict(targets=np.array([1, 2, 3])), ShapeError, "targets"),                   # concat length != sum(S)
    (dict(targets=np.zeros((3, 2), np.int64) + 1), ShapeError, "targets"),
    (dict(input_lengths=np.array([3, 4])), IndexRangeError, "input_lengths"),     # > T
    (dict(input_lengths=np.array([3, -1])), IndexRangeError, "input_lengths"),
    (dict(input_lengths=np.array([3])), ShapeError, "input_lengths"),
    (dict(input_lengths=np.array([3.0, 3.0])), DTypeError, "input_lengths"),
    (dict(target_lengths=np.array([3, 2])), IndexRangeError, "target_lengths"),   # > S_max
]


@pytest.mark.parametrize("change, error, name", BAD_INPUTS)
def test_bad_input_is_caught_before_compiled_code(change, error, name, monkeypatch):
    monkeypatch.setattr(kernel, "_forward", None)                        # reaching compiled code -> TypeError
    monkeypatch.setattr(kernel, "_backward", None)
    args = dict(log_probs=np.log(np.full((3, 2, 4), 0.25)), targets=np.array([[1, 2], [2, 3]]),
                input_lengths=np.array([3, 3]), target_lengths=np.array([2, 2]), blank=0, reduction="mean",
                zero_infinity=False)
    args.update(change)
    kw = {k: args.pop(k) for k in ("blank", "reduction", "zero_infinity")}
    with pytest.raises(error, match=name):
        kernel.ctc_loss(*args.values(), **kw)
    with pytest.raises(error, match=name):
        kernel.ctc_loss_backward(np.float64(1.0), *args.values(), **kw)


def test_bad_grad_output_is_caught_before_compiled_code(monkeypatch):
    monkeypatch.setattr(kernel, "_backward", None)
    lp = np.log(np.full((3, 2, 4), 0.25))
    args = (lp, np.array([[1, 2], [2, 3]]), np.array([3, 3]), np.array([2, 2]))
    with pytest.raises(ShapeError, match="grad_output"):
        kernel.ctc_loss_backward(np.ones(2), *args, reduction="mean")
    with pytest.raises(ShapeError, match="grad_output"):
        kernel.ctc_loss_backward(np.ones(3), *args, reduction="none")
    with pytest.raises(DTypeError, match="grad_output"):
        kernel.ctc_loss_backward(np.ones(2, np.float32), *args, reduction="none")
