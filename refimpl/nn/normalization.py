"""Normalisation layers: LayerNorm, RMSNorm (T5LayerNorm), GroupNorm, BatchNorm2d, FrozenBatchNorm2d.

The math lives in refimpl.functional.normalization; these modules hold the parameters (named as in
the torch / Hugging Face state dicts), the running statistics, and the train/eval switch.
eps is per instance and matters: BERT uses 1e-12, GPT-2/BART 1e-5, ConvNeXT 1e-6, T5 1e-6.
dtype: the parameters' (and float buffers') dtype is the contract an input must match; a module with
no float parameter or buffer (LayerNorm(elementwise_affine=False), BatchNorm2d(affine=False,
track_running_stats=False)) takes float32 or float64 and computes in the input's dtype.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

from ..core.errors import ConfigError, ShapeError
from ..core.module import Module
from ..core.parameter import Parameter
from ..core.validation import as_dtype, check_choice, check_float, check_positive_int
from ..functional.normalization import (batch_norm, batch_norm_backward, group_norm, group_norm_backward,
                                        layer_norm, layer_norm_backward, rms_norm, rms_norm_backward)

__all__ = ["LayerNorm", "RMSNorm", "GroupNorm", "BatchNorm2d", "FrozenBatchNorm2d"]


def _eps(eps) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating, np.integer)) or not eps >= 0:
        raise ConfigError(f"eps: expected a non-negative float, got {eps!r}")
    return float(eps)


def _dtype_contract(*arrays) -> Optional[np.dtype]:
    """The dtype inputs must have: that of the first float parameter/buffer, or None if there is none."""
    for a in arrays:
        if a is not None:
            return (a.data if isinstance(a, Parameter) else a).dtype
    return None


def _data(p: Optional[Parameter]) -> Optional[np.ndarray]:
    return None if p is None else p.data


def _accumulate_affine(module: Module, dweight, dbias) -> None:
    """Add the affine gradients to module.weight and module.bias, each only if the module has it."""
    if module.weight is not None:
        module.weight.accumulate(dweight)                      # dL/dweight
    if module.bias is not None:
        module.bias.accumulate(dbias)                          # dL/dbias


def _check_channels(x: np.ndarray, c: int, what: str, ndim: Optional[int] = None) -> None:
    """x: (N, C, *) with C == c (and exactly `ndim` dimensions when given)."""
    if ndim is not None and x.ndim != ndim:
        raise ShapeError(f"x: expected {ndim} dimensions (N, C, H, W), got shape {x.shape}")
    if x.ndim < 2 or x.shape[1] != c:
        raise ShapeError(f"x: expected {c} channels ({what}) along axis 1 of (N, C, *), got shape {x.shape}")


class LayerNorm(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, statistics over the normalised axes.

    channels_last (default, torch.nn.LayerNorm): x: (..., *normalized_shape), the last
        len(normalized_shape) axes are normalised together.
    channels_first (ConvNeXT's ConvNextLayerNorm): normalized_shape = C and x: (N, C, *) is normalised
        over axis 1 alone, at each sample and position (equal to permuting C last, LayerNorm, permuting back).
    -> y: x's shape and dtype. var is the biased variance.
    Params: weight (normalized_shape) = 1 and bias (normalized_shape) = 0; none with
        elementwise_affine=False, no bias with bias=False (the keys are absent, as in torch).
    """

    def __init__(self, normalized_shape: Union[int, Sequence[int]], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, data_format: str = "channels_last", *, dtype=np.float64):
        super().__init__()
        check_choice(data_format, "data_format", ("channels_last", "channels_first"))
        if isinstance(normalized_shape, (int, np.integer)) and not isinstance(normalized_shape, bool):
            normalized_shape = (normalized_shape,)
        if not isinstance(normalized_shape, (tuple, list)) or not normalized_shape:
            raise ConfigError(f"normalized_shape: expected an int or a non-empty tuple of ints, got {normalized_shape!r}")
        self.normalized_shape = tuple(check_positive_int(s, "normalized_shape") for s in normalized_shape)
        if data_format == "channels_first" and len(self.normalized_shape) != 1:
            raise ConfigError(f"normalized_shape: channels_first normalises the channel axis alone, so expected "
                              f"one size (the channel count), got {self.normalized_shape}")
        self.eps = _eps(eps)
        self.elementwise_affine = bool(elementwise_affine)
        self.data_format = data_format
        dt = as_dtype(dtype)
        if self.elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dt))
            self.register_parameter("bias", Parameter(np.zeros(self.normalized_shape, dt)) if bias else None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def _axes(self, x: np.ndarray):
        if self.data_format == "channels_last":
            return None                                         # the trailing axes
        _check_channels(x, self.normalized_shape[0], "normalized_shape, channels_first")
        return (1,)

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float(x, "x", dtype=_dtype_contract(self.weight, self.bias))
        axes = self._axes(x)
        y = layer_norm(x, self.normalized_shape, _data(self.weight), _data(self.bias), self.eps, axes=axes)
        self.save_for_backward(x)
        return y                                                # x's shape

    def backward(self, dy: np.ndarray) -> np.ndarray:
        (x,) = self.saved()
        dx, _, dweight, dbias = layer_norm_backward(dy, x, self.normalized_shape, _data(self.weight),
                                                    _data(self.bias), self.eps, axes=self._axes(x))
        _accumulate_affine(self, dweight, dbias)
        return dx

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps:g}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}, data_format={self.data_format!r}")


class RMSNorm(Module):
    """T5LayerNorm: y = weight * x / sqrt(mean(x^2) + eps) over the last axis; no mean, no bias.

    x: (..., hidden_size) -> y: x's shape and dtype. Param: weight (hidden_size,) = 1.
    Computed entirely in x's dtype (= torch.nn.RMSNorm). Hugging Face's T5LayerNorm computes
    mean(x^2) in float32 for EVERY input dtype (a downcast for float64 inputs), so in float64 HF's
    output carries ~1e-7 relative error against this; in float32 the two agree. (HF's cast of the
    output to a float16/bfloat16 weight dtype does not arise: refimpl is float32/float64 only.)
    """

    def __init__(self, hidden_size: int, eps: float = 1e-6, *, dtype=np.float64):
        super().__init__()
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.eps = _eps(eps)                                    # HF calls it variance_epsilon
        self.weight = Parameter(np.ones(self.hidden_size, as_dtype(dtype)))

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float(x, "x", dtype=self.weight.dtype)
        if x.ndim < 1 or x.shape[-1] != self.hidden_size:
            raise ShapeError(f"x: expected last dimension {self.hidden_size} (hidden_size), got shape {x.shape}")
        y = rms_norm(x, self.weight.data, self.eps)
        self.save_for_backward(x)
        return y                                                # (..., hidden_size)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        (x,) = self.saved()
        dx, dweight = rms_norm_backward(dy, x, self.weight.data, self.eps)
        self.weight.accumulate(dweight)
        return dx

    def extra_repr(self):
        return f"{self.hidden_size}, eps={self.eps:g}"


class GroupNorm(Module):
    """Per sample, normalise each group of num_channels/num_groups channels together with all positions.

    x: (N, C, *) with C = num_channels, any number of trailing axes (Wav2Vec2: (N, C, T) with
    num_groups = C, i.e. each channel over time) -> y: x's shape and dtype.
    Params: weight (C,) = 1, bias (C,) = 0, per channel (none with affine=False).
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, *,
                 dtype=np.float64):
        super().__init__()
        self.num_groups = check_positive_int(num_groups, "num_groups")
        self.num_channels = check_positive_int(num_channels, "num_channels")
        if self.num_channels % self.num_groups:
            raise ConfigError(f"num_channels: expected a multiple of num_groups={self.num_groups}, "
                              f"got {self.num_channels}")
        self.eps = _eps(eps)
        self.affine = bool(affine)
        dt = as_dtype(dtype)
        if self.affine:
            self.weight = Parameter(np.ones(self.num_channels, dt))
            self.bias = Parameter(np.zeros(self.num_channels, dt))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float(x, "x", dtype=_dtype_contract(self.weight, self.bias))
        _check_channels(x, self.num_channels, "num_channels")
        y = group_norm(x, self.num_groups, _data(self.weight), _data(self.bias), self.eps)
        self.save_for_backward(x)
        return y                                                # (N, C, *)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        (x,) = self.saved()
        dx, _, dweight, dbias = group_norm_backward(dy, x, self.num_groups, _data(self.weight), _data(self.bias),
                                                    self.eps)
        _accumulate_affine(self, dweight, dbias)
        return dx

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps:g}, affine={self.affine}"


class BatchNorm2d(Module):
    """Per-channel normalisation of x: (N, C, H, W) over N, H and W (torch.nn.BatchNorm2d).

    train mode: normalise with the batch mean and BIASED variance; update the running statistics
        with the UNBIASED variance (x n/(n-1), n = N*H*W):
            running <- (1 - f) * running + f * batch_stat,  f = momentum, or 1/num_batches_tracked
        when momentum is None (a cumulative average); num_batches_tracked += 1.
    eval mode: y = (x - running_mean) / sqrt(running_var + eps) * weight + bias.
    track_running_stats=False: no buffers; batch statistics in both modes.
    -> y: x's shape and dtype.
    Params: weight (C,) = 1, bias (C,) = 0 (affine=False: none; bias=False: no bias).
    Buffers: running_mean (C,) = 0, running_var (C,) = 1, num_batches_tracked () int64 = 0.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1, affine: bool = True,
                 track_running_stats: bool = True, *, bias: bool = True, dtype=np.float64):
        super().__init__()
        self.num_features = check_positive_int(num_features, "num_features")
        self.eps = _eps(eps)
        if momentum is not None and (isinstance(momentum, bool) or not 0.0 <= float(momentum) <= 1.0):
            raise ConfigError(f"momentum: expected a float in [0, 1] or None (cumulative average), got {momentum!r}")
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        dt = as_dtype(dtype)
        c = self.num_features
        if self.affine:
            self.weight = Parameter(np.ones(c, dt))
            self.register_parameter("bias", Parameter(np.zeros(c, dt)) if bias else None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(c, dt))
            self.register_buffer("running_var", np.ones(c, dt))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float(x, "x", dtype=_dtype_contract(self.weight, self.bias, self.running_mean))
        _check_channels(x, self.num_features, "num_features", ndim=4)
        use_batch_stats = self.training or self.running_mean is None
        update = self.training and self.track_running_stats
        factor = 0.0
        if update:   # the cumulative average weighs the new batch by 1/(batches seen, this one included)
            factor = self.momentum if self.momentum is not None else 1.0 / (int(self.num_batches_tracked) + 1)
        # the functional updates running_mean/var in place in train mode (validation runs first)
        y = batch_norm(x, self.running_mean, self.running_var, _data(self.weight), _data(self.bias),
                       training=use_batch_stats, momentum=factor, eps=self.eps)
        if update:
            self.num_batches_tracked[...] += 1                   # in place: keeps the registered buffer
        if use_batch_stats:
            self.save_for_backward(x, None, None)
        else:        # copies: a later train-mode forward changes the buffers in place
            self.save_for_backward(x, self.running_mean.copy(), self.running_var.copy())
        return y                                                # (N, C, H, W)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        x, running_mean, running_var = self.saved()
        dx, _, _, dweight, dbias = batch_norm_backward(dy, x, running_mean, running_var, _data(self.weight),
                                                       _data(self.bias), training=running_mean is None,
                                                       eps=self.eps)
        _accumulate_affine(self, dweight, dbias)
        return dx

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps:g}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class FrozenBatchNorm2d(Module):
    """BatchNorm2d with fixed statistics and affine terms (DETR's DetrFrozenBatchNorm2d).

    y = x * scale + shift,  scale = weight / sqrt(running_var + eps),  shift = bias - running_mean * scale
    x: (N, C, H, W) -> y: x's shape and dtype. eps = 1e-5 as DETR hard-codes it.
    weight, bias, running_mean, running_var (C,) are all BUFFERS (state-dict keys, never trained),
    so backward returns dx = dy * scale and touches no parameter. A `num_batches_tracked` key in a
    state dict (from a BatchNorm2d checkpoint) is ignored on load, as DETR does, wherever this module
    sits in a model (Module.ignored_state_keys).
    """

    ignored_state_keys = ("num_batches_tracked",)

    def __init__(self, n: int, eps: float = 1e-5, *, dtype=np.float64):
        super().__init__()
        self.num_features = check_positive_int(n, "n")
        self.eps = _eps(eps)
        dt = as_dtype(dtype)
        self.register_buffer("weight", np.ones(self.num_features, dt))
        self.register_buffer("bias", np.zeros(self.num_features, dt))
        self.register_buffer("running_mean", np.zeros(self.num_features, dt))
        self.register_buffer("running_var", np.ones(self.num_features, dt))

    def _scale_shift(self, ndim: int):
        scale = self.weight / np.sqrt(self.running_var + self.eps)          # (C,)
        shift = self.bias - self.running_mean * scale                        # (C,)
        view = (1, -1) + (1,) * (ndim - 2)
        return scale.reshape(view), shift.reshape(view)                      # (1, C, 1, 1)

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float(x, "x", dtype=self.weight.dtype)
        _check_channels(x, self.num_features, "n", ndim=4)
        scale, shift = self._scale_shift(x.ndim)
        self.save_for_backward(scale)
        return x * scale + shift                                             # (N, C, H, W)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        (scale,) = self.saved()
        check_float(dy, "dy", dtype=scale.dtype)
        if dy.ndim != 4 or dy.shape[1] != scale.shape[1]:
            raise ShapeError(f"dy: expected the output shape (N, {scale.shape[1]}, H, W), got {dy.shape}")
        return dy * scale                                                    # dL/dx = dy * scale

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps:g}"
