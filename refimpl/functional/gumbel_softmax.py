"""Gumbel-softmax (Jang et al., 2017; torch.nn.functional.gumbel_softmax) with the noise as an input.

    G ~ Gumbel(0, 1),  drawn as G = -log(E) with E ~ Exponential(1)      (torch's recipe)
    y_soft = softmax((logits + G) / tau)                                    along `axis`
    hard=False:  y = y_soft
    hard=True:   y = one_hot(argmax y_soft)  in the forward, and the gradient of y_soft in the backward
                 (the straight-through estimator)

torch writes the hard output as y_hard - y_soft.detach() + y_soft, whose value is the one-hot up to
one rounding (the selected entry is (1 - s) + s, 1 +- 1 ulp when s < 1/2); refimpl returns the exact
one-hot. The noise is never drawn inside: pass `noise` (logits' shape and dtype), e.g. from
gumbel_noise(rng, shape, dtype), and pass the same array to the backward.

Backward (both modes):  dlogits = softmax_backward(dy, y_soft) / tau = y_soft * (dy - <dy, y_soft>) / tau.
"""
from __future__ import annotations

import numpy as np

from ..core.errors import ConfigError, ShapeError
from ..core.validation import as_dtype, check_float, check_generator
from .activation import softmax, softmax_backward

__all__ = ["gumbel_noise", "gumbel_softmax", "gumbel_softmax_backward"]


def gumbel_noise(rng: np.random.Generator, shape, dtype=np.float64) -> np.ndarray:
    """Standard Gumbel noise -log(E), E ~ Exponential(1), drawn from `rng` in float64 and rounded once."""
    check_generator(rng, "rng")
    return (-np.log(rng.standard_exponential(tuple(shape)))).astype(as_dtype(dtype))


def _soft(logits, noise, tau, axis):
    check_float(logits, "logits")
    check_float(noise, "noise", dtype=logits.dtype)
    if noise.shape != logits.shape:
        raise ShapeError(f"noise: expected the logits' shape {logits.shape}, got {noise.shape}")
    if isinstance(tau, bool) or not isinstance(tau, (int, float, np.integer, np.floating)) or not tau > 0:
        raise ConfigError(f"tau: expected a positive temperature, got {tau!r}")
    return softmax((logits + noise) / logits.dtype.type(tau), axis)    # y_soft, logits' shape


def gumbel_softmax(logits: np.ndarray, noise: np.ndarray, tau: float = 1.0, hard: bool = False,
                   axis: int = -1) -> np.ndarray:
    """Gumbel-softmax samples (logits' shape and dtype) for the given Gumbel `noise` (see module doc)."""
    y_soft = _soft(logits, noise, tau, axis)
    if not hard:
        return y_soft
    index = np.expand_dims(np.argmax(y_soft, axis=axis), axis)           # first maximum, as torch's max
    y_hard = np.zeros_like(y_soft)
    np.put_along_axis(y_hard, index, 1.0, axis=axis)                     # exact one-hot
    return y_hard


def gumbel_softmax_backward(dy: np.ndarray, logits: np.ndarray, noise: np.ndarray, tau: float = 1.0,
                            hard: bool = False, axis: int = -1) -> np.ndarray:
    """d logits for upstream dy; hard=True passes dy straight through to the soft sample."""
    y_soft = _soft(logits, noise, tau, axis)
    # dL/dlogits = (1/tau) * y_soft (dy - <dy, y_soft>)   (softmax backward, then the 1/tau of the scaling)
    return softmax_backward(dy, None, axis, y=y_soft) / logits.dtype.type(tau)
