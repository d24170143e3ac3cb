"""Result records of a benchmark run and their JSON form.

One `Result` per (case, op, impl): its timing (median of repeats, first call apart), its error
against the float64 reference and the error budget of the kernel tolerance rule
(refimpl/testing/kernel_tolerance.py):

    err(impl vs float64 reference) <= 2 * err(reference in the same precision vs float64 reference) + floor

A `Target` is one of issue 8's performance goals ("numba forward >= 1x torch"), checked in the
report, never asserted. A `BenchRun` holds the environment (thread counts, versions, load), the
results and the targets; `to_json` / `from_json` round-trip it.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, List, Optional

__all__ = ["IMPLS", "KERNEL_IMPLS", "Result", "Target", "BenchRun", "baseline_of", "speedup", "write_json", "read_json"]

# columns in display order; "scipy" is the baseline of the matching cases (a plain SciPy loop);
# "torch-cuda" (torch on the GPU) is the baseline of the cuda rows where it was measured
IMPLS = ("reference", "numba", "cuda", "torch", "torch-cuda", "scipy")
KERNEL_IMPLS = ("numba", "cuda")           # a wrong result of these fails `refimpl bench`
STATUSES = ("ok", "skipped", "error")


@dataclass
class Result:
    """One measured (or skipped) implementation of one operation of one case.

    case: display name with the size ("attention B8 H12 L512 D64 f32"); group: the hot path or
    "models"; op: "forward" | "forward+backward" | "solve"; impl: one of IMPLS.
    Times in seconds; max_err/err_budget in the outputs' units (None where not compared);
    correct: max_err <= err_budget (None where not compared); worst_output: the output with the
    largest err/budget ratio.
    """
    case: str
    group: str
    op: str
    impl: str
    status: str = "ok"
    note: str = ""
    params: Dict[str, Any] = field(default_factory=dict)
    baseline: str = "torch"
    median_s: Optional[float] = None
    min_s: Optional[float] = None
    samples: List[float] = field(default_factory=list)
    first_call_s: Optional[float] = None
    compile_s: Optional[float] = None
    max_err: Optional[float] = None
    err_budget: Optional[float] = None
    worst_output: Optional[str] = None
    correct: Optional[bool] = None

    @property
    def key(self):
        return (self.case, self.op, self.impl)

    @property
    def wrong(self) -> bool:
        """A kernel that ran and failed the tolerance rule."""
        return self.impl in KERNEL_IMPLS and self.status == "ok" and self.correct is False


@dataclass
class Target:
    """Goal: `impl` at least `min_speedup` times faster than `versus` on (case, op)."""
    case: str
    op: str
    impl: str
    versus: str
    min_speedup: float
    text: str = ""
    measured: Optional[float] = None       # filled by evaluate()
    met: Optional[bool] = None

    def evaluate(self, results: List[Result]) -> "Target":
        self.measured = speedup(results, self.case, self.op, self.impl, self.versus)
        self.met = None if self.measured is None else self.measured >= self.min_speedup
        return self


def _find(results: List[Result], case: str, op: str, impl: str) -> Optional[Result]:
    for r in results:
        if r.case == case and r.op == op and r.impl == impl and r.status == "ok" and r.median_s:
            return r
    return None


def baseline_of(results: List[Result], r: Result) -> str:
    """The comparison column of a row: the case's baseline, but torch-cuda for the cuda rows when measured."""
    if r.impl == "cuda" and _find(results, r.case, r.op, "torch-cuda") is not None:
        return "torch-cuda"
    return r.baseline


def speedup(results: List[Result], case: str, op: str, impl: str, versus: str) -> Optional[float]:
    """median(versus) / median(impl) for one case and op (> 1: impl is faster); None if either is missing."""
    a, b = _find(results, case, op, impl), _find(results, case, op, versus)
    if a is None or b is None:
        return None
    return b.median_s / a.median_s


@dataclass
class BenchRun:
    """A whole run: environment, options, results, targets, notes (e.g. which sizes --quick scaled down)."""
    environment: Dict[str, Any] = field(default_factory=dict)
    options: Dict[str, Any] = field(default_factory=dict)
    results: List[Result] = field(default_factory=list)
    targets: List[Target] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    wall_s: Optional[float] = None
    # untimed work per workload: {"case", "build_s", "exact_s"} (model construction, float64 reference run)
    overheads: List[Dict[str, Any]] = field(default_factory=list)

    @property
    def wrong(self) -> List[Result]:
        return [r for r in self.results if r.wrong]

    def to_dict(self) -> dict:
        return {"environment": self.environment, "options": self.options,
                "results": [asdict(r) for r in self.results], "targets": [asdict(t) for t in self.targets],
                "notes": list(self.notes), "wall_s": self.wall_s, "overheads": list(self.overheads)}

    @classmethod
    def from_dict(cls, d: dict) -> "BenchRun":
        names_r = {f.name for f in fields(Result)}
        names_t = {f.name for f in fields(Target)}

        def load(record: dict, names) -> dict:
            return {k: (_from_json_number(v) if k in _NUMERIC else v) for k, v in record.items() if k in names}
        return cls(environment=dict(d.get("environment", {})), options=dict(d.get("options", {})),
                   results=[Result(**load(r, names_r)) for r in d.get("results", [])],
                   targets=[Target(**load(t, names_t)) for t in d.get("targets", [])],
                   notes=list(d.get("notes", [])), wall_s=d.get("wall_s"), overheads=list(d.get("overheads", [])))


_NUMERIC = {"median_s", "min_s", "samples", "first_call_s", "compile_s", "max_err", "err_budget", "measured",
            "min_speedup"}


def _from_json_number(v):
    """Undo _json_safe for numeric fields: 'nan' / 'inf' / '-inf' strings back to floats."""
    if isinstance(v, list):
        return [_from_json_number(x) for x in v]
    if isinstance(v, str) and v in ("nan", "inf", "-inf"):
        return float(v)
    return v


def _json_safe(x):
    """NaN/inf are not JSON: write them as strings so the file stays standard JSON."""
    if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
        return repr(x)
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    return x


def write_json(run: BenchRun, path) -> str:
    """Write the run as standard JSON (NaN/inf as strings); returns the path."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(_json_safe(run.to_dict()), f, indent=1, allow_nan=False)
        f.write("\n")
    return path


def read_json(path) -> BenchRun:
    with open(os.fspath(path), encoding="utf-8") as f:
        return BenchRun.from_dict(json.load(f))
