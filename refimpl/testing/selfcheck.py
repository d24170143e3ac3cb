"""The registry behind `refimpl check`: small gradchecks and torch-parity checks per layer.

Each area registers its checks in refimpl/testing/selfchecks/<area>.py:

    @register_check("nn.Linear", "gradcheck f64")
    def _():
        return gradcheck(Linear(5, 3), [rng.standard_normal((2, 5))], raise_on_failure=False)

A check returns a GradcheckReport or ParityReport (not raising); checks of kind "torch ..." are
skipped when PyTorch is not installed.
"""
from __future__ import annotations

import importlib
import pkgutil
import time
import traceback
from dataclasses import dataclass
from typing import Callable, List

_REGISTRY: List["Check"] = []


@dataclass
class Check:
    layer: str
    kind: str
    fn: Callable
    needs_torch: bool


@dataclass
class CheckResult:
    layer: str
    kind: str
    status: str          # "pass" | "FAIL" | "skip" | "ERROR"
    max_err: float
    seconds: float
    detail: str = ""


def register_check(layer: str, kind: str, needs_torch: bool = None):
    def deco(fn):
        _REGISTRY.append(Check(layer, kind, fn, kind.startswith("torch") if needs_torch is None else needs_torch))
        return fn
    return deco


def load_all_checks() -> List[Check]:
    from . import selfchecks
    for mod in pkgutil.iter_modules(selfchecks.__path__):
        importlib.import_module(f"{selfchecks.__name__}.{mod.name}")
    return list(_REGISTRY)


def _max_err(report) -> float:
    errs = [getattr(r, "abs_err", getattr(r, "max_abs", 0.0)) for r in report]
    return max(errs) if errs else 0.0


def run_checks(pattern: str = "", torch_available: bool = None) -> List[CheckResult]:
    if torch_available is None:
        try:
            import torch
            torch_available = True
        except ImportError:
            torch_available = False
    if torch_available:  # pay torch's lazy autograd imports once, not in the first check's time
        import torch
        x = torch.ones(2, dtype=torch.float64, requires_grad=True)
        (x * x).sum().backward()
    results = []
    for check in load_all_checks():
        if pattern and pattern.lower() not in check.layer.lower():
            continue
        if check.needs_torch and not torch_available:
            results.append(CheckResult(check.layer, check.kind, "skip", float("nan"), 0.0, "torch not installed"))
            continue
        t0 = time.perf_counter()
        try:
            report = check.fn()
            ok = report.ok
            detail = "" if ok else report.format()
            results.append(CheckResult(check.layer, check.kind, "pass" if ok else "FAIL", _max_err(report),
                                       time.perf_counter() - t0, detail))
        except Exception:  # a crash is reported as such, never hidden
            results.append(CheckResult(check.layer, check.kind, "ERROR", float("nan"), time.perf_counter() - t0,
                                       traceback.format_exc()))
    return results


def format_results(results: List[CheckResult]) -> str:
    lines = [f"{'layer':34s} {'check':18s} {'status':6s} {'max abs err':>12s} {'time':>7s}",
             "-" * 82]
    for r in results:
        err = "-" if r.max_err != r.max_err else f"{r.max_err:.2e}"
        lines.append(f"{r.layer:34s} {r.kind:18s} {r.status:6s} {err:>12s} {r.seconds:6.2f}s")
    n = {s: sum(r.status == s for r in results) for s in ("pass", "FAIL", "ERROR", "skip")}
    lines.append("-" * 82)
    lines.append(f"{n['pass']} passed, {n['FAIL'] + n['ERROR']} failed, {n['skip']} skipped")
    return "\n".join(lines)
