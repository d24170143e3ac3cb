"""Benchmark the matching hot path: reference vs numba vs cuda vs the baseline, same run, with correctness.

    python benchmarks/bench_matching.py [--quick] [--out DIR] [--repeats N] [--note TEXT]

Same machinery and outputs as `refimpl bench --only matching` (refimpl/bench/): DIR/results.json,
DIR/results.md, DIR/<group>.png, DIR/speedup.png. Without --quick: issue 8's measurement case.
"""
import sys

from refimpl.bench.cli import main_for

if __name__ == "__main__":
    sys.exit(main_for("matching", description=__doc__))
