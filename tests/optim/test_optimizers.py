"""SGD / Adam / AdamW vs torch.optim over 20 steps (float64, rtol = atol = 1e-12), two parameter groups,
a frozen parameter, a parameter with missing gradients; schedules vs transformers; clip_grad_norm_ vs
torch; state_dict round trips; bad input."""
import numpy as np
import pytest

from refimpl.core.errors import ConfigError, DTypeError, ShapeError, StateDictError
from refimpl.core.parameter import Parameter
from refimpl.nn.linear import Linear
from refimpl.optim.adamw import Adam, AdamW
from refimpl.optim.clip import NonFiniteNormError, clip_grad_norm_, clip_grad_value_
from refimpl.optim.schedules import (get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup,
                                     get_linear_schedule_with_warmup)
from refimpl.optim.sgd import SGD
from refimpl.testing import assert_close

torch = pytest.importorskip("torch")

TIGHT = dict(rtol=1e-12, atol=1e-12)                           # the requirement
SHAPES = [(3, 4), (4,), (2, 3), (5,), (2, 2)]
FROZEN, SOMETIMES = 3, 4                                       # indices: never trained / grad only on even steps
N_STEPS = 20


def _setup(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(N_STEPS)]
    return init, grads


def _groups(params):
    # two groups with their own lr / weight decay; the second holds the frozen parameter
    return [{"params": params[:2], "lr": 0.05, "weight_decay": 0.1},
            {"params": params[2:], "lr": 0.02, "weight_decay": 0.03}]


def _make_params(init):
    ref = [Parameter(a.copy()) for a in init]
    ref[FROZEN].requires_grad = False
    tor = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    tor[FROZEN].requires_grad_(False)
    return ref, tor


def _set_grads(ref, tor, grads, step):
    for i, (p, t, g) in enumerate(zip(ref, tor, grads)):
        if i == FROZEN:
            continue                                            # frozen: no gradient ever
        if i == SOMETIMES and step % 2:
            p.grad, t.grad = None, None                        # unused this step: skipped, state kept
            continue
        p.grad, t.grad = g.copy(), torch.from_numpy(g.copy())


def _run_parity(ref_cls, torch_cls, kwargs, steps=N_STEPS, ref_opt=None):
    init, grads = _setup()
    ref, tor = _make_params(init)
    ref_opt = ref_cls(_groups(ref), **kwargs)
    torch_opt = torch_cls(_groups(tor), foreach=False, **kwargs)
    for step in range(steps):
        _set_grads(ref, tor, grads[step], step)
        ref_opt.step()
        torch_opt.step()
        for i, (p, t) in enumerate(zip(ref, tor)):
            assert_close(p.data, t.detach(), name=f"step {step} param {i}", **TIGHT)
    assert np.array_equal(ref[FROZEN].data, init[FROZEN])      # frozen: not even weight decay moved it
    return ref, ref_opt


SGD_CONFIGS = {
    "plain": dict(),
    "momentum": dict(momentum=0.9),
    "nesterov": dict(momentum=0.9, nesterov=True),
    "dampening": dict(momentum=0.8, dampening=0.3),
    "wd_momentum_maximize": dict(momentum=0.5, weight_decay=0.2, maximize=True),
}


@pytest.mark.parametrize("config", list(SGD_CONFIGS))
def test_sgd_matches_torch(config):
    _run_parity(SGD, torch.optim.SGD, SGD_CONFIGS[config])


ADAM_CONFIGS = {
    "default": dict(),
    "amsgrad": dict(amsgrad=True),
    "betas_eps": dict(betas=(0.8, 0.99), eps=1e-6),
    "maximize_amsgrad": dict(maximize=True, amsgrad=True),
}


@pytest.mark.parametrize("config", list(ADAM_CONFIGS))
@pytest.mark.parametrize("kind", ["AdamW", "Adam"])
def test_adam_family_matches_torch(kind, config):
    ref_cls, torch_cls = {"AdamW": (AdamW, torch.optim.AdamW), "Adam": (Adam, torch.optim.Adam)}[kind]
    _run_parity(ref_cls, torch_cls, ADAM_CONFIGS[config])


def test_adamw_default_weight_decay_matches_torch():
    init, grads = _setup()
    ref, tor = _make_params(init)
    ro, to = AdamW(ref, lr=0.01), torch.optim.AdamW(tor, lr=0.01, foreach=False)
    assert ro.param_groups[0]["weight_decay"] == to.param_groups[0]["weight_decay"] == 0.01
    for step in range(N_STEPS):
        _set_grads(ref, tor, grads[step], step)
        ro.step()
        to.step()
    for p, t in zip(ref, tor):
        assert_close(p.data, t.detach(), **TIGHT)


@pytest.mark.parametrize("kind", ["SGD", "AdamW"])
def test_float32_matches_torch(kind):
    init, grads = _setup(np.float32)
    ref, tor = _make_params(init)
    if kind == "SGD":
        ro, to = SGD(_groups(ref), momentum=0.9), torch.optim.SGD(_groups(tor), momentum=0.9, foreach=False)
    else:
        ro, to = AdamW(_groups(ref), amsgrad=True), torch.optim.AdamW(_groups(tor), amsgrad=True, foreach=False)
    for step in range(N_STEPS):
        _set_grads(ref, tor, grads[step], step)
        ro.step()
        to.step()
    for p, t in zip(ref, tor):
        assert p.data.dtype == np.float32
        assert_close(p.data, t.detach(), dtype=np.float32)


# ----------------------------------------------------------------------------- state dict
@pytest.mark.parametrize("kind", ["SGD", "AdamW"])
def test_state_dict_round_trip_continues_identically(kind):
    make = {"SGD": lambda ps: SGD(_groups(ps), momentum=0.9, nesterov=True),
            "AdamW": lambda ps: AdamW(_groups(ps), amsgrad=True)}[kind]
    init, grads = _setup()
    a, _ = _make_params(init)
    opt_a = make(a)
    for step in range(10):
        _set_ref_grads(a, grads[step], step)
        opt_a.step()
    sd = opt_a.state_dict()
    assert sorted(sd) == ["param_groups", "state"]
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2, 3, 4]]
    assert FROZEN not in sd["state"]                            # never stepped: no state
    b = [Parameter(p.data.copy(), requires_grad=p.requires_grad) for p in a]
    opt_b = make(b)
    opt_b.param_groups[0]["lr"] = 123.0                         # overwritten by the load
    opt_b.load_state_dict(sd)
    assert opt_b.param_groups[0]["lr"] == 0.05
    for step in range(10, N_STEPS):
        _set_ref_grads(a, grads[step], step)
        _set_ref_grads(b, grads[step], step)
        opt_a.step()
        opt_b.step()
    for pa, pb in zip(a, b):
        assert np.array_equal(pa.data, pb.data)
    # the saved dict is a snapshot: the 10 later steps did not change it
    first = sd["state"][0]["momentum_buffer" if kind == "SGD" else "exp_avg"]
    live = opt_a.state[a[0]]["momentum_buffer" if kind == "SGD" else "exp_avg"]
    assert not np.array_equal(first, live)


def _set_ref_grads(params, grads, step):
    for i, (p, g) in enumerate(zip(params, grads)):
        if i == FROZEN or (i == SOMETIMES and step % 2):
            p.grad = None
        else:
            p.grad = g.copy()


def test_loading_a_torch_optimizer_state_continues_like_torch():
    init, grads = _setup()
    ref, tor = _make_params(init)
    torch_opt = torch.optim.AdamW(_groups(tor), amsgrad=True, foreach=False)
    for step in range(10):
        _set_grads(ref, tor, grads[step], step)
        torch_opt.step()
    for p, t in zip(ref, tor):
        p.data[...] = t.detach().numpy()
    ref_opt = AdamW(_groups(ref), amsgrad=True)
    ref_opt.load_state_dict(torch_opt.state_dict())
    for step in range(10, N_STEPS):
        _set_grads(ref, tor, grads[step], step)
        ref_opt.step()
        torch_opt.step()
    for p, t in zip(ref, tor):
        assert_close(p.data, t.detach(), **TIGHT)


def test_load_state_dict_mismatch():
    init, _ = _setup()
    ref, _ = _make_params(init)
    sd = SGD(_groups(ref), momentum=0.9).state_dict()
    with pytest.raises(StateDictError, match="groups"):
        SGD(ref, momentum=0.9).load_state_dict(sd)
    with pytest.raises(StateDictError, match=r"param_groups\[1\]"):
        SGD([{"params": ref[:2]}, {"params": ref[2:4]}]).load_state_dict(sd)
    sd["state"][0] = {"momentum_buffer": np.zeros((9, 9))}
    with pytest.raises(StateDictError, match="shape"):
        SGD(_groups(ref), momentum=0.9).load_state_dict(sd)


# ----------------------------------------------------------------------------- construction
def test_accepts_named_parameters_and_module_parameters():
    layer = Linear(3, 2)
    opt = AdamW(layer.named_parameters(), lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["weight", "bias"]
    assert "param_names" in opt.state_dict()["param_groups"][0]
    opt2 = SGD(layer.parameters(), lr=0.1)
    assert opt2.param_groups[0]["params"] == [layer.weight, layer.bias]
    before = layer.weight.data.copy()
    layer.weight.grad = np.ones_like(before)
    opt2.step()
    assert_close(layer.weight.data, before - 0.1)


@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
                                  lambda ps: AdamW(ps, lr=0.1, weight_decay=0.1)], ids=["SGD", "AdamW"])
def test_frozen_parameter_with_a_stale_grad_is_not_moved(make):
    # requires_grad=False wins even if a grad array is present (torch would step on it)
    frozen = Parameter(np.ones(3), requires_grad=False)
    frozen.grad = np.ones(3)
    opt = make([frozen])
    opt.step()
    assert np.array_equal(frozen.data, np.ones(3)) and frozen not in opt.state


def test_zero_grad():
    p = Parameter(np.zeros(3))
    opt = SGD([p], lr=0.1)
    p.grad = np.ones(3)
    opt.zero_grad(set_to_none=False)
    assert np.array_equal(p.grad, np.zeros(3))
    opt.zero_grad()
    assert p.grad is None


def test_bad_hyperparameters():
    p = Parameter(np.zeros(3))
    with pytest.raises(ConfigError, match="lr"):
        SGD([p], lr=-0.1)
    with pytest.raises(ConfigError, match="momentum"):
        SGD([p], momentum=-0.5)
    with pytest.raises(ConfigError, match="nesterov"):
        SGD([p], nesterov=True)
    with pytest.raises(ConfigError, match="nesterov"):
        SGD([p], momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ConfigError, match="weight_decay"):
        AdamW([p], weight_decay=-1e-2)
    with pytest.raises(ConfigError, match=r"betas\[1\]"):
        AdamW([p], betas=(0.9, 1.0))
    with pytest.raises(ConfigError, match="betas"):
        Adam([p], betas=0.9)
    with pytest.raises(ConfigError, match="eps"):
        Adam([p], eps=-1.0)
    with pytest.raises(ConfigError, match=r"lr \(param_groups\[1\]\)"):
        SGD([{"params": [p]}, {"params": [Parameter(np.zeros(2))], "lr": float("nan")}])


def test_bad_params():
    p = Parameter(np.zeros(3))
    with pytest.raises(ConfigError, match="params"):
        SGD([])
    with pytest.raises(DTypeError, match="params"):
        SGD([np.zeros(3)])
    with pytest.raises(ConfigError, match="params"):
        SGD([p, p])
    with pytest.raises(ConfigError, match="params"):
        SGD([{"params": [p]}, {"params": [p]}])
    with pytest.raises(ConfigError, match="momentun"):
        SGD([{"params": [p], "momentun": 0.9}])
    with pytest.raises(ConfigError, match="params"):
        SGD(p)


def test_bad_gradients_at_step():
    p = Parameter(np.zeros(3))
    opt = SGD([("encoder.weight", p)], lr=0.1)
    p.grad = np.zeros(4)
    with pytest.raises(ShapeError, match="encoder.weight"):
        opt.step()
    p.grad = np.zeros(3, np.float32)
    with pytest.raises(DTypeError, match="encoder.weight"):
        opt.step()


# ----------------------------------------------------------------------------- schedules
def _torch_and_ref_optimizers():
    ref = SGD([{"params": [Parameter(np.zeros(2))], "lr": 0.1}, {"params": [Parameter(np.zeros(3))], "lr": 0.02}])
    tor = torch.optim.SGD([{"params": [torch.zeros(2, requires_grad=True)], "lr": 0.1},
                           {"params": [torch.zeros(3, requires_grad=True)], "lr": 0.02}])
    return ref, tor


SCHEDULES = {
    "linear": (get_linear_schedule_with_warmup, "get_linear_schedule_with_warmup",
               dict(num_warmup_steps=4, num_training_steps=15)),
    "linear_no_warmup": (get_linear_schedule_with_warmup, "get_linear_schedule_with_warmup",
                         dict(num_warmup_steps=0, num_training_steps=10)),
    "cosine": (get_cosine_schedule_with_warmup, "get_cosine_schedule_with_warmup",
               dict(num_warmup_steps=3, num_training_steps=16)),
    "cosine_2_cycles": (get_cosine_schedule_with_warmup, "get_cosine_schedule_with_warmup",
                        dict(num_warmup_steps=2, num_training_steps=16, num_cycles=2.0)),
    "constant": (get_constant_schedule_with_warmup, "get_constant_schedule_with_warmup",
                 dict(num_warmup_steps=5)),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_matches_transformers(name):
    transformers = pytest.importorskip("transformers")
    ours, theirs_name, kw = SCHEDULES[name]
    ref_opt, torch_opt = _torch_and_ref_optimizers()
    ref_s, torch_s = ours(ref_opt, **kw), getattr(transformers, theirs_name)(torch_opt, **kw)
    for step in range(22):                                      # past num_training_steps: stays at 0
        assert_close(ref_s.get_last_lr(), torch_s.get_last_lr(), rtol=1e-15, atol=0, name=f"step {step}")
        assert [g["lr"] for g in ref_opt.param_groups] == ref_s.get_last_lr()
        ref_opt.step()
        torch_opt.step()
        ref_s.step()
        torch_s.step()
    assert [g["initial_lr"] for g in ref_opt.param_groups] == [0.1, 0.02]


def test_adamw_with_linear_schedule_matches_torch():
    transformers = pytest.importorskip("transformers")
    init, grads = _setup()
    ref, tor = _make_params(init)
    ro, to = AdamW(_groups(ref)), torch.optim.AdamW(_groups(tor), foreach=False)
    rs = get_linear_schedule_with_warmup(ro, 5, N_STEPS)
    ts = transformers.get_linear_schedule_with_warmup(to, 5, N_STEPS)
    for step in range(N_STEPS):
        _set_grads(ref, tor, grads[step], step)
        ro.step()
        to.step()
        rs.step()
        ts.step()
    for p, t in zip(ref, tor):
        assert_close(p.data, t.detach(), **TIGHT)


def test_schedule_bad_input():
    ref_opt, torch_opt = _torch_and_ref_optimizers()
    with pytest.raises(ConfigError, match="optimizer"):
        get_linear_schedule_with_warmup(torch_opt, 1, 10)
    with pytest.raises(ConfigError, match="num_warmup_steps"):
        get_linear_schedule_with_warmup(ref_opt, -1, 10)
    with pytest.raises(ConfigError, match="num_training_steps"):
        get_cosine_schedule_with_warmup(ref_opt, 1, 2.5)


# ----------------------------------------------------------------------------- clipping
def _grads_pair(dtype, scale):
    rng = np.random.default_rng(3)
    shapes = [(3, 4), (5,), (2, 2)]
    ref = [Parameter(np.zeros(s, dtype)) for s in shapes]
    tor = [torch.zeros(s, dtype={np.float64: torch.float64, np.float32: torch.float32}[dtype], requires_grad=True)
           for s in shapes]
    for p, t in zip(ref, tor):
        g = (scale * rng.standard_normal(p.shape)).astype(dtype)
        p.grad, t.grad = g.copy(), torch.from_numpy(g.copy())
    frozen = Parameter(np.zeros(3, dtype), requires_grad=False)   # skipped: no grad
    return ref + [frozen], tor


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])              # clipping active / inactive
@pytest.mark.parametrize("norm_type", [2.0, float("inf"), 1.0, 3.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm, dtype):
    ref, tor = _grads_pair(dtype, 2.0)
    total = clip_grad_norm_(ref, max_norm, norm_type=norm_type)
    t_total = torch.nn.utils.clip_grad_norm_(tor, max_norm, norm_type=norm_type)
    assert isinstance(total, float)
    tol = TIGHT if dtype == np.float64 else {}
    assert_close(np.array(total), t_total, dtype=dtype, **tol)
    for p, t in zip(ref, tor):
        assert_close(p.grad, t.grad, dtype=dtype, **tol)


def test_clip_grad_value_matches_torch():
    ref, tor = _grads_pair(np.float64, 2.0)
    clip_grad_value_(ref, 0.7)
    torch.nn.utils.clip_grad_value_(tor, 0.7)
    for p, t in zip(ref, tor):
        assert_close(p.grad, t.grad, rtol=0, atol=0)


def test_clip_grad_norm_edge_cases():
    assert clip_grad_norm_([Parameter(np.zeros(2))], 1.0) == 0.0   # no gradients at all
    p = Parameter(np.zeros(2))
    p.grad = np.array([np.nan, 1.0])
    with pytest.raises(NonFiniteNormError, match="parameters"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert np.isnan(clip_grad_norm_([p], 1.0))
    with pytest.raises(ConfigError, match="norm_type"):
        clip_grad_norm_([p], 1.0, norm_type=0)
    with pytest.raises(DTypeError, match="parameters"):
        clip_grad_norm_([np.zeros(2)], 1.0)
