"""ctc_loss (torch.nn.functional.ctc_loss semantics), the reference for the "ctc" hot path.

Connectionist Temporal Classification (Graves et al. 2006). For one sample b with frames
t = 0..L-1 (L = input_lengths[b]), per-frame log-probabilities lp[t, c] = log_probs[t, b, c] and a
target l = (l_1..l_S) (S = target_lengths[b], no label equal to `blank`), the extended sequence is

    l' = (blank, l_1, blank, l_2, ..., blank, l_S, blank)        length 2S + 1, index s = 0..2S

A path pi (one class per frame) maps to l when removing repeats and then blanks gives l;
p(l | x) = sum over such paths of prod_t exp(lp[t, pi_t]). Its dynamic program, in log space:

    alpha_0(0) = lp[0, blank]     alpha_0(1) = lp[0, l_1]       alpha_0(s>1) = -inf
    alpha_t(s) = lp[t, l'_s] + logsumexp(alpha_{t-1}(s), alpha_{t-1}(s-1), [alpha_{t-1}(s-2)])
                 the s-2 term only where l'_s != blank and l'_s != l'_{s-2} (a skip over a blank
                 between two different labels; a repeated label needs the blank between)
    log p(l | x) = logsumexp(alpha_{L-1}(2S), alpha_{L-1}(2S-1))        (only alpha_{L-1}(0) when S = 0)
    loss_b = -log p(l | x)

beta_t(s) is the log-probability of finishing from state s at frame t, over frames t+1..L-1 (it does
NOT contain lp[t, l'_s]; so alpha_t(s) + beta_t(s) is the log-mass of all paths in state s at t):

    beta_{L-1}(2S) = beta_{L-1}(2S-1) = 0, else -inf
    beta_t(s) = logsumexp over s' in {s, s+1, [s+2]} of lp[t+1, l'_{s'}] + beta_{t+1}(s')
                (s+2 only where the skip s -> s+2 is allowed, the rule above read at s+2)

Occupation gamma_t(s) = exp(alpha_t(s) + beta_t(s) - log p) sums to 1 over s at every t < L, and

    d loss_b / d lp[t, c] = - sum_{s: l'_s = c} gamma_t(s)          t < L,   0 for t >= L

This is the TRUE gradient with respect to log_probs as independent inputs (the backward below).
torch's native ctc backward returns instead  exp(lp[t, c]) - sum_{s: l'_s = c} gamma_t(s),  i.e. the
gradient with respect to the logits z of lp = log_softmax(z), which is only right when log_probs really
came out of log_softmax. Both agree after log_softmax_backward: dz = g - softmax(z) * sum_c g, and
sum_c of our g is -1 (occupations sum to 1), so dz = softmax(z) - sum_{s: l'_s = c} gamma_t(s).
(Feeding torch's value through log_softmax_backward again gives the same dz, because its row sum is 0.)

Reductions (torch's): "none" -> (B,) losses; "sum" -> sum_b loss_b; "mean" -> mean_b loss_b / max(S_b, 1).
Infeasible samples (L < S + number of adjacent repeats in l) have p = 0, loss +inf; their gradient
is NaN on frames t < L (as torch: -inf + inf), 0 beyond. zero_infinity=True sets both the loss and
the gradient of such samples to 0. Empty targets (S = 0): loss = -sum_{t<L} lp[t, blank]; L = 0 with
S = 0 gives loss 0, L = 0 with S > 0 gives +inf.

Shapes and dtypes: log_probs (T, B, C) float32/float64, finite (already log_softmax-ed, as torch);
targets integer, (B, S_max) padded (entries past target_lengths[b] are ignored) or 1-d concatenated of
length sum(target_lengths); input_lengths, target_lengths integer (B,). The recursion runs in the dtype
of log_probs. Losses are returned in that dtype: a 0-d array for "mean"/"sum", (B,) for "none".
Registered as the "ctc" hot path; kernels/<backend>/ctc.py must expose the same two names and signatures.
"""
from __future__ import annotations

import numpy as np

from ..core.errors import ConfigError, DTypeError, IndexRangeError, ShapeError
from ..core.kernel_dispatch import register_reference
from ..core.validation import check_array, check_choice, check_finite, check_float

REDUCTIONS = ("none", "mean", "sum")


# ------------------------------------------------------------------------------------- validation
def _check_lengths(x, name: str, B: int, high: int, high_what: str) -> np.ndarray:
    check_array(x, name, ndim=1)
    if not np.issubdtype(x.dtype, np.integer):
        raise DTypeError(f"{name}: expected an integer array, got dtype {x.dtype}")
    if x.shape != (B,):
        raise ShapeError(f"{name}: expected shape ({B},) (one length per batch element of log_probs), got {x.shape}")
    if B and x.min() < 0:
        raise IndexRangeError(f"{name}: lengths must be >= 0, found {int(x.min())} at index {int(np.argmin(x))}")
    if B and x.max() > high:
        raise IndexRangeError(f"{name}: lengths must be <= {high} ({high_what}), found {int(x.max())} "
                              f"at index {int(np.argmax(x))}")
    return x.astype(np.int64)


def check_ctc_args(log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity):
    """Validate every ctc_loss argument before any math; return (padded targets (B, S_max) int64, L (B,), S (B,)).

    Padded targets hold `blank` past each sample's target length. Public so that kernels run exactly these
    checks before their compiled code."""
    check_float(log_probs, "log_probs", ndim=3)
    T, B, C = log_probs.shape
    if B < 1 or C < 1:
        raise ShapeError(f"log_probs: expected shape (T, B, C) with B >= 1 and C >= 1, got {log_probs.shape}")
    if isinstance(blank, bool) or not isinstance(blank, (int, np.integer)) or not 0 <= blank < C:
        raise ConfigError(f"blank: expected an integer class index in [0, {C}) (C = log_probs.shape[2]), got {blank!r}")
    check_choice(reduction, "reduction", REDUCTIONS)
    if not isinstance(zero_infinity, (bool, np.bool_)):
        raise ConfigError(f"zero_infinity: expected a bool, got {zero_infinity!r}")
    check_array(targets, "targets", ndim=(1, 2))
    if not np.issubdtype(targets.dtype, np.integer):
        raise DTypeError(f"targets: expected an integer array of class ids, got dtype {targets.dtype}")
    L = _check_lengths(input_lengths, "input_lengths", B, T, "the number of frames T = log_probs.shape[0]")
    if targets.ndim == 2:
        if targets.shape[0] != B:
            raise ShapeError(f"targets: padded targets must have shape (B={B}, S_max), got {targets.shape}")
        S = _check_lengths(target_lengths, "target_lengths", B, targets.shape[1],
                           "the padded target width S_max = targets.shape[1]")
        padded = targets.astype(np.int64)
    else:
        check_array(target_lengths, "target_lengths", ndim=1)
        S = _check_lengths(target_lengths, "target_lengths", B, targets.shape[0],
                           "the length of the concatenated targets")
        if int(S.sum()) != targets.shape[0]:
            raise ShapeError(f"targets: 1-d (concatenated) targets must have length sum(target_lengths) = "
                             f"{int(S.sum())}, got shape {targets.shape}")
        padded = np.full((B, int(S.max())), blank, dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(S)[:-1]])
        for b in range(B):
            padded[b, :S[b]] = targets[starts[b]:starts[b] + S[b]]
    used = np.arange(padded.shape[1])[None, :] < S[:, None]              # (B, S_max) entries that count
    vals = padded[used]
    if vals.size:
        if vals.min() < 0 or vals.max() >= C:
            bad = np.argwhere(used & ((padded < 0) | (padded >= C)))[0]
            raise IndexRangeError(f"targets: class ids must be in [0, {C}) (C = log_probs.shape[2]), found "
                                  f"{int(padded[tuple(bad)])} in sample {int(bad[0])} at position {int(bad[1])}")
        if np.any(vals == blank):
            bad = np.argwhere(used & (padded == blank))[0]
            raise IndexRangeError(f"targets: a target label equals the blank index {blank} (sample {int(bad[0])}, "
                                  f"position {int(bad[1])}); CTC targets must not contain the blank "
                                  f"(drop padding / -100 before calling, or pass the right blank=)")
    check_finite(log_probs, "log_probs")
    return np.where(used, padded, blank), L, S


def check_ctc_grad_output(grad_output, reduction, B, dtype):
    """Validate ctc_loss_backward's grad_output; return it as one upstream gradient per sample, (B,) in dtype."""
    if reduction == "none":
        check_array(grad_output, "grad_output", ndim=1)
        if grad_output.shape != (B,):
            raise ShapeError(f"grad_output: reduction='none' needs one gradient per sample, shape ({B},), "
                             f"got {grad_output.shape}")
        if grad_output.dtype != dtype:
            raise DTypeError(f"grad_output: expected dtype {dtype} (the log_probs dtype), got {grad_output.dtype}")
        return grad_output
    if np.ndim(grad_output) != 0:
        raise ShapeError(f"grad_output: reduction={reduction!r} gives a scalar loss, so grad_output must be a "
                         f"scalar, got shape {np.shape(grad_output)}")
    if isinstance(grad_output, np.ndarray) and grad_output.dtype != dtype:
        raise DTypeError(f"grad_output: expected dtype {dtype} (the log_probs dtype), got {grad_output.dtype}")
    return np.full(B, grad_output, dtype=dtype)


# ------------------------------------------------------------------------------------- the lattice
def _logsumexp(*xs):
    """Elementwise log(sum exp) of equal-shape arrays; all -inf gives -inf without warnings."""
    stack = np.stack(xs)                                                  # (k, ...)
    m = stack.max(axis=0)
    m = np.where(np.isneginf(m), 0, m)                                    # all -inf: exp(-inf - 0) = 0
    with np.errstate(divide="ignore"):
        return m + np.log(np.exp(stack - m).sum(axis=0))


def _shift(x, k, fill):
    """x shifted by k along the last axis (k > 0: out[s] = x[s-k]; k < 0: out[s] = x[s+|k|])."""
    out = np.full_like(x, fill)
    if k > 0:
        out[..., k:] = x[..., :-k]
    else:
        out[..., :k] = x[..., -k:]
    return out


def _lattice(log_probs, targets, L, S, blank):
    """alpha, beta (T, B, 2S_max+1), log p (B,), extended labels (B, 2S_max+1) in log_probs' dtype."""
    T, B, _ = log_probs.shape
    dt = log_probs.dtype
    ninf = dt.type(-np.inf)
    Sx = 2 * targets.shape[1] + 1
    ext = np.full((B, Sx), blank, dtype=np.int64)                         # l' = (blank, l_1, blank, ..., blank)
    ext[:, 1::2] = targets
    s_idx = np.arange(Sx)
    state_ok = s_idx[None, :] < (2 * S + 1)[:, None]                      # (B, Sx) s <= 2S_b
    skip = np.zeros((B, Sx), dtype=bool)                                  # s-2 -> s allowed
    skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
    skip &= state_ok
    emit = np.take_along_axis(log_probs, np.broadcast_to(ext[None], (T, B, Sx)), axis=2)  # lp[t, l'_s] (T, B, Sx)
    t_ok = np.arange(T)[:, None] < L[None, :]                             # (T, B) frame t inside sample b

    alpha = np.full((T, B, Sx), ninf, dtype=dt)                           # (T, B, Sx)
    if T:
        start = state_ok & (s_idx[None, :] < 2)                           # s = 0 and (if S >= 1) s = 1
        alpha[0] = np.where(start & t_ok[0][:, None], emit[0], ninf)
    for t in range(1, T):
        prev = alpha[t - 1]                                               # (B, Sx)
        # alpha_t(s) = lp[t, l'_s] + lse(alpha_{t-1}(s), alpha_{t-1}(s-1), [alpha_{t-1}(s-2)])
        stay_step = _logsumexp(prev, _shift(prev, 1, ninf), np.where(skip, _shift(prev, 2, ninf), ninf))
        alpha[t] = np.where(state_ok & t_ok[t][:, None], emit[t] + stay_step, ninf)

    beta = np.full((T, B, Sx), ninf, dtype=dt)                            # (T, B, Sx)
    final = state_ok & (s_idx[None, :] >= (2 * S - 1)[:, None])           # s = 2S and (if S >= 1) s = 2S-1
    skip_next = _shift(skip, -2, False)                                   # s -> s+2 allowed (read at s+2)
    for t in range(T - 1, -1, -1):
        init = np.where(final, dt.type(0), ninf)                          # beta_{L-1}
        if t + 1 < T:
            nxt = emit[t + 1] + beta[t + 1]                               # lp[t+1, l'_s'] + beta_{t+1}(s')
            # beta_t(s) = lse(nxt(s), nxt(s+1), [nxt(s+2)])
            rec = _logsumexp(nxt, _shift(nxt, -1, ninf), np.where(skip_next, _shift(nxt, -2, ninf), ninf))
        else:
            rec = np.full((B, Sx), ninf, dtype=dt)
        last = (L == t + 1)[:, None]
        inside = (t + 1 < L)[:, None]
        beta[t] = np.where(last, init, np.where(inside & state_ok, rec, ninf))

    # log p = lse(alpha_{L-1}(2S), alpha_{L-1}(2S-1)); L = 0: log p = 0 for S = 0, -inf otherwise
    logp = np.empty(B, dtype=dt)
    for b in range(B):
        if L[b] == 0:
            logp[b] = 0 if S[b] == 0 else ninf
        else:
            a = alpha[L[b] - 1, b]
            logp[b] = a[0] if S[b] == 0 else _logsumexp(a[2 * S[b]], a[2 * S[b] - 1])
    return alpha, beta, logp, ext


def _scales(S, B, reduction, dt):
    """d reduced / d loss_b: 1 ("none"/"sum"), 1 / (B * max(S_b, 1)) ("mean")."""
    if reduction == "mean":
        return (dt.type(1) / np.maximum(S, 1).astype(dt)) / dt.type(B)
    return np.ones(B, dtype=dt)


# ------------------------------------------------------------------------------------- public API
@register_reference("ctc")
def ctc_loss(log_probs: np.ndarray, targets: np.ndarray, input_lengths: np.ndarray, target_lengths: np.ndarray,
             *, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False) -> np.ndarray:
    """CTC negative log-likelihood (see module docstring).

    log_probs: (T, B, C) float32/float64 log-probabilities; targets: (B, S_max) padded or 1-d concatenated
    integer class ids (never `blank`); input_lengths, target_lengths: integer (B,).
    Returns a 0-d array ("mean"/"sum") or (B,) ("none") in log_probs' dtype; +inf for infeasible samples
    unless zero_infinity.
    """
    targets, L, S = check_ctc_args(log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity)
    dt = log_probs.dtype
    _, _, logp, _ = _lattice(log_probs, targets, L, S, blank)
    loss = -logp                                                          # (B,)
    if zero_infinity:
        loss = np.where(np.isposinf(loss), dt.type(0), loss)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return np.asarray(loss.sum(), dtype=dt)
    # torch: each loss divided by its target length (at least 1), then the batch mean
    return np.asarray((loss / np.maximum(S, 1).astype(dt)).mean(), dtype=dt)


@register_reference("ctc")
def ctc_loss_backward(grad_output, log_probs: np.ndarray, targets: np.ndarray, input_lengths: np.ndarray,
                      target_lengths: np.ndarray, *, blank: int = 0, reduction: str = "mean",
                      zero_infinity: bool = False) -> np.ndarray:
    """d loss / d log_probs (T, B, C) for upstream grad_output (scalar for "mean"/"sum", (B,) for "none").

    The true gradient w.r.t. log_probs as independent inputs: -(posterior occupation of class c at frame t)
    times the reduction scale; 0 at frames t >= input_lengths[b]; NaN on frames t < L of an infeasible
    sample (0 with zero_infinity). Chain through log_softmax_backward for the gradient w.r.t. logits.
    """
    targets, L, S = check_ctc_args(log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity)
    T, B, C = log_probs.shape
    dt = log_probs.dtype
    g = check_ctc_grad_output(grad_output, reduction, B, dt)              # (B,) d reduced / d reduced
    alpha, beta, logp, ext = _lattice(log_probs, targets, L, S, blank)
    feasible = np.isfinite(logp)                                          # (B,)
    safe_logp = np.where(feasible, logp, dt.type(0))
    with np.errstate(under="ignore"):
        occ = np.exp(alpha + beta - safe_logp[None, :, None])             # gamma_t(s)  (T, B, Sx)
    grad = np.zeros((T, B, C), dtype=dt)                                  # (T, B, C)
    t_ix = np.arange(T)[:, None, None]
    b_ix = np.arange(B)[None, :, None]
    np.add.at(grad, (t_ix, b_ix, ext[None]), occ)                         # sum_{s: l'_s = c} gamma_t(s)
    # d loss_b / d lp[t, c] = -sum_{s: l'_s = c} gamma_t(s), times d reduced / d loss_b times grad_output
    scale = -g * _scales(S, B, reduction, dt)                             # (B,)
    grad *= scale[None, :, None]
    t_ok = (np.arange(T)[:, None] < L[None, :])[:, :, None]               # (T, B, 1)
    if zero_infinity:
        grad[:, ~feasible, :] = 0                                         # loss zeroed -> gradient zeroed
    else:
        grad = np.where(~feasible[None, :, None] & t_ok, dt.type(np.nan), grad)   # d(+inf): NaN, as torch
    return grad


# ------------------------------------------------------------------------------------- feasibility
def ctc_min_input_lengths(targets: np.ndarray, target_lengths: np.ndarray) -> np.ndarray:
    """Fewest frames each sample needs: S + (number of adjacent equal labels), as int64 (B,).

    targets: (B, S_max) padded or 1-d concatenated, as in ctc_loss.
    """
    check_array(target_lengths, "target_lengths", ndim=1)
    if not np.issubdtype(target_lengths.dtype, np.integer) or (target_lengths.size and target_lengths.min() < 0):
        raise DTypeError(f"target_lengths: expected non-negative integers, got {target_lengths}")
    check_array(targets, "targets", ndim=(1, 2))
    S = target_lengths.astype(np.int64)
    if targets.ndim == 1:
        if targets.shape[0] != int(S.sum()):
            raise ShapeError(f"targets: 1-d targets must have length sum(target_lengths) = {int(S.sum())}, "
                             f"got {targets.shape}")
        starts = np.concatenate([[0], np.cumsum(S)[:-1]]).astype(np.int64)
        rows = [targets[a:a + n] for a, n in zip(starts, S)]
    else:
        if targets.shape[0] != S.shape[0] or (S.size and S.max() > targets.shape[1]):
            raise ShapeError(f"targets: padded targets of shape {targets.shape} do not fit target_lengths {S}")
        rows = [targets[b, :n] for b, n in enumerate(S)]
    return np.array([len(r) + int(np.sum(r[1:] == r[:-1])) for r in rows], dtype=np.int64)


def check_ctc_feasible(input_lengths: np.ndarray, targets: np.ndarray, target_lengths: np.ndarray) -> None:
    """Raise ConfigError naming `input_lengths` if some sample has fewer frames than its targets need.

    ctc_loss itself follows torch (+inf loss, or 0 with zero_infinity); call this to fail loudly instead.
    """
    need = ctc_min_input_lengths(targets, target_lengths)
    check_array(input_lengths, "input_lengths", ndim=1)
    if input_lengths.shape != need.shape:
        raise ShapeError(f"input_lengths: expected shape {need.shape}, got {input_lengths.shape}")
    short = np.flatnonzero(input_lengths < need)
    if short.size:
        b = int(short[0])
        raise ConfigError(
            f"input_lengths: sample {b} has {int(input_lengths[b])} frames but its target of length "
            f"{int(target_lengths[b])} needs at least {int(need[b])} (labels + one blank between each repeated "
            f"pair); infeasible samples: {short.tolist()}. The audio is too short for its transcript.")
