"""Numba CPU kernel: tiled scaled dot-product attention with online softmax (flash-attention style).

Forward, per (batch, head) g and query block Q_b, over key blocks K_c, V_c (no Lq x Lk matrix kept):

    S     = scale Q_b K_c^T + bias + additive mask, -inf where the bool mask / causal forbids
    m'    = max(m, rowmax S) ;  alpha = exp(m - m')
    l     = alpha l + rowsum exp(S - m')
    O_acc = alpha O_acc + (exp(S - m') * M) V_c          M = dropout keep mask (1 without dropout)
    O     = O_acc / l ;  (m, l) per row are kept for the backward (not m + log l: with an HF finfo.min
            mask m ~ -1.8e308 and m + log l rounds back to m)

Backward, recomputing P = exp(S - m) / l block by block:

    dV_c += (P * M)^T dO_b
    dP    = (dO_b V_c^T) * M
    dS    = P * (dP - D)          D_i = dO_i . O_i  (= rowsum(dP * P), the softmax-backward term)
    dQ_b += scale dS K_c ;  dK_c += scale dS^T Q_b ;  dbias = dS (summed to bias's shape)

The matrix products are BLAS calls on blocks (np.dot inside numba); masking, exp and the running
max/sum are fused loops. Blocks of (g, query block) run in parallel in the forward; the backward runs
in parallel over g, so dK and dV of one head are written by one thread. The parallelism is a pool of
Python threads running GIL-free compiled code, not prange (BLAS inside an OpenMP region misbehaves).

Fully masked rows follow the reference's three conventions: "zeros" (O = 0, no gradient), "uniform"
(P = 1/Lk over all keys), "unmasked" (the row is recomputed without attn_mask and causal).

Tested against: refimpl.functional.attention.scaled_dot_product_attention and
scaled_dot_product_attention_backward (tests/kernels/test_attention_numba.py), with the reference's
argument checks (check_attention_args) run before any compiled code.
Memory: dbias, when a bias is given, is the one full (..., Lq, Lk) array (it IS that shape's gradient).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Optional, Tuple

import numba
import numpy as np
from threadpoolctl import threadpool_limits

from refimpl.core.errors import ShapeError
from refimpl.core.validation import check_float
from refimpl.functional.attention import check_attention_args, sum_to_shape

__all__ = ["scaled_dot_product_attention", "scaled_dot_product_attention_backward"]

BLOCK_Q = 64
BLOCK_K = 128

# dead-row codes stored per query row by the forward
_LIVE, _DEAD_ZEROS, _DEAD_UNIFORM, _DEAD_UNMASKED = 0, 1, 2, 3
_MODES = {"zeros": _DEAD_ZEROS, "uniform": _DEAD_UNIFORM, "unmasked": _DEAD_UNMASKED}


@numba.njit(cache=True, inline="always")
def _score(s_raw, scale, bias, addm, keep, b, h, i, j, causal_on, causal_off, use_masks):
    """One masked score; use_masks=False ignores attn_mask and causal ("unmasked" rows)."""
    s = s_raw * scale + bias[b, h, i, j]
    if use_masks:
        if (not keep[b, h, i, j]) or (causal_on and j > i + causal_off):
            return -np.inf
        s += addm[b, h, i, j]
    return s


@numba.njit(cache=True)
def _forward_block(q, k, v, keep, addm, bias, drop, scale, causal_on, causal_off, dead_mode,
                   b, h, i0, i1, out, stats, dead, use_masks, only_dead):
    """Forward for query rows [i0, i1) of head (b, h); with only_dead, just the rows flagged dead."""
    Lk = k.shape[2]
    nq = i1 - i0
    dt = q.dtype
    qb = q[b, h, i0:i1]                                          # (nq, D)
    m = np.full(nq, -np.inf)
    l = np.zeros(nq)
    acc = np.zeros((nq, v.shape[3]), dt)                         # (nq, Dv)
    s_buf = np.empty(nq * BLOCK_K, dt)
    for j0 in range(0, Lk, BLOCK_K):
        if use_masks and causal_on and j0 > i1 - 1 + causal_off:
            break                                                # every later key is causally hidden
        j1 = min(Lk, j0 + BLOCK_K)
        nk = j1 - j0
        s = s_buf[:nq * nk].reshape((nq, nk))                     # contiguous, as np.dot's out must be
        np.dot(qb, k[b, h, j0:j1].T, s)                          # raw scores (nq, nk)
        for ii in range(nq):
            i = i0 + ii
            if only_dead and dead[b, h, i] == _LIVE:
                for jj in range(nk):
                    s[ii, jj] = 0.0
                continue
            row_max = -np.inf
            for jj in range(nk):
                x = _score(s[ii, jj], scale, bias, addm, keep, b, h, i, j0 + jj, causal_on, causal_off, use_masks)
                s[ii, jj] = x
                row_max = max(row_max, x)
            m_new = max(m[ii], row_max)
            if m_new == -np.inf:                                 # nothing visible yet in this row
                for jj in range(nk):
                    s[ii, jj] = 0.0
                continue
            alpha = np.exp(m[ii] - m_new)                        # rescale what was summed under the old max
            l[ii] *= alpha
            for d in range(acc.shape[1]):
                acc[ii, d] *= alpha
            total = 0.0
            for jj in range(nk):
                p = np.exp(s[ii, jj] - m_new)
                total += p
                s[ii, jj] = p * drop[b, h, i, j0 + jj]           # P~ = P * M feeds the value product
            l[ii] += total
            m[ii] = m_new
        acc += np.dot(s, v[b, h, j0:j1])                         # O_acc += P~ V_c
    for ii in range(nq):
        i = i0 + ii
        if only_dead and dead[b, h, i] == _LIVE:
            continue
        if m[ii] == -np.inf:
            if use_masks:
                dead[b, h, i] = dead_mode
            out[b, h, i, :] = 0.0
            stats[b, h, i, 0] = -np.inf
            stats[b, h, i, 1] = 1.0
        else:
            out[b, h, i, :] = acc[ii] / l[ii]
            stats[b, h, i, 0] = m[ii]                            # row max and row sum kept apart:
            stats[b, h, i, 1] = l[ii]                            # m + log l loses log l when m ~ finfo.min


@numba.njit(cache=True, nogil=True)
def _forward(worker, n_workers, q, k, v, keep, addm, bias, drop, scale, causal_on, causal_off, dead_mode,
             out, stats, dead):
    B, H, Lq = q.shape[0], q.shape[1], q.shape[2]
    Lk = k.shape[2]
    n_qb = (Lq + BLOCK_Q - 1) // BLOCK_Q
    for t in range(worker, B * H * n_qb, n_workers):           # interleaved: causal blocks differ in cost
        g, qblk = t // n_qb, t % n_qb
        b, h = g // H, g % H
        i0 = qblk * BLOCK_Q
        i1 = min(Lq, i0 + BLOCK_Q)
        _forward_block(q, k, v, keep, addm, bias, drop, scale, causal_on, causal_off, dead_mode,
                       b, h, i0, i1, out, stats, dead, True, False)
        has_dead = False
        for i in range(i0, i1):
            has_dead = has_dead or dead[b, h, i] != _LIVE
        if has_dead and dead_mode == _DEAD_UNMASKED:             # redo those rows without attn_mask/causal
            _forward_block(q, k, v, keep, addm, bias, drop, scale, causal_on, causal_off, dead_mode,
                           b, h, i0, i1, out, stats, dead, False, True)
        elif has_dead and dead_mode == _DEAD_UNIFORM:            # P = 1/Lk over every key
            for i in range(i0, i1):
                if dead[b, h, i] != _LIVE:
                    for j in range(Lk):
                        w = drop[b, h, i, j] / Lk
                        for d in range(v.shape[3]):
                            out[b, h, i, d] += w * v[b, h, j, d]


@numba.njit(cache=True, nogil=True)
def _backward(worker, n_workers, dout, q, k, v, keep, addm, bias, drop, scale, causal_on, causal_off, stats, dead,
              delta, dq, dk, dv, dbias_full, want_dbias):
    B, H, Lq, D = q.shape
    Lk = k.shape[2]
    dt = q.dtype
    for g in range(worker, B * H, n_workers):
        b, h = g // H, g % H
        s_buf = np.empty(BLOCK_Q * BLOCK_K, dt)
        dp_buf = np.empty(BLOCK_Q * BLOCK_K, dt)
        for i0 in range(0, Lq, BLOCK_Q):
            i1 = min(Lq, i0 + BLOCK_Q)
            nq = i1 - i0
            qb = q[b, h, i0:i1]
            dob = dout[b, h, i0:i1]                              # (nq, Dv)
            dq_acc = np.zeros((nq, D), dt)
            sees_all_keys = False                                # uniform / unmasked rows ignore causal
            for i in range(i0, i1):
                sees_all_keys = sees_all_keys or dead[b, h, i] == _DEAD_UNIFORM or dead[b, h, i] == _DEAD_UNMASKED
            for j0 in range(0, Lk, BLOCK_K):
                if causal_on and not sees_all_keys and j0 > i1 - 1 + causal_off:
                    break
                j1 = min(Lk, j0 + BLOCK_K)
                nk = j1 - j0
                p = s_buf[:nq * nk].reshape((nq, nk))
                dp = dp_buf[:nq * nk].reshape((nq, nk))
                np.dot(qb, k[b, h, j0:j1].T, p)                  # raw scores
                np.dot(dob, v[b, h, j0:j1].T, dp)                # dP~ = dO V_c^T
                for ii in range(nq):
                    i = i0 + ii
                    state = dead[b, h, i]
                    for jj in range(nk):
                        j = j0 + jj
                        if state == _DEAD_ZEROS:
                            pr = 0.0
                        elif state == _DEAD_UNIFORM:
                            pr = 1.0 / Lk
                        else:
                            x = _score(p[ii, jj], scale, bias, addm, keep, b, h, i, j, causal_on, causal_off,
                                       state == _LIVE)
                            pr = 0.0                             # P = exp(S - m) / l, recomputed
                            if x != -np.inf:
                                pr = np.exp(x - stats[b, h, i, 0]) / stats[b, h, i, 1]
                        mk = drop[b, h, i, j]
                        g_p = dp[ii, jj] * mk                    # dP = dP~ * M
                        # dS = P (dP - D_i); a uniform row does not depend on S
                        ds = 0.0 if state == _DEAD_UNIFORM else pr * (g_p - delta[b, h, i])
                        p[ii, jj] = pr * mk                      # keep P~ for dV
                        dp[ii, jj] = ds
                        if want_dbias:
                            dbias_full[b, h, i, j] = ds
                dv[b, h, j0:j1] += np.dot(p.T, dob)              # dV_c += P~^T dO
                dq_acc += np.dot(dp, k[b, h, j0:j1])             # dQ += dS K_c      (scaled below)
                dk[b, h, j0:j1] += np.dot(dp.T, qb) * scale      # dK_c += scale dS^T Q
            dq[b, h, i0:i1] = dq_acc * scale


_pool: Optional[ThreadPoolExecutor] = None


def _run_parallel(kernel, *args) -> None:
    """kernel(worker, n_workers, *args) on numba.get_num_threads() Python threads (the kernels release the
    GIL). Not numba prange: the blocks call BLAS, and OpenBLAS must not run inside an OpenMP region."""
    global _pool
    n = max(1, numba.get_num_threads())
    # each worker's BLAS calls are small block products: let them run single-threaded, or every worker's
    # OpenBLAS starts its own thread team and the cores are oversubscribed many times over
    with threadpool_limits(limits=1, user_api="blas"):
        if n == 1:
            kernel(0, 1, *args)
            return
        if _pool is None or _pool._max_workers != n:
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="refimpl-attention")
        for f in [_pool.submit(kernel, w, n, *args) for w in range(n)]:
            f.result()


def _as_4d(x: np.ndarray) -> np.ndarray:
    """(..., L, D) -> (B, H, L, D) view: no lead dims -> (1, 1), one -> (B, 1), several -> merged into B."""
    lead = x.shape[:-2]
    if len(lead) == 2:
        return x
    if len(lead) == 0:
        return x[None, None]
    if len(lead) == 1:
        return x[:, None]
    return x.reshape((-1, lead[-1]) + x.shape[-2:])


def _broadcast_4d(a, scores_shape, fill, dtype):
    """A mask/bias (or None) as a (B, H, Lq, Lk) broadcast view in the kernel's layout (no copy if avoidable)."""
    if a is None:
        a = np.full((1,) * len(scores_shape), fill, dtype)
    return _as_4d(np.broadcast_to(a, scores_shape))


def _prepare(q, k, v, attn_mask, bias, causal, scale, dropout_p, rng, dropout_mask, fully_masked_rows, for_backward):
    causal, scale, drop_mask, scores_shape = check_attention_args(
        q, k, v, attn_mask, bias, causal, scale, dropout_p, rng, dropout_mask, fully_masked_rows,
        for_backward=for_backward)
    dt = q.dtype
    q4, k4, v4 = (np.ascontiguousarray(_as_4d(x)) for x in (q, k, v))
    bool_mask = attn_mask if attn_mask is not None and attn_mask.dtype == np.bool_ else None
    add_mask = attn_mask if attn_mask is not None and attn_mask.dtype != np.bool_ else None
    keep = _broadcast_4d(bool_mask, scores_shape, True, np.bool_)
    addm = _broadcast_4d(add_mask, scores_shape, 0.0, dt)
    bias4 = _broadcast_4d(bias, scores_shape, 0.0, dt)
    drop = _broadcast_4d(drop_mask, scores_shape, 1.0, dt)
    lq, lk = q.shape[-2], k.shape[-2]
    causal_on = causal is not False
    causal_off = (lk - lq) if causal == "bottom_right" else 0      # keep j <= i + off
    return (q4, k4, v4, keep, addm, bias4, drop, dt.type(scale), causal_on, causal_off,
            _MODES[fully_masked_rows])


def _run_forward(args):
    q4, k4, v4 = args[:3]
    B, H, Lq = q4.shape[:3]
    out = np.zeros((B, H, Lq, v4.shape[3]), q4.dtype)
    stats = np.empty((B, H, Lq, 2))                                # per row: max m, sum l
    dead = np.zeros((B, H, Lq), np.int8)
    _run_parallel(_forward, *args, out, stats, dead)
    return out, stats, dead


def scaled_dot_product_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, *, attn_mask=None, bias=None,
                                 causal=False, scale=None, dropout_p: float = 0.0, rng=None, dropout_mask=None,
                                 fully_masked_rows: str = "zeros") -> np.ndarray:
    """Same contract as refimpl.functional.attention.scaled_dot_product_attention: q (..., Lq, D),
    k (..., Lk, D), v (..., Lk, Dv) -> (..., Lq, Dv) in q's dtype."""
    args = _prepare(q, k, v, attn_mask, bias, causal, scale, dropout_p, rng, dropout_mask, fully_masked_rows, False)
    out, _, _ = _run_forward(args)
    return out.reshape(q.shape[:-1] + (v.shape[-1],))


def scaled_dot_product_attention_backward(dout: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray, *,
                                          attn_mask=None, bias=None, causal=False, scale=None,
                                          dropout_p: float = 0.0, rng=None, dropout_mask=None,
                                          fully_masked_rows: str = "zeros"
                                          ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """Same contract as refimpl.functional.attention.scaled_dot_product_attention_backward -> (dq, dk, dv, dbias).

    Stateless like the reference: the forward statistics (stats, O) are recomputed here first."""
    args = _prepare(q, k, v, attn_mask, bias, causal, scale, dropout_p, rng, dropout_mask, fully_masked_rows, True)
    check_float(dout, "dout", dtype=q.dtype)
    out_shape = q.shape[:-1] + (v.shape[-1],)
    if dout.shape != out_shape:
        raise ShapeError(f"dout: expected the output's shape {out_shape} (..., Lq, Dv), got {dout.shape}")
    out, stats, dead = _run_forward(args)
    dout4 = np.ascontiguousarray(_as_4d(dout))
    delta = np.einsum("bhid,bhid->bhi", dout4.astype(np.float64), out.astype(np.float64))  # D_i = dO_i . O_i
    q4, k4, v4 = args[:3]
    dq, dk, dv = np.empty_like(q4), np.zeros_like(k4), np.zeros_like(v4)
    want_dbias = bias is not None
    dbias_full = np.zeros(q4.shape[:3] + (k4.shape[2],) if want_dbias else (1, 1, 1, 1), q.dtype)
    _run_parallel(_backward, dout4, *args[:10], stats, dead, delta, dq, dk, dv, dbias_full, want_dbias)
    dbias = None
    if want_dbias:
        dbias = sum_to_shape(dbias_full.reshape(q.shape[:-1] + (k.shape[-2],)), bias.shape)
    return dq.reshape(q.shape), dk.reshape(k.shape), dv.reshape(v.shape), dbias
