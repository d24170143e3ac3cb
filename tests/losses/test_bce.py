"""binary_cross_entropy_with_logits vs torch: loss and d/dlogits in float64 (tight) and float32, with
weight, pos_weight (class axis), soft targets, extreme logits; gradcheck; bad input."""
import numpy as np
import pytest

from refimpl.core.errors import ConfigError, DTypeError, ShapeError
from refimpl.losses.binary_cross_entropy import (binary_cross_entropy_with_logits,
                                                 binary_cross_entropy_with_logits_backward)
from refimpl.testing import compare_function_with_torch, gradcheck

torch = pytest.importorskip("torch")
F = torch.nn.functional

SHAPES = {"vector": (6,), "multilabel": (4, 3), "3d": (2, 3, 5)}
REDUCTIONS = ["none", "mean", "sum"]


def _inputs(shape, dtype, *, weight=None, pos_weight=False, scale=3.0, seed=0):
    rng = np.random.default_rng(seed)
    x = (scale * rng.standard_normal(shape)).astype(dtype)
    t = rng.uniform(0, 1, shape)
    t[..., ::2] = np.round(t[..., ::2])                         # hard 0/1 labels and soft labels
    t = t.astype(dtype)
    w = None
    if weight == "full":
        w = rng.uniform(0.1, 2.0, shape).astype(dtype)
    elif weight == "class":
        w = rng.uniform(0.1, 2.0, shape[-1:]).astype(dtype)
    pw = rng.uniform(0.2, 4.0, shape[-1:]).astype(dtype) if pos_weight else None
    return x, t, w, pw


def _parity(x, t, w, pw, dtype, reduction):
    tt = torch.from_numpy(t)
    tw = None if w is None else torch.from_numpy(w)
    tpw = None if pw is None else torch.from_numpy(pw)
    kw = dict(weight=w, pos_weight=pw, reduction=reduction)
    return compare_function_with_torch(
        lambda x: binary_cross_entropy_with_logits(x, t, **kw),
        lambda g: binary_cross_entropy_with_logits_backward(g, x, t, **kw),
        lambda xt: F.binary_cross_entropy_with_logits(xt, tt, weight=tw, pos_weight=tpw, reduction=reduction),
        [x], dtype=dtype).assert_ok()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("pos_weight", [False, True])
@pytest.mark.parametrize("weight", [None, "full", "class"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
def test_matches_torch(shape, reduction, weight, pos_weight, dtype):
    x, t, w, pw = _inputs(SHAPES[shape], dtype, weight=weight, pos_weight=pos_weight)
    _parity(x, t, w, pw, dtype, reduction)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("pos_weight", [False, True])
def test_extreme_logits_are_stable(dtype, pos_weight):
    x, t, w, pw = _inputs((4, 3), dtype, pos_weight=pos_weight)
    x = np.array([[-800.0, -40.0, 0.0], [800.0, 40.0, -1e-8], [1e4, -1e4, 30.0], [-30.0, 17.0, -17.0]], dtype)
    _parity(x, t, w, pw, dtype, "none")


def test_pos_weight_broadcasts_over_last_axis_only():
    # a (C,) pos_weight on (N, C) logits weighs class c of every sample by pos_weight[c]
    x, t, _, pw = _inputs((4, 3), np.float64, pos_weight=True)
    per_class = [binary_cross_entropy_with_logits(x[:, c], t[:, c], pos_weight=pw[c:c + 1], reduction="sum")
                 for c in range(3)]
    assert np.isclose(binary_cross_entropy_with_logits(x, t, pos_weight=pw, reduction="sum"), sum(per_class),
                      rtol=1e-14)


@pytest.mark.parametrize("pos_weight", [False, True])
@pytest.mark.parametrize("weight", [None, "full", "class"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck(reduction, weight, pos_weight):
    x, t, w, pw = _inputs((3, 4), np.float64, weight=weight, pos_weight=pos_weight)
    gradcheck(binary_cross_entropy_with_logits, [x], backward=binary_cross_entropy_with_logits_backward,
              kwargs=dict(target=t, weight=w, pos_weight=pw, reduction=reduction))


def test_empty_input_mean_is_nan_like_torch():
    x = np.zeros((0, 3))
    assert np.isnan(binary_cross_entropy_with_logits(x, x.copy()))
    assert torch.isnan(F.binary_cross_entropy_with_logits(torch.zeros(0, 3), torch.zeros(0, 3)))
    assert binary_cross_entropy_with_logits(x, x.copy(), reduction="sum") == 0.0


# ----------------------------------------------------------------------------- bad input
def test_target_wrong_shape():
    x, t, _, _ = _inputs((4, 3), np.float64)
    with pytest.raises(ShapeError, match="target"):
        binary_cross_entropy_with_logits(x, t[:, :2])
    with pytest.raises(ShapeError, match="target"):
        binary_cross_entropy_with_logits(x, t[0])


def test_target_dtype():
    x, t, _, _ = _inputs((4, 3), np.float64)
    with pytest.raises(DTypeError, match="target"):
        binary_cross_entropy_with_logits(x, t.astype(np.int64))
    with pytest.raises(DTypeError, match="target"):
        binary_cross_entropy_with_logits(x, t.astype(np.float32))
    with pytest.raises(DTypeError, match="logits"):
        binary_cross_entropy_with_logits(x.astype(np.int64), t)


def test_weight_and_pos_weight_shapes():
    x, t, _, _ = _inputs((4, 3), np.float64)
    with pytest.raises(ShapeError, match="weight"):
        binary_cross_entropy_with_logits(x, t, weight=np.ones(4))
    with pytest.raises(ShapeError, match="pos_weight"):
        binary_cross_entropy_with_logits(x, t, pos_weight=np.ones(4))
    with pytest.raises(ShapeError, match="pos_weight"):
        binary_cross_entropy_with_logits(x, t, pos_weight=np.ones((2, 4, 3)))
    with pytest.raises(DTypeError, match="pos_weight"):
        binary_cross_entropy_with_logits(x, t, pos_weight=np.ones(3, np.float32))


def test_bad_reduction_and_grad():
    x, t, _, _ = _inputs((4, 3), np.float64)
    with pytest.raises(ConfigError, match="reduction"):
        binary_cross_entropy_with_logits(x, t, reduction="batchmean")
    with pytest.raises(ShapeError, match="grad"):
        binary_cross_entropy_with_logits_backward(np.ones(3), x, t, reduction="none")
    with pytest.raises(ShapeError, match="grad"):
        binary_cross_entropy_with_logits_backward(np.ones((4, 3)), x, t, reduction="sum")
