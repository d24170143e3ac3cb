"""Writers for a BenchRun: results.json, results.md (markdown tables) and PNG plots.

    paths = write_outputs(run, "bench_results")      # {"json": ..., "markdown": ..., "plots": [...]}

Markdown: the environment (cores, thread counts, load), the notes (e.g. --quick sizes), one table row
per measured (case, op, impl) - median ms, speedup against the case's baseline (torch, or SciPy for
matching) and against the reference (> 1 = faster), the first call apart (Numba compile / cache load),
the error against the float64 reference and its budget - then issue 8's targets and what was skipped.
Plots: one PNG per group (median time per implementation, log scale) and speedup.png (every kernel's
speedup against its baseline, targets marked).
"""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Dict, List, Optional

from .records import IMPLS, BenchRun, Result, baseline_of, speedup, write_json

__all__ = ["markdown_report", "write_markdown", "plot_groups", "plot_speedups", "write_outputs"]

# matplotlib colours per implementation, fixed so plots compare across runs
COLORS = {"reference": "#7f7f7f", "numba": "#1f77b4", "cuda": "#2ca02c", "torch": "#d62728", "torch-cuda": "#9467bd",
          "scipy": "#ff7f0e"}


def _ms(s: Optional[float]) -> str:
    if s is None:
        return "-"
    ms = s * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def _x(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.2f}x"


def _e(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.1e}"


def _ok(r: Result) -> str:
    if r.correct is None:
        return "-"
    return "ok" if r.correct else ("**WRONG**" if r.impl in ("numba", "cuda") else "over budget")


def _env_lines(env: Dict) -> List[str]:
    v = env.get("versions", {})
    lines = [f"- machine: {env.get('host', '?')}, {env.get('cpu_count', '?')} cores usable "
             f"({env.get('platform', '?')})",
             f"- threads: torch {env.get('torch_threads')} (interop {env.get('torch_interop_threads')}), "
             f"numba {env.get('numba_threads')} ({env.get('numba_threading_layer')}), "
             f"NumPy BLAS {env.get('numpy_blas')} {env.get('thread_env') or '(no thread variables set)'}",
             f"- load average (1 min): {env.get('load_avg_1min_start')} at start, "
             f"{env.get('load_avg_1min_end')} at end",
             "- versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val),
             f"- CUDA: {env.get('cuda')}",
             f"- started {env.get('time')}"]
    return lines


def markdown_report(run: BenchRun, title: str = "refimpl benchmark") -> str:
    opts = run.options
    out = [f"# {title}", ""]
    out += [f"> {n}" for n in run.notes] + ([""] if run.notes else [])
    out += _env_lines(run.environment)
    wall = f"{run.wall_s:.0f} s" if run.wall_s is not None else "?"
    out += [f"- size: {opts.get('size')}; median of up to {opts.get('repeats')} repeats after {opts.get('warmup')} "
            f"warm-up call(s) (repeats stop after {opts.get('budget_s')} s); run took {wall}", ""]
    out += ["Times are medians in ms. `vs baseline` / `vs ref` = baseline (or reference) time / this time: "
            "above 1 is faster (cuda rows against torch-cuda where it ran). `first call` is the first warm-up "
            "call, excluded from the median (for numba: JIT compile or cache load). `max err` is against the "
            "float64 reference on the same inputs, judged by err <= 2 x err(reference in float32) + floor "
            "(`budget`).", ""]
    out += ["| case | op | impl | median ms | vs baseline | vs ref | first call s | max err | budget | correct |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    ran = [r for r in run.results if r.status == "ok"]
    for r in ran:
        baseline = baseline_of(run.results, r)
        vs_base = speedup(run.results, r.case, r.op, r.impl, baseline) if r.impl != baseline else None
        vs_ref = speedup(run.results, r.case, r.op, r.impl, "reference") if r.impl != "reference" else None
        base = f"{_x(vs_base)} {baseline}" if vs_base is not None else "-"
        err = _e(r.max_err) + (f" ({r.worst_output})" if r.worst_output and r.correct is False else "")
        out.append(f"| {r.case} | {r.op} | {r.impl} | {_ms(r.median_s)} | {base} | {_x(vs_ref)} | "
                   f"{'-' if r.first_call_s is None else f'{r.first_call_s:.2f}'} | {err} | {_e(r.err_budget)} | "
                   f"{_ok(r)} |")
    if run.targets:
        out += ["", "## Issue 8 targets", "", "| target | measured | needed | met |", "|---|---:|---:|---|"]
        for t in run.targets:
            met = "-" if t.met is None else ("yes" if t.met else "**no**")
            out.append(f"| {t.text or f'{t.case} {t.op}: {t.impl} vs {t.versus}'} | {_x(t.measured)} | "
                       f"{_x(t.min_speedup)} | {met} |")
    elif opts.get("size") != "full":
        out += ["", "Issue 8's targets are evaluated only at the full sizes (`refimpl bench` without --quick)."]
    wrong = run.wrong
    if wrong:
        out += ["", "## Wrong results", ""]
        out += [f"- {r.case} {r.op} {r.impl}: max err {_e(r.max_err)} in {r.worst_output} > budget "
                f"{_e(r.err_budget)}" for r in wrong]
    noted = OrderedDict()
    for r in run.results:
        if r.status == "ok" and r.note:
            noted.setdefault(r.note, []).append(f"{r.case} {r.op} {r.impl}")
    if noted:
        out += ["", "## Notes", ""] + [f"- {note}: {', '.join(rows)}" for note, rows in noted.items()]
    if run.overheads:
        out += ["", "## Untimed work per case (s)", "",
                "| case | build (models: both frameworks) | float64 reference |", "|---|---:|---:|"]
        out += [f"| {o.get('case')} | {o.get('build_s', '-')} | {o.get('exact_s', '-')} |" for o in run.overheads]
    errors = [r for r in run.results if r.status == "error"]
    if errors:
        out += ["", "## Errors", ""] + [f"- {r.case} {r.op} {r.impl}: {r.note}" for r in errors]
    skipped: "OrderedDict[str, List[str]]" = OrderedDict()
    for r in run.results:
        if r.status == "skipped":
            skipped.setdefault(f"{r.impl}: {r.note}", [])
            if r.case not in skipped[f"{r.impl}: {r.note}"]:
                skipped[f"{r.impl}: {r.note}"].append(r.case)
    if skipped:
        out += ["", "## Not measured", ""] + [f"- {k} ({', '.join(v)})" for k, v in skipped.items()]
    return "\n".join(out) + "\n"


def write_markdown(run: BenchRun, path) -> str:
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(markdown_report(run))
    return path


def _pyplot():
    import matplotlib
    matplotlib.use("Agg", force=True)      # files only, no display
    import matplotlib.pyplot as plt
    return plt


def plot_groups(run: BenchRun, out_dir) -> List[str]:
    """One PNG per group: horizontal bars of the median time (ms, log scale) per (case, op), one bar per impl."""
    plt = _pyplot()
    paths = []
    groups = OrderedDict()
    for r in run.results:
        if r.status == "ok" and r.median_s:
            groups.setdefault(r.group, []).append(r)
    for group, rs in groups.items():
        rows = list(OrderedDict.fromkeys((r.case, r.op) for r in rs))
        impls = [i for i in IMPLS if any(r.impl == i for r in rs)]
        h = 0.8 / max(1, len(impls))
        fig, ax = plt.subplots(figsize=(11, 1.5 + 0.28 * len(rows) * max(1, len(impls))))
        for j, impl in enumerate(impls):
            ys, xs = [], []
            for i, (case, op) in enumerate(rows):
                m = [r for r in rs if r.case == case and r.op == op and r.impl == impl]
                if m:
                    ys.append(i + (j - (len(impls) - 1) / 2) * h)
                    xs.append(m[0].median_s * 1e3)
            ax.barh(ys, xs, height=h, label=impl, color=COLORS.get(impl))
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([f"{c}\n{o}" for c, o in rows], fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("median time per call (ms, log scale) - shorter is faster")
        ax.set_title(f"{group} ({run.options.get('size')} sizes, {run.environment.get('cpu_count')} cores)")
        ax.legend(fontsize=7, loc="best")
        ax.grid(axis="x", which="both", alpha=0.3)
        fig.tight_layout()
        path = os.path.join(os.fspath(out_dir), f"{group}.png")
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)
    return paths


def plot_speedups(run: BenchRun, out_dir) -> Optional[str]:
    """speedup.png: each kernel's (numba, cuda) speedup against its case's baseline, log scale, targets marked."""
    plt = _pyplot()
    rows = []
    for r in run.results:
        if r.status == "ok" and r.impl in ("numba", "cuda"):
            baseline = baseline_of(run.results, r)
            s = speedup(run.results, r.case, r.op, r.impl, baseline)
            if s is not None:
                rows.append((f"{r.case} {r.op} [{r.impl} vs {baseline}]", s, r))
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(12, 1.2 + 0.35 * len(rows)))
    ys = range(len(rows))
    ax.barh(list(ys), [s for _, s, _ in rows], color=[COLORS.get(r.impl) if r.correct is not False else "black"
                                                      for _, _, r in rows])
    for y, (_, s, r) in zip(ys, rows):
        ax.text(s, y, f" {s:.2f}x" + (" WRONG" if r.correct is False else ""), va="center", fontsize=7)
        for t in run.targets:
            if (t.case, t.op, t.impl, t.versus) == (r.case, r.op, r.impl, baseline_of(run.results, r)):
                ax.plot([t.min_speedup], [y], marker="|", markersize=14, color="black")
    ax.axvline(1.0, color="gray", lw=1)
    ax.set_yticks(list(ys))
    ax.set_yticklabels([label for label, _, _ in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("speedup = baseline time / kernel time (> 1: faster; | marks an issue 8 target)")
    ax.set_title(f"kernel speedups ({run.options.get('size')} sizes)")
    from matplotlib.ticker import FuncFormatter, NullFormatter
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    fig.tight_layout()
    path = os.path.join(os.fspath(out_dir), "speedup.png")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def write_outputs(run: BenchRun, out_dir, *, plots: bool = True) -> Dict[str, object]:
    """results.json, results.md and (plots=True) the PNGs into out_dir; returns their paths."""
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    paths: Dict[str, object] = {"json": write_json(run, os.path.join(out_dir, "results.json")),
                                "markdown": write_markdown(run, os.path.join(out_dir, "results.md")), "plots": []}
    if plots:
        pngs = plot_groups(run, out_dir)
        sp = plot_speedups(run, out_dir)
        paths["plots"] = pngs + ([sp] if sp else [])
    return paths
