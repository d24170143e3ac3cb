"""Dropout and drop-path (stochastic depth) with explicit, replayable masks.

Both are y = x * mask with a *scaled keep mask*: mask = keep / keep_prob, keep ~ Bernoulli(keep_prob),
so E[y] = x. Dropout draws one keep per element; drop-path one per sample (mask shape (B, 1, ..., 1)),
dropping a whole residual branch for that sample.

Randomness comes only from a numpy Generator (`rng`) or from a `mask` given by the caller, e.g. the
mask a framework used: torch's `F.dropout(ones, p)` *is* its scaled mask, so feeding it here replays
the run exactly. In eval mode (training=False) or with p == 0 both are the identity, and `mask` is ignored.

    mask = dropout_mask(rng, p, x.shape, x.dtype)
    y = dropout(x, p, mask=mask)
    dx = dropout_backward(dy, x, p, mask=mask)        # = dy * mask
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..core.errors import ConfigError, DTypeError, ShapeError
from ..core.validation import as_dtype, check_broadcastable, check_float, check_generator, check_probability


def _check_p(p, name: str, *, allow_one: bool) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{name}: expected a probability (float), got {p!r}")
    return check_probability(p, name, inclusive_one=allow_one)


def _check_mask(mask, x: np.ndarray, name: str = "mask") -> np.ndarray:
    """A float mask of x's dtype that broadcasts to x's shape."""
    check_float(mask, name)
    if mask.dtype != x.dtype:
        raise DTypeError(f"{name}: expected dtype {x.dtype} (the dtype of x), got {mask.dtype}")
    check_broadcastable(mask, x.shape, name, "x")
    return mask


def _check_dy(dy, x) -> None:
    check_float(dy, "dy")
    if dy.shape != x.shape:
        raise ShapeError(f"dy: expected the shape of x {x.shape}, got {dy.shape}")
    if dy.dtype != x.dtype:
        raise DTypeError(f"dy: expected dtype {x.dtype} (the dtype of x), got {dy.dtype}")


def _masked_backward(dy, x, p, mask, training, op: str, p_name: str, *, allow_one: bool) -> np.ndarray:
    """The backward of y = x * mask shared by dropout and drop_path (`op`, whose probability is `p_name`)."""
    check_float(x, "x")
    _check_dy(dy, x)
    p = _check_p(p, p_name, allow_one=allow_one)
    if not training or p == 0.0:
        return dy                                              # identity: dL/dx = dy
    if mask is None:
        raise ConfigError(f"mask: {op}_backward needs the mask used in the forward "
                          f"({op}(..., return_mask=True) or {op}_mask(...))")
    _check_mask(mask, x)
    return dy * mask                                           # dL/dx = dy * mask (broadcast to x's shape)


# ---------------------------------------------------------------------------------------------- dropout
def dropout_mask(rng: np.random.Generator, p: float, shape, dtype=np.float64) -> np.ndarray:
    """Scaled keep mask of `shape`: 1/(1-p) where kept (probability 1-p), 0 where dropped; p == 1 gives zeros."""
    check_generator(rng, "rng")
    p = _check_p(p, "p", allow_one=True)
    dt = as_dtype(dtype)
    if p == 1.0:                                               # everything dropped; avoid 0 * 1/0
        return np.zeros(shape, dt)
    keep = rng.random(shape) >= p                              # P(keep) = 1 - p
    return (keep / (1.0 - p)).astype(dt)                       # scale in float64, round once to dtype


def _dropout_mask_for(x, p, rng, mask, training, fname):
    """The mask to apply, or None when the op is the identity."""
    p = _check_p(p, "p", allow_one=True)
    if not training or p == 0.0:
        return None
    if mask is not None:
        return _check_mask(mask, x)
    if rng is None:
        raise ConfigError(f"rng: {fname} with training=True and p={p} needs a numpy Generator "
                          f"(rng=np.random.default_rng(seed)) or an explicit mask=; use training=False for inference")
    return dropout_mask(rng, p, x.shape, x.dtype)


def dropout(x: np.ndarray, p: float, rng: Optional[np.random.Generator] = None, mask: Optional[np.ndarray] = None,
            training: bool = True, *, return_mask: bool = False):
    """y = x * mask (torch.nn.functional.dropout semantics), mask the scaled keep mask.

    x: float32/float64, any shape. p in [0, 1]. mask: optional, x's dtype, broadcastable to x.shape
    (takes precedence over rng). Identity when training=False or p == 0.
    return_mask=True returns (y, mask) so the caller can run dropout_backward (mask None for identity).
    """
    check_float(x, "x")
    m = _dropout_mask_for(x, p, rng, mask, training, "dropout")
    y = x if m is None else x * m                              # same shape as x
    return (y, m) if return_mask else y


def dropout_backward(dy: np.ndarray, x: np.ndarray, p: float, rng=None, mask: Optional[np.ndarray] = None,
                     training: bool = True, *, return_mask: bool = False) -> np.ndarray:
    """dx = dy * mask (the same mask as the forward); dy itself in the identity case. rng, return_mask unused."""
    return _masked_backward(dy, x, p, mask, training, "dropout", "p", allow_one=True)


# ---------------------------------------------------------------------------------------------- drop path
def drop_path_mask(rng: np.random.Generator, drop_prob: float, shape, dtype=np.float64) -> np.ndarray:
    """Per-sample scaled keep mask of shape (shape[0], 1, ..., 1): keep / keep_prob.

    keep = floor(keep_prob + U), U ~ U[0, 1): exactly the rule of transformers' / timm's drop_path.
    """
    check_generator(rng, "rng")
    drop_prob = _check_p(drop_prob, "drop_prob", allow_one=False)
    dt = as_dtype(dtype)
    shape = tuple(shape)
    if len(shape) < 1:
        raise ShapeError("shape: drop_path needs a batch axis (at least 1 dimension), got ()")
    keep_prob = 1.0 - drop_prob
    mshape = (shape[0],) + (1,) * (len(shape) - 1)             # one draw per sample (B, 1, ..., 1)
    keep = np.floor(keep_prob + rng.random(mshape))            # 1 with probability keep_prob, else 0
    return (keep / keep_prob).astype(dt)


def _drop_path_mask_for(x, drop_prob, rng, mask, training):
    drop_prob = _check_p(drop_prob, "drop_prob", allow_one=False)
    if not training or drop_prob == 0.0:
        return None
    if x.ndim < 1:
        raise ShapeError("x: drop_path needs a batch axis (at least 1 dimension), got a 0-d array")
    if mask is not None:
        _check_mask(mask, x)
        if mask.ndim != x.ndim or mask.shape[1:] != (1,) * (x.ndim - 1):
            raise ShapeError(f"mask: drop_path expects a per-sample mask of shape ({x.shape[0]}, "
                             f"{', '.join(['1'] * (x.ndim - 1))}), got {mask.shape}")
        return mask
    if rng is None:
        raise ConfigError(f"rng: drop_path with training=True and drop_prob={drop_prob} needs a numpy Generator "
                          f"(rng=np.random.default_rng(seed)) or an explicit mask=; use training=False for inference")
    return drop_path_mask(rng, drop_prob, x.shape, x.dtype)


def drop_path(x: np.ndarray, drop_prob: float, rng: Optional[np.random.Generator] = None,
              mask: Optional[np.ndarray] = None, training: bool = True, *, return_mask: bool = False):
    """Stochastic depth: y = x * mask, mask (B, 1, ..., 1) = keep / (1 - drop_prob), one keep per sample.

    x: (B, ...) float32/float64. drop_prob in [0, 1). mask: optional per-sample mask of x's dtype
    (takes precedence over rng). Identity when training=False or drop_prob == 0 (note: transformers'
    own drop_path defaults to training=False; pass it explicitly). return_mask as in dropout.
    """
    check_float(x, "x")
    m = _drop_path_mask_for(x, drop_prob, rng, mask, training)
    y = x if m is None else x * m                              # (B, ...) * (B, 1, ..., 1)
    return (y, m) if return_mask else y


def drop_path_backward(dy: np.ndarray, x: np.ndarray, drop_prob: float, rng=None, mask: Optional[np.ndarray] = None,
                       training: bool = True, *, return_mask: bool = False) -> np.ndarray:
    """dx = dy * mask (broadcast over the non-batch axes); dy in the identity case. rng, return_mask unused."""
    return _masked_backward(dy, x, drop_prob, mask, training, "drop_path", "drop_prob", allow_one=False)
