"""The layer protocol: registration order and HF keys, state dicts, grad accumulation, freezing,
train/eval, dtype policy, the save/pop stack and no_grad."""
import numpy as np
import pytest

from refimpl.core import (BackwardError, DTypeError, Module, ModuleDict, ModuleList, Parameter, Sequential,
                          ShapeError, StateDictError, no_grad, is_grad_enabled)
from refimpl.nn.linear import Linear


class Block(Module):
    def __init__(self, dtype=np.float64):
        super().__init__()
        self.dense = Linear(4, 3, dtype=dtype, rng=np.random.default_rng(1))
        self.out = Linear(3, 2, bias=False, dtype=dtype, rng=np.random.default_rng(2))
        self.register_buffer("position_ids", np.arange(5)[None])
        self.register_buffer("scratch", np.zeros(3), persistent=False)

    def forward(self, x):
        return self.out(self.dense(x))

    def backward(self, dy):
        return self.dense.backward(self.out.backward(dy))


class Model(Module):
    def __init__(self, dtype=np.float64):
        super().__init__()
        self.encoder = ModuleDict({"layer": ModuleList([Block(dtype), Block(dtype)])})
        self.head = Linear(2, 2, dtype=dtype)

    def forward(self, x):
        for b in self.encoder["layer"]:
            x = b(x) @ np.ones((2, 4), x.dtype)
        return x


def test_named_parameters_are_hf_keys_in_assignment_order():
    names = [n for n, _ in Model().named_parameters()]
    assert names == ["encoder.layer.0.dense.weight", "encoder.layer.0.dense.bias", "encoder.layer.0.out.weight",
                     "encoder.layer.1.dense.weight", "encoder.layer.1.dense.bias", "encoder.layer.1.out.weight",
                     "head.weight", "head.bias"]


def test_state_dict_has_persistent_buffers_only():
    sd = Model().state_dict()
    assert "encoder.layer.0.position_ids" in sd
    assert not any("scratch" in k for k in sd)
    assert not any(k.endswith("out.bias") for k in sd)  # bias=False: no key, as in torch


def test_load_state_dict_round_trip_and_dtype_conversion():
    a, b = Model(), Model(np.float32)
    sd = {k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in a.state_dict().items()}
    b.load_state_dict(sd)
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert q.dtype == np.float32, n  # the module's dtype is kept: loading never changes it
        np.testing.assert_array_equal(q.data, p.data.astype(np.float32))
    assert b.state_dict()["encoder.layer.0.position_ids"].dtype == a.state_dict()["encoder.layer.0.position_ids"].dtype


def test_load_state_dict_reports_every_problem_at_once():
    m = Model()
    sd = dict(m.state_dict())
    del sd["head.bias"]
    sd["head.weight"] = np.zeros((3, 3))
    sd["pooler.dense.weight"] = np.zeros(1)
    with pytest.raises(StateDictError) as err:
        m.load_state_dict(sd)
    msg = str(err.value)
    assert "missing keys" in msg and "head.bias" in msg
    assert "unexpected keys" in msg and "pooler.dense.weight" in msg
    assert "mis-shaped" in msg and "head.weight: checkpoint (3, 3) vs module (2, 2)" in msg


def test_load_state_dict_non_strict_returns_missing_and_unexpected_but_rejects_bad_shapes():
    m = Model()
    sd = dict(m.state_dict())
    del sd["head.bias"]
    sd["extra"] = np.zeros(1)
    missing, unexpected = m.load_state_dict(sd, strict=False)
    assert missing == ["head.bias"] and unexpected == ["extra"]
    sd["head.weight"] = np.zeros((1, 1))
    with pytest.raises(StateDictError, match="head.weight"):
        m.load_state_dict(sd, strict=False)


def test_failed_load_changes_nothing():
    m = Model()
    before = {k: v.copy() for k, v in m.state_dict().items()}
    sd = {k: v + 1 for k, v in m.state_dict().items()}
    sd["head.weight"] = np.zeros((5, 5))
    with pytest.raises(StateDictError):
        m.load_state_dict(sd)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_backward_accumulates_parameter_gradients(rng):
    lin = Linear(4, 3)
    x = rng.standard_normal((2, 4))
    dy = rng.standard_normal((2, 3))
    lin(x)
    lin.backward(dy)
    g1 = lin.weight.grad.copy()
    lin(x)
    lin.backward(dy)
    np.testing.assert_allclose(lin.weight.grad, 2 * g1, rtol=1e-15)
    lin.zero_grad()
    assert lin.weight.grad is None


def test_frozen_parameter_gets_no_gradient(rng):
    lin = Linear(4, 3)
    lin.weight.requires_grad = False
    lin(rng.standard_normal((2, 4)))
    dx = lin.backward(rng.standard_normal((2, 3)))
    assert lin.weight.grad is None and lin.bias.grad is not None and dx.shape == (2, 4)


def test_requires_grad_and_num_parameters():
    m = Model()
    total = m.num_parameters()
    m.head.requires_grad_(False)
    assert m.num_parameters(only_trainable=True) == total - 6


def test_module_applied_twice_backpropagates_in_reverse_order(rng):
    # a shared module (Mask2Former's per-layer heads, tied embeddings) is called k times per forward
    lin = Linear(3, 3)
    x = rng.standard_normal((2, 3))
    y1 = lin(x)
    lin(y1)  # second application: its saved input is y1
    dy2 = rng.standard_normal((2, 3))
    dy1 = lin.backward(dy2)
    dx = lin.backward(dy1)
    W = lin.weight.data
    np.testing.assert_allclose(dx, dy2 @ W @ W, rtol=1e-13)
    np.testing.assert_allclose(lin.weight.grad, dy2.T @ y1 + dy1.T @ x, rtol=1e-13)
    with pytest.raises(BackwardError, match="Linear.backward"):
        lin.backward(dy2)


def test_no_grad_saves_nothing(rng):
    lin = Linear(3, 3)
    with no_grad():
        assert not is_grad_enabled()
        lin(rng.standard_normal((2, 3)))
    assert is_grad_enabled()
    with pytest.raises(BackwardError, match="no_grad"):
        lin.backward(np.ones((2, 3)))


def test_train_eval_propagates():
    m = Model()
    m.eval()
    assert all(not x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())


def test_dtype_is_never_silently_changed(rng):
    lin = Linear(3, 2)
    with pytest.raises(DTypeError, match="x: expected dtype float64"):
        lin(rng.standard_normal((2, 3)).astype(np.float32))
    lin.to(np.float32)
    assert lin.weight.dtype == np.float32
    assert lin(rng.standard_normal((2, 3)).astype(np.float32)).dtype == np.float32
    with pytest.raises(DTypeError, match="dtype"):
        lin.to(np.float16)
    with pytest.raises(DTypeError, match="dtype"):
        Linear(3, 2, dtype=np.int64)


def test_shape_errors_name_the_argument(rng):
    with pytest.raises(ShapeError, match="x: expected last dimension 3"):
        Linear(3, 2)(rng.standard_normal((2, 4)))
    with pytest.raises(DTypeError, match="x: expected a numpy.ndarray"):
        Linear(3, 2)([[1.0, 2.0, 3.0]])


def test_parameter_accumulate_checks_shape_and_dtype():
    p = Parameter(np.zeros((2, 2)))
    with pytest.raises(ShapeError):
        p.accumulate(np.zeros((2,)))
    with pytest.raises(DTypeError):
        p.accumulate(np.zeros((2, 2), np.float32))
    with pytest.raises(DTypeError):
        Parameter(np.zeros(2, np.int64))


def test_tied_parameter_listed_once_but_saved_under_both_keys():
    a, b = Linear(2, 2), Linear(2, 2)
    b.weight = a.weight
    m = Sequential([a, b])
    assert [n for n, _ in m.named_parameters()] == ["0.weight", "0.bias", "1.bias"]
    assert list(m.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]


def test_sequential_forward_backward(rng):
    m = Sequential([Linear(3, 4), Linear(4, 2)])
    x = rng.standard_normal((5, 3))
    from refimpl.testing import gradcheck
    gradcheck(m, [x])


def test_module_list_indexing():
    ml = ModuleList([Linear(1, 1), Linear(1, 1)])
    assert ml[-1] is ml[1] and len(ml) == 2
    with pytest.raises(IndexError, match="out of range"):
        ml[2]


def test_ignored_state_keys_are_dropped_anywhere_in_the_tree():
    class Frozen(Module):
        ignored_state_keys = ("num_batches_tracked",)

        def __init__(self):
            super().__init__()
            self.register_buffer("running_mean", np.zeros(2))

    outer = Sequential([Frozen()])
    outer.load_state_dict({"0.running_mean": np.ones(2), "0.num_batches_tracked": np.array(3)})
    np.testing.assert_array_equal(outer[0].running_mean, np.ones(2))
    with pytest.raises(StateDictError, match="unexpected keys:\\n    num_batches_tracked"):
        outer.load_state_dict({"0.running_mean": np.ones(2), "num_batches_tracked": np.array(3)})
