"""Gradient clipping: clip_grad_norm_ and clip_grad_value_ (torch.nn.utils semantics), in place.

clip_grad_norm_: with n_k = ||g_k||_p the norm of each gradient and total = ||(n_1, ..., n_K)||_p
(the p-norm of all gradients as one vector; p = inf: the largest |g|),

    coef = min(max_norm / (total + 1e-6), 1)       every g_k <- g_k * coef

(the multiplication happens even when coef = 1, as torch does). Parameters whose grad is None or
whose requires_grad is False are skipped. Returns total as a Python float (0.0 with no gradients).
"""
from __future__ import annotations

import math
from typing import Iterable, List, Union

import numpy as np

from ..core.errors import ConfigError, DTypeError, RefimplError
from ..core.parameter import Parameter


class NonFiniteNormError(RefimplError, RuntimeError):
    """The total gradient norm is NaN or inf and error_if_nonfinite=True (torch raises RuntimeError)."""


def _grads(parameters) -> List[np.ndarray]:
    if isinstance(parameters, Parameter):
        parameters = [parameters]
    if not isinstance(parameters, Iterable):
        raise DTypeError(f"parameters: expected a Parameter or an iterable of Parameters, got {type(parameters).__name__}")
    grads = []
    for i, p in enumerate(parameters):
        if isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str):
            p = p[1]                                         # (name, Parameter) from named_parameters()
        if not isinstance(p, Parameter):
            raise DTypeError(f"parameters[{i}]: expected a refimpl Parameter, got {type(p).__name__}")
        if p.grad is not None and p.requires_grad:
            grads.append(p.grad)
    return grads


def _norm_type(norm_type) -> float:
    try:
        p = float(norm_type)
    except (TypeError, ValueError):
        raise ConfigError(f"norm_type: expected a number > 0 or inf, got {norm_type!r}") from None
    if not p > 0:
        raise ConfigError(f"norm_type: expected a number > 0 or inf, got {norm_type!r}")
    return p


def _vector_norm(x: np.ndarray, p: float):
    """||x||_p over all elements, in x's dtype."""
    a = np.abs(x).ravel()
    if a.size == 0:
        return x.dtype.type(0)
    if p == math.inf:
        return a.max()                                       # max |x|
    if p == 2.0:
        return np.sqrt(np.dot(a, a))                         # sqrt(sum x^2)
    if p == 1.0:
        return a.sum()
    return np.sum(a ** p) ** (1.0 / p)                       # (sum |x|^p)^(1/p)


def clip_grad_norm_(parameters: Union[Parameter, Iterable[Parameter]], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    """Scale all gradients in place so that their joint p-norm is at most max_norm; return the norm before."""
    grads = _grads(parameters)
    p = _norm_type(norm_type)
    max_norm = float(max_norm)
    if not grads:
        return 0.0
    norms = np.stack([_vector_norm(g, p) for g in grads])    # (K,) one norm per gradient
    total = _vector_norm(norms, p)                           # ||(n_1..n_K)||_p = ||all gradients||_p
    if error_if_nonfinite and not np.isfinite(total):
        raise NonFiniteNormError(
            f"parameters: the total gradient norm of order {p} is {float(total)}, so it cannot be clipped; "
            f"pass error_if_nonfinite=False to scale by it anyway")
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):   # NaN/inf norms propagate, as torch
        coef = np.minimum(max_norm / (total + 1e-6), 1.0)    # clamp: never scale up
        for g in grads:
            g *= coef.astype(g.dtype)                        # in place
    return float(total)


def clip_grad_value_(parameters: Union[Parameter, Iterable[Parameter]], clip_value: float) -> None:
    """Clamp every gradient element into [-clip_value, clip_value] in place."""
    grads = _grads(parameters)
    c = float(clip_value)
    for g in grads:
        np.clip(g, -c, c, out=g)
