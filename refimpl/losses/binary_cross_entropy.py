"""binary_cross_entropy_with_logits (torch.nn.functional semantics), in the stable log-sigmoid form.

For a logit x, a target t in [0, 1], an optional elementwise `weight` w and `pos_weight` p:

    l = w * ( (1 - t) x + (1 + (p - 1) t) softplus(-x) )
      = w * -( p t log sigmoid(x) + (1 - t) log(1 - sigmoid(x)) )

with softplus(-x) = max(-x, 0) + log1p(exp(-|x|)), which never overflows and never takes log(0).
pos_weight scales the positive term only; it broadcasts against the target from the right, so a
(C,) pos_weight weighs each class of a (..., C) multi-label target (torch's convention).
Reductions "none" (array of the logits' shape), "mean" (over all elements), "sum".

Backward: dl/dx = w * ((1 - t) - (1 + (p - 1) t) sigmoid(-x)), which is w * (sigmoid(x) - t) when
p = 1. Only the gradient w.r.t. the logits is returned: targets, weight and pos_weight are data
in every model that uses this loss (torch would also differentiate them).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..core.errors import ShapeError
from ..core.validation import check_broadcastable, check_choice, check_float
from .reduction import REDUCTIONS, apply_reduction, reduction_backward


def _check(logits, target, weight, pos_weight, reduction):
    check_float(logits, "logits")
    check_float(target, "target", dtype=logits.dtype)
    if target.shape != logits.shape:
        raise ShapeError(f"target: expected the logits shape {logits.shape}, got {target.shape}")
    if weight is not None:
        check_float(weight, "weight", dtype=logits.dtype)
        check_broadcastable(weight, logits.shape, "weight", "logits")
    if pos_weight is not None:
        check_float(pos_weight, "pos_weight", dtype=logits.dtype)
        check_broadcastable(pos_weight, target.shape, "pos_weight", "target")
    check_choice(reduction, "reduction", REDUCTIONS)


def _softplus_neg(x: np.ndarray) -> np.ndarray:
    """softplus(-x) = log(1 + exp(-x)) = -log sigmoid(x), stable for every x."""
    return np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x)))


def _sigmoid_neg(x: np.ndarray) -> np.ndarray:
    """sigmoid(-x) = 1 - sigmoid(x), from exp(-|x|) so it never overflows."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, e / (1 + e), 1 / (1 + e))


def binary_cross_entropy_with_logits(logits: np.ndarray, target: np.ndarray, weight: Optional[np.ndarray] = None,
                                     pos_weight: Optional[np.ndarray] = None, reduction: str = "mean"):
    """Sigmoid + binary cross-entropy in one stable step.

    logits: (...) float32/float64; target: same shape and dtype, values in [0, 1] (soft labels allowed);
    weight: broadcastable to (...); pos_weight: broadcastable to (...) from the right, typically (C,).
    Returns a Python float ("mean", "sum") or an array of the logits' shape ("none").
    """
    _check(logits, target, weight, pos_weight, reduction)
    sp = _softplus_neg(logits)                                   # -log sigmoid(x)        (...)
    if pos_weight is None:
        loss = (1 - target) * logits + sp
    else:
        log_weight = 1 + (pos_weight - 1) * target               # 1 + (p - 1) t          (...)
        loss = (1 - target) * logits + log_weight * sp
    if weight is not None:
        loss = loss * weight                                     # (...) after broadcasting
    return apply_reduction(loss, reduction)


def binary_cross_entropy_with_logits_backward(grad, logits: np.ndarray, target: np.ndarray,
                                              weight: Optional[np.ndarray] = None,
                                              pos_weight: Optional[np.ndarray] = None,
                                              reduction: str = "mean") -> np.ndarray:
    """d loss / d logits, shape and dtype of logits (targets and weights get no gradient)."""
    _check(logits, target, weight, pos_weight, reduction)
    g = reduction_backward(grad, logits.shape, logits.dtype, reduction)
    s = _sigmoid_neg(logits)                                     # sigmoid(-x) = d softplus(-x) / d(-x)
    if pos_weight is None:
        dlogits = (1 - target) - s                               # dl/dx = (1 - t) - sigmoid(-x) = sigmoid(x) - t
    else:
        dlogits = (1 - target) - (1 + (pos_weight - 1) * target) * s   # dl/dx = (1 - t) - (1 + (p-1) t) sigmoid(-x)
    if weight is not None:
        dlogits = dlogits * weight                               # dl/dx scaled by w
    return dlogits * g
