"""cross_entropy (torch.nn.functional.cross_entropy semantics): log-softmax + negative log-likelihood.

logits: (N, C), (N, C, d1, ..., dk) with the class axis 1 (torch's layout; a (B, L, V) language
model output must be transposed or reshaped to (B*L, V) first), or (C,) for a single sample.
With logp = log_softmax(logits) along the class axis, per sample i (i runs over N x d1 x ... x dk):

  class-index target y_i (integer array of shape (N, d1, ..., dk), or () for (C,) logits):
      l_i = (1 - eps) * w[y_i] * -logp[i, y_i]  +  (eps / C) * sum_c w[c] * -logp[i, c]
      l_i = 0 where y_i == ignore_index
      "mean" = sum_i l_i / sum_{i not ignored} w[y_i]     (both terms share torch's denominator)
      Every target ignored (or a zero weight sum) with "mean" gives NaN, exactly as torch does;
      the gradient is then 0 on ignored samples and NaN on the others (also as torch).

  probability target t (float array of the logits' shape and dtype, rows typically summing to 1):
      t' = (1 - eps) t + eps / C
      l_i = sum_c w[c] t'[i, c] * -logp[i, c]
      "mean" = sum_i l_i / (number of samples), NOT divided by the weights (torch's rule);
      ignore_index must stay negative (torch refuses ignore_index with probability targets).

w = `weight` (C,) (all ones when None), eps = `label_smoothing` in [0, 1].
Which target kind is meant is read from the target's shape: the logits' shape means
probabilities, the logits' shape without the class axis means class indices; the dtype must agree.

Backward: writing l_i = -sum_c q[i, c] logp[i, c] with q[i, c] the coefficient of logp above,
    dl_i / dlogits[i, c] = softmax[i, c] * sum_c' q[i, c'] - q[i, c],
scaled by the upstream gradient (divided by the mean's denominator for "mean"). Only the gradient
w.r.t. the logits is returned (targets and weights are data).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..core.errors import ConfigError, DTypeError, ShapeError
from ..core.validation import check_choice, check_float, check_int_array, check_probability
from ..functional.activation import log_softmax

REDUCTIONS = ("none", "mean", "sum")


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """The shared log_softmax; -inf logits (masked classes) stay -inf without warnings, as in torch."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return log_softmax(x, axis)


class _Prepared:
    """Validated arguments and the per-sample coefficient layout shared by forward and backward."""

    def __init__(self, logits, target, weight, ignore_index, reduction, label_smoothing):
        check_float(logits, "logits")
        check_choice(reduction, "reduction", REDUCTIONS)
        self.eps = check_probability(label_smoothing, "label_smoothing", inclusive_one=True)
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
            raise ConfigError(f"ignore_index: expected an integer, got {ignore_index!r}")
        if logits.ndim == 0:
            raise ShapeError("logits: expected shape (C,), (N, C) or (N, C, d1, ...), got a 0-d array")
        self.axis = 0 if logits.ndim == 1 else 1              # class axis
        C = logits.shape[self.axis]
        if C == 0:
            raise ShapeError(f"logits: the class axis {self.axis} must not be empty, got shape {logits.shape}")
        self.C = C
        if weight is not None:
            check_float(weight, "weight", dtype=logits.dtype, ndim=1)
            if weight.shape[0] != C:
                raise ShapeError(f"weight: expected one weight per class, shape ({C},), got {weight.shape}")
        self.weight = weight
        bshape = [1] * logits.ndim
        bshape[self.axis] = C
        self.bshape = tuple(bshape)                           # broadcasts a (C,) vector along the class axis
        if not isinstance(target, np.ndarray):
            raise DTypeError(f"target: expected a numpy.ndarray, got {type(target).__name__}")
        index_shape = logits.shape[:1] + logits.shape[2:] if logits.ndim >= 2 else ()
        if target.shape == logits.shape:
            self.probabilities = True
            if not np.issubdtype(target.dtype, np.floating):
                raise DTypeError(
                    f"target: has the logits' shape {logits.shape}, so it is read as class probabilities and "
                    f"must be float; got dtype {target.dtype} (class indices have shape {index_shape})")
            check_float(target, "target", dtype=logits.dtype)
            if ignore_index >= 0:
                raise ConfigError(f"ignore_index: not supported with probability targets (as in torch); "
                                  f"got {ignore_index}, leave it negative (default -100)")
        elif target.shape == index_shape:
            self.probabilities = False
            if np.issubdtype(target.dtype, np.floating):
                raise DTypeError(
                    f"target: has shape {index_shape}, so it is read as class indices and must be an integer "
                    f"array; got dtype {target.dtype} (probability targets have the logits' shape {logits.shape})")
            check_int_array(target, "target", low=0, high=C, ignore=(int(ignore_index),))
        else:
            raise ShapeError(f"target: expected class indices of shape {index_shape} or class probabilities of "
                             f"the logits' shape {logits.shape}, got {target.shape}")
        self.logits, self.target, self.ignore_index = logits, target, int(ignore_index)
        self.reduction = reduction

    def coefficients(self):
        """(q, valid, denominator): l_i = -sum_c q[i, c] logp[i, c]; valid marks non-ignored samples."""
        x, dt, C, ax, eps = self.logits, self.logits.dtype, self.C, self.axis, self.eps
        w_c = (self.weight if self.weight is not None else np.ones(C, dt)).reshape(self.bshape)  # (1, C, 1..)
        if self.probabilities:
            t = self.target * (1 - eps) + eps / C if eps > 0 else self.target    # smoothed targets t'
            q = t * w_c                                                            # (N, C, d...)
            valid = np.ones(x.shape[:ax] + x.shape[ax + 1:], dtype=bool)
            return q, valid, dt.type(x.size // C)             # mean over samples, weights not in it
        valid = self.target != self.ignore_index              # (N, d...)
        y = np.where(valid, self.target, 0)                   # ignored -> any class; masked below
        w_y = (self.weight[y] if self.weight is not None else np.ones(y.shape, dt)) * valid   # (N, d...)
        onehot = np.arange(C).reshape(self.bshape) == np.expand_dims(y, ax)                 # (N, C, d...)
        q = (1 - eps) * onehot * np.expand_dims(w_y, ax)      # the nll term's coefficient
        if eps > 0:
            q = q + (eps / C) * w_c * np.expand_dims(valid, ax)   # the smoothing term's coefficient
        return q.astype(dt, copy=False), valid, w_y.sum(dtype=dt)


def _reduce(per_sample: np.ndarray, reduction: str, denominator):
    if reduction == "none":
        return per_sample
    total = per_sample.sum()
    if reduction == "sum":
        return float(total)
    with np.errstate(invalid="ignore", divide="ignore"):      # nothing counted: 0 / 0 = NaN, as torch
        return float(total / denominator)


def cross_entropy(logits: np.ndarray, target: np.ndarray, weight: Optional[np.ndarray] = None,
                  ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0):
    """Cross-entropy of softmax(logits) against class indices or class probabilities (see module doc).

    Returns a Python float for "mean"/"sum", an array (N, d1, ...) (or 0-d for (C,) logits) for "none".
    """
    p = _Prepared(logits, target, weight, ignore_index, reduction, label_smoothing)
    logp = _log_softmax(logits, p.axis)                        # (N, C, d...)
    if p.probabilities:
        q, _, denom = p.coefficients()
        per_sample = -(q * logp).sum(axis=p.axis)              # (N, d...)
        return _reduce(per_sample, reduction, denom)
    # class indices: gather -logp[y] (so -inf logits of other classes cannot give 0 * inf)
    valid = target != p.ignore_index                           # (N, d...)
    y = np.where(valid, target, 0)
    w_y = (weight[y] if weight is not None else np.ones(y.shape, logits.dtype)) * valid   # (N, d...)
    nll = -np.take_along_axis(logp, np.expand_dims(y, p.axis), axis=p.axis).squeeze(p.axis) * w_y  # (N, d...)
    per_sample = nll if p.eps == 0 else (1 - p.eps) * nll
    if p.eps > 0:
        w_c = (weight if weight is not None else np.ones(p.C, logits.dtype)).reshape(p.bshape)
        smooth = -(logp * w_c).sum(axis=p.axis) * valid        # sum_c w_c * -logp_c     (N, d...)
        per_sample = per_sample + (p.eps / p.C) * smooth
    per_sample = per_sample.astype(logits.dtype, copy=False)
    return _reduce(per_sample, reduction, w_y.sum(dtype=logits.dtype))


def cross_entropy_backward(grad, logits: np.ndarray, target: np.ndarray, weight: Optional[np.ndarray] = None,
                           ignore_index: int = -100, reduction: str = "mean",
                           label_smoothing: float = 0.0) -> np.ndarray:
    """d loss / d logits (shape and dtype of logits) for upstream `grad`.

    grad: a scalar for "mean"/"sum"; an array of the per-sample loss shape for "none".
    """
    p = _Prepared(logits, target, weight, ignore_index, reduction, label_smoothing)
    dt = logits.dtype
    sample_shape = logits.shape[:p.axis] + logits.shape[p.axis + 1:]
    if reduction == "none" and not (sample_shape == () and np.ndim(grad) == 0):
        if not isinstance(grad, np.ndarray) or grad.shape != sample_shape:
            raise ShapeError(f"grad: reduction='none' needs an upstream gradient of the loss shape {sample_shape}, "
                             f"got {getattr(grad, 'shape', type(grad).__name__)}")
        if grad.dtype != dt:
            raise DTypeError(f"grad: expected dtype {dt} (the logits dtype), got {grad.dtype}")
        g = grad
    else:
        if np.ndim(grad) != 0:
            raise ShapeError(f"grad: reduction={reduction!r} gives a scalar loss, so grad must be a scalar, "
                             f"got shape {np.shape(grad)}")
        g = np.asarray(grad, dtype=dt)
    q, valid, denom = p.coefficients()                         # (N, C, d...), (N, d...), ()
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):   # zero denominator -> inf/NaN, as torch
            g = g / denom                                      # d mean / d l_i = 1 / denominator
    softmax = np.exp(_log_softmax(logits, p.axis))             # (N, C, d...)
    # dl_i/dz_c = softmax_c * sum_c' q_c' - q_c   (d(-sum q logp)/dz through log-softmax)
    dlogits = softmax * q.sum(axis=p.axis, keepdims=True) - q
    with np.errstate(invalid="ignore"):                        # inf * 0 on a zero denominator -> NaN, as torch
        dlogits = dlogits * np.expand_dims(np.broadcast_to(g, sample_shape), p.axis)
    # ignored samples get exactly 0 even when the scale is inf/NaN (torch masks them)
    return np.where(np.expand_dims(valid, p.axis), dlogits, 0).astype(dt, copy=False)
