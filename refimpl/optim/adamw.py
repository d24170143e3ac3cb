"""Adam and AdamW (torch.optim.Adam / torch.optim.AdamW updates, amsgrad and maximize included).

Per parameter p with gradient g (negated when maximize), step t = 1, 2, ..., lr, betas (b1, b2):

    AdamW:  p <- p * (1 - lr * wd)                  (decoupled decay, applied first, not seen by the moments)
    Adam:   g <- g + wd * p                         (L2 penalty folded into the gradient)
    m <- m + (1 - b1) (g - m)                       (= b1 m + (1 - b1) g)
    v <- b2 v + (1 - b2) g^2
    v_max <- max(v_max, v)                          (amsgrad; the denominator then uses v_max)
    denom = sqrt(v) / sqrt(1 - b2^t) + eps          (eps added AFTER the bias correction, as torch)
    p <- p - lr / (1 - b1^t) * m / denom

State per parameter: "step" (float, as torch's step tensor), "exp_avg", "exp_avg_sq", "max_exp_avg_sq" (amsgrad).
"""
from __future__ import annotations

import numpy as np

from ..core.errors import ConfigError
from .optimizer import Optimizer, _number


class Adam(Optimizer):
    """torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
    *, maximize=False, decoupled_weight_decay=False)."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 amsgrad: bool = False, *, maximize: bool = False, decoupled_weight_decay: bool = False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _check_group(self, group, where):
        _number(group["lr"], f"lr ({where})")
        _number(group["eps"], f"eps ({where})")
        _number(group["weight_decay"], f"weight_decay ({where})")
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ConfigError(f"betas ({where}): expected a pair (beta1, beta2), got {betas!r}")
        _number(betas[0], f"betas[0] ({where})", high=1.0)
        _number(betas[1], f"betas[1] ({where})", high=1.0)

    def _update_group(self, group, params):
        lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        for p, grad, _ in params:
            g = -grad if group["maximize"] else grad
            state = self.state.setdefault(p, {})
            if not state:                                    # lazy init on the first step with a gradient
                state["step"] = 0.0
                state["exp_avg"] = np.zeros_like(p.data)
                state["exp_avg_sq"] = np.zeros_like(p.data)
                if group["amsgrad"]:
                    state["max_exp_avg_sq"] = np.zeros_like(p.data)
            state["step"] += 1
            t = state["step"]
            if wd != 0:
                if group["decoupled_weight_decay"]:
                    p.data *= 1 - lr * wd                    # p <- p (1 - lr wd)      (AdamW)
                else:
                    g = g + wd * p.data                      # g <- g + wd p           (Adam, L2)
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m += (1 - beta1) * (g - m)                       # m <- lerp(m, g, 1 - b1)
            v *= beta2                                       # v <- b2 v + (1 - b2) g^2
            v += (1 - beta2) * g * g
            bias_correction1 = 1 - beta1 ** t
            bias_correction2_sqrt = (1 - beta2 ** t) ** 0.5
            if group["amsgrad"]:
                vmax = state["max_exp_avg_sq"]
                np.maximum(vmax, v, out=vmax)                # v_max <- max(v_max, v)
                v = vmax
            denom = np.sqrt(v) / bias_correction2_sqrt + eps  # sqrt(v_hat) + eps
            p.data += -(lr / bias_correction1) * (m / denom)  # p <- p - lr m_hat / denom


class AdamW(Adam):
    """torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
    *, maximize=False): Adam with decoupled weight decay."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
                 amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)

    def _check_group(self, group, where):
        super()._check_group(group, where)
        if not group["decoupled_weight_decay"]:
            raise ConfigError(f"decoupled_weight_decay ({where}): AdamW always decouples weight decay; "
                              f"use Adam for the L2 form")
