"""The stochastic-depth (drop path) schedule: per-block drop probabilities rising linearly with depth.

ConvNeXT, Swin and SegFormer in transformers give block j (counting over all stages) the drop
probability `torch.linspace(0, drop_path_rate, sum(depths))[j]`, computed in float32 (torch's default
dtype) and read back as a Python float. Train-mode parity in float64 needs those exact float32 values,
so `linspace_float32` reproduces torch's CPU kernel bit for bit:

    step = float32(end - start) / (steps - 1)                     (float32 division)
    v[i] = fma(step, i, start)                 for i <  steps // 2
    v[i] = fma(-step, steps - 1 - i, end)      for i >= steps // 2  (so v[-1] == end exactly)

The compiler contracts `end - step * k` into one fused multiply-add (a single rounding); evaluating
it with two float32 roundings, or in float64 (numpy.linspace), differs in the last bit for about half
of all (rate, steps) pairs.
"""
from __future__ import annotations

from fractions import Fraction
from typing import List, Sequence

import numpy as np

from ..core.errors import ConfigError

__all__ = ["linspace_float32", "drop_path_rates"]


def _round_float32(v: Fraction) -> np.float32:
    """The float32 nearest to the exact rational v (ties to even), i.e. one correctly rounded operation."""
    c = np.float32(float(v))                    # within one float32 ulp of the answer (double rounding)
    best = None
    for cand in (np.nextafter(c, np.float32(-np.inf)), c, np.nextafter(c, np.float32(np.inf))):
        err = abs(Fraction(float(cand)) - v)
        even = int(np.array(cand, np.float32).view(np.uint32)) % 2 == 0
        if best is None or err < best[0] or (err == best[0] and even):
            best = (err, cand)
    return np.float32(best[1])


def linspace_float32(start: float, end: float, steps: int) -> List[float]:
    """torch.linspace(start, end, steps) in float32 on the CPU, as Python floats (`.tolist()`)."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ConfigError(f"steps: expected a non-negative integer, got {steps!r}")
    if steps == 0:
        return []
    s, e = np.float32(start), np.float32(end)
    if steps == 1:
        return [float(s)]
    step = np.float32(e - s) / np.float32(steps - 1)                   # float32 arithmetic throughout
    half = steps // 2
    fs, fe, fstep = Fraction(float(s)), Fraction(float(e)), Fraction(float(step))
    out = []
    for i in range(steps):
        exact = fs + fstep * i if i < half else fe - fstep * (steps - 1 - i)   # the fma's exact value
        out.append(float(_round_float32(exact)))
    return out


def drop_path_rates(drop_path_rate: float, depths: Sequence[int]) -> List[List[float]]:
    """Per stage, the drop probability of each block: linspace_float32(0, rate, sum(depths)) split by depths."""
    if isinstance(drop_path_rate, bool) or not isinstance(drop_path_rate, (int, float, np.floating)) \
            or not 0.0 <= drop_path_rate < 1.0:
        raise ConfigError(f"drop_path_rate: expected a probability in [0, 1), got {drop_path_rate!r}")
    depths = [int(d) for d in depths]
    flat = linspace_float32(0.0, float(drop_path_rate), sum(depths))
    out, i = [], 0
    for d in depths:
        out.append(flat[i:i + d])
        i += d
    return out
