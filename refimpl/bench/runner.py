"""Run selected cases: build each workload, compute its float64 reference, time every implementation,
check every result, evaluate issue 8's targets. Shared by `refimpl bench` and benchmarks/*.py.

    run = run_benchmarks(select_cases("attention,ctc"), size="quick")

Order inside a workload: float64 reference first (untimed), then the measurements in the case's
order (reference, numba, cuda, baseline), each: warm-up (first call timed apart), repeats, then its
outputs checked against the float64 reference with the tolerance rule. A measurement that raises is
recorded as status "error" with the message; the run goes on.
"""
from __future__ import annotations

import gc
import time
from typing import Dict, List, Optional

import numpy as np

from .accuracy import output_accuracy
from .environment import collect_environment, load_average
from .records import BenchRun, Result
from .registry import SIZES, Case, Workload
from .timing import measure

__all__ = ["RUN_SETTINGS", "run_benchmarks", "run_workload"]

# repeats / warm-up calls / seconds of repeats per measurement, per size
RUN_SETTINGS = {"tiny": dict(repeats=2, warmup=1, budget_s=5.0, deadline_s=None),
                "quick": dict(repeats=3, warmup=1, budget_s=4.0, deadline_s=170.0),
                "full": dict(repeats=7, warmup=1, budget_s=60.0, deadline_s=None)}


def _snapshot(outputs) -> Dict[str, np.ndarray]:
    """Copy outputs so a later call (same model, same buffers) cannot change them."""
    return {k: (None if v is None else np.array(v, copy=True)) for k, v in dict(outputs).items()}


def _short(exc: BaseException) -> str:
    msg = f"{type(exc).__name__}: {exc}".strip()
    return msg if len(msg) <= 300 else msg[:297] + "..."


class _NoBar:
    total = 0

    def update(self, n=1):
        pass

    def set_description_str(self, s):
        pass

    def refresh(self):
        pass

    def close(self):
        pass


def _progress_bar(enabled: bool):
    if not enabled:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=0, unit="step", dynamic_ncols=True, leave=True)


def run_workload(w: Workload, *, repeats: int, warmup: int, budget_s: Optional[float], bar=None,
                 deadline: Optional[float] = None, overhead: Optional[dict] = None) -> List[Result]:
    """Every measurement of one workload, checked against its float64 reference. Past `deadline`
    (a time.perf_counter() value) each measurement is cut to one timed repeat after its warm-up."""
    bar = bar or _NoBar()
    overhead = {} if overhead is None else overhead
    results: List[Result] = []
    base = dict(case=w.case, group=w.group, params=dict(w.params), baseline=w.baseline)
    bar.set_description_str(f"{w.case}: float64 reference")
    exact, exact_error = None, None
    t0 = time.perf_counter()
    try:
        exact = _snapshot(w.exact())
    except Exception as exc:
        exact_error = f"float64 reference failed ({_short(exc)})"
    overhead["exact_s"] = round(time.perf_counter() - t0, 3)
    bar.update(1)
    reference: Dict[str, Dict[str, np.ndarray]] = {}
    for m in w.measurements:
        r = Result(op=m.op, impl=m.impl, note=m.note, **base)
        results.append(r)
        if m.skip is not None:
            r.status, r.note = "skipped", m.skip
            bar.update(1)
            continue
        bar.set_description_str(f"{w.case}: {m.impl} {m.op}")
        late = deadline is not None and time.perf_counter() > deadline
        try:
            timing, raw = measure(m.fn, repeats=1 if late else repeats, warmup=warmup,
                                  budget_s=0.0 if late else budget_s, sync=m.sync)
            outputs = _snapshot(m.outputs(raw))
            del raw
        except Exception as exc:
            r.status, r.note = "error", _short(exc)
            bar.update(1)
            continue
        if late:
            r.note = "; ".join(x for x in (r.note, "past the run's deadline: 1 repeat") if x)
        r.samples = list(timing.samples)
        r.median_s, r.min_s = timing.median_s, timing.min_s
        r.first_call_s, r.compile_s = timing.first_call_s, timing.compile_s
        if m.impl == "reference":
            reference[m.op] = outputs
        if exact is not None:
            acc = output_accuracy(outputs, exact, reference.get(m.op))
            r.max_err, r.err_budget, r.worst_output, r.correct = acc.max_err, acc.err_budget, acc.worst_output, \
                acc.correct
            if acc.note:
                r.note = "; ".join(x for x in (r.note, acc.note) if x)
        elif exact_error:
            r.note = "; ".join(x for x in (r.note, exact_error) if x)
        del outputs
        bar.update(1)
    return results


def run_benchmarks(cases: List[Case], *, size: str = "full", repeats: Optional[int] = None,
                   warmup: Optional[int] = None, budget_s: Optional[float] = None, progress: bool = True,
                   torch_threads: Optional[int] = None, notes: Optional[List[str]] = None,
                   deadline_s: Optional[float] = None) -> BenchRun:
    """Run `cases` at `size` ("tiny" | "quick" | "full"); returns the BenchRun (targets evaluated).

    deadline_s (default by size: --quick 170 s): after that many seconds every remaining measurement
    takes one timed repeat (after its warm-up), so a slow or loaded machine still finishes in time."""
    if size not in SIZES:
        raise ValueError(f"size: expected one of {SIZES}, got {size!r}")
    settings = dict(RUN_SETTINGS[size])
    for k, v in (("repeats", repeats), ("warmup", warmup), ("budget_s", budget_s), ("deadline_s", deadline_s)):
        if v is not None:
            settings[k] = v
    t0 = time.perf_counter()
    deadline = None if settings.get("deadline_s") is None else t0 + settings["deadline_s"]
    measure_settings = {k: settings[k] for k in ("repeats", "warmup", "budget_s")}
    run = BenchRun(environment=collect_environment(torch_threads),
                   options=dict(size=size, cases=[c.name for c in cases], **settings), notes=list(notes or []))
    if size == "quick":
        run.notes.append("--quick sizes, NOT the real models' / issue 8's sizes: "
                         + "; ".join(c.quick_note for c in cases if c.quick_note))
    elif size == "tiny":
        run.notes.append("tiny smoke-test sizes: the timings mean nothing")
    bar = _progress_bar(progress)
    try:
        for case in cases:
            bar.set_description_str(f"{case.name}: building")
            tb = time.perf_counter()
            try:
                workloads = case.build(size)
            except Exception as exc:
                run.results.append(Result(case=case.name, group=case.group, op="build", impl="reference",
                                          status="error", note=_short(exc)))
                continue
            build_s = round(time.perf_counter() - tb, 3)
            for w in workloads:
                bar.total += len(w.measurements) + 1
                bar.refresh()
                overhead = {"case": w.case, "build_s": build_s}
                build_s = 0.0                                   # one build makes all workloads of a case
                run.results += run_workload(w, bar=bar, deadline=deadline, overhead=overhead, **measure_settings)
                run.overheads.append(overhead)
                run.targets += [t.evaluate(run.results) for t in w.targets]
            del workloads
            gc.collect()
    finally:
        bar.close()
    run.environment["load_avg_1min_end"] = load_average()
    run.wall_s = time.perf_counter() - t0
    return run
