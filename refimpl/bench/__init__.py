"""Benchmark machinery shared by `refimpl bench` and the scripts in benchmarks/.

timing (measure, Timing), records (Result, Target, BenchRun, JSON), accuracy (error vs the float64
reference, the kernel tolerance rule), registry (Case, Workload, Measurement, select_cases),
hot_paths / model_cases (the registered cases), runner (run_benchmarks), report (markdown, PNG),
cli (`refimpl bench`).
"""
from .records import BenchRun, Result, Target, read_json, speedup, write_json
from .registry import Case, Measurement, Workload, register_case, registered_cases, select_cases
from .timing import Timing, measure

__all__ = ["Timing", "measure", "Result", "Target", "BenchRun", "speedup", "write_json", "read_json",
           "Case", "Workload", "Measurement", "register_case", "registered_cases", "select_cases",
           "run_benchmarks", "write_outputs", "markdown_report"]


def __getattr__(name):
    # the runner and writers import numpy/matplotlib lazily
    if name == "run_benchmarks":
        from .runner import run_benchmarks
        return run_benchmarks
    if name in ("write_outputs", "markdown_report"):
        from . import report
        return getattr(report, name)
    raise AttributeError(name)
