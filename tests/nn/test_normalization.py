"""LayerNorm, RMSNorm (T5LayerNorm), GroupNorm, BatchNorm2d, FrozenBatchNorm2d and their functionals:
finite-difference gradchecks, parity with torch / transformers, eps sensitivity, bad input."""
import numpy as np
import pytest

from refimpl.core.errors import BackwardError, ConfigError, DTypeError, ShapeError
from refimpl.core.grad_mode import no_grad
from refimpl.functional.normalization import (batch_norm, batch_norm_backward, group_norm, group_norm_backward,
                                              layer_norm, layer_norm_backward, rms_norm, rms_norm_backward)
from refimpl.nn.normalization import BatchNorm2d, FrozenBatchNorm2d, GroupNorm, LayerNorm, RMSNorm
from refimpl.testing import assert_close, compare, compare_function_with_torch, compare_module_with_torch, gradcheck

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

DTYPES = [np.float64, np.float32]


# Inputs use seeds other than 0: gradcheck draws its cotangent from seed 0, and a cotangent equal to x
# makes the LayerNorm input gradient vanish exactly (x - mean(x) lies along xhat), a check of nothing.
def _randn(shape, seed=11, dtype=np.float64, scale=1.0, shift=0.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale + shift).astype(dtype)


def _randomize(torch_module, seed=0):
    """Random affine parameters and running statistics, so that every term of the math matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(torch_module.named_parameters()) + list(torch_module.named_buffers()):
            if not t.is_floating_point():
                continue
            r = torch.randn(t.shape, generator=g, dtype=t.dtype)
            if name.endswith("running_var"):
                t.copy_(0.5 + r.abs())                   # a variance is positive
            elif name.endswith("weight"):
                t.copy_(1.0 + 0.5 * r)
            else:
                t.copy_(0.5 * r)
    return torch_module


def _randomize_ref(module, seed=0):
    """The same idea for a refimpl module (for gradchecks: non-trivial weights and statistics)."""
    rng = np.random.default_rng(seed)
    for name, p in module.named_parameters():
        r = rng.standard_normal(p.shape)
        p.data[...] = 1.0 + 0.5 * r if name.endswith("weight") else 0.5 * r
    for name, b in module.named_buffers():
        if np.issubdtype(b.dtype, np.floating):
            b[...] = (0.5 + np.abs(rng.standard_normal(b.shape))) if name.endswith(("running_var", "weight")) \
                else 0.5 * rng.standard_normal(b.shape)
    return module


# ================================================================================ LayerNorm
LN_CASES = [  # (normalized_shape, x shape, kwargs)
    (5, (2, 3, 5), {}),
    (5, (5,), {}),
    ((3, 4), (2, 3, 4), {}),
    ((2, 3, 4), (2, 2, 3, 4), {}),
    (6, (2, 6), {"elementwise_affine": False}),
    ((3, 4), (2, 3, 4), {"elementwise_affine": False}),
    (6, (3, 2, 6), {"bias": False}),
    (6, (3, 2, 6), {"eps": 1e-12}),
]
LN_CF_CASES = [(4, (2, 4, 3, 3)), (4, (2, 4, 5)), (3, (1, 3, 2, 2, 2))]


@pytest.mark.parametrize("shape,xshape,kw", LN_CASES)
def test_layernorm_gradcheck(shape, xshape, kw):
    m = _randomize_ref(LayerNorm(shape, **kw))
    gradcheck(m, [_randn(xshape)])


@pytest.mark.parametrize("c,xshape", LN_CF_CASES)
def test_layernorm_channels_first_gradcheck(c, xshape):
    m = _randomize_ref(LayerNorm(c, eps=1e-6, data_format="channels_first"))
    gradcheck(m, [_randn(xshape)])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,xshape,kw", LN_CASES)
def test_layernorm_matches_torch(shape, xshape, kw, dtype):
    t = _randomize(torch.nn.LayerNorm(shape, **kw))
    m = LayerNorm(shape, **kw, dtype=dtype)
    compare_module_with_torch(m, t, [_randn(xshape, 1, dtype)], dtype=dtype).assert_ok()


def _convnext_layernorm(c, eps):
    try:
        from transformers.models.convnext.modeling_convnext import ConvNextLayerNorm
        return ConvNextLayerNorm(c, eps=eps, data_format="channels_first")
    except ImportError:  # the same math: move C last, LayerNorm, move it back
        class PermutedLayerNorm(torch.nn.LayerNorm):
            def forward(self, x):
                return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return PermutedLayerNorm(c, eps=eps)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [1e-6, 1e-12])
def test_layernorm_channels_first_matches_convnext(dtype, eps):
    t = _randomize(_convnext_layernorm(4, eps))
    m = LayerNorm(4, eps=eps, data_format="channels_first", dtype=dtype)
    compare_module_with_torch(m, t, [_randn((2, 4, 3, 5), 2, dtype)], dtype=dtype).assert_ok()


@pytest.mark.parametrize("dtype", DTYPES)
def test_layernorm_channels_first_any_rank_matches_permuted_torch(dtype):
    # (N, C, T): channels_first is LayerNorm over C at each position
    x = _randn((2, 4, 6), 3, dtype)
    m = _randomize_ref(LayerNorm(4, data_format="channels_first"), 3).to(dtype)
    t = torch.nn.LayerNorm(4).to(dtype=torch.float64 if dtype == np.float64 else torch.float32)
    t.load_state_dict({k: torch.from_numpy(v) for k, v in m.state_dict().items()})
    expected = t(torch.from_numpy(x).transpose(1, 2)).transpose(1, 2)
    assert_close(m(x), expected, dtype=dtype)


# ================================================================================ RMSNorm / T5LayerNorm
@pytest.mark.parametrize("xshape", [(2, 3, 8), (8,), (4, 8)])
def test_rmsnorm_gradcheck(xshape):
    gradcheck(_randomize_ref(RMSNorm(8)), [_randn(xshape)])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [1e-6, 1e-12])
def test_rmsnorm_matches_torch_rmsnorm(dtype, eps):
    t = _randomize(torch.nn.RMSNorm(8, eps=eps))
    compare_module_with_torch(RMSNorm(8, eps=eps, dtype=dtype), t, [_randn((2, 3, 8), 4, dtype)], dtype=dtype).assert_ok()


@pytest.mark.parametrize("dtype", DTYPES)
def test_rmsnorm_matches_t5_layernorm(dtype):
    t5 = pytest.importorskip("transformers.models.t5.modeling_t5")
    t = _randomize(t5.T5LayerNorm(16, eps=1e-6))
    report = compare_module_with_torch(RMSNorm(16, eps=1e-6, dtype=dtype), t, [_randn((2, 3, 16), 5, dtype)],
                                       dtype=dtype,
                                       # HF's T5LayerNorm computes mean(x^2) in float32 even for float64
                                       # inputs (~1e-7 relative), so its float64 output is float32-accurate;
                                       # float64 exactness is tested against torch.nn.RMSNorm above.
                                       rtol=1e-4 if dtype == np.float64 else None,
                                       atol=1e-5 if dtype == np.float64 else None)
    report.assert_ok()


# ================================================================================ GroupNorm
GN_CASES = [  # (num_groups, num_channels, x shape, affine)
    (1, 4, (2, 4, 5), True),
    (2, 4, (2, 4, 3, 3), True),
    (4, 4, (2, 4, 7), True),          # Wav2Vec2: each channel over time
    (3, 6, (1, 6, 2, 3), True),
    (2, 6, (2, 6, 2, 2, 2), True),
    (2, 4, (3, 4), True),             # no trailing axes
    (2, 4, (2, 4, 3, 3), False),
]


@pytest.mark.parametrize("g,c,xshape,affine", GN_CASES)
def test_groupnorm_gradcheck(g, c, xshape, affine):
    gradcheck(_randomize_ref(GroupNorm(g, c, affine=affine)), [_randn(xshape)])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("g,c,xshape,affine", GN_CASES)
def test_groupnorm_matches_torch(g, c, xshape, affine, dtype):
    t = _randomize(torch.nn.GroupNorm(g, c, affine=affine))
    compare_module_with_torch(GroupNorm(g, c, affine=affine, dtype=dtype), t, [_randn(xshape, 6, dtype)],
                              dtype=dtype).assert_ok()


# ================================================================================ BatchNorm2d
BN_KW = [{}, {"affine": False}, {"bias": False}, {"momentum": None}, {"momentum": 0.3, "eps": 1e-3},
         {"track_running_stats": False}]


@pytest.mark.parametrize("kw", BN_KW)
@pytest.mark.parametrize("train", [True, False])
def test_batchnorm_gradcheck(kw, train):
    m = _randomize_ref(BatchNorm2d(3, **kw)).train(train)
    gradcheck(m, [_randn((2, 3, 2, 3), shift=0.3)])


def _t(x, dtype):
    return torch.from_numpy(x).to(torch.float64 if dtype == np.float64 else torch.float32)


def _assert_bn_state_equal(m, t, dtype, step):
    for name, tb in t.named_buffers():
        rb = getattr(m, name)
        if name == "num_batches_tracked":
            assert rb.dtype == np.int64 and rb.shape == () and int(rb) == int(tb), f"step {step}: {name}"
        else:
            assert_close(rb, tb, dtype=dtype, name=f"step {step}: {name}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", BN_KW)
def test_batchnorm_matches_torch_over_steps_then_eval(kw, dtype):
    t = _randomize(torch.nn.BatchNorm2d(3, **kw)).to(_t(np.zeros(1), dtype).dtype)
    m = BatchNorm2d(3, **kw, dtype=dtype)
    m.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    for step, train in enumerate([True, True, True, False, False]):
        m.train(train)
        t.train(train)
        x = _randn((2, 3, 3, 2), 10 + step, dtype, scale=1.0 + step, shift=0.5 * step)
        dy = _randn(x.shape, 20 + step, dtype)
        m.zero_grad()
        t.zero_grad(set_to_none=True)
        xt = _t(x, dtype).requires_grad_(True)
        yt = t(xt)
        yt.backward(_t(dy, dtype))
        y = m(x)
        dx = m.backward(dy)
        assert_close(y, yt, dtype=dtype, name=f"step {step}: y")
        assert_close(dx, xt.grad, dtype=dtype, name=f"step {step}: dx")
        for name, p in t.named_parameters():
            assert_close(getattr(m, name).grad, p.grad, dtype=dtype, name=f"step {step}: grad {name}")
        _assert_bn_state_equal(m, t, dtype, step)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("train", [True, False])
def test_batchnorm_single_call_parity(dtype, train):
    t = _randomize(torch.nn.BatchNorm2d(4)).train(train)
    m = BatchNorm2d(4, dtype=dtype).train(train)
    compare_module_with_torch(m, t, [_randn((3, 4, 2, 2), 7, dtype)], dtype=dtype).assert_ok()
    _assert_bn_state_equal(m, t, dtype, 0)


def test_batchnorm_momentum_none_is_cumulative_average():
    m = BatchNorm2d(2, momentum=None)
    xs = [_randn((3, 2, 2, 2), s, shift=s) for s in range(3)]
    for x in xs:
        m(x)
    n = 3 * 2 * 2
    mean = np.mean([x.mean(axis=(0, 2, 3)) for x in xs], axis=0)
    var = np.mean([x.var(axis=(0, 2, 3)) * n / (n - 1) for x in xs], axis=0)
    # the initial (0, 1) statistics are fully replaced by the first batch (factor 1/1)
    assert_close(m.running_mean, mean)
    assert_close(m.running_var, var)
    assert int(m.num_batches_tracked) == 3


def test_batchnorm_no_grad_still_updates_running_stats_like_torch():
    m = BatchNorm2d(2)
    with no_grad():
        m(_randn((2, 2, 2, 2)))
    assert int(m.num_batches_tracked) == 1 and not np.all(m.running_mean == 0)
    with pytest.raises(BackwardError):
        m.backward(_randn((2, 2, 2, 2)))


def test_batchnorm_state_dict_matches_torch_keys_and_dtypes():
    m = BatchNorm2d(3).to(np.float32)
    t = torch.nn.BatchNorm2d(3)
    assert list(m.state_dict()) == list(t.state_dict())
    assert m.num_batches_tracked.dtype == np.int64 and m.running_var.dtype == np.float32
    assert list(BatchNorm2d(3, track_running_stats=False, affine=False).state_dict()) == []
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]


def test_batchnorm_eval_uses_running_stats_not_batch():
    m = _randomize_ref(BatchNorm2d(2)).eval()
    x = _randn((2, 2, 3, 3), 1)
    rm, rv, w, b = m.running_mean, m.running_var, m.weight.data, m.bias.data
    expected = (x - rm[:, None, None]) / np.sqrt(rv[:, None, None] + 1e-5) * w[:, None, None] + b[:, None, None]
    assert_close(m(x), expected)
    assert int(m.num_batches_tracked) == 0


# ================================================================================ FrozenBatchNorm2d
def test_frozen_batchnorm_gradcheck():
    m = _randomize_ref(FrozenBatchNorm2d(3))
    assert list(m.named_parameters()) == []
    gradcheck(m, [_randn((2, 3, 2, 2))])


@pytest.mark.parametrize("dtype", DTYPES)
def test_frozen_batchnorm_matches_detr(dtype):
    detr = pytest.importorskip("transformers.models.detr.modeling_detr")
    t = _randomize(detr.DetrFrozenBatchNorm2d(3))
    m = FrozenBatchNorm2d(3, dtype=dtype)
    assert list(m.state_dict()) == list(t.state_dict())
    compare_module_with_torch(m, t, [_randn((2, 3, 4, 3), 8, dtype)], dtype=dtype).assert_ok()


@pytest.mark.parametrize("dtype", DTYPES)
def test_frozen_batchnorm_equals_torch_batchnorm_eval_and_ignores_num_batches_tracked(dtype):
    t = _randomize(torch.nn.BatchNorm2d(3)).eval()
    m = FrozenBatchNorm2d(3, dtype=dtype)
    # compare_module_with_torch loads t.state_dict(), which has num_batches_tracked: dropped, as DETR does
    compare_module_with_torch(m, t, [_randn((2, 3, 3, 3), 9, dtype)], dtype=dtype).assert_ok()


# ================================================================================ eps is honoured
def _small_var(shape, seed=12):
    return _randn(shape, seed, scale=1e-5)               # variance ~1e-10, far below eps=1e-5


EPS_CASES = [
    ("LayerNorm", lambda eps: LayerNorm(6, eps=eps), lambda eps: torch.nn.LayerNorm(6, eps=eps), (2, 3, 6)),
    ("RMSNorm", lambda eps: RMSNorm(6, eps=eps), lambda eps: torch.nn.RMSNorm(6, eps=eps), (2, 3, 6)),
    ("GroupNorm", lambda eps: GroupNorm(2, 4, eps=eps), lambda eps: torch.nn.GroupNorm(2, 4, eps=eps), (2, 4, 5)),
    ("BatchNorm2d", lambda eps: BatchNorm2d(3, eps=eps), lambda eps: torch.nn.BatchNorm2d(3, eps=eps), (2, 3, 2, 2)),
]


@pytest.mark.parametrize("name,ref,tm,xshape", EPS_CASES, ids=[c[0] for c in EPS_CASES])
def test_eps_changes_the_output_on_small_variance_inputs(name, ref, tm, xshape):
    x = _small_var(xshape)
    t_small, t_large = _randomize(tm(1e-12)), _randomize(tm(1e-5))
    # the right eps matches tightly ...
    compare_module_with_torch(ref(1e-12), t_small, [x]).assert_ok()
    compare_module_with_torch(ref(1e-5), t_large, [x]).assert_ok()
    # ... and the wrong one is detected
    with torch.no_grad():
        y_large = t_large(torch.from_numpy(x)).numpy()
    m = ref(1e-12)
    m.load_state_dict({k: v.numpy() for k, v in t_large.state_dict().items()})
    assert not compare(m(x), y_large).ok


def test_frozen_batchnorm_eps_is_detected():
    detr = pytest.importorskip("transformers.models.detr.modeling_detr")
    t = _randomize(detr.DetrFrozenBatchNorm2d(3)).double()
    with torch.no_grad():
        t.running_var.fill_(1e-10)                        # DETR's fixed eps 1e-5 dominates
    x = _randn((1, 3, 2, 2))
    compare_module_with_torch(FrozenBatchNorm2d(3), t, [x]).assert_ok()
    wrong = FrozenBatchNorm2d(3, eps=1e-12)
    wrong.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    assert not compare(wrong(x), t(torch.from_numpy(x)).detach().numpy()).ok


# ================================================================================ functionals
def test_functional_gradchecks():
    x4 = _randn((2, 4, 3, 2), shift=0.2)
    w, b = _randn(4, 1, shift=1.0), _randn(4, 2)
    gradcheck(layer_norm, [_randn((2, 3, 4)), (4,), w, b], backward=layer_norm_backward, kwargs={"eps": 1e-5})
    gradcheck(layer_norm, [x4, 4, w, b], backward=layer_norm_backward, kwargs={"axes": (1,)})
    gradcheck(layer_norm, [x4, (3, 2), None, None], backward=layer_norm_backward)
    gradcheck(rms_norm, [_randn((3, 4)), w], backward=rms_norm_backward)
    gradcheck(rms_norm, [_randn((3, 4)), None], backward=rms_norm_backward)
    gradcheck(group_norm, [x4, 2, w, b], backward=group_norm_backward)
    rm, rv = _randn(4, 3), 0.5 + np.abs(_randn(4, 4))
    gradcheck(batch_norm, [x4, None, None, w, b], backward=batch_norm_backward, kwargs={"training": True})
    gradcheck(batch_norm, [x4, rm, rv, w, b], backward=batch_norm_backward, wrt=[0, 3, 4],
              kwargs={"training": False})


def _pick(grads, *idx):
    return tuple(grads[i] for i in idx)


@pytest.mark.parametrize("dtype", DTYPES)
def test_functionals_match_torch(dtype):
    import torch.nn.functional as F
    x = _randn((2, 4, 3, 2), 3, dtype)
    x2 = _randn((3, 5, 2), 6, dtype)
    w, b = _randn(4, 1, dtype, shift=1.0), _randn(4, 2, dtype)
    w2, b2 = _randn((3, 2), 4, dtype), _randn((3, 2), 5, dtype)
    compare_function_with_torch(lambda x, w, b: layer_norm(x, (3, 2), w, b),
                                lambda dy: _pick(layer_norm_backward(dy, x, (3, 2), w2, b2), 0, 2, 3),
                                lambda x, w, b: F.layer_norm(x, (3, 2), w, b), [x, w2, b2], dtype=dtype).assert_ok()
    compare_function_with_torch(lambda x, w: rms_norm(x, w, 1e-6),
                                lambda dy: rms_norm_backward(dy, x2, w2[0], 1e-6),
                                lambda x, w: F.rms_norm(x, (2,), w, 1e-6), [x2, w2[0].copy()], dtype=dtype).assert_ok()
    compare_function_with_torch(lambda x, w, b: group_norm(x, 2, w, b),
                                lambda dy: _pick(group_norm_backward(dy, x, 2, w, b), 0, 2, 3),
                                lambda x, w, b: F.group_norm(x, 2, w, b), [x, w, b], dtype=dtype).assert_ok()
    compare_function_with_torch(lambda x, w, b: batch_norm(x, None, None, w, b, training=True),
                                lambda dy: _pick(batch_norm_backward(dy, x, None, None, w, b, training=True), 0, 3, 4),
                                lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                                [x, w, b], dtype=dtype).assert_ok()


@pytest.mark.parametrize("momentum", [0.1, 1.0, 0.0])
def test_functional_batch_norm_updates_running_stats_in_place_like_torch(momentum):
    import torch.nn.functional as F
    x = _randn((3, 2, 2, 2), shift=1.0)
    rm, rv = _randn(2, 1), 0.5 + np.abs(_randn(2, 2))
    trm, trv = torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())
    y_t = F.batch_norm(torch.from_numpy(x), trm, trv, None, None, training=True, momentum=momentum)
    y = batch_norm(x, rm, rv, None, None, training=True, momentum=momentum)
    assert_close(y, y_t)
    assert_close(rm, trm)
    assert_close(rv, trv)


# ================================================================================ bad input
@pytest.mark.parametrize("module,x,err,match", [
    (lambda: LayerNorm(5), _randn((2, 4)), ShapeError, "x"),
    (lambda: LayerNorm((3, 5)), _randn((2, 4, 5)), ShapeError, "x"),
    (lambda: LayerNorm(4, data_format="channels_first"), _randn((2, 3, 4, 4)), ShapeError, "x"),
    (lambda: LayerNorm(4, data_format="channels_first"), _randn((4,)), ShapeError, "x"),
    (lambda: RMSNorm(5), _randn((2, 4)), ShapeError, "hidden_size"),
    (lambda: GroupNorm(2, 4), _randn((2, 6, 3)), ShapeError, "x"),
    (lambda: GroupNorm(2, 4), _randn((4,)), ShapeError, "x"),
    (lambda: BatchNorm2d(3), _randn((2, 4, 2, 2)), ShapeError, "x"),
    (lambda: BatchNorm2d(3), _randn((2, 3, 4)), ShapeError, "4 dimensions"),
    (lambda: FrozenBatchNorm2d(3), _randn((2, 2, 2, 2)), ShapeError, "x"),
    (lambda: LayerNorm(5), _randn((2, 5), dtype=np.float32), DTypeError, "x"),
    (lambda: LayerNorm(5, elementwise_affine=False), _randn((2, 5)).astype(np.int64), DTypeError, "x"),
    (lambda: RMSNorm(5), _randn((2, 5), dtype=np.float32), DTypeError, "x"),
    (lambda: GroupNorm(1, 2, dtype=np.float32), _randn((2, 2, 3)), DTypeError, "x"),
    (lambda: BatchNorm2d(2), _randn((2, 2, 2, 2), dtype=np.float32), DTypeError, "x"),
    (lambda: FrozenBatchNorm2d(2), _randn((2, 2, 2, 2), dtype=np.float32), DTypeError, "x"),
    (lambda: LayerNorm(5), torch.zeros(2, 5, dtype=torch.float64), DTypeError, "x"),
])
def test_bad_input_raises_named_error(module, x, err, match):
    with pytest.raises(err, match=match):
        module()(x)


@pytest.mark.parametrize("ctor,match", [
    (lambda: GroupNorm(3, 4), "num_channels"),
    (lambda: GroupNorm(0, 4), "num_groups"),
    (lambda: LayerNorm((2, 3), data_format="channels_first"), "normalized_shape"),
    (lambda: LayerNorm(3, data_format="NCHW"), "data_format"),
    (lambda: LayerNorm(0), "normalized_shape"),
    (lambda: LayerNorm(3, eps=-1e-5), "eps"),
    (lambda: BatchNorm2d(3, momentum=1.5), "momentum"),
    (lambda: RMSNorm(4, dtype=np.float16), "dtype"),
])
def test_bad_construction_raises_named_error(ctor, match):
    with pytest.raises((ConfigError, DTypeError), match=match):
        ctor()


def test_torch_also_rejects_group_count():
    with pytest.raises(ValueError):
        torch.nn.GroupNorm(3, 4)


@pytest.mark.parametrize("shape", [(1, 3, 1, 1)])
def test_batchnorm_train_needs_more_than_one_value_per_channel(shape):
    t = torch.nn.BatchNorm2d(3)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        t(torch.zeros(shape, dtype=torch.float32))
    m = BatchNorm2d(3)
    with pytest.raises(ConfigError, match="more than 1 value per channel"):
        m(np.zeros(shape))
    assert int(m.num_batches_tracked) == 0 and np.all(m.running_mean == 0)   # nothing was updated
    m.eval()
    assert m(np.zeros(shape)).shape == shape                                  # eval mode is fine
    m2 = BatchNorm2d(3)
    m2(np.zeros((1, 3, 2, 1)))                                                # 2 values per channel: fine


def test_functional_bad_arguments():
    x = _randn((2, 4, 3))
    with pytest.raises(DTypeError, match="weight"):
        layer_norm(x, 3, _randn(3, dtype=np.float32))
    with pytest.raises(ShapeError, match="bias"):
        layer_norm(x, 3, None, _randn(4))
    with pytest.raises(ShapeError, match="num_groups"):
        group_norm(x, 3)
    with pytest.raises(ShapeError, match="dy"):
        layer_norm_backward(_randn((2, 4)), x, 3)
    with pytest.raises(ConfigError, match="running_mean"):
        batch_norm(x, None, None, training=False)
    with pytest.raises(ShapeError, match="running_var"):
        batch_norm(x, _randn(4), _randn(3), training=False)


def test_backward_without_forward_is_an_error():
    with pytest.raises(BackwardError):
        LayerNorm(3).backward(_randn((2, 3)))


def test_module_applied_twice_backprops_in_reverse_order():
    m = _randomize_ref(LayerNorm(4))
    x1, x2 = _randn((2, 4), 1), _randn((2, 4), 2)
    dy1, dy2 = _randn((2, 4), 3), _randn((2, 4), 4)
    m(x1), m(x2)
    dx2, dx1 = m.backward(dy2), m.backward(dy1)
    w, b = m.weight.data, m.bias.data
    assert_close(dx1, layer_norm_backward(dy1, x1, 4, w, b)[0])
    assert_close(dx2, layer_norm_backward(dy2, x2, 4, w, b)[0])
    assert_close(m.weight.grad, layer_norm_backward(dy1, x1, 4, w, b)[2] + layer_norm_backward(dy2, x2, 4, w, b)[2])
