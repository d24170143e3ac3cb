"""CUDA (CuPy) kernel: CTC loss and its gradient with respect to log_probs, one sample per CUDA block.

    alpha_t(s) = lp[t, l'_s] + lse(alpha_{t-1}(s), alpha_{t-1}(s-1), skip(s) alpha_{t-1}(s-2))
    beta_t(s)  = lse over s' in {s, s+1, skip(s+2) s+2} of lp[t+1, l'_s'] + beta_{t+1}(s')
    loss_b = -log p = -lse(alpha_{L-1}(2S), alpha_{L-1}(2S-1))
    d loss_b / d lp[t, c] = -sum_{s: l'_s = c} exp(alpha_t(s) + beta_t(s) - log p)       (t < L; 0 beyond)

The lattice runs in log space in float64 whatever the input dtype (ctc.cu beside this file; the states
of one frame are spread over the block's threads), compiled once per dtype by NVRTC through
cupy.RawModule (cached). Reductions ("none" / "sum" / "mean" per target length), zero_infinity, the +inf
loss and NaN gradient of infeasible samples, empty targets and L = 0 follow the reference.

Arrays: log_probs NumPy -> NumPy results (copied to and from the GPU); CuPy -> CuPy results. The
reference's check_ctc_args / check_ctc_grad_output run first (on the host: targets and lengths are
small and copied there; CuPy log_probs are checked through a zero-copy stand-in, their finiteness on
the device).

Tested against: refimpl.losses.ctc.ctc_loss / ctc_loss_backward (tests/kernels/test_cuda_ctc.py, run
where CuPy and a GPU are present).
"""
from __future__ import annotations

import numpy as np

from refimpl.core.errors import ConfigError
from refimpl.losses.ctc import check_ctc_args, check_ctc_grad_output

from ._runtime import get_module, host_proxy, is_cupy, launch, require_cupy, result

__all__ = ["ctc_loss", "ctc_loss_backward"]

NT = 256  # must match ctc.cu


def _host(x):
    return x.get() if is_cupy(x) else x


def _scales(S, B, reduction, dt):
    """d reduced / d loss_b in dtype, as the reference: 1 ("none"/"sum"), 1 / (B * max(S_b, 1)) ("mean")."""
    if reduction == "mean":
        return (dt.type(1) / np.maximum(S, 1).astype(dt)) / dt.type(B)
    return np.ones(B, dtype=dt)


def _check(log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity):
    padded, L, S = check_ctc_args(host_proxy(log_probs), _host(targets), _host(input_lengths),
                                  _host(target_lengths), blank, reduction, zero_infinity)
    cp = require_cupy("ctc")
    if is_cupy(log_probs) and log_probs.size:
        bad = ~cp.isfinite(log_probs)
        if bool(bad.any()):                                   # the reference's check_finite message
            idx = tuple(int(i) for i in np.unravel_index(int(cp.argmax(bad)), log_probs.shape))
            raise ConfigError(f"log_probs: expected finite values, found {float(log_probs[idx])} at index {idx}")
    return cp, padded, L, S


def _lattice(cp, log_probs, padded, L, S, blank, scale=None, zero_infinity=False, want_grad=False):
    """log p (B,) float64 on the device, and the gradient (T, B, C) when want_grad."""
    Tn, B, C = (int(n) for n in log_probs.shape)
    dt = np.dtype(log_probs.dtype)
    Smax = int(padded.shape[1])
    Sx = 2 * Smax + 1
    lp = cp.ascontiguousarray(cp.asarray(log_probs))
    grad = cp.zeros((Tn, B, C), dt) if want_grad else cp.zeros(1, dt)
    logp = cp.empty(B, np.float64)
    cells = max(1, Tn * B * Sx)
    alpha = cp.empty(cells, np.float64)                        # (B, T, Sx): alpha always, beta for the gradient
    beta = cp.empty(cells if want_grad else 1, np.float64)
    scratch = cp.empty(B * 2 * max(1, Smax), np.int32)
    sc = cp.asarray(scale, np.float64) if scale is not None else cp.zeros(B, np.float64)
    mod = get_module("ctc", (("SCALAR", "float" if dt == np.float32 else "double"),))
    i64 = np.int64
    launch(mod.get_function("ctc_lattice"), (B,), (NT,),
           (lp, i64(Tn), i64(B), i64(C), cp.asarray(np.ascontiguousarray(padded, np.int64)), i64(Smax),
            cp.asarray(L.astype(np.int64)), cp.asarray(S.astype(np.int64)), i64(blank), i64(Sx), alpha, beta, logp,
            scratch, sc, np.int32(want_grad), np.int32(bool(zero_infinity)), grad), Sx * 8)
    return logp, grad


def ctc_loss(log_probs, targets, input_lengths, target_lengths, *, blank: int = 0, reduction: str = "mean",
             zero_infinity: bool = False):
    """Same contract as refimpl.losses.ctc.ctc_loss: a 0-d array ("mean"/"sum") or (B,) ("none") in log_probs'
    dtype (NumPy or CuPy, as log_probs); +inf for infeasible samples unless zero_infinity."""
    cp, padded, L, S = _check(log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity)
    dt = np.dtype(log_probs.dtype)
    logp, _ = _lattice(cp, log_probs, padded, L, S, int(blank))
    xp = cp if is_cupy(log_probs) else np
    loss = -(logp if xp is cp else logp.get()).astype(dt)     # (B,) in dtype, like the reference's -logp
    if zero_infinity:
        loss = xp.where(xp.isposinf(loss), dt.type(0), loss)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return xp.asarray(loss.sum(), dtype=dt)
    return xp.asarray((loss / xp.asarray(np.maximum(S, 1).astype(dt))).mean(), dtype=dt)


def ctc_loss_backward(grad_output, log_probs, targets, input_lengths, target_lengths, *, blank: int = 0,
                      reduction: str = "mean", zero_infinity: bool = False):
    """Same contract as refimpl.losses.ctc.ctc_loss_backward: d loss / d log_probs (T, B, C) in log_probs' dtype
    (NumPy or CuPy, as log_probs)."""
    cp, padded, L, S = _check(log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity)
    Tn, B, C = log_probs.shape
    dt = np.dtype(log_probs.dtype)
    g = check_ctc_grad_output(_host(grad_output), reduction, B, dt)          # (B,) d reduced / d reduced
    scale = -g * _scales(S, B, reduction, dt)                                  # (B,) as the reference, in dtype
    _, grad = _lattice(cp, log_probs, padded, L, S, int(blank), scale.astype(np.float64), zero_infinity, True)
    return result(grad, is_cupy(log_probs))
