"""Wav2Vec2's convolutional feature encoder, its frame bookkeeping, and the feature projection.

    input_values (B, S) -> (B, 1, S) -> conv layer 0 .. n-1 -> (B, C, T)       (T frames, C = conv_dim[-1])
    conv layer i:  Conv1d(conv_dim[i-1] -> conv_dim[i], conv_kernel[i], conv_stride[i], bias=conv_bias), then
        "group": GroupNorm(C_i groups, C_i) on layer 0 only (each channel over time), then the activation;
        "layer": LayerNorm over the channels at each frame on every layer, then the activation.
    The norms' eps is torch's default 1e-5 (transformers never passes layer_norm_eps to them).
    feature projection: (B, T, C) -> LayerNorm(eps=layer_norm_eps) -> Linear(C -> hidden_size) -> dropout;
        the LayerNorm output is also returned: it is `extract_features`, the quantizer's input.

Frames of a padded utterance: T(L) = floor((L - k) / s) + 1 applied layer by layer to its length L
(the number of ones in attention_mask); frames t < T(L) are valid (transformers'
_get_feat_extract_output_lengths / _get_feature_vector_attention_mask). An utterance shorter than
the receptive field has no frame: refimpl raises, naming the argument, where transformers would
index frame -1 and silently mark the whole row valid.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ...core.errors import DTypeError, ShapeError
from ...core.module import Module, ModuleList
from ...core.validation import check_float
from ...nn.activation import get_activation
from ...nn.conv import Conv1d
from ...nn.dropout import Dropout
from ...nn.linear import Linear
from ...nn.normalization import GroupNorm, LayerNorm
from ...processing.audio import conv_output_lengths, receptive_field
from ..modeling_utils import apply_dropout

__all__ = ["config_receptive_field", "feat_extract_output_lengths", "utterance_frames", "feature_vector_attention_mask",
           "audio_lengths", "Wav2Vec2FeatureEncoder", "Wav2Vec2FeatureProjection", "Wav2Vec2NoLayerNormConvLayer",
           "Wav2Vec2LayerNormConvLayer", "Wav2Vec2GroupNormConvLayer"]


# ============================================================================================ lengths
# The arithmetic (conv_output_lengths, receptive_field) is refimpl.processing.audio's; the checks below name the
# model's own arguments (input_values, attention_mask) before it runs.
def feat_extract_output_lengths(config, lengths):
    """Frames per utterance for audio lengths (int or int array, each at least the receptive field)."""
    return conv_output_lengths(lengths, config.conv_kernel, config.conv_stride)


def config_receptive_field(config) -> int:
    """The fewest samples that give one frame under the config's conv stack."""
    return receptive_field(config.conv_kernel, config.conv_stride)


def audio_lengths(attention_mask, shape, name: str = "attention_mask") -> np.ndarray:
    """Samples per utterance, attention_mask.sum(-1) (B,) (a (B, S) array of 0/1, bool, int or float)."""
    if not isinstance(attention_mask, np.ndarray):
        raise DTypeError(f"{name}: expected a numpy.ndarray, got {type(attention_mask).__name__}")
    if attention_mask.dtype != np.bool_ and attention_mask.dtype.kind not in "iuf":
        raise DTypeError(f"{name}: expected a bool, integer or float array, got dtype {attention_mask.dtype}")
    if attention_mask.shape != tuple(shape):
        raise ShapeError(f"{name}: expected shape {tuple(shape)} (batch, samples) like input_values, "
                         f"got {attention_mask.shape}")
    if attention_mask.dtype != np.bool_ and not np.isin(attention_mask, (0, 1)).all():
        raise ShapeError(f"{name}: values must be 1 (sample) or 0 (padding)")
    return (attention_mask != 0).sum(-1).astype(np.int64)               # (B,)


def utterance_frames(config, attention_mask, shape=None, name: str = "attention_mask") -> np.ndarray:
    """Frames per utterance (B,) of a (B, S) sample mask (shape (B, S) when given); ShapeError naming `name`
    when an utterance has fewer samples than the receptive field (it would have no frame)."""
    lengths = audio_lengths(attention_mask, attention_mask.shape if shape is None else shape, name)
    rf = config_receptive_field(config)
    short = np.flatnonzero(lengths < rf)
    if short.size:
        b = int(short[0])
        raise ShapeError(f"{name}: utterance {b} has {int(lengths[b])} samples, fewer than the feature encoder's "
                         f"receptive field of {rf} samples (conv_kernel={list(config.conv_kernel)}, "
                         f"conv_stride={list(config.conv_stride)}): it has no frame")
    return np.asarray(feat_extract_output_lengths(config, lengths), np.int64).reshape(-1)   # (B,)


def feature_vector_attention_mask(config, num_frames: int, attention_mask, name: str = "attention_mask"):
    """(B, S) sample mask -> (B, T) bool frame mask, True for the first T(sum of the row) frames
    (transformers' _get_feature_vector_attention_mask); errors as utterance_frames."""
    frames = utterance_frames(config, attention_mask, name=name)        # (B,)
    return np.arange(num_frames)[None, :] < np.minimum(frames, num_frames)[:, None]   # (B, T) bool


# ============================================================================================ conv layers
class _ConvLayer(Module):
    """conv -> (norm) -> activation, on (B, C_in, L) -> (B, C_out, L_out)."""

    def __init__(self, config, layer_id: int, dtype):
        super().__init__()
        c_in = config.conv_dim[layer_id - 1] if layer_id > 0 else 1
        c_out = config.conv_dim[layer_id]
        self.conv = Conv1d(c_in, c_out, config.conv_kernel[layer_id], stride=config.conv_stride[layer_id],
                           bias=config.conv_bias, dtype=dtype)
        self._build_norm(c_out, dtype)
        self.activation = get_activation(config.feat_extract_activation)

    def _build_norm(self, c_out, dtype):
        pass

    def _norm(self, x):
        return x

    def _norm_backward(self, dy):
        return dy

    def forward(self, x):
        return self.activation(self._norm(self.conv(x)))                # (B, C_out, L_out)

    def backward(self, dy):
        return self.conv.backward(self._norm_backward(self.activation.backward(dy)))


class Wav2Vec2NoLayerNormConvLayer(_ConvLayer):
    """conv -> activation (layers 1.. of the "group" layout)."""


class Wav2Vec2LayerNormConvLayer(_ConvLayer):
    """conv -> LayerNorm over the channels at each frame (eps 1e-5) -> activation ("layer" layout)."""

    def _build_norm(self, c_out, dtype):
        self.layer_norm = LayerNorm(c_out, eps=1e-5, data_format="channels_first", dtype=dtype)

    def _norm(self, x):
        return self.layer_norm(x)                                       # normalises axis 1 of (B, C, L)

    def _norm_backward(self, dy):
        return self.layer_norm.backward(dy)


class Wav2Vec2GroupNormConvLayer(_ConvLayer):
    """conv -> GroupNorm(C groups, C channels, eps 1e-5): each channel over time -> activation (layer 0, "group")."""

    def _build_norm(self, c_out, dtype):
        self.layer_norm = GroupNorm(c_out, c_out, eps=1e-5, affine=True, dtype=dtype)

    def _norm(self, x):
        return self.layer_norm(x)

    def _norm_backward(self, dy):
        return self.layer_norm.backward(dy)


class Wav2Vec2FeatureEncoder(Module):
    """Raw audio (B, S) -> conv features (B, conv_dim[-1], T). backward(d (B, C, T)) -> d input_values (B, S)."""

    def __init__(self, config, dtype):
        super().__init__()
        self.kernels, self.strides = list(config.conv_kernel), list(config.conv_stride)
        n = len(config.conv_dim)
        if config.feat_extract_norm == "group":
            layers = [Wav2Vec2GroupNormConvLayer(config, 0, dtype)] + \
                     [Wav2Vec2NoLayerNormConvLayer(config, i, dtype) for i in range(1, n)]
        else:
            layers = [Wav2Vec2LayerNormConvLayer(config, i, dtype) for i in range(n)]
        self.conv_layers = ModuleList(layers)

    def check_input(self, input_values: np.ndarray) -> None:
        """input_values: float (B, S) of the module dtype with S at least the receptive field."""
        dtype = self.conv_layers[0].conv.weight.dtype
        check_float(input_values, "input_values", dtype=dtype)
        if input_values.ndim != 2:
            raise ShapeError(f"input_values: expected shape (batch, samples), got {input_values.shape}")
        s = input_values.shape[1]
        if s < receptive_field(self.kernels, self.strides):
            raise ShapeError(f"input_values: {s} samples is shorter than the feature encoder's receptive field of "
                             f"{receptive_field(self.kernels, self.strides)} samples (conv_kernel={self.kernels}, "
                             f"conv_stride={self.strides}): no frame would come out")

    def forward(self, input_values: np.ndarray) -> np.ndarray:
        self.check_input(input_values)
        h = input_values[:, None, :]                                    # (B, 1, S)
        for layer in self.conv_layers:
            h = layer(h)                                                # (B, C_i, L_i)
        return h                                                        # (B, C, T)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        for layer in reversed(list(self.conv_layers)):
            dy = layer.backward(dy)
        return dy[:, 0, :]                                              # (B, S)


class Wav2Vec2FeatureProjection(Module):
    """(B, T, C) -> (hidden (B, T, hidden_size), extract_features = LayerNorm(x) (B, T, C))."""

    def __init__(self, config, dtype):
        super().__init__()
        c = config.conv_dim[-1]
        self.layer_norm = LayerNorm(c, eps=config.layer_norm_eps, dtype=dtype)
        self.projection = Linear(c, config.hidden_size, dtype=dtype)
        self.dropout = Dropout(config.feat_proj_dropout)

    def forward(self, x, rng=None):
        norm = self.layer_norm(x)                                       # (B, T, C)
        h = apply_dropout(self.dropout, self.projection(norm), rng)     # (B, T, H)
        return h, norm

    def backward(self, dh, d_norm: Optional[np.ndarray] = None):
        dn = self.projection.backward(self.dropout.backward(dh))        # (B, T, C)
        if d_norm is not None:
            dn = dn + d_norm                                            # extract_features is an output too
        return self.layer_norm.backward(dn)
