"""ctc_loss / ctc_loss_backward: vs torch.nn.functional.ctc_loss over hypothesis-generated cases (loss and the
gradient w.r.t. the logits of log_softmax, float64 tight and float32), the documented relation to torch's
gradient w.r.t. log_probs, brute-force enumeration of all alignments (loss and gradient, not trusting torch),
gradcheck, kernel-dispatch registration and bad input."""
import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl.core.errors import ConfigError, DTypeError, IndexRangeError, ShapeError
from refimpl.core.kernel_dispatch import dispatch
from refimpl.functional.activation import log_softmax, log_softmax_backward
from refimpl.losses.ctc import check_ctc_feasible, ctc_loss, ctc_loss_backward, ctc_min_input_lengths
from refimpl.testing import assert_close, gradcheck

torch = pytest.importorskip("torch")
F = torch.nn.functional

REDUCTIONS = ["none", "mean", "sum"]


def _min_len(row):
    return len(row) + int(np.sum(np.asarray(row[1:]) == np.asarray(row[:-1]))) if len(row) else 0


@st.composite
def ctc_cases(draw, max_T=7, max_B=3, max_C=5):
    """A batch with repeats, any blank index, empty targets, barely (in)feasible lengths, both target layouts."""
    C = draw(st.integers(2, max_C))
    blank = draw(st.sampled_from(sorted({0, C - 1, C // 2})))
    labels = [c for c in range(C) if c != blank]
    T = draw(st.integers(1, max_T))
    B = draw(st.integers(1, max_B))
    rows, L = [], []
    for _ in range(B):
        S = draw(st.integers(0, min(4, T)))
        # draw labels from a small subset so repeats (which need a blank between) are frequent
        pool = labels[:draw(st.integers(1, len(labels)))]
        row = [draw(st.sampled_from(pool)) for _ in range(S)]
        need = _min_len(row)
        kind = draw(st.sampled_from(["barely", "short", "any"]))
        if kind == "barely":
            Lb = need
        elif kind == "short":
            Lb = need - 1
        else:
            Lb = draw(st.integers(0, T))
        rows.append(row)
        L.append(int(np.clip(Lb, 0, T)))
    S_max = max(len(r) for r in rows) + draw(st.integers(0, 1))       # sometimes extra padding
    pad_value = draw(st.sampled_from([blank, -1, C]))                  # padding is ignored, whatever it holds
    padded = np.full((B, S_max), pad_value, dtype=np.int64)
    for b, r in enumerate(rows):
        padded[b, :len(r)] = r
    target_lengths = np.array([len(r) for r in rows], dtype=np.int64)
    concat = np.array([c for r in rows for c in r], dtype=np.int64)
    layout = draw(st.sampled_from(["padded", "concat"]))
    targets = padded if layout == "padded" else concat
    seed = draw(st.integers(0, 2**31 - 1))
    logits = 1.5 * np.random.default_rng(seed).standard_normal((T, B, C))
    kw = dict(blank=blank, reduction=draw(st.sampled_from(REDUCTIONS)), zero_infinity=draw(st.booleans()))
    return logits, targets, np.array(L, dtype=np.int64), target_lengths, kw


def _upstream(kw, B, dtype, seed=1):
    if kw["reduction"] == "none":
        return np.random.default_rng(seed).uniform(0.5, 1.5, B).astype(dtype)
    return dtype(0.7)


def _torch_ctc(logits, targets, L, S, kw, dtype, grad_output):
    """torch: loss and d loss / d logits for logits -> log_softmax -> ctc_loss."""
    x = torch.tensor(logits.astype(dtype), requires_grad=True)
    loss = F.ctc_loss(x.log_softmax(-1), torch.from_numpy(targets), torch.from_numpy(L), torch.from_numpy(S), **kw)
    loss.backward(torch.as_tensor(grad_output))
    return loss.detach().numpy(), x.grad.numpy()


def _ref_ctc(logits, targets, L, S, kw, dtype, grad_output):
    lp = log_softmax(logits.astype(dtype), -1)
    loss = ctc_loss(lp, targets, L, S, **kw)
    g = ctc_loss_backward(grad_output, lp, targets, L, S, **kw)
    return loss, log_softmax_backward(g, None, -1, y=lp), g, lp


def _check_against_torch(case, dtype):
    logits, targets, L, S, kw = case
    go = _upstream(kw, logits.shape[1], dtype)
    t_loss, t_grad = _torch_ctc(logits, targets, L, S, kw, dtype, go)
    loss, dx, _, _ = _ref_ctc(logits, targets, L, S, kw, dtype, go)
    assert loss.dtype == dtype and loss.shape == t_loss.shape
    c1 = assert_close(loss, t_loss, dtype=dtype, name="loss")
    # infeasible samples without zero_infinity: NaN gradient on their frames in both (0 beyond)
    c2 = assert_close(dx, t_grad, dtype=dtype, equal_nan=True, name="d loss / d logits")
    return c1, c2


@given(ctc_cases())
def test_matches_torch_float64(case):
    _check_against_torch(case, np.float64)


@given(ctc_cases())
def test_matches_torch_float32(case):
    _check_against_torch(case, np.float32)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_fixed_batch_matches_torch(reduction, zero_infinity, dtype):
    """Deterministic batch: repeats, an empty target, a barely feasible and an infeasible sample, L = 0."""
    rng = np.random.default_rng(3)
    T, C = 6, 5
    targets = np.array([[1, 1, 2, 2], [3, 0, 0, 0], [4, 4, 4, 0], [1, 2, 3, 4], [0, 0, 0, 0], [2, 0, 0, 0]])
    S = np.array([4, 1, 3, 4, 0, 1])
    L = np.array([6, 6, 5, 3, 4, 0])   # [0] barely (4 + 2 repeats), [2] 3+2=5 barely, [3] infeasible, [5] L=0 S=1
    logits = rng.standard_normal((T, 6, C))
    kw = dict(blank=0, reduction=reduction, zero_infinity=zero_infinity)
    _check_against_torch((logits, targets, L, S, kw), dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradient_relation_to_torch_log_probs_leaf(reduction):
    """torch's grad w.r.t. a log_probs LEAF is exp(lp) - posterior (right only after log_softmax); ours is
    the true -posterior. Documented relation: torch = ours + scale_b * exp(lp) on frames t < L_b."""
    rng = np.random.default_rng(5)
    T, B, C = 6, 3, 4
    lp = log_softmax(rng.standard_normal((T, B, C)), -1)
    targets = np.array([[1, 2, 2], [3, 0, 0], [1, 3, 1]])
    S, L = np.array([3, 1, 3]), np.array([6, 4, 5])
    go = np.array([1.0, 0.5, 2.0]) if reduction == "none" else np.float64(1.3)
    t_lp = torch.tensor(lp, requires_grad=True)
    F.ctc_loss(t_lp, torch.from_numpy(targets), torch.from_numpy(L), torch.from_numpy(S),
               reduction=reduction).backward(torch.as_tensor(go))
    ours = ctc_loss_backward(go, lp, targets, L, S, reduction=reduction)
    scale = np.broadcast_to(go, (B,)) * (1 / np.maximum(S, 1) / B if reduction == "mean" else 1)
    frames = (np.arange(T)[:, None] < L[None, :])[:, :, None]
    assert_close(ours + np.where(frames, scale[None, :, None] * np.exp(lp), 0), t_lp.grad.numpy())
    # and they differ (so the test above is not vacuous)
    assert np.abs(ours - t_lp.grad.numpy()).max() > 1e-2


# ------------------------------------------------------------------------------------- brute force
def _collapse(path, blank):
    out, prev = [], None
    for c in path:
        if c != prev and c != blank:
            out.append(c)
        prev = c
    return out


def _brute_force(lp, target, blank):
    """-log p(target) and d/dlp by enumerating every path of length T over C classes."""
    T, C = lp.shape
    p, dp = 0.0, np.zeros((T, C))
    for path in itertools.product(range(C), repeat=T):
        if _collapse(path, blank) == list(target):
            w = np.exp(sum(lp[t, c] for t, c in enumerate(path)))
            p += w
            for t, c in enumerate(path):
                dp[t, c] += w                                          # d p / d lp[t, c] = sum of paths through c
    return -np.log(p) if p > 0 else np.inf, -dp / p if p > 0 else None


@st.composite
def tiny_cases(draw):
    C = draw(st.integers(2, 3))
    T = draw(st.integers(1, 5))
    blank = draw(st.integers(0, C - 1))
    labels = [c for c in range(C) if c != blank]
    S = draw(st.integers(0, 3))
    target = [draw(st.sampled_from(labels)) for _ in range(S)]
    seed = draw(st.integers(0, 2**31 - 1))
    return np.random.default_rng(seed).standard_normal((T, C)), target, blank


@given(tiny_cases())
def test_brute_force_enumeration(case):
    """Not trusting torch: every alignment enumerated, on unnormalised log_probs (the true gradient)."""
    x, target, blank = case
    T, C = x.shape
    loss_bf, grad_bf = _brute_force(x, target, blank)
    lp = x[:, None, :]                                                 # (T, 1, C), deliberately not normalised
    tg = np.array([target + [blank]], dtype=np.int64)[:, :max(len(target), 1)]
    L, S = np.array([T]), np.array([len(target)])
    loss = ctc_loss(lp, tg, L, S, blank=blank, reduction="none")
    assert_close(loss, np.array([loss_bf]))
    if grad_bf is not None:
        g = ctc_loss_backward(np.ones(1), lp, tg, L, S, blank=blank, reduction="none")
        assert_close(g[:, 0, :], grad_bf)
    else:
        assert T < _min_len(target)


# ------------------------------------------------------------------------------------- gradcheck / properties
def _fn(lp, targets, L, S, **kw):
    return ctc_loss(lp, targets, L, S, **kw)


def _bw(g, lp, targets, L, S, **kw):
    return ctc_loss_backward(g, lp, targets, L, S, **kw), None, None, None


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("layout", ["padded", "concat"])
@pytest.mark.parametrize("blank", [0, 2, 4])
def test_gradcheck(reduction, layout, blank):
    rng = np.random.default_rng(11)
    T, C = 7, 5
    lab = [c for c in range(C) if c != blank]
    rows = [[lab[0], lab[0], lab[1]], [], [lab[2], lab[3]]]
    L = np.array([7, 5, 4])
    S = np.array([len(r) for r in rows])
    padded = np.zeros((3, 3), dtype=np.int64) + blank
    for b, r in enumerate(rows):
        padded[b, :len(r)] = r
    targets = padded if layout == "padded" else np.array([c for r in rows for c in r], dtype=np.int64)
    lp = rng.standard_normal((T, 3, C))                                # independent entries: no normalisation
    gradcheck(_fn, [lp, targets, L, S], backward=_bw, kwargs=dict(blank=blank, reduction=reduction))


def test_gradcheck_zero_infinity_with_infeasible_sample():
    rng = np.random.default_rng(12)
    lp = rng.standard_normal((4, 2, 3))
    targets = np.array([[1, 1, 2], [2, 1, 0]])
    S, L = np.array([3, 2]), np.array([3, 4])                          # sample 0 needs 4 frames, has 3
    kw = dict(reduction="sum", zero_infinity=True)
    gradcheck(_fn, [lp, targets, L, S], backward=_bw, kwargs=kw)
    g = ctc_loss_backward(np.float64(1), lp, targets, L, S, **kw)
    assert np.all(g[:, 0] == 0) and np.any(g[:, 1] != 0)


def test_occupation_sums_and_zero_beyond_input_length():
    """sum_c d loss_b / d lp[t, c] = -1 on frames t < L_b ("none", upstream 1) and exactly 0 beyond."""
    rng = np.random.default_rng(4)
    lp = log_softmax(rng.standard_normal((8, 3, 4)), -1)
    targets = np.array([[1, 2], [3, 3], [0, 0]]) + np.array([[0], [0], [1]])
    S, L = np.array([2, 2, 1]), np.array([8, 5, 3])
    g = ctc_loss_backward(np.ones(3), lp, targets, L, S, reduction="none")
    frames = np.arange(8)[:, None] < L[None, :]
    assert_close(g.sum(-1)[frames], -np.ones(frames.sum()))
    assert np.all(g[~frames] == 0)


def test_empty_target_is_blank_log_likelihood():
    lp = log_softmax(np.random.default_rng(2).standard_normal((5, 2, 3)), -1)
    L = np.array([5, 3])
    loss = ctc_loss(lp, np.zeros((2, 0), dtype=np.int64), L, np.array([0, 0]), blank=1, reduction="none")
    assert_close(loss, -np.array([lp[:5, 0, 1].sum(), lp[:3, 1, 1].sum()]))


def test_infeasible_gives_inf_and_zero_infinity_zeroes():
    lp = log_softmax(np.random.default_rng(2).standard_normal((3, 1, 3)), -1)
    targets, L, S = np.array([[1, 1]]), np.array([3]), np.array([2])   # 1,1 needs 3 frames: feasible
    assert np.isfinite(ctc_loss(lp, targets, L, S, reduction="none")[0])
    L = np.array([2])                                                  # now infeasible
    assert ctc_loss(lp, targets, L, S, reduction="none")[0] == np.inf
    assert ctc_loss(lp, targets, L, S, reduction="mean", zero_infinity=True) == 0
    g = ctc_loss_backward(np.float64(1), lp, targets, L, S, reduction="mean")
    assert np.all(np.isnan(g[:2])) and np.all(g[2] == 0)


def test_registered_as_hot_path_reference():
    assert dispatch("ctc", "ctc_loss") is ctc_loss
    assert dispatch("ctc", "ctc_loss_backward") is ctc_loss_backward


def test_min_input_lengths_and_feasibility_check():
    targets = np.array([[1, 1, 2, 2], [3, 0, 0, 0], [1, 2, 1, 0]])
    S = np.array([4, 1, 3])
    assert ctc_min_input_lengths(targets, S).tolist() == [6, 1, 3]
    assert ctc_min_input_lengths(np.array([1, 1, 2, 2, 3, 1, 2, 1]), S).tolist() == [6, 1, 3]
    check_ctc_feasible(np.array([6, 1, 3]), targets, S)
    with pytest.raises(ConfigError, match="input_lengths: sample 0 has 5 frames"):
        check_ctc_feasible(np.array([5, 1, 3]), targets, S)


# ------------------------------------------------------------------------------------- bad input
def _good():
    lp = log_softmax(np.random.default_rng(0).standard_normal((4, 2, 3)), -1)
    return lp, np.array([[1, 2], [2, 0]]), np.array([4, 3]), np.array([2, 1])


@pytest.mark.parametrize("change,err,match", [
    (dict(log_probs=np.zeros((4, 3))), ShapeError, "log_probs"),
    (dict(log_probs=np.zeros((4, 2, 3), dtype=np.int64)), DTypeError, "log_probs"),
    (dict(log_probs=np.full((4, 2, 3), np.nan)), ConfigError, "log_probs"),
    (dict(targets=np.array([[1.0, 2.0], [2.0, 0.0]])), DTypeError, "targets"),
    (dict(targets=np.array([[1, 0], [2, 0]])), IndexRangeError, "targets.*blank"),     # label == blank
    (dict(targets=np.array([[1, 3], [2, 0]])), IndexRangeError, "targets"),            # id >= C
    (dict(targets=np.array([[1, -1], [2, 0]])), IndexRangeError, "targets"),
    (dict(targets=np.array([[1, 2]])), ShapeError, "targets"),                         # wrong batch
    (dict(targets=np.array([1, 2, 2, 1])), ShapeError, "targets"),                     # 1-d != sum(lengths)
    (dict(input_lengths=np.array([5, 3])), IndexRangeError, "input_lengths"),          # > T
    (dict(input_lengths=np.array([-1, 3])), IndexRangeError, "input_lengths"),
    (dict(input_lengths=np.array([4, 3, 2])), ShapeError, "input_lengths"),
    (dict(input_lengths=np.array([4.0, 3.0])), DTypeError, "input_lengths"),
    (dict(input_lengths=[4, 3]), DTypeError, "input_lengths"),
    (dict(target_lengths=np.array([3, 1])), IndexRangeError, "target_lengths"),        # > S_max
    (dict(target_lengths=np.array([2])), ShapeError, "target_lengths"),
    (dict(blank=3), ConfigError, "blank"),
    (dict(blank=-1), ConfigError, "blank"),
    (dict(reduction="avg"), ConfigError, "reduction"),
    (dict(zero_infinity="yes"), ConfigError, "zero_infinity"),
])
def test_bad_input(change, err, match):
    lp, targets, L, S = _good()
    args = dict(log_probs=lp, targets=targets, input_lengths=L, target_lengths=S)
    kw = {k: change.pop(k) for k in ("blank", "reduction", "zero_infinity") if k in change}
    args.update(change)
    with pytest.raises(err, match=match):
        ctc_loss(args["log_probs"], args["targets"], args["input_lengths"], args["target_lengths"], **kw)
    with pytest.raises(err, match=match):
        ctc_loss_backward(np.float64(1), args["log_probs"], args["targets"], args["input_lengths"],
                          args["target_lengths"], **kw)


def test_bad_grad_output():
    lp, targets, L, S = _good()
    with pytest.raises(ShapeError, match="grad_output"):
        ctc_loss_backward(np.ones(2), lp, targets, L, S, reduction="mean")
    with pytest.raises(ShapeError, match="grad_output"):
        ctc_loss_backward(np.ones(3), lp, targets, L, S, reduction="none")
    with pytest.raises(DTypeError, match="grad_output"):
        ctc_loss_backward(np.ones(2, dtype=np.float32), lp, targets, L, S, reduction="none")
