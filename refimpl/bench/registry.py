"""Case registry: what to measure, shared by `refimpl bench` and the scripts in benchmarks/.

A `Case` (one hot path or one model family) builds, for a size ("full": the real sizes and issue 8's
cases; "quick": scaled down for `--quick`; "tiny": a seconds-long smoke run for tests), a list of
`Workload`s: one problem size with its `Measurement`s (one callable per (impl, op)), the float64
reference outputs that judge them, and issue 8's targets for that size. Cases register themselves
with @register_case when refimpl.bench.hot_paths / refimpl.bench.model_cases are imported;
`select_cases("attention,bert")` picks by case name or group ("models" = every model family).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from ..core.errors import ConfigError
from .records import Target

SIZES = ("tiny", "quick", "full")

__all__ = ["SIZES", "Measurement", "Workload", "Case", "register_case", "registered_cases", "select_cases"]


@dataclass
class Measurement:
    """One implementation of one op. fn() is what is timed and returns the raw result; outputs(raw)
    (outside the timing) turns it into {name: numpy array} for the accuracy check. skip: a reason
    not to run it (missing backend). sync: called after each timed call (GPU)."""
    impl: str
    op: str
    fn: Optional[Callable[[], Any]] = None
    outputs: Callable[[Any], Dict[str, Any]] = lambda raw: raw
    skip: Optional[str] = None
    sync: Optional[Callable[[], None]] = None
    note: str = ""


@dataclass
class Workload:
    """One problem size of a case. exact() returns the float64 reference outputs (a superset of every op's
    outputs) and is called once; baseline names the comparison column ("torch", or "scipy" for matching)."""
    case: str
    group: str
    params: Dict[str, Any]
    measurements: List[Measurement]
    exact: Callable[[], Dict[str, Any]]
    baseline: str = "torch"
    targets: List[Target] = field(default_factory=list)
    note: str = ""


@dataclass
class Case:
    """name: what --only matches ("attention", "bert"); group: its family ("attention", "models").
    build(size) -> workloads, size one of SIZES; quick_note says how --quick scaled it down."""
    name: str
    group: str
    build: Callable[[str], List[Workload]]
    description: str = ""
    quick_note: str = ""


_CASES: Dict[str, Case] = {}


def register_case(case: Case) -> Case:
    if case.name in _CASES:
        raise ConfigError(f"register_case: a case named {case.name!r} is already registered")
    _CASES[case.name] = case
    return case


def registered_cases() -> List[Case]:
    """Every case, hot paths first then models, in registration order (imports the case modules)."""
    from . import hot_paths, model_cases  # noqa: F401  (registration on import)
    return list(_CASES.values())


def select_cases(only: Optional[str] = None) -> List[Case]:
    """Cases whose name or group is in the comma-separated `only` (None/"" = all). Unknown names raise
    ConfigError listing the known ones."""
    cases = registered_cases()
    if not only:
        return cases
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    known = {c.name for c in cases} | {c.group for c in cases}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise ConfigError(f"--only: unknown case(s) {unknown}; known: {sorted(known)}")
    return [c for c in cases if c.name in wanted or c.group in wanted]
