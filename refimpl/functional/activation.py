"""Elementwise activations and (log-)softmax, each `f(x)` with `f_backward(dy, x)` beside it.

Every function takes a float32/float64 array of any shape and returns the same shape and dtype;
arithmetic stays in the input dtype (constants are Python floats, so NumPy never promotes float32).

GELU comes in the forms Hugging Face configs name (see refimpl.nn.activation.get_activation):
    gelu        exact:  x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))                   ("gelu", BERT, ViT, BART)
    gelu_tanh   tanh:   0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))            ("gelu_new", GPT-2)
    gelu_fast   tanh form with sqrt(2/pi) truncated to 0.7978845608                ("gelu_fast")
    quick_gelu  x * sigmoid(1.702 x)                                               ("quick_gelu", CLIP)
The exact and tanh forms differ by up to 4.73e-4 (at |x| ~ 2.7), and so do their derivatives:
each form has its own backward, never the other's.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
from scipy.special import erf, expit

from ..core.errors import ConfigError, DTypeError, ShapeError
from ..core.validation import check_float

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)   # 0.7978845608028654, the tanh-GELU scale
GELU_FAST_COEF = 0.7978845608               # transformers' FastGELUActivation truncates the same constant
GELU_TANH_KAPPA = 0.044715                  # cubic coefficient of the tanh approximation
INV_SQRT_2 = 1.0 / math.sqrt(2.0)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
QUICK_GELU_ALPHA = 1.702


def _check_dy(dy, x, name: str = "dy", x_name: str = "x") -> None:
    """The upstream gradient must have exactly the shape and dtype of the array it differentiates."""
    check_float(dy, name)
    if dy.shape != x.shape:
        raise ShapeError(f"{name}: expected the shape of {x_name} {x.shape}, got {dy.shape}")
    if dy.dtype != x.dtype:
        raise DTypeError(f"{name}: expected dtype {x.dtype} (the dtype of {x_name}), got {dy.dtype}; "
                         f"refimpl never converts silently")


def _check_axis(x: np.ndarray, axis, name: str = "axis") -> int:
    """A valid axis of x (negative counts from the end), returned non-negative."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ConfigError(f"{name}: expected an integer axis, got {axis!r}")
    if x.ndim == 0:
        raise ShapeError("x: softmax needs at least 1 dimension, got a 0-d array")
    if not -x.ndim <= axis < x.ndim:
        raise ShapeError(f"{name}: expected an axis in [{-x.ndim}, {x.ndim}) for x of shape {x.shape}, got {axis}")
    return int(axis) % x.ndim


# ---------------------------------------------------------------------------------------------- GELU (exact)
def gelu(x: np.ndarray) -> np.ndarray:
    """y = x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), Phi the standard normal CDF (torch GELU(approximate="none"))."""
    check_float(x, "x")
    return 0.5 * x * (1.0 + erf(x * INV_SQRT_2))


def gelu_backward(dy: np.ndarray, x: np.ndarray) -> np.ndarray:
    """dx for y = gelu(x): dy * (Phi(x) + x phi(x)), phi(x) = exp(-x^2/2) / sqrt(2 pi)."""
    check_float(x, "x")
    _check_dy(dy, x)
    cdf = 0.5 * (1.0 + erf(x * INV_SQRT_2))                    # Phi(x)
    pdf = np.exp(-0.5 * x * x) * INV_SQRT_2PI                  # phi(x)
    return dy * (cdf + x * pdf)                                # dy/dx = Phi + x phi


# ---------------------------------------------------------------------------------------------- GELU (tanh forms)
def _gelu_tanh(x, coef):
    return 0.5 * x * (1.0 + np.tanh(coef * (x + GELU_TANH_KAPPA * x * x * x)))


def _gelu_tanh_backward(dy, x, coef):
    x2 = x * x
    t = np.tanh(coef * (x + GELU_TANH_KAPPA * x2 * x))         # t = tanh(u), u = c (x + k x^3)
    du = coef * (1.0 + 3.0 * GELU_TANH_KAPPA * x2)             # du/dx = c (1 + 3 k x^2)
    # y = 0.5 x (1 + t)  =>  dy/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) du/dx
    return dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): torch GELU(approximate="tanh"), HF "gelu_new"."""
    check_float(x, "x")
    return _gelu_tanh(x, SQRT_2_OVER_PI)


def gelu_tanh_backward(dy: np.ndarray, x: np.ndarray) -> np.ndarray:
    """dx for y = gelu_tanh(x): dy * (0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3*0.044715 x^2)).

    This is the derivative of the tanh form itself (what torch's GeluBackward(approximate="tanh")
    computes), not the exact-GELU derivative evaluated at x.
    """
    check_float(x, "x")
    _check_dy(dy, x)
    return _gelu_tanh_backward(dy, x, SQRT_2_OVER_PI)


def gelu_fast(x: np.ndarray) -> np.ndarray:
    """HF "gelu_fast": the tanh form with the constant 0.7978845608 (sqrt(2/pi) truncated to 10 digits)."""
    check_float(x, "x")
    return _gelu_tanh(x, GELU_FAST_COEF)


def gelu_fast_backward(dy: np.ndarray, x: np.ndarray) -> np.ndarray:
    """dx for y = gelu_fast(x) (gelu_tanh_backward with the truncated constant)."""
    check_float(x, "x")
    _check_dy(dy, x)
    return _gelu_tanh_backward(dy, x, GELU_FAST_COEF)


# ---------------------------------------------------------------------------------------------- quick GELU
def quick_gelu(x: np.ndarray) -> np.ndarray:
    """y = x sigmoid(1.702 x) (HF "quick_gelu", CLIP)."""
    check_float(x, "x")
    return x * expit(QUICK_GELU_ALPHA * x)


def quick_gelu_backward(dy: np.ndarray, x: np.ndarray) -> np.ndarray:
    """dx for y = x s, s = sigmoid(a x), a = 1.702: dy * (s + a x s (1 - s))."""
    check_float(x, "x")
    _check_dy(dy, x)
    s = expit(QUICK_GELU_ALPHA * x)
    return dy * (s + QUICK_GELU_ALPHA * x * s * (1.0 - s))    # dy/dx = s + a x s (1 - s)


# ---------------------------------------------------------------------------------------------- ReLU, SiLU
def relu(x: np.ndarray) -> np.ndarray:
    """y = max(x, 0)."""
    check_float(x, "x")
    return np.maximum(x, 0.0).astype(x.dtype, copy=False)


def relu_backward(dy: np.ndarray, x: np.ndarray) -> np.ndarray:
    """dx = dy * [x > 0]; the subgradient at x = 0 is 0, as in torch."""
    check_float(x, "x")
    _check_dy(dy, x)
    return np.where(x > 0, dy, 0.0).astype(x.dtype, copy=False)


def silu(x: np.ndarray) -> np.ndarray:
    """y = x sigmoid(x) (SiLU / swish, HF "silu" and "swish")."""
    check_float(x, "x")
    return x * expit(x)


def silu_backward(dy: np.ndarray, x: np.ndarray) -> np.ndarray:
    """dx for y = x s, s = sigmoid(x): dy * s (1 + x (1 - s))."""
    check_float(x, "x")
    _check_dy(dy, x)
    s = expit(x)
    return dy * (s * (1.0 + x * (1.0 - s)))                   # dy/dx = s + x s (1 - s)


# ---------------------------------------------------------------------------------------------- sigmoid, tanh
def sigmoid(x: np.ndarray) -> np.ndarray:
    """y = 1 / (1 + exp(-x)), computed without overflow for large |x|."""
    check_float(x, "x")
    return expit(x)


def sigmoid_backward(dy: np.ndarray, x: Optional[np.ndarray], *, y: Optional[np.ndarray] = None) -> np.ndarray:
    """dx = dy * y (1 - y). Pass the forward output as `y=` to skip recomputing it (x may then be None)."""
    if y is None:
        check_float(x, "x")
        y = expit(x)
    check_float(y, "y")
    _check_dy(dy, y, x_name="the activation")
    return dy * (y * (1.0 - y))                                # dy/dx = y (1 - y)


def tanh(x: np.ndarray) -> np.ndarray:
    """y = tanh(x)."""
    check_float(x, "x")
    return np.tanh(x)


def tanh_backward(dy: np.ndarray, x: Optional[np.ndarray], *, y: Optional[np.ndarray] = None) -> np.ndarray:
    """dx = dy * (1 - y^2). Pass the forward output as `y=` to skip recomputing it (x may then be None)."""
    if y is None:
        check_float(x, "x")
        y = np.tanh(x)
    check_float(y, "y")
    _check_dy(dy, y, x_name="the activation")
    return dy * (1.0 - y * y)                                  # dy/dx = 1 - tanh^2


# ---------------------------------------------------------------------------------------------- softmax
def _checked_output(dy, x, axis, y, forward):
    """(y, axis) for a (log-)softmax backward: y = forward(x, axis) unless given, all checked against dy."""
    if y is None:
        y = forward(x, axis)
    check_float(y, "y")
    axis = _check_axis(y, axis)
    _check_dy(dy, y, x_name=f"the {forward.__name__} output")
    return y, axis


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """y = exp(x - max) / sum(exp(x - max)) along `axis` (max-subtracted, so no overflow).

    Entries equal to -inf get probability 0; a slice that is entirely -inf gives NaN, as in torch
    (masking conventions that avoid this belong to the attention code).
    """
    check_float(x, "x")
    axis = _check_axis(x, axis)
    m = np.max(x, axis=axis, keepdims=True)                    # (..., 1, ...)
    e = np.exp(x - m)                                          # same shape as x
    return e / np.sum(e, axis=axis, keepdims=True)


def softmax_backward(dy: np.ndarray, x: Optional[np.ndarray], axis: int = -1, *,
                     y: Optional[np.ndarray] = None) -> np.ndarray:
    """dx = y * (dy - sum(dy * y, axis)) for y = softmax(x, axis).

    Only the output y is needed: pass it as `y=` (what Softmax modules save) and x may be None;
    otherwise y is recomputed from x.
    """
    y, axis = _checked_output(dy, x, axis, y, softmax)
    s = np.sum(dy * y, axis=axis, keepdims=True)               # <dy, y> per slice  (..., 1, ...)
    return y * (dy - s)                                        # dL/dx_i = y_i (dy_i - sum_j dy_j y_j)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """y = x - max - log(sum(exp(x - max))) along `axis` (log-sum-exp, no overflow or log(0) for finite x)."""
    check_float(x, "x")
    axis = _check_axis(x, axis)
    m = np.max(x, axis=axis, keepdims=True)                    # (..., 1, ...)
    z = x - m                                                  # same shape as x
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def log_softmax_backward(dy: np.ndarray, x: Optional[np.ndarray], axis: int = -1, *,
                         y: Optional[np.ndarray] = None) -> np.ndarray:
    """dx = dy - exp(y) * sum(dy, axis) for y = log_softmax(x, axis).

    Only the output y is needed: pass it as `y=` (what LogSoftmax modules save) and x may be None;
    otherwise y is recomputed from x.
    """
    y, axis = _checked_output(dy, x, axis, y, log_softmax)
    return dy - np.exp(y) * np.sum(dy, axis=axis, keepdims=True)   # dL/dx_i = dy_i - p_i sum_j dy_j
