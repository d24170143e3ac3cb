"""CTC decoding: frame-wise class scores -> label sequences.

Collapse B(pi): merge runs of equal classes, then drop blanks ("aa-ab-" -> "aab" with - = blank).

Greedy (best path): pi_t = argmax_c scores[t, c], output B(pi). Works on logits or log-probabilities
(argmax is the same); ties go to the lowest class index (np.argmax, as torch.argmax on CPU).
It returns the labelling of the single most probable PATH, which need not be the most probable
LABELLING (that sums over all paths of a labelling).

Prefix beam search (Hannun et al. 2014, "First-Pass Large Vocabulary Continuous Speech Recognition
using Bi-Directional Recurrent DNNs"): searches labellings l by p(l | x) = sum of B^-1(l) paths.
Each kept prefix l carries two log-probabilities over frames 0..t, p_b(l) (paths ending in blank)
and p_nb(l) (paths ending in l's last label). For frame t+1 and class c with y = lp[t+1, c]:

    c = blank            p_b(l)     += (p_b(l) + p_nb(l)) * y
    c = last label of l  p_nb(l)    += p_nb(l) * y              (repeat merges into the same label)
                         p_nb(l+c)  += p_b(l) * y               (a blank in between: a new label)
    otherwise            p_nb(l+c)  += (p_b(l) + p_nb(l)) * y

(all in log space: += is logaddexp). After each frame only the beam_width prefixes with the
largest p_b + p_nb are kept (ties broken by the shorter, then lexicographically smaller prefix,
so results are deterministic). With a beam wide enough to keep every prefix the result is exact:
each returned score is log p(l | x). With beam_width = 1 it is NOT greedy decoding in general (it
keeps the most probable prefix, summed over its paths; greedy follows the most probable path).
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np

from ..core.errors import ConfigError, IndexRangeError, ShapeError
from ..core.validation import check_finite, check_float, check_positive_int

Beam = Tuple[Tuple[int, ...], float]            # (labels, log p(labels | x))


def ctc_collapse(path, blank: int = 0) -> List[int]:
    """B(pi): merge runs of equal ids, then drop `blank`. path: 1-d integer sequence."""
    out, prev = [], None
    for c in (int(v) for v in path):
        if c != prev and c != blank:
            out.append(c)
        prev = c
    return out


def _check_scores(x, name: str, blank: int, input_lengths):
    """Validate (T, C) or (B, T, C) scores, blank and lengths; return (batched (B, T, C), lengths (B,), was_batched)."""
    check_float(x, name, ndim=(2, 3))
    batched = x.ndim == 3
    xb = x if batched else x[None]                                   # (B, T, C)
    B, T, C = xb.shape
    if C < 1:
        raise ShapeError(f"{name}: expected at least one class, got shape {x.shape}")
    if isinstance(blank, bool) or not isinstance(blank, (int, np.integer)) or not 0 <= blank < C:
        raise ConfigError(f"blank: expected a class index in [0, {C}), got {blank!r}")
    check_finite(x, name)
    if input_lengths is None:
        lengths = np.full(B, T, dtype=np.int64)
    else:
        if not batched:
            raise ConfigError(f"input_lengths: only for batched {name} of shape (B, T, C); got shape {x.shape}")
        if not isinstance(input_lengths, np.ndarray) or not np.issubdtype(input_lengths.dtype, np.integer):
            raise ConfigError(f"input_lengths: expected an integer numpy array of shape ({B},)")
        if input_lengths.shape != (B,):
            raise ShapeError(f"input_lengths: expected shape ({B},), got {input_lengths.shape}")
        if input_lengths.size and (input_lengths.min() < 0 or input_lengths.max() > T):
            raise IndexRangeError(f"input_lengths: expected lengths in [0, {T}] (T = {name}.shape[1]), "
                                  f"got {input_lengths.tolist()}")
        lengths = input_lengths.astype(np.int64)
    return xb, lengths, batched


def ctc_greedy_decode(logits: np.ndarray, input_lengths: Optional[np.ndarray] = None, *, blank: int = 0):
    """Best-path decoding: argmax per frame, collapse repeats, drop blanks.

    logits: (T, C) -> list of label ids, or (B, T, C) (batch first, as model logits) -> one list per
    sample, frames t >= input_lengths[b] ignored. Logits or log-probabilities give the same result.
    """
    xb, lengths, batched = _check_scores(logits, "logits", blank, input_lengths)
    best = xb.argmax(-1)                                             # (B, T)
    out = [ctc_collapse(best[b, :lengths[b]], blank) for b in range(xb.shape[0])]
    return out if batched else out[0]


def _rank(item):
    prefix, (pb, pnb) = item
    return (-np.logaddexp(pb, pnb), len(prefix), prefix)


def _beam_search_one(lp: np.ndarray, beam_width: int, blank: int) -> List[Beam]:
    """Prefix beam search over lp (T, C) float log-probabilities; best first."""
    T, C = lp.shape
    ninf = -np.inf
    beams = {(): (0.0, ninf)}                                        # prefix -> (log p_b, log p_nb)
    for t in range(T):
        y = lp[t].astype(np.float64)
        nxt: dict = {}

        def add(prefix, pb=ninf, pnb=ninf):
            if pb == ninf and pnb == ninf:                           # no path reaches it (e.g. l+c after p_b = 0)
                return
            ob, onb = nxt.get(prefix, (ninf, ninf))
            nxt[prefix] = (np.logaddexp(ob, pb), np.logaddexp(onb, pnb))

        for prefix, (pb, pnb) in beams.items():
            total = np.logaddexp(pb, pnb)
            last = prefix[-1] if prefix else None
            for c in range(C):
                if c == blank:
                    add(prefix, pb=total + y[c])                     # p_b(l) += (p_b + p_nb) y_blank
                elif c == last:
                    add(prefix, pnb=pnb + y[c])                      # p_nb(l) += p_nb y_c   (repeat merged)
                    add(prefix + (c,), pnb=pb + y[c])                # p_nb(l+c) += p_b y_c  (blank between)
                else:
                    add(prefix + (c,), pnb=total + y[c])             # p_nb(l+c) += (p_b + p_nb) y_c
        beams = dict(sorted(nxt.items(), key=_rank)[:beam_width])
    return [(prefix, float(np.logaddexp(pb, pnb))) for prefix, (pb, pnb) in sorted(beams.items(), key=_rank)]


def ctc_prefix_beam_search(log_probs: np.ndarray, input_lengths: Optional[np.ndarray] = None, *,
                           beam_width: int = 8, blank: int = 0, normalized_tol: float = 1e-4):
    """Prefix beam search (module docstring). Returns the kept beams, best first, as (labels tuple, log p).

    log_probs: (T, C) log-probabilities (rows must be normalised: log_softmax first) -> list of beams;
    (B, T, C) batch first -> one list per sample (frames t >= input_lengths[b] ignored).
    beam_width: prefixes kept per frame (>= 1). normalized_tol: how far logsumexp of a row may be from 0.
    """
    xb, lengths, batched = _check_scores(log_probs, "log_probs", blank, input_lengths)
    beam_width = check_positive_int(beam_width, "beam_width")
    lse = np.logaddexp.reduce(xb.astype(np.float64), axis=-1)        # (B, T)
    valid = np.arange(xb.shape[1])[None, :] < lengths[:, None]
    if np.any(np.abs(lse[valid]) > normalized_tol):
        bad = np.argwhere(valid & (np.abs(lse) > normalized_tol))[0]
        raise ConfigError(f"log_probs: rows must be log-probabilities (logsumexp 0); frame {tuple(bad.tolist())} "
                          f"has logsumexp {lse[tuple(bad)]:.3g}; apply log_softmax to logits first")
    out = [_beam_search_one(xb[b, :lengths[b]], beam_width, blank) for b in range(xb.shape[0])]
    return out if batched else out[0]
