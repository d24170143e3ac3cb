"""CUDA (CuPy) kernel: tiled scaled dot-product attention with online softmax, forward and backward.

    S = scale q k^T + bias + mask ;  P = softmax(S) ;  O = (P * M) v           (M: dropout keep mask)
    forward writes O and each row's max m and sum l = sum_j exp(S_ij - m); the backward recomputes
    P = exp(S - m) / l tile by tile (m and l rather than lse = m + log l, which rounds to m when an HF
    finfo.min mask puts m near -1.8e308): dV = P~^T dO ;  dS = P (dP - delta), delta_i = dO_i . O_i ;  dQ = scale dS K ;
    dK = scale dS^T Q ;  dbias = dS summed to bias's shape.

The kernels are in attention.cu beside this file (see its header for the tiling); each (dtype, D, Dv,
tile size) is compiled once by NVRTC through cupy.RawModule and cached. Tile sizes are chosen so the
shared memory fits the GPU (any head dimension a block's shared memory can hold: up to about
D + Dv = 1800 in float32, 880 in float64 on an H100).

Semantics are the reference's (refimpl.functional.attention): bool mask True = attend, additive float
mask, causal "top_left" / "bottom_right" (True), bias with gradient, scale, dropout through an explicit
mask or rng (the mask is drawn on the host exactly as the reference draws it), and the three
fully_masked_rows conventions ("zeros", "uniform", "unmasked": such rows are found by the first pass
and recomputed by a second launch of the forward in the matching mode).

Arrays: NumPy in -> NumPy out (copied to and from the GPU); CuPy in (q) -> CuPy out. Validation is the
reference's check_attention_args, run before any launch (CuPy arrays are checked through zero-copy
host stand-ins, their mask/bias values on the device).

Tested against: refimpl.functional.attention.scaled_dot_product_attention(_backward)
(tests/kernels/test_cuda_attention.py, run where CuPy and a GPU are present).
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from refimpl.core.errors import ConfigError, ShapeError
from refimpl.core.validation import check_float
from refimpl.functional.attention import check_attention_args, sum_to_shape

from ._runtime import get_module, host_proxy, is_cupy, launch, max_shared_bytes, require_cupy, result

__all__ = ["scaled_dot_product_attention", "scaled_dot_product_attention_backward"]

NT = 256
_DEAD_CODE = {"zeros": 1, "uniform": 2, "unmasked": 3}
_REDO_MODE = {"uniform": 2, "unmasked": 1}
_FLAG_KEEP, _FLAG_ADDM, _FLAG_BIAS, _FLAG_DROP = 1, 2, 4, 8


def _ceil16(n: int) -> int:
    return 16 * ((n + 15) // 16)


def _smem_bytes(kind: str, B: int, D: int, Dv: int, itemsize: int) -> int:
    """Shared memory of one block (dynamic + static), mirroring the layout in attention.cu."""
    wd, wv, ws = _ceil16(D) + 1, _ceil16(Dv) + 1, B + 1
    if kind == "fwd":
        elems = B * wd + B * wd + B * wv + B * ws + B
    else:
        elems = B * wd + B * wv + B * wd + B * wv + 2 * B * ws
    n_row_stats = 2 if kind == "fwd" else 3                    # float64 per-row arrays at the front
    return n_row_stats * B * 8 + elems * itemsize + B * 4


def _tile(kind: str, D: int, Dv: int, itemsize: int, device_id: int) -> int:
    """Tile size B (= BQ = BK): the largest whose shared memory leaves room for two blocks per SM and whose
    register tiles stay small; else the largest that fits at all."""
    limit = max_shared_bytes(device_id)
    regs = lambda B: (B // 16) * ((D + 15) // 16 + (Dv + 15) // 16) * (itemsize // 4)   # noqa: E731
    for cap in (limit // 2, limit):
        for B in (64, 32, 16):
            if B > 16 and regs(B) > 64:
                continue
            if _smem_bytes(kind, B, D, Dv, itemsize) <= cap:
                return B
    raise ConfigError(f"q, v: head dimensions D={D}, Dv={Dv} are too large for the cuda attention kernel "
                      f"(one 16-row tile needs {_smem_bytes(kind, 16, D, Dv, itemsize)} bytes of shared memory, "
                      f"the GPU allows {limit}); use use_kernels('numba') or use_kernels(None)")


def _kernels(kind: str, dtype: np.dtype, D: int, Dv: int):
    import cupy
    dev = cupy.cuda.Device().id
    B = _tile(kind, D, Dv, dtype.itemsize, dev)
    scalar = "float" if dtype == np.float32 else "double"
    mod = get_module("attention", (("SCALAR", scalar), ("HD", D), ("HDV", Dv), ("BQ", B), ("BK", B)))
    return mod, B, _smem_bytes(kind, B, D, Dv, dtype.itemsize) - B * 4   # dynamic part only


def _device_value_checks(cp, attn_mask, bias) -> None:
    """The reference's value checks for CuPy masks (the host stand-ins carry no values)."""
    if is_cupy(attn_mask) and attn_mask.dtype != np.bool_ and attn_mask.size:
        if bool((cp.isnan(attn_mask) | (attn_mask == cp.inf)).any()):
            raise ConfigError("attn_mask: additive mask values must be finite or -inf; found NaN or +inf")
    if is_cupy(bias) and bias.size:
        if bool((cp.isnan(bias) | (bias == cp.inf)).any()):
            raise ConfigError("bias: values must be finite or -inf; found NaN or +inf")


def _plane(cp, a, scores_shape, dtype):
    """A mask/bias (None: a 1-element dummy) as (array, strides in elements) of a (B, Hd, Lq, Lk) broadcast view."""
    if a is None:
        return cp.zeros(1, dtype), (0, 0, 0, 0)
    view = cp.broadcast_to(cp.asarray(a), scores_shape)
    lead = scores_shape[:-2]
    if len(lead) == 0:
        view = view[None, None]
    elif len(lead) == 1:
        view = view[:, None]
    elif len(lead) > 2:
        view = view.reshape((-1, lead[-1]) + tuple(scores_shape[-2:]))   # copies only if no view exists
    return view, tuple(int(s) // view.itemsize for s in view.strides)


class _Problem:
    """Validated, device-resident arguments of one call."""

    def __init__(self, q, k, v, attn_mask, bias, causal, scale, dropout_p, rng, dropout_mask, fully_masked_rows,
                 for_backward, dout=None):
        causal, scale, drawn, scores_shape = check_attention_args(
            host_proxy(q), host_proxy(k), host_proxy(v), host_proxy(attn_mask), host_proxy(bias), causal, scale,
            dropout_p, rng, host_proxy(dropout_mask), fully_masked_rows, for_backward=for_backward)
        if for_backward:
            check_float(host_proxy(dout), "dout", dtype=q.dtype)
            out_shape = tuple(q.shape[:-1]) + (v.shape[-1],)
            if tuple(dout.shape) != out_shape:
                raise ShapeError(f"dout: expected the output's shape {out_shape} (..., Lq, Dv), "
                                 f"got {tuple(dout.shape)}")
        cp = require_cupy("attention")      # after the checks: bad arguments are reported the same everywhere
        self.cp = cp
        _device_value_checks(cp, attn_mask, bias)
        drop = None
        if drawn is not None:               # the caller's mask, or the host draw from rng (the reference's draw)
            drop = dropout_mask if dropout_mask is not None else drawn
        self.on_device = is_cupy(q)
        self.dtype = np.dtype(q.dtype)
        self.q_shape, self.k_shape, self.v_shape = tuple(q.shape), tuple(k.shape), tuple(v.shape)
        self.scores_shape = tuple(scores_shape)
        lead = self.q_shape[:-2]
        self.G = int(np.prod(lead, dtype=np.int64))
        self.Hd = int(lead[-1]) if len(lead) >= 2 else 1      # g = b * Hd + h, as _plane lays the planes out
        self.Lq, self.D = self.q_shape[-2:]
        self.Lk, self.Dv = self.v_shape[-2:]
        self.q = cp.ascontiguousarray(cp.asarray(q)).reshape(self.G, self.Lq, self.D)
        self.k = cp.ascontiguousarray(cp.asarray(k)).reshape(self.G, self.Lk, self.D)
        self.v = cp.ascontiguousarray(cp.asarray(v)).reshape(self.G, self.Lk, self.Dv)
        bool_mask = attn_mask if attn_mask is not None and attn_mask.dtype == np.bool_ else None
        add_mask = attn_mask if attn_mask is not None and attn_mask.dtype != np.bool_ else None
        self.keep, ks = _plane(cp, bool_mask, self.scores_shape, np.bool_)
        self.addm, as_ = _plane(cp, add_mask, self.scores_shape, self.dtype)
        self.bias, bs = _plane(cp, bias, self.scores_shape, self.dtype)
        self.has_bias = bias is not None
        self.bias_shape = tuple(bias.shape) if bias is not None else None
        if drop is not None:
            self.drop = cp.ascontiguousarray(cp.asarray(drop)).reshape(self.G, self.Lq, self.Lk)
        else:
            self.drop = cp.ones(1, self.dtype)
        self.flags = ((_FLAG_KEEP if bool_mask is not None else 0) | (_FLAG_ADDM if add_mask is not None else 0)
                      | (_FLAG_BIAS if bias is not None else 0) | (_FLAG_DROP if drop is not None else 0))
        self.causal_on = int(causal is not False)
        self.causal_off = (self.Lk - self.Lq) if causal == "bottom_right" else 0   # keep j <= i + off
        self.scale = float(scale)
        self.mode = fully_masked_rows
        i64 = np.int64
        self.mask_args = (self.keep, *map(i64, ks), self.addm, *map(i64, as_), self.bias, *map(i64, bs),
                          self.drop, np.int32(self.flags))
        self.shape_args = (i64(self.G), i64(self.Hd), i64(self.Lq), i64(self.Lk), np.float64(self.scale),
                           np.int32(self.causal_on), i64(self.causal_off))

    def forward(self):
        """(out (G, Lq, Dv), (row max m, row sum l) (G, Lq) float64, dead (G, Lq) int8 row states) on the device."""
        cp = self.cp
        out = cp.zeros((self.G, self.Lq, self.Dv), self.dtype)
        mrow = cp.full((self.G, self.Lq), -np.inf, np.float64)
        lrow = cp.ones((self.G, self.Lq), np.float64)
        dead = cp.zeros((self.G, self.Lq), np.int8)
        if out.size == 0:
            return out, (mrow, lrow), dead
        mod, B, smem = _kernels("fwd", self.dtype, self.D, self.Dv)
        fn = mod.get_function("attn_fwd")
        grid = (self.G * ((self.Lq + B - 1) // B),)
        code = np.int32(_DEAD_CODE[self.mode])
        launch(fn, grid, (NT,), (self.q, self.k, self.v, *self.mask_args, *self.shape_args, np.int32(0), code,
                                 out, mrow, lrow, dead), smem)
        if self.mode != "zeros" and bool(dead.any()):  # recompute the fully masked rows in their convention
            launch(fn, grid, (NT,), (self.q, self.k, self.v, *self.mask_args, *self.shape_args,
                                     np.int32(_REDO_MODE[self.mode]), code, out, mrow, lrow, dead), smem)
        return out, (mrow, lrow), dead

    def backward(self, dout):
        cp = self.cp
        out, (mrow, lrow), dead = self.forward()
        do = cp.ascontiguousarray(cp.asarray(dout)).reshape(self.G, self.Lq, self.Dv)
        delta = cp.einsum("gid,gid->gi", do.astype(np.float64), out.astype(np.float64))  # delta_i = dO_i . O_i
        dq = cp.zeros_like(self.q)
        dk = cp.zeros_like(self.k)
        dv = cp.zeros_like(self.v)
        dbias_full = cp.zeros((self.G, self.Lq, self.Lk) if self.has_bias else (1,), self.dtype)
        if self.G * self.Lq > 0:
            mod, B, smem = _kernels("bwd", self.dtype, self.D, self.Dv)
            common = (do, self.q, self.k, self.v, *self.mask_args, *self.shape_args, np.float64(1.0 / self.Lk),
                      mrow, lrow, delta, dead)
            launch(mod.get_function("attn_bwd_dkdv"), (self.G * ((self.Lk + B - 1) // B),), (NT,),
                   common + (dk, dv), smem)
            launch(mod.get_function("attn_bwd_dq"), (self.G * ((self.Lq + B - 1) // B),), (NT,),
                   common + (dq, dbias_full, np.int32(self.has_bias)), smem)
        dbias = None
        if self.has_bias:
            dbias = sum_to_shape(dbias_full.reshape(self.scores_shape), self.bias_shape)
            dbias = cp.ascontiguousarray(dbias.reshape(self.bias_shape))
        return dq.reshape(self.q_shape), dk.reshape(self.k_shape), dv.reshape(self.v_shape), dbias


def scaled_dot_product_attention(q, k, v, *, attn_mask=None, bias=None, causal=False, scale=None,
                                 dropout_p: float = 0.0, rng=None, dropout_mask=None,
                                 fully_masked_rows: str = "zeros"):
    """Same contract as refimpl.functional.attention.scaled_dot_product_attention: q (..., Lq, D),
    k (..., Lk, D), v (..., Lk, Dv) -> (..., Lq, Dv) in q's dtype (NumPy or CuPy, as q)."""
    pb = _Problem(q, k, v, attn_mask, bias, causal, scale, dropout_p, rng, dropout_mask, fully_masked_rows, False)
    out, _, _ = pb.forward()
    return result(out.reshape(pb.q_shape[:-1] + (pb.Dv,)), pb.on_device)


def scaled_dot_product_attention_backward(dout, q, k, v, *, attn_mask=None, bias=None, causal=False, scale=None,
                                          dropout_p: float = 0.0, rng=None, dropout_mask=None,
                                          fully_masked_rows: str = "zeros") -> Tuple:
    """Same contract as refimpl.functional.attention.scaled_dot_product_attention_backward -> (dq, dk, dv, dbias).

    Stateless like the reference: the forward (O, row max and sum, row states) is recomputed here first."""
    pb = _Problem(q, k, v, attn_mask, bias, causal, scale, dropout_p, rng, dropout_mask, fully_masked_rows, True,
                  dout)
    grads = pb.backward(dout)
    return tuple(result(g, pb.on_device) for g in grads)
