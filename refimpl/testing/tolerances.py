"""Per-dtype tolerance table: |actual - expected| <= atol + rtol * |expected|, elementwise.

float64 is the oracle's own precision: ~1e-10 agreement is expected between two correct float64
implementations of the same math (summation order differs). float32 follows the 1e-5 rule used by
Hugging Face's cross-framework equivalence tests, with rtol for large-magnitude values.
"""
import numpy as np

TOLERANCES = {
    np.dtype(np.float64): {"rtol": 1e-9, "atol": 1e-10},
    np.dtype(np.float32): {"rtol": 1e-4, "atol": 1e-5},
    np.dtype(np.float16): {"rtol": 1e-2, "atol": 1e-3},
}


def tolerance_for(dtype) -> dict:
    """The default {"rtol", "atol"} for comparisons computed in `dtype` (float64 if None)."""
    dt = np.dtype(np.float64 if dtype is None else dtype)
    if dt not in TOLERANCES:
        raise ValueError(f"dtype: no tolerance defined for {dt}; known: {[str(k) for k in TOLERANCES]}")
    return dict(TOLERANCES[dt])
