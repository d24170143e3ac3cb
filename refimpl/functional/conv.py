"""conv1d / conv2d: cross-correlation with stride, zero padding, dilation and groups
(torch.nn.functional.conv1d / conv2d semantics and layouts).

For one group g (channels c in group g, out-channels o in group g), output position p and kernel tap k:

    y[n, o, p] = b[o] + sum_{c, k} w[o, c, k] * xpad[n, c, p * stride + k * dilation]

xpad is x with `padding` zeros on each side. padding="same" pads dilation * (kernel - 1) in total,
half on the left/top and the odd extra one on the right/bottom (stride 1 only); "valid" pads nothing.
Output length: floor((L + pad_left + pad_right - dilation * (kernel - 1) - 1) / stride) + 1 >= 1.

Computed as im2col (a strided window view of xpad, copied into (G, N*P, C/G * K) columns) times the
weight as a matrix; the backward scatters column gradients back with one strided add per kernel tap.
conv2d with groups == C_in == C_out (depthwise) goes through the "depthwise_conv" hot path, so that
`use_kernels("numba" | "cuda")` can replace it.
"""
from __future__ import annotations

import itertools
from typing import Optional, Sequence, Tuple, Union

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..core.kernel_dispatch import dispatch
from ..core.errors import ConfigError, ShapeError
from ..core.validation import check_float, check_same_dtype

IntOrTuple = Union[int, Sequence[int]]
Padding = Union[str, int, Sequence[int]]


# ---------------------------------------------------------------------------------------- arguments
def _ntuple(value, n: int, name: str, *, minimum: int) -> Tuple[int, ...]:
    """An int or a length-n sequence of ints, each >= minimum, as a tuple of n ints."""
    items = (value,) * n if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    try:
        items = tuple(items)
    except TypeError:
        raise ConfigError(f"{name}: expected an int or a tuple of {n} ints, got {value!r}") from None
    if len(items) != n or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in items):
        raise ConfigError(f"{name}: expected an int or a tuple of {n} ints, got {value!r}")
    if any(v < minimum for v in items):
        what = "positive" if minimum == 1 else "non-negative"
        raise ConfigError(f"{name}: expected {what} values, got {value!r}")
    return tuple(int(v) for v in items)


def conv_padding(padding: Padding, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
                 name: str = "padding") -> Tuple[Tuple[int, int], ...]:
    """Resolve int / tuple / "same" / "valid" to explicit (before, after) zero padding per spatial axis."""
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ConfigError(f"{name}: 'same' is only defined for stride 1, got stride={tuple(stride)}")
            pads = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)                       # keeps the output length equal to the input length
                pads.append((total // 2, total - total // 2))  # odd total: the extra zero goes right/bottom
            return tuple(pads)
        raise ConfigError(f"{name}: expected an int, a tuple of {n} ints, 'same' or 'valid', got {padding!r}")
    p = _ntuple(padding, n, name, minimum=0)
    return tuple((v, v) for v in p)


def conv_output_size(spatial: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                     pads: Sequence[Tuple[int, int]], dilation: Sequence[int], x_name: str = "x") -> Tuple[int, ...]:
    """floor((L + pads - dilation*(k-1) - 1) / stride) + 1 per axis; ShapeError when a window does not fit."""
    padded = tuple(L + a + b for L, (a, b) in zip(spatial, pads))
    reach = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(P < r for P, r in zip(padded, reach)):
        raise ShapeError(
            f"{x_name}: spatial size {tuple(spatial)} (padded to {padded}) is smaller than the kernel: "
            f"kernel_size {tuple(kernel)} with dilation {tuple(dilation)} spans {reach}")
    return tuple((P - r) // s + 1 for P, r, s in zip(padded, reach, stride))


def _resolve(x, weight, bias, stride, padding, dilation, groups, n: int):
    """Validate everything before any arithmetic; return normalised (stride, pads, dilation, groups, out)."""
    layout = "(N, C_in, L)" if n == 1 else "(N, C_in, H, W)"
    check_float(x, "x")
    if x.ndim != n + 2:
        raise ShapeError(f"x: expected {n + 2} dimensions {layout}, got shape {x.shape}")
    check_float(weight, "weight")
    if weight.ndim != n + 2:
        wl = "(C_out, C_in/groups, k)" if n == 1 else "(C_out, C_in/groups, kh, kw)"
        raise ShapeError(f"weight: expected {n + 2} dimensions {wl}, got shape {weight.shape}")
    if bias is not None:
        check_float(bias, "bias")
    check_same_dtype({"x": x, "weight": weight, "bias": bias})
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ConfigError(f"groups: expected a positive integer, got {groups!r}")
    groups = int(groups)
    c_in, c_out = x.shape[1], weight.shape[0]
    if c_in % groups != 0:
        raise ConfigError(f"groups: input channels {c_in} (x shape {x.shape}) are not divisible by groups={groups}")
    if c_out % groups != 0:
        raise ConfigError(f"groups: output channels {c_out} (weight shape {weight.shape}) are not divisible by "
                          f"groups={groups}")
    if weight.shape[1] * groups != c_in:
        raise ShapeError(f"x: expected {weight.shape[1] * groups} input channels (weight {weight.shape} with "
                         f"groups={groups}), got {c_in} (x shape {x.shape})")
    if bias is not None and bias.shape != (c_out,):
        raise ShapeError(f"bias: expected shape ({c_out},), got {bias.shape}")
    kernel = tuple(weight.shape[2:])
    if any(k < 1 for k in kernel):
        raise ShapeError(f"weight: kernel sizes must be positive, got shape {weight.shape}")
    stride = _ntuple(stride, n, "stride", minimum=1)
    dilation = _ntuple(dilation, n, "dilation", minimum=1)
    pads = conv_padding(padding, kernel, stride, dilation)
    out = conv_output_size(x.shape[2:], kernel, stride, pads, dilation)
    return stride, pads, dilation, groups, out


# ---------------------------------------------------------------------------------------- core
def _pad(x: np.ndarray, pads) -> np.ndarray:
    if not any(a or b for a, b in pads):
        return x
    return np.pad(x, ((0, 0), (0, 0)) + tuple(pads))


def conv_windows(xp: np.ndarray, kernel, stride, dilation, out) -> np.ndarray:
    """Strided view (no copy) of the padded input: (N, C, *out, *kernel), [.., p, k] = xp[.., p*s + k*d]."""
    n = len(kernel)
    reach = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    v = sliding_window_view(xp, reach, axis=tuple(range(2, 2 + n)))        # (N, C, *P-reach+1, *reach)
    sel = ((slice(None), slice(None))
           + tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(out, stride))
           + tuple(slice(None, None, d) for d in dilation))
    return v[sel]                                                           # (N, C, *out, *kernel)


def _tap_slices(tap, stride, dilation, out):
    """Index into xp of every output position's element at kernel tap `tap`."""
    return tuple(slice(k * d, k * d + (o - 1) * s + 1, s) for k, s, d, o in zip(tap, stride, dilation, out))


def _im2col(x, pads, kernel, stride, dilation, out, groups):
    """Columns (G, N*prod(out), C/G*prod(kernel)) of the padded input."""
    N, C = x.shape[:2]
    n = len(kernel)
    win = conv_windows(_pad(x, pads), kernel, stride, dilation, out)        # (N, C, *out, *K)
    win = win.reshape((N, groups, C // groups) + tuple(out) + tuple(kernel))  # (N, G, Cg, *out, *K) (view)
    # -> (G, N, *out, Cg, *K): the copy here is the im2col
    order = (1, 0) + tuple(range(3, 3 + n)) + (2,) + tuple(range(3 + n, 3 + 2 * n))
    cols = np.ascontiguousarray(win.transpose(order))
    return cols.reshape(groups, N * int(np.prod(out)), (C // groups) * int(np.prod(kernel)))  # (G, N*P, Cg*K)


def _conv_forward(x, weight, bias, stride, pads, dilation, groups, out):
    N = x.shape[0]
    c_out = weight.shape[0]
    n = len(out)
    cols = _im2col(x, pads, weight.shape[2:], stride, dilation, out, groups)  # (G, N*P, Cg*K)
    w = weight.reshape(groups, c_out // groups, -1).transpose(0, 2, 1)       # (G, Cg*K, Og)
    y = cols @ w                                                            # (G, N*P, Og)
    y = y.reshape((groups, N) + tuple(out) + (c_out // groups,))            # (G, N, *out, Og)
    y = y.transpose((1, 0, n + 2) + tuple(range(2, 2 + n)))                 # (N, G, Og, *out)
    y = y.reshape((N, c_out) + tuple(out))                                  # (N, C_out, *out)
    if bias is not None:
        y = y + bias.reshape((c_out,) + (1,) * n)
    return np.ascontiguousarray(y)


def _conv_backward(dy, x, weight, bias, stride, pads, dilation, groups, out):
    N, C = x.shape[:2]
    c_out = weight.shape[0]
    kernel = tuple(weight.shape[2:])
    n = len(out)
    og, cg = c_out // groups, C // groups
    # dy as (G, N*P, Og), the row layout of the forward's matrix product
    dyg = dy.reshape((N, groups, og) + tuple(out))                          # (N, G, Og, *out)
    dyg = dyg.transpose((1, 0) + tuple(range(3, 3 + n)) + (2,))             # (G, N, *out, Og)
    dyg = np.ascontiguousarray(dyg).reshape(groups, N * int(np.prod(out)), og)  # (G, N*P, Og)
    w = weight.reshape(groups, og, -1)                                      # (G, Og, Cg*K)
    cols = _im2col(x, pads, kernel, stride, dilation, out, groups)          # (G, N*P, Cg*K)
    # dL/dw[o, c, k] = sum_{n, p} dy[n, o, p] * xpad[n, c, p*s + k*d]
    dweight = (dyg.transpose(0, 2, 1) @ cols).reshape(weight.shape)         # (C_out, Cg, *K)
    # dL/db[o] = sum_{n, p} dy[n, o, p]
    dbias = dy.sum(axis=(0,) + tuple(range(2, 2 + n))) if bias is not None else None
    # dL/dcols[n, p, c, k] = sum_o dy[n, o, p] * w[o, c, k], laid out (G, Cg*K, N*P) so that each
    # tap's slice below is contiguous along the output row (the scatter is the slow part otherwise)
    dcols = w.transpose(0, 2, 1) @ dyg.transpose(0, 2, 1)                  # (G, Cg*K, N*P)
    dcols = dcols.reshape((groups, cg) + kernel + (N,) + tuple(out))        # (G, Cg, *K, N, *out)
    # dL/dxpad[n, c, p*s + k*d] += dcols[n, c, k, p], one strided add per tap
    padded = tuple(L + a + b for L, (a, b) in zip(x.shape[2:], pads))
    dxp = np.zeros((groups, cg, N) + padded, dtype=x.dtype)                 # (G, Cg, N, *padded)
    for tap in itertools.product(*(range(k) for k in kernel)):
        dxp[(Ellipsis,) + _tap_slices(tap, stride, dilation, out)] += dcols[(slice(None),) * 2 + tap]
    dxp = dxp.reshape((C, N) + padded)                                      # (C, N, *padded)
    crop = tuple(slice(a, a + L) for L, (a, _) in zip(x.shape[2:], pads))
    dx = dxp[(slice(None), slice(None)) + crop].swapaxes(0, 1)              # (N, C, *spatial)
    return np.ascontiguousarray(dx), dweight, dbias


def _is_depthwise(x, weight, groups) -> bool:
    return groups == x.shape[1] == weight.shape[0]


def _depthwise(fn_name: str):
    return dispatch("depthwise_conv", fn_name)


# ---------------------------------------------------------------------------------------- public
def conv1d(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray] = None, stride: IntOrTuple = 1,
           padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1) -> np.ndarray:
    """1-D convolution (cross-correlation), torch.nn.functional.conv1d.

    x: (N, C_in, L), weight: (C_out, C_in/groups, k), bias: (C_out,) or None, one float dtype
    -> (N, C_out, L_out), L_out = floor((L + 2*padding - dilation*(k-1) - 1)/stride) + 1.
    padding: int, (p,), "valid" or "same" (stride 1; odd total padding puts the extra zero on the right).
    """
    stride, pads, dilation, groups, out = _resolve(x, weight, bias, stride, padding, dilation, groups, 1)
    return _conv_forward(x, weight, bias, stride, pads, dilation, groups, out)


def conv1d_backward(dy: np.ndarray, x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray] = None,
                    stride: IntOrTuple = 1, padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1):
    """Gradients (dx, dweight, dbias) of conv1d for upstream dy: (N, C_out, L_out); dbias None without bias."""
    stride, pads, dilation, groups, out = _resolve(x, weight, bias, stride, padding, dilation, groups, 1)
    _check_dy(dy, x, weight, out)
    return _conv_backward(dy, x, weight, bias, stride, pads, dilation, groups, out)


def conv2d(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray] = None, stride: IntOrTuple = 1,
           padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1) -> np.ndarray:
    """2-D convolution (cross-correlation), torch.nn.functional.conv2d.

    x: (N, C_in, H, W), weight: (C_out, C_in/groups, kh, kw), bias: (C_out,) or None, one float dtype
    -> (N, C_out, H_out, W_out), per axis floor((H + pad_top + pad_bottom - dilation*(kh-1) - 1)/stride) + 1.
    padding: int, (ph, pw), "valid" or "same" (stride 1; odd total padding puts the extra zero on the
    bottom/right). groups == C_in == C_out (depthwise) runs the dispatchable "depthwise_conv" hot path.
    """
    stride, pads, dilation, groups, out = _resolve(x, weight, bias, stride, padding, dilation, groups, 2)
    if _is_depthwise(x, weight, groups):
        return _depthwise("depthwise_conv2d")(x, weight, bias, stride, padding, dilation)
    return _conv_forward(x, weight, bias, stride, pads, dilation, groups, out)


def conv2d_backward(dy: np.ndarray, x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray] = None,
                    stride: IntOrTuple = 1, padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1):
    """Gradients (dx, dweight, dbias) of conv2d for upstream dy: (N, C_out, H_out, W_out); dbias None without bias."""
    stride, pads, dilation, groups, out = _resolve(x, weight, bias, stride, padding, dilation, groups, 2)
    _check_dy(dy, x, weight, out)
    if _is_depthwise(x, weight, groups):
        return _depthwise("depthwise_conv2d_backward")(dy, x, weight, bias, stride, padding, dilation)
    return _conv_backward(dy, x, weight, bias, stride, pads, dilation, groups, out)


def _check_dy(dy, x, weight, out):
    check_float(dy, "dy", dtype=x.dtype)
    want = (x.shape[0], weight.shape[0]) + tuple(out)
    if dy.shape != want:
        raise ShapeError(f"dy: expected the output shape {want}, got {dy.shape}")
