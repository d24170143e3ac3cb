"""depthwise_conv2d: one kh x kw filter per channel (conv2d with groups == C_in == C_out) — a hot path.

    y[n, c, i, j] = b[c] + sum_{a, e} w[c, 0, a, e] * xpad[n, c, i*sh + a*dh, j*sw + e*dw]

    dL/dxpad[n, c, i*sh + a*dh, j*sw + e*dw] += dy[n, c, i, j] * w[c, 0, a, e]
    dL/dw[c, 0, a, e] = sum_{n, i, j} dy[n, c, i, j] * xpad[n, c, i*sh + a*dh, j*sw + e*dw]
    dL/db[c]          = sum_{n, i, j} dy[n, c, i, j]

xpad is x zero-padded as conv2d pads it (int, (ph, pw), "valid", or "same" with the odd extra zero at
the bottom/right). The reference loops over the kh*kw taps and does one whole-tensor multiply-add per
tap (ConvNeXt's 7x7: 49 passes). Both functions are registered as the "depthwise_conv" hot path;
kernels/<backend>/depthwise_conv.py provides the same two names with the same signatures, and
refimpl.functional.conv.conv2d reaches them through refimpl.core.kernel_dispatch.
"""
from __future__ import annotations

import itertools
from typing import Optional

import numpy as np

from ..core.kernel_dispatch import register_reference
from ..core.errors import ShapeError
from ..core.validation import check_float, check_same_dtype
from .conv import _ntuple, _pad, _tap_slices, conv_output_size, conv_padding


def check_depthwise_conv_args(x, weight, bias, stride, padding, dilation):
    """Validate every argument (kernels call this too, before compiled code); return
    (stride, pads, dilation, out) with pads ((top, bottom), (left, right)) and out (H_out, W_out)."""
    check_float(x, "x")
    if x.ndim != 4:
        raise ShapeError(f"x: expected 4 dimensions (N, C, H, W), got shape {x.shape}")
    check_float(weight, "weight")
    C = x.shape[1]
    if weight.ndim != 4 or weight.shape[0] != C or weight.shape[1] != 1 or min(weight.shape[2:]) < 1:
        raise ShapeError(f"weight: expected shape ({C}, 1, kh, kw) for x with {C} channels, got {weight.shape}")
    if bias is not None:
        check_float(bias, "bias")
        if bias.shape != (C,):
            raise ShapeError(f"bias: expected shape ({C},), got {bias.shape}")
    check_same_dtype({"x": x, "weight": weight, "bias": bias})
    kernel = tuple(weight.shape[2:])
    stride = _ntuple(stride, 2, "stride", minimum=1)
    dilation = _ntuple(dilation, 2, "dilation", minimum=1)
    pads = conv_padding(padding, kernel, stride, dilation)
    out = conv_output_size(x.shape[2:], kernel, stride, pads, dilation)
    return stride, pads, dilation, out


def depthwise_conv2d(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray] = None, stride=1,
                     padding=0, dilation=1) -> np.ndarray:
    """x: (N, C, H, W), weight: (C, 1, kh, kw), bias: (C,) or None, one float dtype -> (N, C, H_out, W_out).

    Same result as conv2d(x, weight, bias, stride, padding, dilation, groups=C).
    """
    stride, pads, dilation, out = check_depthwise_conv_args(x, weight, bias, stride, padding, dilation)
    N, C = x.shape[:2]
    xp = _pad(x, pads)                                                      # (N, C, Hp, Wp)
    y = np.zeros((N, C) + out, dtype=x.dtype)                               # (N, C, Ho, Wo)
    for a, e in itertools.product(range(weight.shape[2]), range(weight.shape[3])):
        # y[n, c, i, j] += w[c, 0, a, e] * xpad[n, c, i*sh + a*dh, j*sw + e*dw]
        y += xp[(Ellipsis,) + _tap_slices((a, e), stride, dilation, out)] * weight[:, 0, a, e, None, None]
    if bias is not None:
        y += bias[:, None, None]
    return y


def check_depthwise_conv_backward_args(dy, x, weight, bias, stride, padding, dilation):
    """check_depthwise_conv_args plus dy: (N, C, H_out, W_out) of x's dtype."""
    stride, pads, dilation, out = check_depthwise_conv_args(x, weight, bias, stride, padding, dilation)
    check_float(dy, "dy", dtype=x.dtype)
    if dy.shape != x.shape[:2] + out:
        raise ShapeError(f"dy: expected the output shape {x.shape[:2] + out}, got {dy.shape}")
    return stride, pads, dilation, out


def depthwise_conv2d_backward(dy: np.ndarray, x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray] = None,
                              stride=1, padding=0, dilation=1):
    """Gradients (dx, dweight, dbias) of depthwise_conv2d for dy: (N, C, H_out, W_out); dbias None without bias."""
    stride, pads, dilation, out = check_depthwise_conv_backward_args(dy, x, weight, bias, stride, padding, dilation)
    xp = _pad(x, pads)                                                      # (N, C, Hp, Wp)
    dxp = np.zeros(xp.shape, dtype=x.dtype)                                 # (N, C, Hp, Wp)
    dweight = np.zeros(weight.shape, dtype=x.dtype)                         # (C, 1, kh, kw)
    for a, e in itertools.product(range(weight.shape[2]), range(weight.shape[3])):
        sl = (Ellipsis,) + _tap_slices((a, e), stride, dilation, out)    # xpad[.., i*sh + a*dh, j*sw + e*dw]
        # dL/dxpad[n, c, i*sh + a*dh, j*sw + e*dw] += dy[n, c, i, j] * w[c, 0, a, e]
        dxp[sl] += dy * weight[:, 0, a, e, None, None]
        # dL/dw[c, 0, a, e] = sum_{n, i, j} dy[n, c, i, j] * xpad[n, c, i*sh + a*dh, j*sw + e*dw]
        dweight[:, 0, a, e] = np.einsum("nchw,nchw->c", dy, xp[sl])
    (pt, _), (pl, _) = pads
    dx = np.ascontiguousarray(dxp[:, :, pt:pt + x.shape[2], pl:pl + x.shape[3]])  # crop the padding
    # dL/db[c] = sum_{n,i,j} dy
    dbias = dy.sum(axis=(0, 2, 3)) if bias is not None else None
    return dx, dweight, dbias


# the reference both for plain calls and for use_kernels(None); kernels replace it by name
register_reference("depthwise_conv", depthwise_conv2d)
register_reference("depthwise_conv", depthwise_conv2d_backward)
