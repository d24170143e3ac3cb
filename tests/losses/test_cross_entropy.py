"""cross_entropy vs torch.nn.functional.cross_entropy: loss and d/dlogits, float64 tight and float32,
class-index and probability targets, weights, ignore_index, label smoothing, K-dim targets; gradcheck;
bad input."""
import numpy as np
import pytest

from refimpl.core.errors import ConfigError, DTypeError, IndexRangeError, ShapeError
from refimpl.losses.cross_entropy import cross_entropy, cross_entropy_backward
from refimpl.testing import assert_close, compare_function_with_torch, gradcheck

torch = pytest.importorskip("torch")
F = torch.nn.functional

C = 4
SHAPES = {"2d": (5, C), "kdim": (3, C, 2, 3), "single": (C,)}
REDUCTIONS = ["none", "mean", "sum"]


def _index_shape(shape):
    return shape[:1] + shape[2:] if len(shape) >= 2 else ()


def _inputs(shape, dtype, *, seed=0, weighted=False, ignore=False, probabilities=False):
    rng = np.random.default_rng(seed)
    x = (2 * rng.standard_normal(shape)).astype(dtype)
    w = rng.uniform(0.2, 2.0, C).astype(dtype) if weighted else None
    if probabilities:
        axis = 0 if len(shape) == 1 else 1
        e = np.exp(rng.standard_normal(shape))
        t = (e / e.sum(axis, keepdims=True)).astype(dtype)
    else:
        t = rng.integers(0, C, _index_shape(shape))
        if ignore and t.ndim:
            t.flat[::3] = -100                                  # some samples ignored, not all
    return x, np.asarray(t), w


def _parity(x, t, w, dtype, **kw):
    tt = torch.from_numpy(t)
    tw = None if w is None else torch.from_numpy(w)
    report = compare_function_with_torch(
        lambda x: cross_entropy(x, t, weight=w, **kw),
        lambda g: cross_entropy_backward(g, x, t, weight=w, **kw),
        lambda xt: F.cross_entropy(xt, tt, weight=tw, **kw), [x], dtype=dtype)
    return report.assert_ok()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("ignore", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
def test_class_targets_match_torch(shape, reduction, weighted, ignore, label_smoothing, dtype):
    x, t, w = _inputs(SHAPES[shape], dtype, weighted=weighted, ignore=ignore)
    _parity(x, t, w, dtype, reduction=reduction, label_smoothing=label_smoothing)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
def test_probability_targets_match_torch(shape, reduction, weighted, label_smoothing, dtype):
    x, t, w = _inputs(SHAPES[shape], dtype, weighted=weighted, probabilities=True)
    _parity(x, t, w, dtype, reduction=reduction, label_smoothing=label_smoothing)


@pytest.mark.parametrize("ignore_index", [-1, 2])
def test_custom_ignore_index_matches_torch(ignore_index):
    x, t, w = _inputs((6, C), np.float64, weighted=True)
    t[:3] = ignore_index
    _parity(x, t, w, np.float64, ignore_index=ignore_index, label_smoothing=0.1)


@pytest.mark.parametrize("label_smoothing", [0.0, 1.0])
def test_label_smoothing_bounds_match_torch(label_smoothing):
    x, t, w = _inputs((5, C), np.float64, weighted=True, ignore=True)
    _parity(x, t, w, np.float64, label_smoothing=label_smoothing)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_all_ignored_mean_is_nan_like_torch(weighted, label_smoothing):
    x, _, w = _inputs((3, C), np.float64, weighted=weighted)
    t = np.full(3, -100)
    loss = cross_entropy(x, t, weight=w, label_smoothing=label_smoothing)
    xt = torch.from_numpy(x).requires_grad_()
    lt = F.cross_entropy(xt, torch.from_numpy(t), weight=None if w is None else torch.from_numpy(w),
                         label_smoothing=label_smoothing)
    lt.backward()
    assert np.isnan(loss) and torch.isnan(lt)
    g = cross_entropy_backward(1.0, x, t, weight=w, label_smoothing=label_smoothing)
    assert_close(g, xt.grad, dtype=np.float64)                 # ignored rows: exactly 0
    assert cross_entropy(x, t, reduction="sum") == 0.0


def test_zero_weight_sum_gives_nan_like_torch():
    x, _, _ = _inputs((3, C), np.float64)
    t = np.array([0, 0, -100])
    w = np.array([0.0, 1.0, 1.0, 1.0])
    xt = torch.from_numpy(x).requires_grad_()
    lt = F.cross_entropy(xt, torch.from_numpy(t), weight=torch.from_numpy(w))
    lt.backward()
    assert np.isnan(cross_entropy(x, t, weight=w))
    assert_close(cross_entropy_backward(1.0, x, t, weight=w), xt.grad, equal_nan=True)


def test_empty_batch_like_torch():
    x = np.zeros((0, C))
    t = np.zeros(0, dtype=np.int64)
    assert np.isnan(cross_entropy(x, t))
    assert cross_entropy(x, t, reduction="sum") == 0.0
    assert cross_entropy(x, t, reduction="none").shape == (0,)
    assert cross_entropy_backward(1.0, x, t).shape == (0, C)


def test_masked_minus_inf_logits_stay_finite_like_torch():
    x, t, _ = _inputs((4, C), np.float64)
    t[:] = [0, 1, 2, 1]
    x[:, 3] = -np.inf                                           # a masked class that is never the target
    _parity(x, t, None, np.float64, reduction="none")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_large_logits_are_stable(dtype):
    x, t, w = _inputs((5, C), dtype, weighted=True)
    x = (x * 500).astype(dtype)                                 # exp would overflow without the max shift
    _parity(x, t, w, dtype, label_smoothing=0.1)


@pytest.mark.parametrize("probabilities", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
def test_gradcheck(shape, reduction, label_smoothing, probabilities):
    x, t, w = _inputs(SHAPES[shape], np.float64, weighted=True, ignore=True, probabilities=probabilities)
    gradcheck(cross_entropy, [x], backward=cross_entropy_backward,
              kwargs=dict(target=t, weight=w, reduction=reduction, label_smoothing=label_smoothing))


# ----------------------------------------------------------------------------- bad input
def _x():
    return _inputs((3, C), np.float64)


@pytest.mark.parametrize("bad", [np.array([0, 1, C]), np.array([0, -1, 2]), np.array([0, -101, 1])])
def test_target_out_of_range(bad):
    x, _, _ = _x()
    with pytest.raises(IndexRangeError, match="target"):
        cross_entropy(x, bad)
    with pytest.raises(IndexRangeError, match="target"):
        cross_entropy_backward(1.0, x, bad)


def test_target_wrong_shape():
    x, t, _ = _x()
    with pytest.raises(ShapeError, match="target"):
        cross_entropy(x, t[:2])
    with pytest.raises(ShapeError, match="target"):
        cross_entropy(x, t[:, None])
    with pytest.raises(ShapeError, match="target"):
        cross_entropy(np.zeros((2, C, 3)), np.zeros((2, 4), dtype=np.int64))


def test_float_target_where_indices_expected():
    x, t, _ = _x()
    with pytest.raises(DTypeError, match="target.*integer"):
        cross_entropy(x, t.astype(np.float64))


def test_integer_target_of_logits_shape():
    x, _, _ = _x()
    with pytest.raises(DTypeError, match="target.*probabilities"):
        cross_entropy(x, np.zeros((3, C), dtype=np.int64))


def test_probability_target_dtype_must_match():
    x, t, _ = _inputs((3, C), np.float64, probabilities=True)
    with pytest.raises(DTypeError, match="target"):
        cross_entropy(x, t.astype(np.float32))


def test_probability_target_refuses_ignore_index():
    x, t, _ = _inputs((3, C), np.float64, probabilities=True)
    with pytest.raises(ConfigError, match="ignore_index"):
        cross_entropy(x, t, ignore_index=0)


def test_target_must_be_array():
    x, _, _ = _x()
    with pytest.raises(DTypeError, match="target"):
        cross_entropy(x, [0, 1, 2])
    with pytest.raises(DTypeError, match="target"):
        cross_entropy(x, np.array([True, False, True]))


@pytest.mark.parametrize("reduction", ["avg", "elementwise_mean", None])
def test_bad_reduction(reduction):
    x, t, _ = _x()
    with pytest.raises(ConfigError, match="reduction"):
        cross_entropy(x, t, reduction=reduction)


@pytest.mark.parametrize("ls", [-0.1, 1.5])
def test_bad_label_smoothing(ls):
    x, t, _ = _x()
    with pytest.raises(ConfigError, match="label_smoothing"):
        cross_entropy(x, t, label_smoothing=ls)


def test_bad_weight():
    x, t, _ = _x()
    with pytest.raises(ShapeError, match="weight"):
        cross_entropy(x, t, weight=np.ones(C + 1))
    with pytest.raises(ShapeError, match="weight"):
        cross_entropy(x, t, weight=np.ones((1, C)))
    with pytest.raises(DTypeError, match="weight"):
        cross_entropy(x, t, weight=np.ones(C, np.float32))


def test_bad_logits():
    _, t, _ = _x()
    with pytest.raises(DTypeError, match="logits"):
        cross_entropy(np.zeros((3, C), np.int64), t)
    with pytest.raises(ShapeError, match="logits"):
        cross_entropy(np.zeros(()), np.array(0))
    with pytest.raises(ShapeError, match="logits"):
        cross_entropy(np.zeros((3, 0)), np.zeros(3, dtype=np.int64))


def test_bad_backward_grad():
    x, t, _ = _x()
    with pytest.raises(ShapeError, match="grad"):
        cross_entropy_backward(np.ones(2), x, t, reduction="none")
    with pytest.raises(ShapeError, match="grad"):
        cross_entropy_backward(np.ones(3), x, t, reduction="mean")
    with pytest.raises(DTypeError, match="grad"):
        cross_entropy_backward(np.ones(3, np.float32), x, t, reduction="none")
