"""assert_close: elementwise comparison with a dtype tolerance and a report that locates the worst element."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .tolerances import tolerance_for


@dataclass
class Comparison:
    """Result of comparing two arrays: errors, where the worst one is, and whether it passed."""
    name: str
    shape: tuple
    max_abs: float
    max_rel: float
    worst_index: Optional[tuple]
    actual_at_worst: float
    expected_at_worst: float
    n_bad: int
    rtol: float
    atol: float
    ok: bool
    reason: str = ""

    def describe(self) -> str:
        head = f"{self.name or 'array'}: " if self.name else ""
        if self.reason:
            return head + self.reason
        return (f"{head}{self.n_bad} of {int(np.prod(self.shape)) if self.shape else 1} elements exceed "
                f"atol={self.atol:g} + rtol={self.rtol:g}*|expected|; max abs err {self.max_abs:.3e}, "
                f"max rel err {self.max_rel:.3e}; worst at index {self.worst_index}: "
                f"actual {self.actual_at_worst!r} vs expected {self.expected_at_worst!r} (shape {self.shape})")


def _as_array(x, what):
    if type(x).__module__.startswith("torch"):
        x = x.detach().cpu()
        if str(x.dtype) == "torch.bfloat16":
            x = x.float()
        x = x.numpy()
    return np.asarray(x)


def compare(actual, expected, *, dtype=None, rtol: Optional[float] = None, atol: Optional[float] = None,
            equal_nan: bool = False, name: str = "") -> Comparison:
    """Compare without raising; see assert_close for the rules."""
    a = _as_array(actual, "actual")
    e = _as_array(expected, "expected")
    if dtype is None:  # the less precise of the two decides the default tolerance
        floats = [x.dtype for x in (a, e) if np.issubdtype(x.dtype, np.floating)]
        dtype = max(floats, key=lambda d: np.finfo(d).eps) if floats else np.float64
    tol = tolerance_for(dtype)
    rtol = tol["rtol"] if rtol is None else rtol
    atol = tol["atol"] if atol is None else atol
    base = dict(name=name, shape=tuple(e.shape), rtol=rtol, atol=atol)
    if a.shape != e.shape:
        return Comparison(max_abs=np.inf, max_rel=np.inf, worst_index=None, actual_at_worst=np.nan,
                          expected_at_worst=np.nan, n_bad=-1, ok=False,
                          reason=f"shape mismatch: actual {a.shape} vs expected {e.shape}", **base)
    if a.size == 0:
        return Comparison(max_abs=0.0, max_rel=0.0, worst_index=None, actual_at_worst=np.nan,
                          expected_at_worst=np.nan, n_bad=0, ok=True, **base)
    a64 = a.astype(np.float64)
    e64 = e.astype(np.float64)
    nan_a, nan_e = np.isnan(a64), np.isnan(e64)
    # NaN never passes silently: a NaN in the reference is a failure too, unless equal_nan asks for
    # NaN at exactly the same places.
    nan_bad = (nan_a | nan_e) if not equal_nan else (nan_a ^ nan_e)
    inf_a, inf_e = np.isinf(a64), np.isinf(e64)
    inf_bad = (inf_a | inf_e) & ~(inf_a & inf_e & (a64 == e64))
    finite = ~(nan_a | nan_e | inf_a | inf_e)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.where(finite, np.abs(a64 - e64), 0.0)
    allowed = atol + rtol * np.abs(np.where(finite, e64, 0.0))
    bad = (diff > allowed) | nan_bad | inf_bad
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(finite & (diff > 0), diff / np.abs(e64), 0.0)
    n_bad = int(bad.sum())
    if n_bad:
        # worst = a non-finite mismatch if any, else the largest excess over the allowed error
        score = np.where(nan_bad | inf_bad, np.inf, diff - allowed)
        idx = np.unravel_index(int(np.argmax(score)), e.shape)
    else:
        idx = np.unravel_index(int(np.argmax(diff)), e.shape)
    return Comparison(max_abs=float(diff.max()) if not (nan_bad.any() or inf_bad.any()) else np.inf,
                      max_rel=float(rel.max()), worst_index=tuple(int(i) for i in idx),
                      actual_at_worst=float(a64[idx]), expected_at_worst=float(e64[idx]),
                      n_bad=n_bad, ok=n_bad == 0, **base)


def assert_close(actual, expected, *, dtype=None, rtol: Optional[float] = None, atol: Optional[float] = None,
                 equal_nan: bool = False, name: str = "") -> Comparison:
    """Assert |actual - expected| <= atol + rtol * |expected| elementwise.

    actual, expected: arrays (numpy, torch tensors or nested lists) of the same shape.
    dtype: the precision the values were computed in; picks rtol/atol from refimpl.testing.TOLERANCES
        (default: the less precise dtype of the two inputs). Explicit rtol/atol override the table.
    NaN anywhere fails (unless equal_nan=True and NaN positions match); +-inf must match exactly.
    Raises AssertionError with the max abs/rel error, the worst index and the values there.
    Returns the Comparison on success.
    """
    c = compare(actual, expected, dtype=dtype, rtol=rtol, atol=atol, equal_nan=equal_nan, name=name)
    if not c.ok:
        raise AssertionError(c.describe())
    return c
