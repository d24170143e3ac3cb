"""Wall-clock timing: warm-up calls excluded, the median of repeats reported.

    timing, last = measure(fn, repeats=5, warmup=1, budget_s=30.0, sync=None)

The first warm-up call is timed on its own (`first_call_s`): for a Numba kernel it holds the JIT
compilation or the load from the on-disk cache, for torch the allocator's first touch. It is never
part of the median. `compile_s` = first_call_s - median_s (>= 0) is the estimate of that one-off cost.

budget_s bounds a measurement on a slow or loaded machine: after the warm-up, repeats stop once
their total passes budget_s (at least one timed repeat is always taken). `sync` is called after each
call, inside the timed region (a GPU stream synchronize), so asynchronous work is counted.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, List, Optional, Tuple

__all__ = ["Timing", "measure"]


@dataclass
class Timing:
    """Seconds per call: samples (timed repeats, in order), first_call_s (the first warm-up call)."""
    samples: List[float] = field(default_factory=list)
    first_call_s: Optional[float] = None
    warmup: int = 0

    @property
    def median_s(self) -> Optional[float]:
        return statistics.median(self.samples) if self.samples else None

    @property
    def min_s(self) -> Optional[float]:
        return min(self.samples) if self.samples else None

    @property
    def mean_s(self) -> Optional[float]:
        return statistics.fmean(self.samples) if self.samples else None

    @property
    def compile_s(self) -> Optional[float]:
        """One-off cost of the first call (JIT compile / cache load): first_call_s - median_s, at least 0."""
        if self.first_call_s is None or not self.samples:
            return None
        return max(0.0, self.first_call_s - self.median_s)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(median_s=self.median_s, min_s=self.min_s, mean_s=self.mean_s, compile_s=self.compile_s)
        return d


def measure(fn: Callable[[], Any], *, repeats: int = 5, warmup: int = 1, budget_s: Optional[float] = None,
            sync: Optional[Callable[[], None]] = None, clock: Callable[[], float] = time.perf_counter
            ) -> Tuple[Timing, Any]:
    """Time fn() (no arguments): `warmup` untimed calls (the first one's time kept apart), then up to
    `repeats` timed calls. Returns (Timing, the value of the last call)."""
    if repeats < 1:
        raise ValueError(f"repeats: expected >= 1, got {repeats}")
    if warmup < 0:
        raise ValueError(f"warmup: expected >= 0, got {warmup}")
    timing = Timing(warmup=warmup)
    value = None
    for i in range(warmup):
        t0 = clock()
        value = fn()
        if sync is not None:
            sync()
        if i == 0:
            timing.first_call_s = clock() - t0
    spent = 0.0
    for _ in range(repeats):
        t0 = clock()
        value = fn()
        if sync is not None:
            sync()
        dt = clock() - t0
        timing.samples.append(dt)
        spent += dt
        if budget_s is not None and spent >= budget_s:
            break
    return timing, value
