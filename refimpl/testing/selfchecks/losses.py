"""Self-checks for the losses (gradcheck f64, torch f64, torch f32) and the optimizers (20-step parity f64)."""
import numpy as np

from ...core.parameter import Parameter
from ...losses.binary_cross_entropy import (binary_cross_entropy_with_logits,
                                            binary_cross_entropy_with_logits_backward)
from ...losses.cross_entropy import cross_entropy, cross_entropy_backward
from ...losses.regression import (huber_loss, huber_loss_backward, l1_loss, l1_loss_backward, mse_loss,
                                  mse_loss_backward, smooth_l1_loss, smooth_l1_loss_backward)
from ...optim.adamw import AdamW
from ...optim.sgd import SGD
from ..assert_close import compare
from ..parity import ParityReport, torch_dtype
from ..selfcheck import register_check, register_function_checks


def _rng():
    return np.random.default_rng(0)


# ----------------------------------------------------------------------------- cross-entropy
def _ce_case(dtype=np.float64):
    """(inputs, kwargs) of cross_entropy: logits with K-dim targets, an ignored target, class weights."""
    rng = _rng()
    x = rng.standard_normal((3, 4, 2)).astype(dtype)               # (N, C, d1): K-dim targets
    t = rng.integers(0, 4, (3, 2))
    t[0, 1] = -100
    w = rng.uniform(0.5, 2.0, 4).astype(dtype)
    return [x], dict(target=t, weight=w, reduction="mean", label_smoothing=0.1)


register_function_checks("losses.cross_entropy", cross_entropy, cross_entropy_backward,
                         lambda torch: torch.nn.functional.cross_entropy, _ce_case)


# ----------------------------------------------------------------------------- BCE with logits
def _bce_case(dtype=np.float64):
    """(inputs, kwargs) of binary_cross_entropy_with_logits: soft targets, element weights, pos_weight."""
    rng = _rng()
    x = (3 * rng.standard_normal((4, 3))).astype(dtype)
    t = rng.uniform(0, 1, (4, 3)).astype(dtype)
    w = rng.uniform(0.5, 2.0, (4, 3)).astype(dtype)
    pw = rng.uniform(0.5, 3.0, 3).astype(dtype)
    return [x], dict(target=t, weight=w, pos_weight=pw)


register_function_checks("losses.bce_with_logits", binary_cross_entropy_with_logits,
                         binary_cross_entropy_with_logits_backward,
                         lambda torch: torch.nn.functional.binary_cross_entropy_with_logits, _bce_case)


# ----------------------------------------------------------------------------- regression losses
_REGRESSION = {
    "mse_loss": (mse_loss, mse_loss_backward, {}),
    "l1_loss": (l1_loss, l1_loss_backward, {}),
    "smooth_l1_loss": (smooth_l1_loss, smooth_l1_loss_backward, {"beta": 0.5}),
    "huber_loss": (huber_loss, huber_loss_backward, {"delta": 0.7}),
}


def _reg_inputs(dtype=np.float64):
    rng = _rng()
    return [rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal((3, 4)).astype(dtype)]


def _register_regression(name, f, fb, kw):
    register_function_checks(f"losses.{name}", f, fb, lambda torch: getattr(torch.nn.functional, name),
                             lambda dtype: (_reg_inputs(dtype), kw))


for _name, (_f, _fb, _kw) in _REGRESSION.items():
    _register_regression(_name, _f, _fb, _kw)


# ----------------------------------------------------------------------------- optimizers
def _optimizer_parity(ref_cls, torch_name, kwargs, steps=20) -> ParityReport:
    """20 steps of refimpl vs torch on the same parameters and gradients (two groups, one frozen param)."""
    import torch
    rng = _rng()
    shapes = [(3, 4), (4,), (2, 3)]
    init = [rng.standard_normal(s) for s in shapes]
    ref = [Parameter(a.copy()) for a in init]
    ref[2].requires_grad = False
    tor = [torch.tensor(a.copy(), dtype=torch_dtype(np.float64), requires_grad=i != 2) for i, a in enumerate(init)]

    def groups(ps):
        return [{"params": ps[:1], "lr": 0.05, "weight_decay": 0.1}, {"params": ps[1:], "lr": 0.02}]

    ro = ref_cls(groups(ref), **kwargs)
    to = getattr(torch.optim, torch_name)(groups(tor), foreach=False, **kwargs)
    for _ in range(steps):
        for p, t in zip(ref[:2], tor[:2]):
            g = rng.standard_normal(p.shape)
            p.grad, t.grad = g.copy(), torch.from_numpy(g)
        ro.step()
        to.step()
    report = ParityReport()
    for i, (p, t) in enumerate(zip(ref, tor)):
        report.append(compare(p.data, t.detach().numpy(), rtol=1e-12, atol=1e-12,
                              name=f"param {i} after {steps} steps" + (" (frozen)" if i == 2 else "")))
    report.append(compare(ref[2].data, init[2], rtol=0, atol=0, name="frozen param unchanged"))
    return report


@register_check("optim.SGD", "torch f64")
def _sgd_torch64():
    return _optimizer_parity(SGD, "SGD", dict(momentum=0.9, nesterov=True))


@register_check("optim.AdamW", "torch f64")
def _adamw_torch64():
    return _optimizer_parity(AdamW, "AdamW", dict(amsgrad=True))
