"""Normalisation functions: layer_norm, rms_norm, group_norm, batch_norm, each with its backward.

All four share one core. Over a set of reduced axes R (n = number of elements reduced):

    mean = (1/n) sum_R x,   var = (1/n) sum_R (x - mean)^2   (biased),   rstd = 1 / sqrt(var + eps)
    xhat = (x - mean) * rstd,                                y = xhat * weight + bias

and, with g = dL/dxhat = dy * weight, the input gradient is

    dx = rstd * (g - mean_R(g) - xhat * mean_R(g * xhat))

The functions differ only in R and in how weight/bias broadcast:
    layer_norm  R = the normalised axes (the last ones, or e.g. the channel axis 1 for ConvNeXT's
                channels_first), weight/bias have the normalised shape
    rms_norm    R = last axis, no mean subtraction, no bias (T5LayerNorm)
    group_norm  R = (channels of one group) x (all trailing axes), per sample; weight/bias per channel
    batch_norm  R = every axis but the channel axis 1; weight/bias per channel; running stats in eval

Backward functions take the forward's inputs and return one gradient per array input, in the
forward's positional order, with None where an input has no gradient (running stats) and for the
non-array positional arguments (normalized_shape, num_groups). Every array shares one float dtype.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import numpy as np

from ..core.errors import ConfigError, DTypeError, ShapeError
from ..core.validation import check_float, check_positive_int

__all__ = ["layer_norm", "layer_norm_backward", "rms_norm", "rms_norm_backward", "group_norm",
           "group_norm_backward", "batch_norm", "batch_norm_backward"]


# ---------------------------------------------------------------------------------------------- helpers
def _check_eps(eps) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating, np.integer)) or not eps >= 0:
        raise ConfigError(f"eps: expected a non-negative float, got {eps!r}")
    return float(eps)


def _check_param(p, name: str, shape: tuple, x: np.ndarray) -> None:
    """weight/bias: None or a float array of exactly `shape` and x's dtype."""
    if p is None:
        return
    check_float(p, name)
    if p.dtype != x.dtype:
        raise DTypeError(f"{name}: dtype {p.dtype} differs from x dtype {x.dtype}; convert explicitly so no "
                         f"precision changes silently")
    if p.shape != tuple(shape):
        raise ShapeError(f"{name}: expected shape {tuple(shape)}, got {p.shape}")


def _check_dy(dy, x: np.ndarray) -> None:
    """dy: the upstream gradient, x's shape and dtype."""
    check_float(dy, "dy", dtype=x.dtype)
    if dy.shape != x.shape:
        raise ShapeError(f"dy: expected the output shape {x.shape}, got {dy.shape}")


def _normalize(x: np.ndarray, axes: tuple, eps: float):
    """(xhat, rstd) over `axes` (keepdims), the shared forward core."""
    mean = x.mean(axis=axes, keepdims=True)                    # (.., 1, ..)
    xc = x - mean                                              # x's shape
    var = (xc * xc).mean(axis=axes, keepdims=True)             # (.., 1, ..)  biased variance
    rstd = 1.0 / np.sqrt(var + eps)                            # (.., 1, ..)
    return xc * rstd, rstd


def _normalize_backward(g: np.ndarray, xhat: np.ndarray, rstd: np.ndarray, axes: tuple) -> np.ndarray:
    """dL/dx given g = dL/dxhat for xhat = (x - mean_R x) * rstd over axes R."""
    via_mean = g.mean(axis=axes, keepdims=True)                       # d/dmean: every x moves the mean by 1/n
    via_var = xhat * (g * xhat).mean(axis=axes, keepdims=True)        # d/dvar: d rstd/dx = -rstd^3 (x - mean) / n
    return rstd * (g - via_mean - via_var)                            # dx = rstd * (g - mean(g) - xhat mean(g xhat))


def _sum_except(a: np.ndarray, keep: Sequence[int]) -> np.ndarray:
    """Sum over every axis not in `keep` (the axes a parameter varies along), keeping their order."""
    return a.sum(axis=tuple(i for i in range(a.ndim) if i not in keep))


# ---------------------------------------------------------------------------------------------- layer norm
def _layer_norm_axes(x: np.ndarray, normalized_shape, axes) -> Tuple[tuple, tuple]:
    """Resolve (axes, normalized_shape) and check x against them."""
    if isinstance(normalized_shape, (int, np.integer)) and not isinstance(normalized_shape, bool):
        normalized_shape = (int(normalized_shape),)
    try:
        normalized_shape = tuple(int(s) for s in normalized_shape)
    except TypeError as exc:
        raise ConfigError(f"normalized_shape: expected an int or a tuple of ints, got {normalized_shape!r}") from exc
    if not normalized_shape or any(s < 1 for s in normalized_shape):
        raise ConfigError(f"normalized_shape: expected a non-empty tuple of positive ints, got {normalized_shape}")
    k = len(normalized_shape)
    if axes is None:
        if x.ndim < k or x.shape[x.ndim - k:] != normalized_shape:
            raise ShapeError(f"x: expected trailing dimensions {normalized_shape} (normalized_shape), got shape {x.shape}")
        return tuple(range(x.ndim - k, x.ndim)), normalized_shape
    axes = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
    if len(axes) != k:
        raise ConfigError(f"axes: expected {k} axes (one per normalized_shape entry), got {axes}")
    if any(not -x.ndim <= a < x.ndim for a in axes):
        raise ShapeError(f"x: axes {axes} out of range for an array of shape {x.shape}")
    axes = tuple(int(a) % x.ndim for a in axes)
    if list(axes) != sorted(set(axes)):
        raise ConfigError(f"axes: expected strictly increasing axes, got {axes}")
    if tuple(x.shape[a] for a in axes) != normalized_shape:
        raise ShapeError(f"x: expected sizes {normalized_shape} (normalized_shape) along axes {axes}, got shape {x.shape}")
    return axes, normalized_shape


def _param_view(p: np.ndarray, ndim: int, axes: tuple) -> np.ndarray:
    """Reshape a parameter of the normalised shape so it broadcasts against x along `axes`."""
    shape = [1] * ndim
    for a, s in zip(axes, p.shape):
        shape[a] = s
    return p.reshape(shape)


def _layer_norm_setup(x, normalized_shape, weight, bias, eps, axes):
    check_float(x, "x")
    axes, shape = _layer_norm_axes(x, normalized_shape, axes)
    _check_param(weight, "weight", shape, x)
    _check_param(bias, "bias", shape, x)
    return axes, _check_eps(eps)


def layer_norm(x: np.ndarray, normalized_shape: Union[int, Sequence[int]], weight: Optional[np.ndarray] = None,
               bias: Optional[np.ndarray] = None, eps: float = 1e-5, *, axes=None) -> np.ndarray:
    """y = (x - mean) / sqrt(var + eps) * weight + bias, statistics over the normalised axes.

    x: (..., *normalized_shape) -> y: x's shape and dtype (torch.nn.functional.layer_norm).
    weight, bias: normalized_shape or None (no scale / no shift).
    axes: which axes of x the normalised shape occupies; default the last len(normalized_shape)
        axes. axes=(1,) with normalized_shape=C normalises (N, C, H, W) over the channels, as
        ConvNeXT's channels_first LayerNorm does.
    eps: added to the biased variance (BERT 1e-12, GPT-2 1e-5, ConvNeXT 1e-6).
    """
    axes, eps = _layer_norm_setup(x, normalized_shape, weight, bias, eps, axes)
    xhat, _ = _normalize(x, axes, eps)                          # x's shape
    y = xhat if weight is None else xhat * _param_view(weight, x.ndim, axes)
    if bias is not None:
        y = y + _param_view(bias, x.ndim, axes)
    return y


def layer_norm_backward(dy: np.ndarray, x: np.ndarray, normalized_shape, weight: Optional[np.ndarray] = None,
                        bias: Optional[np.ndarray] = None, eps: float = 1e-5, *, axes=None):
    """Gradients (dx, None, dweight, dbias) of layer_norm for upstream dy (x's shape).

    None stands for normalized_shape; dweight/dbias are None when weight/bias are None.
    """
    axes, eps = _layer_norm_setup(x, normalized_shape, weight, bias, eps, axes)
    _check_dy(dy, x)
    xhat, rstd = _normalize(x, axes, eps)
    g = dy if weight is None else dy * _param_view(weight, x.ndim, axes)   # dL/dxhat = dy * w
    dx = _normalize_backward(g, xhat, rstd, axes)                          # see _normalize_backward
    dweight = _sum_except(dy * xhat, axes) if weight is not None else None  # dL/dw = sum dy * xhat
    dbias = _sum_except(dy, axes) if bias is not None else None             # dL/db = sum dy
    return dx, None, dweight, dbias


# ---------------------------------------------------------------------------------------------- RMS norm
def _rms_setup(x, weight, eps):
    check_float(x, "x")
    if x.ndim < 1:
        raise ShapeError(f"x: expected at least 1 dimension (..., hidden), got shape {x.shape}")
    _check_param(weight, "weight", (x.shape[-1],), x)
    return _check_eps(eps)


def _rms_rstd(x: np.ndarray, eps: float) -> np.ndarray:
    """1 / sqrt(mean(x^2) + eps) over the last axis."""
    return 1.0 / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps)   # (..., 1)


def rms_norm(x: np.ndarray, weight: Optional[np.ndarray] = None, eps: float = 1e-6) -> np.ndarray:
    """y = x / sqrt(mean(x^2) + eps) * weight over the last axis: no mean subtraction, no bias (T5).

    x: (..., D) -> y: x's shape and dtype; weight: (D,) or None. Everything is computed in x's dtype
    (torch.nn.RMSNorm). Hugging Face's T5LayerNorm instead computes mean(x^2) in float32 for every
    input dtype, so with float64 inputs it differs from this by ~1e-7 (relative).
    """
    eps = _rms_setup(x, weight, eps)
    y = x * _rms_rstd(x, eps)                                   # (..., D)
    return y if weight is None else y * weight


def rms_norm_backward(dy: np.ndarray, x: np.ndarray, weight: Optional[np.ndarray] = None, eps: float = 1e-6):
    """Gradients (dx, dweight) of rms_norm; dweight is None without weight."""
    eps = _rms_setup(x, weight, eps)
    _check_dy(dy, x)
    rstd = _rms_rstd(x, eps)                                    # (..., 1)
    xn = x * rstd                                               # (..., D)
    g = dy if weight is None else dy * weight                   # dL/dxn = dy * w
    # dx = rstd * (g - xn * mean(g * xn)): direct term and the term through rstd (d rstd/dx = -rstd^3 x / D)
    dx = rstd * (g - xn * (g * xn).mean(axis=-1, keepdims=True))
    dweight = (dy * xn).reshape(-1, x.shape[-1]).sum(0) if weight is not None else None  # dL/dw = sum dy * xn
    return dx, dweight


# ---------------------------------------------------------------------------------------------- group norm
def _group_setup(x, num_groups, weight, bias, eps):
    check_float(x, "x")
    num_groups = check_positive_int(num_groups, "num_groups")
    if x.ndim < 2:
        raise ShapeError(f"x: expected at least 2 dimensions (N, C, *), got shape {x.shape}")
    c = x.shape[1]
    if c % num_groups:
        raise ShapeError(f"x: expected the channel count (axis 1) divisible by num_groups={num_groups}, "
                         f"got shape {x.shape}")
    _check_param(weight, "weight", (c,), x)
    _check_param(bias, "bias", (c,), x)
    return num_groups, _check_eps(eps)


def _channel_view(p: np.ndarray, ndim: int) -> np.ndarray:
    """(C,) -> (1, C, 1, ..., 1) to broadcast against (N, C, *)."""
    return p.reshape((1, -1) + (1,) * (ndim - 2))


def group_norm(x: np.ndarray, num_groups: int, weight: Optional[np.ndarray] = None,
               bias: Optional[np.ndarray] = None, eps: float = 1e-5) -> np.ndarray:
    """Normalise each group of C/num_groups channels (and all trailing positions) per sample.

    x: (N, C, *) -> y: x's shape and dtype (torch.nn.functional.group_norm).
    weight, bias: (C,) per-channel scale and shift, or None. C must be divisible by num_groups.
    num_groups = C normalises every channel over time/space on its own (Wav2Vec2's feature encoder).
    """
    num_groups, eps = _group_setup(x, num_groups, weight, bias, eps)
    n = x.shape[0]
    xg = x.reshape(n, num_groups, -1)                           # (N, G, C/G * prod(*))
    xhat, _ = _normalize(xg, (2,), eps)
    y = xhat.reshape(x.shape)                                   # (N, C, *)
    if weight is not None:
        y = y * _channel_view(weight, x.ndim)
    if bias is not None:
        y = y + _channel_view(bias, x.ndim)
    return y


def group_norm_backward(dy: np.ndarray, x: np.ndarray, num_groups: int, weight: Optional[np.ndarray] = None,
                        bias: Optional[np.ndarray] = None, eps: float = 1e-5):
    """Gradients (dx, None, dweight, dbias) of group_norm (None stands for num_groups)."""
    num_groups, eps = _group_setup(x, num_groups, weight, bias, eps)
    _check_dy(dy, x)
    n = x.shape[0]
    xg = x.reshape(n, num_groups, -1)                           # (N, G, M)
    xhat, rstd = _normalize(xg, (2,), eps)
    g = dy if weight is None else dy * _channel_view(weight, x.ndim)       # dL/dxhat = dy * w[c]
    dx = _normalize_backward(g.reshape(xg.shape), xhat, rstd, (2,)).reshape(x.shape)  # (N, C, *)
    xhat = xhat.reshape(x.shape)                                           # (N, C, *)
    dweight = _sum_except(dy * xhat, (1,)) if weight is not None else None  # dL/dw_c = sum dy * xhat
    dbias = _sum_except(dy, (1,)) if bias is not None else None             # dL/db_c = sum dy
    return dx, None, dweight, dbias


# ---------------------------------------------------------------------------------------------- batch norm
def _batch_setup(x, running_mean, running_var, weight, bias, training, momentum, eps):
    check_float(x, "x")
    if x.ndim < 2:
        raise ShapeError(f"x: expected at least 2 dimensions (N, C, *), got shape {x.shape}")
    c = x.shape[1]
    for name, p in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        _check_param(p, name, (c,), x)
    if (running_mean is None) != (running_var is None):
        raise ConfigError("running_mean, running_var: pass both or neither")
    if not training and running_mean is None:
        raise ConfigError("running_mean: eval mode (training=False) normalises with the running statistics; "
                          "pass running_mean and running_var, or training=True for batch statistics")
    if training:
        per_channel = x.size // c if c else 0
        if per_channel <= 1:
            raise ConfigError(f"x: expected more than 1 value per channel in training mode (batch statistics), "
                              f"got input of shape {x.shape}")
    momentum = float(momentum) if momentum is not None else None
    if training and running_mean is not None and (momentum is None or not 0.0 <= momentum <= 1.0):
        raise ConfigError(f"momentum: expected a float in [0, 1] to update the running statistics, got {momentum!r}")
    return _check_eps(eps), momentum


def batch_norm(x: np.ndarray, running_mean: Optional[np.ndarray], running_var: Optional[np.ndarray],
               weight: Optional[np.ndarray] = None, bias: Optional[np.ndarray] = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> np.ndarray:
    """Per-channel normalisation of x: (N, C, *) over N and every trailing axis.

    training=True: batch statistics (biased variance) normalise x; if running_mean/running_var are
        given they are UPDATED IN PLACE, as torch.nn.functional.batch_norm does:
            running_mean <- (1 - momentum) * running_mean + momentum * mean
            running_var  <- (1 - momentum) * running_var  + momentum * var * n / (n - 1)   (unbiased)
        (the module turns momentum=None into the cumulative factor 1/num_batches_tracked).
    training=False: y = (x - running_mean) / sqrt(running_var + eps) * weight + bias.
    weight, bias, running_mean, running_var: (C,) or None. -> y: x's shape and dtype.
    """
    eps, momentum = _batch_setup(x, running_mean, running_var, weight, bias, training, momentum, eps)
    axes = (0,) + tuple(range(2, x.ndim))                       # every axis but the channels
    if training:
        xhat, _ = _normalize(x, axes, eps)                      # (N, C, *)
        if running_mean is not None:
            n = x.size // x.shape[1]                            # values per channel
            mean = x.mean(axis=axes)                            # (C,)
            var_unbiased = x.var(axis=axes) * (n / (n - 1))     # (C,)  the running estimate is unbiased
            running_mean *= 1.0 - momentum
            running_mean += momentum * mean
            running_var *= 1.0 - momentum
            running_var += momentum * var_unbiased
    else:
        rstd = 1.0 / np.sqrt(running_var + eps)                 # (C,)
        xhat = (x - _channel_view(running_mean, x.ndim)) * _channel_view(rstd, x.ndim)  # (N, C, *)
    y = xhat if weight is None else xhat * _channel_view(weight, x.ndim)
    if bias is not None:
        y = y + _channel_view(bias, x.ndim)
    return y


def batch_norm_backward(dy: np.ndarray, x: np.ndarray, running_mean: Optional[np.ndarray],
                        running_var: Optional[np.ndarray], weight: Optional[np.ndarray] = None,
                        bias: Optional[np.ndarray] = None, training: bool = False, momentum: float = 0.1,
                        eps: float = 1e-5):
    """Gradients (dx, None, None, dweight, dbias) of batch_norm (running stats get none).

    Pass the running stats the FORWARD used: in eval mode they are part of the function. In training
    mode they are not read (and not updated here).
    """
    eps, _ = _batch_setup(x, running_mean, running_var, weight, bias, training, 0.0, eps)
    _check_dy(dy, x)
    axes = (0,) + tuple(range(2, x.ndim))
    g = dy if weight is None else dy * _channel_view(weight, x.ndim)   # dL/dxhat = dy * w[c]
    if training:
        xhat, rstd = _normalize(x, axes, eps)
        dx = _normalize_backward(g, xhat, rstd, axes)           # batch stats depend on x: full formula
    else:
        rstd = _channel_view(1.0 / np.sqrt(running_var + eps), x.ndim)    # (1, C, 1..)
        xhat = (x - _channel_view(running_mean, x.ndim)) * rstd
        dx = g * rstd                                            # dL/dx = dy * w * rstd (constant stats)
    dweight = _sum_except(dy * xhat, (1,)) if weight is not None else None  # dL/dw_c = sum dy * xhat
    dbias = _sum_except(dy, (1,)) if bias is not None else None             # dL/db_c = sum dy
    return dx, None, None, dweight, dbias
