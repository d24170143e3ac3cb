"""Command line: `refimpl check | info | generate | diff | bench`."""
from __future__ import annotations

import argparse
import sys


def _cmd_check(args) -> int:
    from .testing.selfcheck import format_results, run_checks
    results = run_checks(args.filter)
    print(format_results(results))
    failed = [r for r in results if r.status in ("FAIL", "ERROR")]
    for r in failed:
        print(f"\n== {r.layer} / {r.kind}: {r.status}\n{r.detail}")
    if not results:
        print(f"no check matches {args.filter!r}", file=sys.stderr)
        return 2
    return 1 if failed else 0


def _cmd_info(args) -> int:
    import numpy
    import refimpl
    print(f"refimpl {refimpl.__version__}")
    print(f"numpy {numpy.__version__}")
    for mod in ("scipy", "numba", "torch", "transformers", "safetensors", "tokenizers", "cupy"):
        try:
            m = __import__(mod)
            print(f"{mod} {getattr(m, '__version__', '?')}")
        except ImportError:
            print(f"{mod} not installed")
    print(f"kernel backend: {refimpl.get_kernel_backend() or 'reference'}")
    return 0


def main(argv=None) -> int:
    """Entry point of the `refimpl` command; returns the exit status."""
    from .generation.cli import add_generate_parser
    parser = argparse.ArgumentParser(prog="refimpl", description="NumPy reference oracle for transformer models")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="gradcheck and torch-parity self-check of every layer; prints a table")
    p.add_argument("--filter", default="", help="only layers whose name contains this text (e.g. 'Conv')")
    p.set_defaults(func=_cmd_check)
    p = sub.add_parser("info", help="versions of refimpl and its optional dependencies")
    p.set_defaults(func=_cmd_info)
    add_generate_parser(sub)
    from .interop.diff_cli import add_diff_parser
    add_diff_parser(sub)
    from .bench.cli import add_bench_parser
    add_bench_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
