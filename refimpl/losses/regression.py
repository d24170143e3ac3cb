"""Elementwise regression losses (torch.nn.functional names): mse_loss, l1_loss, smooth_l1_loss, huber_loss.

With d = input - target, elementwise:

    mse        l = d^2
    l1         l = |d|
    smooth_l1  l = 0.5 d^2 / beta          if |d| < beta,  else |d| - 0.5 beta      (beta = 0: l1)
    huber      l = 0.5 d^2                 if |d| < delta, else delta (|d| - 0.5 delta)

then reduced: "none" -> the (...)-shaped array, "sum" -> sum, "mean" -> sum / numel (NaN for an
empty input, as torch). input and target have one shape and one float dtype (no broadcasting:
torch only warns on mismatched shapes, here it is an error).

Every `*_backward(grad, input, target, ...)` returns (d input, d target); d target = -d input.
The reduction helpers (`apply_reduction`, `reduction_backward`) are shared by every elementwise
loss (binary_cross_entropy_with_logits imports them too).
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from ..core.errors import ConfigError, ShapeError
from ..core.validation import check_choice, check_float

from .reduction import REDUCTIONS, apply_reduction, reduction_backward  # noqa: F401 (re-exported)


# ----------------------------------------------------------------------------- checks
def _check_pair(input, target, reduction):
    check_float(input, "input")
    check_float(target, "target", dtype=input.dtype)
    if target.shape != input.shape:
        raise ShapeError(f"target: expected the input shape {input.shape}, got {target.shape}")
    check_choice(reduction, "reduction", REDUCTIONS)


def _check_width(value, name: str, allow_zero: bool) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected a number, got {value!r}") from None
    if not (v >= 0.0 if allow_zero else v > 0.0) or not np.isfinite(v):
        raise ConfigError(f"{name}: expected a finite number {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return v


# ----------------------------------------------------------------------------- mse
def mse_loss(input: np.ndarray, target: np.ndarray, reduction: str = "mean"):
    """Mean squared error: l = (input - target)^2. input, target: (...) same float dtype."""
    _check_pair(input, target, reduction)
    d = input - target                                      # (...)
    return apply_reduction(d * d, reduction)


def mse_loss_backward(grad, input: np.ndarray, target: np.ndarray, reduction: str = "mean") -> Tuple[np.ndarray, np.ndarray]:
    """(d input, d target) of mse_loss."""
    _check_pair(input, target, reduction)
    g = reduction_backward(grad, input.shape, input.dtype, reduction)
    dinput = 2 * (input - target) * g                       # dl/dx = 2 d
    return dinput, -dinput                                  # dl/dt = -dl/dx


# ----------------------------------------------------------------------------- l1
def l1_loss(input: np.ndarray, target: np.ndarray, reduction: str = "mean"):
    """Mean absolute error: l = |input - target|. input, target: (...) same float dtype."""
    _check_pair(input, target, reduction)
    return apply_reduction(np.abs(input - target), reduction)


def l1_loss_backward(grad, input: np.ndarray, target: np.ndarray, reduction: str = "mean") -> Tuple[np.ndarray, np.ndarray]:
    """(d input, d target) of l1_loss; the subgradient at d = 0 is 0 (torch's sign)."""
    _check_pair(input, target, reduction)
    g = reduction_backward(grad, input.shape, input.dtype, reduction)
    dinput = np.sign(input - target) * g                    # dl/dx = sign(d), sign(0) = 0
    return dinput, -dinput


# ----------------------------------------------------------------------------- smooth l1
def smooth_l1_loss(input: np.ndarray, target: np.ndarray, reduction: str = "mean", beta: float = 1.0):
    """Smooth L1: 0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere; beta = 0 is l1_loss (as torch)."""
    _check_pair(input, target, reduction)
    beta = _check_width(beta, "beta", allow_zero=True)
    if beta == 0.0:
        return l1_loss(input, target, reduction)
    a = np.abs(input - target)                              # (...)
    loss = np.where(a < beta, 0.5 * a * a / beta, a - 0.5 * beta).astype(input.dtype, copy=False)
    return apply_reduction(loss, reduction)


def smooth_l1_loss_backward(grad, input: np.ndarray, target: np.ndarray, reduction: str = "mean",
                            beta: float = 1.0) -> Tuple[np.ndarray, np.ndarray]:
    """(d input, d target) of smooth_l1_loss."""
    _check_pair(input, target, reduction)
    beta = _check_width(beta, "beta", allow_zero=True)
    if beta == 0.0:
        return l1_loss_backward(grad, input, target, reduction)
    g = reduction_backward(grad, input.shape, input.dtype, reduction)
    d = input - target
    # dl/dx = d / beta inside the quadratic zone, sign(d) outside (continuous at |d| = beta)
    dinput = np.where(np.abs(d) < beta, d / beta, np.sign(d)).astype(input.dtype, copy=False) * g
    return dinput, -dinput


# ----------------------------------------------------------------------------- huber
def huber_loss(input: np.ndarray, target: np.ndarray, reduction: str = "mean", delta: float = 1.0):
    """Huber: 0.5 d^2 where |d| < delta, delta (|d| - 0.5 delta) elsewhere (= delta * smooth_l1 with beta=delta)."""
    _check_pair(input, target, reduction)
    delta = _check_width(delta, "delta", allow_zero=False)
    a = np.abs(input - target)                              # (...)
    loss = np.where(a < delta, 0.5 * a * a, delta * (a - 0.5 * delta)).astype(input.dtype, copy=False)
    return apply_reduction(loss, reduction)


def huber_loss_backward(grad, input: np.ndarray, target: np.ndarray, reduction: str = "mean",
                        delta: float = 1.0) -> Tuple[np.ndarray, np.ndarray]:
    """(d input, d target) of huber_loss."""
    _check_pair(input, target, reduction)
    delta = _check_width(delta, "delta", allow_zero=False)
    g = reduction_backward(grad, input.shape, input.dtype, reduction)
    d = input - target
    # dl/dx = d inside, delta * sign(d) outside
    dinput = np.where(np.abs(d) < delta, d, delta * np.sign(d)).astype(input.dtype, copy=False) * g
    return dinput, -dinput
