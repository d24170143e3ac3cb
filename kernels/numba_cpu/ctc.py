"""Numba CPU kernel: CTC loss and its gradient with respect to log_probs.

For sample b (L frames, target l of length S, extended l' = (blank, l_1, blank, ..., l_S, blank), 2S + 1 states,
e_t(s) = exp(lp[t, l'_s]), skip(s) = [l'_s != blank and l'_s != l'_{s-2}]):

    alpha_t(s)  = e_t(s) * (alpha_{t-1}(s) + alpha_{t-1}(s-1) + skip(s) alpha_{t-1}(s-2))     alpha_0 = e_0 on s < 2
    beta_t(s)   = bhat_{t+1}(s) + bhat_{t+1}(s+1) + skip(s+2) bhat_{t+1}(s+2)       beta_{L-1} = 1 on the last two
    bhat_t(s)   = e_t(s) beta_t(s)                                     (beta with frame t's emission folded in)
    p           = alpha_{L-1}(2S) + alpha_{L-1}(2S-1)           loss_b = -log p   (p = alpha_{L-1}(0) when S = 0)
    d loss_b / d lp[t, c] = -sum_{s: l'_s = c} alpha_t(s) beta_t(s) / p               (t < L; 0 beyond)

Tested against: refimpl.losses.ctc.ctc_loss / ctc_loss_backward, the log-space reference (tests/kernels/
test_ctc_numba.py); the reference's own argument checks (check_ctc_args, check_ctc_grad_output) run before any
compiled code, and reductions, zero_infinity, +inf loss / NaN gradient of infeasible samples, empty targets and
L = 0 follow it exactly.

Number format: these probabilities span far more than float64's range (a 500-frame alignment is e^-1500), which is
why the reference works with logs. Here every value is a pair (m, k) meaning m * 2^(400 k): a float64 mantissa kept
in [2^-200, 2^200) and a whole-number "exponent class" k (a float64, -inf for an exact 0). That is a log, split into
a coarse integer part and a fine linear part, so nothing ever underflows (like log space); but a sum of three terms
is three multiply-adds after aligning classes (a term 3 classes below the largest is < 2^-800 of it and is dropped),
not exp/log per cell. The only transcendentals are exp(lp) once per (frame, distinct label) and one log per sample.
Everything is float64, whatever the input dtype.

Scheme: one sample per parallel task (numba prange over the batch, no BLAS inside). Only the band of states that can
be reached from the start (s <= 2t + 1) and can still reach the end (s >= 2S + 1 - 2(L - t)) is computed; the rest
is 0, as it is in alpha * beta. The loss keeps two alpha rows; the gradient keeps alpha (L, 2S + 1) and sweeps beta
backwards in two rows, turning each beta row into occupations and a gradient row at once (no beta array of size T).
The loops over states are written branch-free (selects) on views starting at the band, so LLVM vectorises them.
Inputs with T * max|lp| > 1e15 (which no log_softmax produces) are handed to the reference.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from refimpl.losses import ctc as reference
from refimpl.losses.ctc import check_ctc_args, check_ctc_grad_output

__all__ = ["ctc_loss", "ctc_loss_backward"]

_NINF = -np.inf
_G = 2                                     # zero guard cells before an alpha row / after a beta row: s-2 .. s+2 safe
_W_LN2 = 400.0 * math.log(2.0)             # log of one exponent class, 2^400
_W_LN2_HI = 277.2588721513748              # the same split in two (Cody-Waite): HI has 32 significant bits, so
_W_LN2_LO = 7.26033068723616e-08           # k * HI is exact for |k| < 2^21 and x - k * W ln 2 loses nothing
_MAX_CLASS_MASS = 1e15                     # T * max|lp| beyond this goes to the reference (_out_of_range)
_R = 2.0 ** 400                            # one class up / down
_RINV = 2.0 ** -400
_RINV2 = 2.0 ** -800
_LO, _HI = 2.0 ** -200, 2.0 ** 200         # a stored mantissa lies in [_LO, _HI) (or is 0)


@numba.njit(cache=True, inline="always")
def _align(d):
    """Weight of a term d classes below the largest: 2^(-400 d) for d = 0, 1, 2; 0 for d >= 3, inf or NaN."""
    return 1.0 if d == 0.0 else (_RINV if d == 1.0 else (_RINV2 if d == 2.0 else 0.0))


@numba.njit(cache=True, inline="always")
def _add3(ma, ka, mb, kb, mc, kc):
    """(m, k) of a + b + c, each given as m * 2^(400 k); the result is not normalised (m < 3 * 2^200).
    Written without branches (selects only) so the loops over states vectorise; all three 0 gives k = -inf and
    NaN differences, whose weight is 0."""
    k = ka if ka > kb else kb
    k = k if k > kc else kc
    return ma * _align(k - ka) + mb * _align(k - kb) + mc * _align(k - kc), k


@numba.njit(cache=True, inline="always")
def _mul_normalised(m, k, me, ke):
    """(m * me, k + ke) brought back to a mantissa in [_LO, _HI); one step suffices for our operand ranges.
    m = 0 stays 0 with k = -inf."""
    m *= me
    k += ke
    low, high = m < _LO, m >= _HI
    return m * (_R if low else (_RINV if high else 1.0)), k + (-1.0 if low else (1.0 if high else 0.0))


@numba.njit(cache=True)
def _setup(lp, targets, b, L, S, blank, slot, ext_u, skip_k, classes, em_m, em_k):
    """Per sample b: ext_u[s] = index into `classes` (the sample's distinct labels, blank first) of l'_s;
    skip_k[s] = 0 where s-2 -> s is allowed, -inf where not (added to a class, it zeroes the term); emissions
    e_t(classes[u]) as (em_m[t, u], em_k[t, u]) for t < L. slot: (C,) scratch, all -1. Returns U = len(classes)."""
    Sx = 2 * S + 1
    U = 0
    for s in range(Sx):
        c = blank if s % 2 == 0 else targets[b, s // 2]
        u = slot[c]
        if u < 0:                                      # first time this class is seen (blank: s = 0, u = 0)
            u = U
            slot[c] = u
            classes[u] = c
            U += 1
        ext_u[s] = u
        ok = s >= 2 and u != 0 and u != ext_u[s - 2]
        skip_k[s] = 0.0 if ok else _NINF
    for s in range(Sx, skip_k.shape[0]):
        skip_k[s] = _NINF
    for t in range(L):
        for u in range(U):
            x = np.float64(lp[t, b, classes[u]])
            if -138.0 < x < 138.0:                     # |x| < 200 ln 2: class 0, exp(x) exactly as libm gives it
                em_m[t, u] = math.exp(x)
                em_k[t, u] = 0.0
            else:
                k = math.floor(x / _W_LN2 + 0.5)
                # e^x = em_m * 2^(400 k) with em_m in [2^-200, 2^200]
                em_m[t, u] = math.exp((x - k * _W_LN2_HI) - k * _W_LN2_LO)
                em_k[t, u] = k
    return U


@numba.njit(cache=True, inline="always")
def _band(t, L, Sx):
    """States [lo, hi) at frame t that are reachable from the start and can still reach the end."""
    return max(0, Sx - 2 * (L - t)), min(Sx, 2 * t + 2)


@numba.njit(cache=True)
def _alpha_row(t, L, Sx, ext_u, skip_k, em_m, em_k, pm, pk, cm, ck, erm, erk):
    """(cm, ck) = alpha_t from (pm, pk) = alpha_{t-1}; rows carry _G zero guards in front (state s at s + _G).
    erm, erk: (2S_max + 1,) scratch for frame t's emissions laid out by state."""
    lo, hi = _band(t, L, Sx)
    cm[:] = 0.0
    ck[:] = _NINF
    for s in range(lo, hi):
        erm[s], erk[s] = em_m[t, ext_u[s]], em_k[t, ext_u[s]]            # e_t(s)
    if t == 0:
        cm[lo + _G:hi + _G], ck[lo + _G:hi + _G] = erm[lo:hi], erk[lo:hi]   # alpha_0(s) = e_0(s), s = 0, 1
        return
    n = hi - lo
    # views starting at state lo, so the loop index runs from 0 and the loop vectorises
    m0, m1, m2 = pm[lo + _G:], pm[lo + _G - 1:], pm[lo + _G - 2:]
    k0, k1, k2 = pk[lo + _G:], pk[lo + _G - 1:], pk[lo + _G - 2:]
    sk, em, ek = skip_k[lo:], erm[lo:], erk[lo:]
    om, ok = cm[lo + _G:], ck[lo + _G:]
    for j in range(n):
        # alpha_{t-1}(s) + alpha_{t-1}(s-1) + skip(s) alpha_{t-1}(s-2)
        m, k = _add3(m0[j], k0[j], m1[j], k1[j], m2[j], k2[j] + sk[j])
        om[j], ok[j] = _mul_normalised(m, k, em[j], ek[j])               # times e_t(s)


@numba.njit(cache=True, inline="always")
def _occupation(q, j):
    """q * 2^(400 j) as a plain float64 (an occupation, <= 1); values below 2^-1000 (j <= -3, or j = -2 with a
    small q) become 0 rather than denormals. j >= 2 cannot occur for a value <= 1 (q >= 2^-600)."""
    w = _RINV if j == -1.0 else (1.0 if j == 0.0 else (_R if j == 1.0 else (_RINV2 if j == -2.0 else 0.0)))
    return 0.0 if (j == -2.0 and q < _LO) else q * w


@numba.njit(cache=True)
def _beta_row(t, L, Sx, ext_u, skip_k, em_m, em_k, nm, nk, hm, hk, a_m, a_k, inv_pm, pk, occ, erm, erk):
    """(hm, hk) = bhat_t from (nm, nk) = bhat_{t+1} (rows with _G zero guards behind), and occ[s] = gamma_t(s) for
    the band's states, given the alpha_t row (a_m, a_k), 1 / p's mantissa and p's class. Returns the band."""
    lo, hi = _band(t, L, Sx)
    hm[:] = 0.0
    hk[:] = _NINF
    for s in range(lo, hi):
        erm[s], erk[s] = em_m[t, ext_u[s]], em_k[t, ext_u[s]]            # e_t(s)
    n = hi - lo
    # views starting at state lo, so the loop index runs from 0 and the loop vectorises
    m0, m1, m2 = nm[lo:], nm[lo + 1:], nm[lo + 2:]
    k0, k1, k2 = nk[lo:], nk[lo + 1:], nk[lo + 2:]
    sk, em, ek = skip_k[lo + 2:], erm[lo:], erk[lo:]
    am, ak, om, ok, oc = a_m[lo + _G:], a_k[lo + _G:], hm[lo:], hk[lo:], occ[lo:]
    last = t == L - 1
    for j in range(n):
        if last:
            bm, bk = 1.0, 0.0                          # beta_{L-1} = 1 on the final states (the band)
        else:
            # beta_t(s) = bhat_{t+1}(s) + bhat_{t+1}(s+1) + skip(s+2) bhat_{t+1}(s+2)
            bm, bk = _add3(m0[j], k0[j], m1[j], k1[j], m2[j], k2[j] + sk[j])
        # gamma_t(s) = alpha_t(s) beta_t(s) / p, a mantissa times 2^(400 * class)
        oc[j] = _occupation(am[j] * bm * inv_pm, ak[j] + bk - pk)
        om[j], ok[j] = _mul_normalised(bm, bk, em[j], ek[j])             # bhat_t(s) = e_t(s) beta_t(s)
    return lo, hi


@numba.njit(cache=True)
def _log_p(am, ak, S):
    """(log p, p's mantissa, p's class) from the last alpha row (guarded)."""
    i = 2 * S + _G
    if S == 0:
        m, k = am[i], ak[i]
    else:
        m, k = _add3(am[i], ak[i], am[i - 1], ak[i - 1], 0.0, _NINF)
    if m == 0.0:
        return _NINF, 0.0, _NINF
    return math.log(m) + k * _W_LN2, m, k


@numba.njit(parallel=True, cache=True)
def _forward(lp, targets, L, S, blank, logp):
    B = lp.shape[1]
    Sx_max = 2 * targets.shape[1] + 1
    for b in numba.prange(B):
        Lb, Sb = L[b], S[b]
        Sx = 2 * Sb + 1
        if Lb == 0:
            logp[b] = 0.0 if Sb == 0 else _NINF       # no frames: only the empty target is certain
            continue
        ext_u = np.empty(Sx_max, np.int64)
        skip_k = np.empty(Sx_max, np.float64)
        classes = np.empty(Sx_max + 1, np.int64)
        slot = np.full(lp.shape[2], -1, np.int64)
        em_m = np.empty((Lb, Sx_max + 1))
        em_k = np.empty((Lb, Sx_max + 1))
        erm, erk = np.empty(Sx_max), np.empty(Sx_max)
        _setup(lp, targets, b, Lb, Sb, blank, slot, ext_u, skip_k, classes, em_m, em_k)
        rows_m = np.zeros((2, Sx + _G))                # alpha_{t-1}, alpha_t
        rows_k = np.full((2, Sx + _G), _NINF)
        for t in range(Lb):
            p, c = (t + 1) % 2, t % 2
            _alpha_row(t, Lb, Sx, ext_u, skip_k, em_m, em_k, rows_m[p], rows_k[p], rows_m[c], rows_k[c], erm, erk)
        logp[b] = _log_p(rows_m[(Lb - 1) % 2], rows_k[(Lb - 1) % 2], Sb)[0]


@numba.njit(parallel=True, cache=True)
def _backward(lp, targets, L, S, blank, scale, zero_infinity, grad):
    """grad[t, b, :] = -scale_b * occupations; grad comes in zeroed (frames t >= L stay 0)."""
    B = lp.shape[1]
    Sx_max = 2 * targets.shape[1] + 1
    for b in numba.prange(B):
        Lb, Sb = L[b], S[b]
        Sx = 2 * Sb + 1
        if Lb == 0:
            continue                                   # no frames: nothing to differentiate
        ext_u = np.empty(Sx_max, np.int64)
        skip_k = np.empty(Sx_max + _G, np.float64)     # skip(s + 2) is read for s + 2 up to Sx + 1
        classes = np.empty(Sx_max + 1, np.int64)
        slot = np.full(lp.shape[2], -1, np.int64)
        em_m = np.empty((Lb, Sx_max + 1))
        em_k = np.empty((Lb, Sx_max + 1))
        erm, erk = np.empty(Sx_max), np.empty(Sx_max)
        U = _setup(lp, targets, b, Lb, Sb, blank, slot, ext_u, skip_k, classes, em_m, em_k)
        am = np.zeros((Lb, Sx + _G))                   # alpha (L, 2S + 1) plus guards
        ak = np.full((Lb, Sx + _G), _NINF)
        for t in range(Lb):
            tp = t - 1 if t else 0
            _alpha_row(t, Lb, Sx, ext_u, skip_k, em_m, em_k, am[tp], ak[tp], am[t], ak[t], erm, erk)
        logp, pm, pk = _log_p(am[Lb - 1], ak[Lb - 1], Sb)
        if logp == _NINF:                              # infeasible: loss +inf
            if not zero_infinity:
                grad[:Lb, b, :] = np.nan               # d(+inf) on frames t < L, as torch
            continue                                   # zero_infinity: loss and gradient 0
        inv_pm = 1.0 / pm
        hm = np.zeros((2, Sx + _G))                    # bhat_{t+1}, bhat_t; zero guards behind
        hk = np.full((2, Sx + _G), _NINF)
        occ = np.empty(Sx)                             # gamma_t(s)
        acc = np.empty(U)                              # gradient row over the sample's distinct classes
        g = -scale[b]
        for t in range(Lb - 1, -1, -1):
            n, c = (t + 1) % 2, t % 2
            lo, hi = _beta_row(t, Lb, Sx, ext_u, skip_k, em_m, em_k, hm[n], hk[n], hm[c], hk[c], am[t], ak[t],
                               inv_pm, pk, occ, erm, erk)
            acc[:] = 0.0
            for s in range(lo, hi):
                acc[ext_u[s]] += occ[s]                # sum_{s: l'_s = c} gamma_t(s)
            for u in range(U):
                grad[t, b, classes[u]] = g * acc[u]     # d reduced / d lp[t, c] = -scale_b sum gamma_t(s)


# ------------------------------------------------------------------------------------- public API
def _scales(S, B, reduction):
    """d reduced / d loss_b in float64: 1 ("none"/"sum"), 1 / (B * max(S_b, 1)) ("mean")."""
    if reduction == "mean":
        return 1.0 / np.maximum(S, 1).astype(np.float64) / B
    return np.ones(B)


def _out_of_range(log_probs):
    """T * max|log_probs| > 1e15: exponent classes (about sum_t |lp| / 277) could leave the integers float64 holds
    exactly (2^53). No log_softmax output comes near (it would need |lp| > 2e12 at T = 500); such inputs, where
    float64 itself keeps no digit below the decimal point, go to the reference."""
    return log_probs.size and float(np.abs(log_probs).max()) * log_probs.shape[0] > _MAX_CLASS_MASS


def ctc_loss(log_probs: np.ndarray, targets: np.ndarray, input_lengths: np.ndarray, target_lengths: np.ndarray,
             *, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False) -> np.ndarray:
    """Same contract as refimpl.losses.ctc.ctc_loss: a 0-d array ("mean"/"sum") or (B,) ("none") in log_probs'
    dtype; +inf for infeasible samples unless zero_infinity."""
    padded, L, S = check_ctc_args(log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity)
    if _out_of_range(log_probs):
        return reference.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=blank,
                                  reduction=reduction, zero_infinity=zero_infinity)
    logp = np.empty(log_probs.shape[1])                                  # (B,) float64
    _forward(np.ascontiguousarray(log_probs), padded, L, S, int(blank), logp)
    loss = -logp
    if zero_infinity:
        loss[np.isposinf(loss)] = 0.0
    dt = log_probs.dtype
    if reduction == "none":
        return loss.astype(dt)
    if reduction == "sum":
        return np.asarray(loss.sum(), dtype=dt)
    return np.asarray((loss / np.maximum(S, 1)).mean(), dtype=dt)       # per-target-length, then batch mean


def ctc_loss_backward(grad_output, log_probs: np.ndarray, targets: np.ndarray, input_lengths: np.ndarray,
                      target_lengths: np.ndarray, *, blank: int = 0, reduction: str = "mean",
                      zero_infinity: bool = False) -> np.ndarray:
    """Same contract as refimpl.losses.ctc.ctc_loss_backward: d loss / d log_probs (T, B, C) in log_probs' dtype."""
    padded, L, S = check_ctc_args(log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity)
    T, B, C = log_probs.shape
    g = check_ctc_grad_output(grad_output, reduction, B, log_probs.dtype)
    if _out_of_range(log_probs):
        return reference.ctc_loss_backward(grad_output, log_probs, targets, input_lengths, target_lengths,
                                           blank=blank, reduction=reduction, zero_infinity=zero_infinity)
    scale = g.astype(np.float64) * _scales(S, B, reduction)             # (B,) d reduced / d loss_b
    grad = np.zeros((T, B, C), dtype=log_probs.dtype)                   # (T, B, C)
    _backward(np.ascontiguousarray(log_probs), padded, L, S, int(blank), scale, bool(zero_infinity), grad)
    return grad
