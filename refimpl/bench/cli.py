"""`refimpl bench`: reference vs numba vs cuda vs PyTorch on the hot paths and the model families.

    refimpl bench [--quick] [--only attention,ctc,bert,...] [--out DIR] [--repeats N] [--note TEXT]

Writes DIR/results.json, DIR/results.md and DIR/<group>.png + DIR/speedup.png, prints the markdown
table. Sizes: the real ones by default (issue 8's cases, BERT-base, GPT-2 small, ViT-B/16, ConvNeXT-T,
wav2vec2-base); --quick scales them down (the output says how) to finish in minutes on 2 cores;
--tiny is a seconds-long smoke run for tests. --list shows the cases.
Exit status: 0; 1 when a kernel (numba/cuda) gave a result outside the tolerance rule (fast but
wrong); 2 for bad arguments. Timing targets are reported, never turned into a failure.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from ..core.errors import ConfigError

__all__ = ["add_bench_parser", "add_bench_arguments", "run_bench", "main_for"]

DEFAULT_OUT = "bench_results"


def add_bench_arguments(p: argparse.ArgumentParser, *, only: bool = True) -> argparse.ArgumentParser:
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", const="quick", dest="size",
                      help="scaled-down sizes (fewer layers, shorter inputs); minutes on 2 cores")
    size.add_argument("--tiny", action="store_const", const="tiny", dest="size",
                      help="smoke-test sizes (seconds); the timings mean nothing")
    p.set_defaults(size="full")
    if only:
        p.add_argument("--only", default="", help="comma-separated cases or groups: attention, depthwise_conv, ctc, "
                                                   "matching, models, bert, gpt2, vit, convnext, wav2vec2")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT}/)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per measurement (default by size)")
    p.add_argument("--budget", type=float, default=None, help="seconds of repeats per measurement before stopping")
    p.add_argument("--deadline", type=float, default=None,
                   help="seconds after which each remaining measurement takes 1 repeat (default: --quick 170)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: the core count)")
    p.add_argument("--note", action="append", default=[], help="a line for the report (e.g. 'loaded machine')")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG plots")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("--quiet", action="store_true", help="do not print the table")
    return p


def add_bench_parser(subparsers) -> argparse.ArgumentParser:
    """Add `bench` to refimpl's sub-commands (refimpl/cli.py)."""
    p = subparsers.add_parser("bench", help="benchmark reference vs numba vs cuda vs PyTorch; JSON, markdown, PNG",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bench_arguments(p)
    p.set_defaults(func=run_bench)
    return p


def run_bench(args) -> int:
    from .registry import select_cases
    from .report import markdown_report, write_outputs
    from .runner import run_benchmarks
    try:
        cases = select_cases(getattr(args, "only", ""))
    except ConfigError as exc:
        print(f"refimpl bench: {exc}", file=sys.stderr)
        return 2
    if args.list:
        for c in cases:
            print(f"{c.name:15s} {c.group:15s} {c.description}")
        return 0
    if args.repeats is not None and args.repeats < 1:
        print(f"refimpl bench: --repeats: expected >= 1, got {args.repeats}", file=sys.stderr)
        return 2
    run = run_benchmarks(cases, size=args.size, repeats=args.repeats, budget_s=args.budget, deadline_s=args.deadline,
                         progress=not args.no_progress, torch_threads=args.threads, notes=args.note)
    paths = write_outputs(run, args.out, plots=not args.no_plot)
    if not args.quiet:
        print(markdown_report(run))
    print(f"wrote {paths['json']}, {paths['markdown']}" + "".join(f", {p}" for p in paths["plots"]))
    if run.wrong:
        print(f"refimpl bench: {len(run.wrong)} kernel result(s) outside the tolerance rule", file=sys.stderr)
        return 1
    return 0


def main_for(only: str, argv: Optional[List[str]] = None, description: str = "") -> int:
    """Entry point of a benchmarks/ script: the `bench` options, with --only fixed to `only`
    (a models script still accepts --only to narrow to some families)."""
    p = argparse.ArgumentParser(description=description or f"refimpl benchmark: {only}")
    add_bench_arguments(p, only=(only == "models"))
    args = p.parse_args(argv)
    if only != "models" or not getattr(args, "only", ""):
        args.only = only
    return run_bench(args)


def main(argv: Optional[List[str]] = None) -> int:
    """`python -m refimpl.bench.cli` (same as `refimpl bench`)."""
    p = argparse.ArgumentParser(prog="refimpl bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bench_arguments(p)
    return run_bench(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
