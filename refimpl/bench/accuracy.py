"""Correctness of a measured implementation, in the same run as its timing.

Every implementation's outputs are compared with the float64 reference on the same inputs, and held
to the kernel tolerance rule (refimpl/testing/kernel_tolerance.py):

    err = max |out - exact|     budget = 2 * max |reference_same_precision - exact| + floor * max(1, max |exact|)

per output array (the forward output, each gradient); the output with the largest err / budget
decides. Non-finite values must sit where the float64 reference has them (else err = inf). The floor
is DEFAULT_FLOOR of the output's dtype (float32 1e-5, float64 1e-12), scaled by the output's magnitude
so sums over many terms (a CTC loss, a 7x7 convolution) get a budget in their own units.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Mapping, Optional

import numpy as np

from ..testing.kernel_tolerance import DEFAULT_FLOOR

__all__ = ["Accuracy", "output_accuracy", "array_error"]


@dataclass
class Accuracy:
    max_err: Optional[float]        # err of the deciding output
    err_budget: Optional[float]     # its budget
    worst_output: Optional[str]
    correct: Optional[bool]
    note: str = ""


def array_error(out, exact) -> float:
    """max |out - exact| in float64 over finite positions of exact; inf if non-finite values differ
    (position or value) or the shapes differ."""
    a = np.asarray(out, dtype=np.float64)
    e = np.asarray(exact, dtype=np.float64)
    if a.shape != e.shape:
        return float("inf")
    fin = np.isfinite(e)
    if (np.isnan(a) != np.isnan(e)).any() or (a[~fin & ~np.isnan(e)] != e[~fin & ~np.isnan(e)]).any() \
            or (~np.isfinite(a[fin])).any():
        return float("inf")
    return float(np.max(np.abs(a[fin] - e[fin]), initial=0.0))


def output_accuracy(out: Mapping[str, np.ndarray], exact: Mapping[str, np.ndarray],
                    reference: Optional[Mapping[str, np.ndarray]] = None, floor: Optional[float] = None
                    ) -> Accuracy:
    """Hold every output present in both `out` and `exact` to the rule; `reference` is the reference run in
    the same precision (its error sets the budget; absent -> budget = floor only)."""
    keys = [k for k in out if k in exact and out[k] is not None and exact[k] is not None]
    if not keys:
        return Accuracy(None, None, None, None, "no output to compare")
    worst: Dict[str, float] = {}
    best_key, best_ratio, best = None, -1.0, (None, None)
    for k in keys:
        a = np.asarray(out[k])
        e = np.asarray(exact[k], dtype=np.float64)
        f = DEFAULT_FLOOR.get(a.dtype, 1e-5) if floor is None else floor
        fin = e[np.isfinite(e)]
        scale = max(1.0, float(np.max(np.abs(fin), initial=0.0)))
        ref_err = 0.0
        if reference is not None and reference.get(k) is not None:
            ref_err = array_error(reference[k], e)
            if not np.isfinite(ref_err):
                ref_err = 0.0               # a broken reference must not widen the budget
        budget = 2.0 * ref_err + f * scale
        err = array_error(a, e)
        ratio = err / budget if budget > 0 else (0.0 if err == 0 else float("inf"))
        worst[k] = ratio
        if ratio > best_ratio:
            best_key, best_ratio, best = k, ratio, (err, budget)
    err, budget = best
    return Accuracy(max_err=err, err_budget=budget, worst_output=best_key, correct=bool(err <= budget))
