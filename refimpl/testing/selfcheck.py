"""The registry behind `refimpl check`: small gradchecks and torch-parity checks per layer.

Each area registers its checks in refimpl/testing/selfchecks/<area>.py:

    @register_check("nn.Linear", "gradcheck f64")
    def _():
        return gradcheck(Linear(5, 3), [rng.standard_normal((2, 5))], raise_on_failure=False)

A check returns a GradcheckReport or ParityReport (not raising); checks of kind "torch ..." are
skipped when PyTorch is not installed.

Most layers get the same three checks, "gradcheck f64", "torch f64" and "torch f32"; register them in one
call with `register_layer_checks` (a Module against a torch.nn.Module), `register_function_checks` (a
function and its backward against a torch function), or `register_standard_checks` (your own two
callables, for checks that need a setup of their own).
"""
from __future__ import annotations

import importlib
import pkgutil
import time
import traceback
import warnings
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import numpy as np

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
    """Decorator: register fn() -> (passed, max_error, detail) as one `refimpl check` row (layer, kind);
    needs_torch defaults to kind starting with "torch"."""
    def deco(fn):
        _REGISTRY.append(Check(layer, kind, fn, kind.startswith("torch") if needs_torch is None else needs_torch))
        return fn
    return deco


def register_standard_checks(layer: str, gradcheck_f64: Callable, torch_parity: Callable) -> None:
    """Register the three checks every layer gets: "gradcheck f64", "torch f64" and "torch f32".

    gradcheck_f64() -> GradcheckReport; torch_parity(dtype) -> ParityReport, called with np.float64 and
    np.float32.
    """
    register_check(layer, "gradcheck f64")(gradcheck_f64)
    register_check(layer, "torch f64")(lambda: torch_parity(np.float64))
    register_check(layer, "torch f32")(lambda: torch_parity(np.float32))


def register_layer_checks(layer: str, make_ref: Callable, make_torch: Callable, make_inputs: Callable, *,
                          kwargs: Optional[dict] = None, torch_kwargs: Optional[dict] = None,
                          ignore_torch_warnings: Sequence[type] = ()) -> None:
    """The three standard checks of a refimpl Module against a torch.nn.Module.

    make_ref(dtype) -> a new refimpl Module; make_torch(torch) -> a new torch.nn.Module (built after
    torch.manual_seed(0); its weights are loaded into the refimpl module); make_inputs(dtype) -> the list of
    positional inputs. kwargs / torch_kwargs: extra forward keyword arguments (as in
    compare_module_with_torch). ignore_torch_warnings: warning categories silenced during the torch
    comparison (e.g. UserWarning for torch's note on even-kernel "same" padding).
    gradcheck f64 runs on make_ref(np.float64) and make_inputs(np.float64).
    """
    from .gradcheck import gradcheck
    from .parity import compare_module_with_torch

    def _gradcheck():
        return gradcheck(make_ref(np.float64), make_inputs(np.float64), kwargs=kwargs, raise_on_failure=False)

    def _compare(dtype):
        import torch
        torch.manual_seed(0)
        return compare_module_with_torch(make_ref(dtype), make_torch(torch), make_inputs(dtype), dtype=dtype,
                                         kwargs=kwargs, torch_kwargs=torch_kwargs)

    def _torch(dtype):
        if not ignore_torch_warnings:
            return _compare(dtype)
        with warnings.catch_warnings():
            for category in ignore_torch_warnings:
                warnings.simplefilter("ignore", category)
            return _compare(dtype)

    register_standard_checks(layer, _gradcheck, _torch)


def register_function_checks(layer: str, fn: Callable, fn_backward: Callable, make_torch_fn: Callable,
                             make_inputs: Callable) -> None:
    """The three standard checks of a function `fn` and its `fn_backward` against a torch function.

    make_inputs(dtype) -> (inputs, kwargs): the positional inputs (float ones are differentiated) and the
    keyword arguments of fn, e.g. ([x], dict(target=t, reduction="mean")); fn_backward(*grad_outputs,
    *inputs, **kwargs) as gradcheck expects. make_torch_fn(torch) -> the torch function; it gets the same
    keyword arguments, numpy arrays among them turned into tensors with torch.from_numpy.
    """
    from .gradcheck import gradcheck
    from .parity import compare_function_with_torch

    def _gradcheck():
        inputs, kw = make_inputs(np.float64)
        return gradcheck(fn, inputs, backward=fn_backward, kwargs=kw, raise_on_failure=False)

    def _torch(dtype):
        import torch
        inputs, kw = make_inputs(dtype)
        torch_fn = make_torch_fn(torch)
        torch_kw = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        return compare_function_with_torch(lambda *xs: fn(*xs, **kw), lambda *gs: fn_backward(*gs, *inputs, **kw),
                                           lambda *ts: torch_fn(*ts, **torch_kw), inputs, dtype=dtype)

    register_standard_checks(layer, _gradcheck, _torch)


def load_all_checks() -> List[Check]:
    """Import every module of refimpl.testing.selfchecks (each registers its rows) and return the registry."""
    from . import selfchecks
    for mod in pkgutil.iter_modules(selfchecks.__path__):
        importlib.import_module(f"{selfchecks.__name__}.{mod.name}")
    return list(_REGISTRY)


def _max_err(report) -> float:
    errs = [getattr(r, "abs_err", getattr(r, "max_abs", 0.0)) for r in report]
    return max(errs) if errs else 0.0


def run_checks(pattern: str = "", torch_available: bool = None) -> List[CheckResult]:
    """Run the registered checks whose layer name contains `pattern`; torch rows are skipped without torch."""
    if torch_available is None:
        try:
            import torch
            torch_available = True
        except ImportError:
            torch_available = False
    if torch_available:  # pay torch's lazy autograd imports once, not in the first check's time
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
    """The `refimpl check` table: layer, kind, status, max error, time; and a pass/fail/skip summary line."""
    lines = [f"{'layer':34s} {'check':18s} {'status':6s} {'max abs err':>12s} {'time':>7s}",
             "-" * 82]
    for r in results:
        err = "-" if r.max_err != r.max_err else f"{r.max_err:.2e}"
        lines.append(f"{r.layer:34s} {r.kind:18s} {r.status:6s} {err:>12s} {r.seconds:6.2f}s")
    n = {s: sum(r.status == s for r in results) for s in ("pass", "FAIL", "ERROR", "skip")}
    lines.append("-" * 82)
    lines.append(f"{n['pass']} passed, {n['FAIL'] + n['ERROR']} failed, {n['skip']} skipped")
    return "\n".join(lines)
