"""The benchmark machinery (refimpl/bench): timing records, accuracy rule, JSON/markdown/PNG writers,
case selection, the runner on synthetic and tiny real cases, and `refimpl bench`'s exit codes.

No timing assertions: how fast anything is belongs in the benchmark output, not in unit tests.
"""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from refimpl.bench import registry
from refimpl.bench.accuracy import array_error, output_accuracy
from refimpl.bench.cli import main as bench_main, main_for
from refimpl.bench.records import BenchRun, Result, Target, read_json, speedup, write_json
from refimpl.bench.registry import Case, Measurement, Workload, select_cases
from refimpl.bench.report import markdown_report, write_outputs
from refimpl.bench.runner import run_benchmarks, run_workload
from refimpl.bench.timing import Timing, measure
from refimpl.core.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ------------------------------------------------------------------------------------------- timing
class FakeClock:
    """Each call advances by the next step (the cost of the call that just ran)."""

    def __init__(self, steps):
        self.t, self.steps, self.reads = 0.0, list(steps), 0

    def __call__(self):
        self.reads += 1
        if self.reads % 2 == 0:          # end of a timed call
            self.t += self.steps.pop(0)
        return self.t


def test_measure_excludes_warmup_and_takes_median():
    calls = []
    clock = FakeClock([10.0, 1.0, 3.0, 2.0])          # first call (compile) 10 s, then 1, 3, 2
    timing, value = measure(lambda: calls.append(1) or len(calls), repeats=3, warmup=1, clock=clock)
    assert len(calls) == 4 and value == 4
    assert timing.first_call_s == 10.0
    assert timing.samples == [1.0, 3.0, 2.0]
    assert timing.median_s == 2.0 and timing.min_s == 1.0
    assert timing.compile_s == 8.0
    d = timing.to_dict()
    assert d["median_s"] == 2.0 and d["compile_s"] == 8.0


def test_measure_budget_stops_repeats_and_sync_runs_each_call():
    synced = []
    timing, _ = measure(lambda: None, repeats=10, warmup=1, budget_s=4.0, sync=lambda: synced.append(1),
                        clock=FakeClock([1.0, 3.0, 3.0, 3.0, 3.0]))
    assert timing.samples == [3.0, 3.0]               # stops once 4 s of repeats are spent
    assert len(synced) == 3


def test_measure_without_warmup_and_bad_arguments():
    timing, _ = measure(lambda: None, repeats=2, warmup=0)
    assert timing.first_call_s is None and timing.compile_s is None and len(timing.samples) == 2
    with pytest.raises(ValueError, match="repeats"):
        measure(lambda: None, repeats=0)
    with pytest.raises(ValueError, match="warmup"):
        measure(lambda: None, warmup=-1)
    assert Timing().median_s is None


# ------------------------------------------------------------------------------------------- accuracy
def test_accuracy_rule_accepts_within_budget_and_flags_wrong():
    rng = np.random.default_rng(0)
    exact = rng.standard_normal((4, 5))
    ref32 = exact.astype(np.float32)
    ok = output_accuracy({"y": ref32.copy()}, {"y": exact}, {"y": ref32})
    assert ok.correct and ok.max_err <= ok.err_budget and ok.worst_output == "y"
    bad = ref32.copy()
    bad[1, 2] += 0.5
    acc = output_accuracy({"y": ref32, "g": bad}, {"y": exact, "g": exact}, {"y": ref32, "g": ref32})
    assert acc.correct is False and acc.worst_output == "g" and math.isclose(acc.max_err, 0.5, rel_tol=1e-5)


def test_accuracy_nonfinite_and_shape_mismatch_are_infinite_error():
    e = np.array([1.0, np.nan, np.inf])
    assert array_error(np.array([1.0, np.nan, np.inf], np.float32), e) == 0.0
    assert array_error(np.array([1.0, 0.0, np.inf]), e) == math.inf          # NaN missing
    assert array_error(np.array([1.0, np.nan, -np.inf]), e) == math.inf      # wrong infinity
    assert array_error(np.array([np.nan, np.nan, np.inf]), e) == math.inf    # NaN where finite
    assert array_error(np.zeros(2), np.zeros(3)) == math.inf
    assert output_accuracy({"a": np.zeros(2)}, {"b": np.zeros(2)}).correct is None


# ------------------------------------------------------------------------------------------- records
def _result(case="c", op="forward", impl="numba", median=1.0, **kw):
    return Result(case=case, group="g", op=op, impl=impl, median_s=median, samples=[median], **kw)


def test_speedup_and_targets():
    results = [_result(impl="numba", median=0.5), _result(impl="torch", median=2.0),
               _result(impl="reference", median=1.0), _result(impl="cuda", status="skipped", median=None)]
    assert speedup(results, "c", "forward", "numba", "torch") == 4.0
    assert speedup(results, "c", "forward", "cuda", "torch") is None
    met = Target("c", "forward", "numba", "torch", 2.0).evaluate(results)
    assert met.measured == 4.0 and met.met is True
    missed = Target("c", "forward", "numba", "reference", 3.0).evaluate(results)
    assert missed.met is False
    assert Target("c", "forward", "cuda", "torch", 1.0).evaluate(results).met is None


def test_json_round_trip_keeps_nan_and_inf(tmp_path):
    run = BenchRun(environment={"cpu_count": 2}, options={"size": "tiny"},
                   results=[_result(max_err=math.inf, err_budget=1e-5, correct=False),
                            _result(impl="torch", max_err=math.nan)],
                   targets=[Target("c", "forward", "numba", "torch", 1.0, measured=0.5, met=False)],
                   notes=["loaded machine"], wall_s=1.5, overheads=[{"case": "c", "build_s": 0.1}])
    path = write_json(run, tmp_path / "sub" / "r.json")
    json.loads(open(path).read())                      # standard JSON (no bare NaN/Infinity)
    back = read_json(path)
    assert back.results[0].max_err == math.inf and math.isnan(back.results[1].max_err)
    assert back.results[0].wrong and not back.results[1].wrong
    assert back.targets[0].met is False and back.notes == ["loaded machine"] and back.wall_s == 1.5
    assert back.overheads == run.overheads and back.environment == run.environment


# ------------------------------------------------------------------------------------------- report
def _sample_run():
    results = [_result(impl="reference", median=2.0, max_err=1e-7, err_budget=1e-5, correct=True),
               _result(impl="numba", median=0.5, max_err=1.0, err_budget=1e-5, correct=False, worst_output="dq"),
               _result(impl="torch", median=1.0, max_err=1e-7, err_budget=1e-5, correct=True),
               _result(impl="cuda", status="skipped", median=None, note="CuPy not installed")]
    targets = [Target("c", "forward", "numba", "torch", 1.0, "numba >= torch").evaluate(results)]
    return BenchRun(environment={"cpu_count": 2, "torch_threads": 2, "numba_threads": 2},
                    options={"size": "quick", "repeats": 3, "warmup": 1}, results=results, targets=targets,
                    notes=["loaded machine"], wall_s=3.0)


def test_markdown_report_rows_targets_wrong_and_skipped():
    md = markdown_report(_sample_run())
    assert "> loaded machine" in md
    assert "torch 2" in md and "numba 2" in md                        # thread counts reported
    row = next(line for line in md.splitlines() if line.startswith("| c | forward | numba |"))
    assert "2.00x torch" in row and "4.00x" in row and "**WRONG**" in row and "(dq)" in row
    assert "| numba >= torch | 2.00x | 1.00x | yes |" in md
    assert "## Wrong results" in md and "CuPy not installed" in md


def test_write_outputs_json_markdown_and_png(tmp_path):
    pytest.importorskip("matplotlib")
    paths = write_outputs(_sample_run(), tmp_path / "out")
    assert os.path.exists(paths["json"]) and os.path.exists(paths["markdown"])
    names = {os.path.basename(p) for p in paths["plots"]}
    assert names == {"g.png", "speedup.png"}
    for p in paths["plots"]:
        with open(p, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    no_plots = write_outputs(_sample_run(), tmp_path / "np", plots=False)
    assert no_plots["plots"] == [] and not any(n.endswith(".png") for n in os.listdir(tmp_path / "np"))


# ------------------------------------------------------------------------------------------- registry
def test_select_cases_by_name_group_and_unknown():
    names = [c.name for c in select_cases()]
    for n in ("attention", "depthwise_conv", "ctc", "matching", "bert", "gpt2", "vit", "convnext", "wav2vec2"):
        assert n in names
    assert [c.name for c in select_cases("ctc, bert")] == ["ctc", "bert"]
    assert {c.name for c in select_cases("models")} == {"bert", "gpt2", "vit", "convnext", "wav2vec2"}
    with pytest.raises(ConfigError, match="--only.*nope"):
        select_cases("attention,nope")
    with pytest.raises(ConfigError, match="already registered"):
        registry.register_case(Case("attention", "attention", lambda size: []))


# ------------------------------------------------------------------------------------------- runner
def _synthetic_case(name="synthetic", wrong=False):
    """reference / numba (optionally wrong) / torch on y = 2x, cuda skipped, one impl that raises."""
    x = np.linspace(-1, 1, 7).astype(np.float32)

    def build(size):
        ms = [Measurement("reference", "forward", fn=lambda: {"y": 2 * x}),
              Measurement("numba", "forward", fn=lambda: {"y": 2 * x + (1.0 if wrong else 0.0)}),
              Measurement("cuda", "forward", skip="no GPU"),
              Measurement("torch", "forward", fn=lambda: {"y": 2 * x}),
              Measurement("scipy", "forward", fn=lambda: 1 / 0)]
        t = Target(f"{name} n7", "forward", "numba", "torch", 1.0, "numba >= torch")
        return [Workload(f"{name} n7", "synthetic", {"n": 7}, ms, lambda: {"y": 2 * x.astype(np.float64)},
                         targets=[t])]
    return Case(name, "synthetic", build, "y = 2x", quick_note=f"{name}: nothing to scale")


def test_run_benchmarks_statuses_accuracy_and_targets():
    run = run_benchmarks([_synthetic_case(wrong=True)], size="quick", repeats=2, progress=False)
    by_impl = {r.impl: r for r in run.results}
    assert by_impl["reference"].status == "ok" and by_impl["reference"].correct
    assert len(by_impl["reference"].samples) == 2 and by_impl["reference"].first_call_s is not None
    assert by_impl["numba"].correct is False and by_impl["numba"].wrong
    assert by_impl["cuda"].status == "skipped" and by_impl["cuda"].note == "no GPU"
    assert by_impl["scipy"].status == "error" and "ZeroDivisionError" in by_impl["scipy"].note
    assert run.wrong == [by_impl["numba"]]
    assert len(run.targets) == 1 and run.targets[0].measured is not None
    assert any("--quick" in n and "nothing to scale" in n for n in run.notes)
    env = run.environment
    assert env["cpu_count"] >= 1 and "numba_threads" in env and "torch_threads" in env
    assert run.overheads[0]["case"] == "synthetic n7" and "exact_s" in run.overheads[0]


def test_run_workload_past_deadline_takes_one_repeat():
    w = _synthetic_case().build("tiny")[0]
    results = run_workload(w, repeats=5, warmup=1, budget_s=None, deadline=0.0)
    ok = [r for r in results if r.status == "ok"]
    assert ok and all(len(r.samples) == 1 and "deadline" in r.note for r in ok)


def test_failing_build_is_an_error_record():
    def build(size):
        raise RuntimeError("cannot build")
    run = run_benchmarks([Case("broken", "synthetic", build)], size="tiny", progress=False)
    assert [(r.case, r.status) for r in run.results] == [("broken", "error")]
    assert "cannot build" in run.results[0].note


def test_tiny_real_hot_path_case():
    """The depthwise case end to end at its tiny size: every present implementation within the rule."""
    run = run_benchmarks(select_cases("depthwise_conv"), size="tiny", repeats=1, progress=False)
    ok = [r for r in run.results if r.status == "ok"]
    assert {r.impl for r in ok} >= {"reference"}
    assert {r.op for r in ok} == {"forward", "forward+backward"}
    for r in ok:
        assert r.correct, (r.impl, r.op, r.max_err, r.err_budget)
    assert not [r for r in run.results if r.status == "error"]


def test_tiny_model_case_compares_parameter_gradients():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    run = run_benchmarks(select_cases("bert"), size="tiny", repeats=1, progress=False)
    assert not [r for r in run.results if r.status == "error"], [r.note for r in run.results]
    fb = {r.impl: r for r in run.results if r.op == "forward+backward" and r.status == "ok"}
    assert {"reference", "torch"} <= set(fb)
    for r in fb.values():
        assert r.correct, (r.impl, r.worst_output, r.max_err, r.err_budget)


# ------------------------------------------------------------------------------------------- CLI
def test_cli_tiny_run_writes_outputs_and_exits_zero(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "bench"
    rc = bench_main(["--tiny", "--only", "matching", "--out", str(out), "--repeats", "1", "--no-progress",
                     "--note", "unit test"])
    assert rc == 0
    files = set(os.listdir(out))
    assert {"results.json", "results.md", "matching.png"} <= files
    md = (out / "results.md").read_text()
    assert "> unit test" in md and "matching" in md
    assert "| case | op | impl |" in capsys.readouterr().out


def test_cli_exit_codes_bad_only_list_and_wrong_kernel(tmp_path, monkeypatch, capsys):
    assert bench_main(["--only", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown case" in capsys.readouterr().err
    assert bench_main(["--tiny", "--repeats", "0", "--only", "ctc", "--out", str(tmp_path)]) == 2
    assert bench_main(["--list"]) == 0
    assert "attention" in capsys.readouterr().out
    monkeypatch.setitem(registry._CASES, "synthetic_wrong", _synthetic_case("synthetic_wrong", wrong=True))
    rc = bench_main(["--tiny", "--only", "synthetic_wrong", "--out", str(tmp_path / "w"), "--no-plot",
                     "--no-progress", "--quiet"])
    assert rc == 1
    assert "outside the tolerance rule" in capsys.readouterr().err


def test_benchmark_script_entry_point(tmp_path, monkeypatch):
    monkeypatch.setitem(registry._CASES, "synthetic_ok", _synthetic_case("synthetic_ok"))
    rc = main_for("synthetic_ok", ["--tiny", "--out", str(tmp_path), "--no-plot", "--no-progress", "--quiet"])
    assert rc == 0 and os.path.exists(tmp_path / "results.json")
    assert read_json(tmp_path / "results.json").options["cases"] == ["synthetic_ok"]


def test_benchmarks_scripts_parse_help():
    for script in ("bench_attention.py", "bench_depthwise_conv.py", "bench_ctc.py", "bench_matching.py",
                   "bench_models.py"):
        path = os.path.join(ROOT, "benchmarks", script)
        proc = subprocess.run([sys.executable, path, "--help"], capture_output=True, text=True, cwd=ROOT,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "--quick" in proc.stdout
