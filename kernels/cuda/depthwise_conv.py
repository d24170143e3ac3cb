"""CUDA (CuPy) kernels: depthwise 2-d convolution (one kh x kw filter per channel), forward and backward.

    y[n, c, i, j]  = b[c] + sum_{a, e} w[c, a, e] * x[n, c, i*sh + a*dh - pt, j*sw + e*dw - pl]
    dx[n, c, r, s] = sum over (i, j, a, e) with r = i*sh + a*dh - pt, s = j*sw + e*dw - pl of dy[n, c, i, j] w[c, a, e]
    dw[c, a, e]    = sum_{n, i, j} dy[n, c, i, j] * x[n, c, i*sh + a*dh - pt, j*sw + e*dw - pl]
    db[c]          = sum_{n, i, j} dy[n, c, i, j]

The kernels are in depthwise_conv.cu beside this file (its header describes them): the forward and the
weight gradient stage a 16 x 32 output tile's input patch in shared memory (direct kernels take over when
a patch would not fit, e.g. very large dilations); the input gradient is a gather, one thread per input
element, without atomics. The weight gradient is summed in float64 and every sum has a fixed order, so
results are deterministic. Compiled once per dtype by NVRTC through cupy.RawModule (cached).

Arrays: NumPy in -> NumPy out (copied to and from the GPU); CuPy in (x) -> CuPy out. Validation is the
reference's check_depthwise_conv_args / check_depthwise_conv_backward_args, run before any launch.

Tested against: refimpl.functional.depthwise_conv.depthwise_conv2d / depthwise_conv2d_backward
(tests/kernels/test_cuda_depthwise_conv.py, run where CuPy and a GPU are present).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from refimpl.functional.depthwise_conv import check_depthwise_conv_args, check_depthwise_conv_backward_args

from ._runtime import get_module, host_proxy, is_cupy, launch, require_cupy, result

__all__ = ["depthwise_conv2d", "depthwise_conv2d_backward"]

NT, TH, TW = 256, 16, 32                   # must match depthwise_conv.cu
_SMEM_LIMIT = 48 * 1024                    # patches beyond this use the direct kernels
_FORCE_DIRECT = False                      # tests set this to exercise the direct kernels


def _module(dtype):
    return get_module("depthwise_conv", (("SCALAR", "float" if dtype == np.float32 else "double"),))


def _geometry(kh, kw, sh, sw, dh, dw, Ho, Wo):
    """(patch height, patch width, tiles along x, number of tiles) of the 16 x 32 output tiling."""
    ph = (TH - 1) * sh + (kh - 1) * dh + 1
    pw = (TW - 1) * sw + (kw - 1) * dw + 1
    tiles_x = (Wo + TW - 1) // TW
    return ph, pw, tiles_x, tiles_x * ((Ho + TH - 1) // TH)


def _grid_stride(total: int) -> tuple:
    return (max(1, min((total + NT - 1) // NT, 1 << 20)),)


def depthwise_conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """Same contract as refimpl.functional.depthwise_conv.depthwise_conv2d: x (N, C, H, W), weight (C, 1, kh, kw),
    bias (C,) or None -> (N, C, H_out, W_out) in x's dtype (NumPy or CuPy, as x)."""
    (sh, sw), ((pt, _), (pl, _)), (dh, dw), (Ho, Wo) = check_depthwise_conv_args(
        host_proxy(x), host_proxy(weight), host_proxy(bias), stride, padding, dilation)
    cp = require_cupy("depthwise_conv")
    dt = np.dtype(x.dtype)
    N, C, H, W = (int(s) for s in x.shape)
    kh, kw = int(weight.shape[2]), int(weight.shape[3])
    y = cp.empty((N, C, Ho, Wo), dt)
    if y.size:
        xd = cp.ascontiguousarray(cp.asarray(x))
        wd = cp.ascontiguousarray(cp.asarray(weight))
        bd = cp.ascontiguousarray(cp.asarray(bias)) if bias is not None else cp.zeros(1, dt)
        mod = _module(dt)
        i32 = np.int32
        geo = (np.int64(C), i32(H), i32(W), i32(Ho), i32(Wo), i32(kh), i32(kw), i32(sh), i32(sw), i32(dh), i32(dw),
               i32(pt), i32(pl))
        ph, pw, tiles_x, tiles = _geometry(kh, kw, sh, sw, dh, dw, Ho, Wo)
        smem = (kh * kw + ph * pw) * dt.itemsize
        if smem <= _SMEM_LIMIT and not _FORCE_DIRECT:
            launch(mod.get_function("dwconv_fwd_tiled"), (N * C * tiles,), (NT,),
                   (xd, wd, bd, i32(bias is not None), y, *geo, i32(tiles_x), i32(tiles)), smem)
        else:
            launch(mod.get_function("dwconv_fwd_direct"), _grid_stride(y.size), (NT,),
                   (xd, wd, bd, i32(bias is not None), y, *geo, np.int64(y.size)))
    return result(y, is_cupy(x))


def depthwise_conv2d_backward(dy, x, weight, bias=None, stride=1, padding=0, dilation=1):
    """Same contract as refimpl.functional.depthwise_conv.depthwise_conv2d_backward -> (dx, dweight, dbias),
    dbias None without bias (NumPy or CuPy, as x)."""
    (sh, sw), ((pt, _), (pl, _)), (dh, dw), (Ho, Wo) = check_depthwise_conv_backward_args(
        host_proxy(dy), host_proxy(x), host_proxy(weight), host_proxy(bias), stride, padding, dilation)
    cp = require_cupy("depthwise_conv")
    dt = np.dtype(x.dtype)
    N, C, H, W = (int(s) for s in x.shape)
    kh, kw = int(weight.shape[2]), int(weight.shape[3])
    K = kh * kw
    dyd = cp.ascontiguousarray(cp.asarray(dy))
    dx = cp.zeros((N, C, H, W), dt)
    dweight64 = cp.zeros((C, K), np.float64)
    if N and C:
        xd = cp.ascontiguousarray(cp.asarray(x))
        wd = cp.ascontiguousarray(cp.asarray(weight))
        mod = _module(dt)
        i32 = np.int32
        geo = (i32(H), i32(W), i32(Ho), i32(Wo), i32(kh), i32(kw), i32(sh), i32(sw), i32(dh), i32(dw), i32(pt),
               i32(pl))
        if dx.size:
            launch(mod.get_function("dwconv_dx"), _grid_stride(dx.size), (NT,),
                   (dyd, wd, dx, np.int64(C), *geo, np.int64(dx.size)))
            ph, pw, tiles_x, tiles = _geometry(kh, kw, sh, sw, dh, dw, Ho, Wo)
            smem = NT * 8 + (TH * TW + ph * pw) * dt.itemsize
            if smem <= _SMEM_LIMIT and not _FORCE_DIRECT:
                kc = min(K, NT)                    # taps per block
                nsplit = NT // kc                  # threads sharing one tap
                n_chunks = (K + kc - 1) // kc
                partial = cp.empty((tiles, C, K), np.float64)
                launch(mod.get_function("dwconv_dw_tiled"), (C * tiles * n_chunks,), (NT,),
                       (dyd, xd, partial, np.int64(N), np.int64(C), *geo, i32(tiles_x), i32(tiles), i32(kc),
                        i32(nsplit), i32(n_chunks)), smem)
                dweight64 = partial.sum(axis=0)    # over tiles, float64
            else:
                launch(mod.get_function("dwconv_dw_direct"), (C * K,), (NT,),
                       (dyd, xd, dweight64, np.int64(N), np.int64(C), *geo))
    dweight = dweight64.astype(dt).reshape(C, 1, kh, kw)
    dbias: Optional[object] = None
    if bias is not None:
        dbias = dyd.sum(axis=(0, 2, 3), dtype=np.float64).astype(dt)       # dL/db[c] = sum_{n,i,j} dy
    on_device = is_cupy(x)
    return result(dx, on_device), result(dweight, on_device), result(dbias, on_device)
