"""The tolerance rule for fast kernels (DESIGN.md, Kernels):

    err(kernel vs float64 reference) <= 2 * err(reference in the same precision vs float64 reference) + floor

err is the max abs difference. A float64 kernel is held to the float64 reference's own rounding (the
reference run in float64 on the same inputs is exact by definition, so its error term is 0 and only
`floor` remains); a float32 kernel may be as wrong as the float32 reference, twice over, but no worse.
The floor absorbs the case where the float32 reference happens to be exact on an element.
"""
from __future__ import annotations

import numpy as np

__all__ = ["kernel_error_budget", "assert_kernel_within_rule", "DEFAULT_FLOOR"]

DEFAULT_FLOOR = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}


def kernel_error_budget(reference_same_precision, reference_float64, floor: float) -> float:
    """2 * max|ref_same - ref64| + floor."""
    ref = np.asarray(reference_same_precision, np.float64)
    exact = np.asarray(reference_float64, np.float64)
    return 2.0 * float(np.max(np.abs(ref - exact), initial=0.0)) + floor


def assert_kernel_within_rule(kernel_out, reference_same_precision, reference_float64, *, floor=None,
                              scale: float = 1.0, name: str = "output") -> float:
    """Assert the rule for one array; returns the kernel's error. `scale` multiplies the floor (e.g. by the
    magnitude of the values, for sums over many terms). Shapes and dtype must match the same-precision
    reference exactly; NaN/inf must sit where the reference has them."""
    k = np.asarray(kernel_out)
    ref = np.asarray(reference_same_precision)
    if k.shape != ref.shape:
        raise AssertionError(f"{name}: kernel shape {k.shape} != reference shape {ref.shape}")
    if k.dtype != ref.dtype:
        raise AssertionError(f"{name}: kernel dtype {k.dtype} != reference dtype {ref.dtype}")
    exact = np.asarray(reference_float64, np.float64)
    nonfinite = ~np.isfinite(exact)
    if (np.isnan(k) != np.isnan(exact)).any() or (np.isinf(k) & ~np.isinf(exact)).any() \
            or (k[nonfinite & ~np.isnan(exact)] != exact[nonfinite & ~np.isnan(exact)]).any():
        raise AssertionError(f"{name}: NaN/inf positions or values differ from the float64 reference")
    f = DEFAULT_FLOOR.get(ref.dtype, 1e-5) if floor is None else floor
    finite = ~nonfinite
    budget = kernel_error_budget(ref[finite], exact[finite], f * scale)
    err = float(np.max(np.abs(k[finite].astype(np.float64) - exact[finite]), initial=0.0))
    if err > budget:
        raise AssertionError(f"{name}: kernel error {err:.3e} vs float64 reference exceeds the budget "
                             f"{budget:.3e} (2 x reference error in {ref.dtype} + floor {f * scale:.1e})")
    return err
