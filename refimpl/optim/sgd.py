"""SGD with momentum, dampening, Nesterov, L2 weight decay and maximize (torch.optim.SGD's update).

Per parameter p with gradient g (negated when maximize), lr, weight decay wd, momentum mu, dampening tau:

    g <- g + wd * p                                   (L2 penalty folded into the gradient)
    b <- g                       on the first step    (the buffer starts AT the gradient, undamped)
    b <- mu * b + (1 - tau) * g  afterwards
    g <- g + mu * b  (nesterov)  or  g <- b           (when mu != 0)
    p <- p - lr * g

State per parameter: "momentum_buffer" (only when mu != 0).
"""
from __future__ import annotations

from ..core.errors import ConfigError
from .optimizer import Optimizer, _number


class SGD(Optimizer):
    """torch.optim.SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False)."""

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group, where):
        _number(group["lr"], f"lr ({where})")
        momentum = _number(group["momentum"], f"momentum ({where})")
        dampening = _number(group["dampening"], f"dampening ({where})", low=-float("inf"))
        _number(group["weight_decay"], f"weight_decay ({where})")
        if group["nesterov"] and (momentum <= 0 or dampening != 0):
            raise ConfigError(f"nesterov ({where}): Nesterov momentum needs momentum > 0 and dampening = 0, "
                              f"got momentum={group['momentum']}, dampening={group['dampening']}")

    def _update_group(self, group, params):
        lr, mu, tau, wd = group["lr"], group["momentum"], group["dampening"], group["weight_decay"]
        for p, grad, _ in params:
            g = -grad if group["maximize"] else grad
            if wd != 0:
                g = g + wd * p.data                          # g <- g + wd p       (new array: p.grad untouched)
            if mu != 0:
                state = self.state.setdefault(p, {})
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = g.copy()    # b_1 = g_1
                else:
                    buf *= mu                                # b <- mu b + (1 - tau) g
                    buf += (1 - tau) * g
                g = g + mu * buf if group["nesterov"] else buf   # look-ahead or heavy ball
            p.data += -lr * g                                # p <- p - lr g       (in place)
