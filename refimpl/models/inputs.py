"""Validation and defaults of the inputs the models take: ids or embeddings, position ids, token type ids,
the (B, L) padding mask, integer labels, and images (pixel_values). Errors name the argument."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..core.errors import ConfigError, DTypeError, ShapeError
from ..core.validation import check_float, check_int_array

__all__ = ["check_token_inputs", "position_ids_for", "check_token_type_ids", "padding_keep_mask", "labels_of",
           "check_pixel_values"]


def check_token_inputs(input_ids, inputs_embeds, *, vocab_size: int, hidden_size: int, dtype):
    """Exactly one of input_ids (B, L) / inputs_embeds (B, L, E); returns (B, L)."""
    if (input_ids is None) == (inputs_embeds is None):
        raise ConfigError("input_ids, inputs_embeds: pass exactly one of them (got "
                          + ("both" if input_ids is not None else "neither") + ")")
    if input_ids is not None:
        check_int_array(input_ids, "input_ids", low=0, high=vocab_size)
        if input_ids.ndim != 2 or input_ids.shape[1] < 1:
            raise ShapeError(f"input_ids: expected shape (batch, seq_len) with seq_len >= 1, got {input_ids.shape}")
        return input_ids.shape
    check_float(inputs_embeds, "inputs_embeds", dtype=dtype, ndim=3)
    if inputs_embeds.shape[-1] != hidden_size or inputs_embeds.shape[1] < 1:
        raise ShapeError(f"inputs_embeds: expected shape (batch, seq_len, hidden_size={hidden_size}), "
                         f"got {inputs_embeds.shape}")
    return inputs_embeds.shape[:2]


def position_ids_for(position_ids, shape, max_positions: int, input_name: str) -> np.ndarray:
    """(B, L) position ids: arange(L) by default (L <= max_positions), or the given ids broadcast to (B, L)."""
    b, n = shape
    if position_ids is None:
        if n > max_positions:
            raise ShapeError(f"{input_name}: sequence length {n} exceeds max_position_embeddings={max_positions} "
                             f"(the default position ids are 0..L-1)")
        return np.broadcast_to(np.arange(n), (b, n))                     # (B, L)
    check_int_array(position_ids, "position_ids", low=0, high=max_positions)
    try:
        return np.broadcast_to(position_ids, (b, n))                     # (1, L) / (L,) -> (B, L)
    except ValueError:
        raise ShapeError(f"position_ids: expected shape ({b}, {n}) or (1, {n}), got {position_ids.shape}") from None


def check_token_type_ids(token_type_ids, shape, high: int, input_name: str):
    """token_type_ids: int (B, L) in [0, high), the shape of the input `input_name`; None stays None."""
    if token_type_ids is not None:
        check_int_array(token_type_ids, "token_type_ids", low=0, high=high)
        if token_type_ids.shape != tuple(shape):
            raise ShapeError(f"token_type_ids: expected shape {tuple(shape)} like {input_name}, "
                             f"got {token_type_ids.shape}")
    return token_type_ids


def padding_keep_mask(attention_mask, shape) -> Optional[np.ndarray]:
    """(B, L) padding mask (1 = token, 0 = pad) -> bool (B, 1, 1, L), True where a key may be attended.

    Broadcast over heads and query rows, it is transformers' sdpa mask: every query row (pad rows
    too) sees the real tokens of its sequence. None stays None (attend everywhere).
    """
    if attention_mask is None:
        return None
    if not isinstance(attention_mask, np.ndarray):
        raise DTypeError(f"attention_mask: expected a numpy.ndarray, got {type(attention_mask).__name__}")
    if attention_mask.dtype != np.bool_ and not np.issubdtype(attention_mask.dtype, np.integer) \
            and not np.issubdtype(attention_mask.dtype, np.floating):
        raise DTypeError(f"attention_mask: expected a bool, integer or float array, got dtype {attention_mask.dtype}")
    if attention_mask.shape != tuple(shape):
        raise ShapeError(f"attention_mask: expected shape {tuple(shape)} (batch, seq_len) like the input, "
                         f"got {attention_mask.shape}")
    if attention_mask.dtype != np.bool_ and not np.isin(attention_mask, (0, 1)).all():
        raise ConfigError("attention_mask: values must be 1 (token) or 0 (padding)")
    return (attention_mask != 0)[:, None, None, :]                       # (B, 1, 1, L)


def labels_of(labels, name: str, shape, *, high: int, ignore=(-100,)) -> Optional[np.ndarray]:
    """Integer class labels of `shape` (a 1-d `shape` also as (n, 1)); values in [0, high) or `ignore`.
    None (no labels given) stays None."""
    if labels is None:
        return None
    check_int_array(labels, name, low=0, high=high, ignore=ignore)
    shape = tuple(shape)
    if labels.shape != shape and not (len(shape) == 1 and labels.shape == shape + (1,)):
        raise ShapeError(f"{name}: expected shape {shape}, got {labels.shape}")
    return labels.reshape(shape)


def check_pixel_values(pixel_values, num_channels: int, dtype, min_hw=(1, 1)) -> tuple:
    """pixel_values: a (B, num_channels, H, W) array of the model dtype with H, W >= min_hw; returns (B, C, H, W)."""
    if pixel_values is None:
        raise ConfigError("pixel_values: required (a (batch, channels, height, width) float array)")
    if not isinstance(pixel_values, np.ndarray):
        raise DTypeError(f"pixel_values: expected a numpy.ndarray, got {type(pixel_values).__name__}")
    check_float(pixel_values, "pixel_values", dtype=dtype)
    if pixel_values.ndim != 4:
        raise ShapeError(f"pixel_values: expected 4 dimensions (batch, channels, height, width), got shape "
                         f"{pixel_values.shape}")
    b, c, h, w = pixel_values.shape
    if c != num_channels:
        raise ShapeError(f"pixel_values: expected {num_channels} channels (axis 1, config.num_channels), got "
                         f"{c} in shape {pixel_values.shape}")
    if b < 1:
        raise ShapeError(f"pixel_values: empty batch, shape {pixel_values.shape}")
    if h < min_hw[0] or w < min_hw[1]:
        raise ShapeError(f"pixel_values: image {h}x{w} is smaller than one patch ({min_hw[0]}x{min_hw[1]}), "
                         f"shape {pixel_values.shape}")
    return b, c, h, w
