"""`refimpl diff`: the command line of refimpl.interop.diff.

    refimpl diff --family bert --task sequence-classification [--dtype float64|float32]
                 [--checkpoint DIR] [--inputs file.npz|file.safetensors] [--json out.json]
                 [--framework torch|onnxruntime] [--atol A] [--rtol R] [--seed N] [--embeds]
                 [--only-failures] [--list]

Prints the table (module, shape, max abs error, max rel error, status) with the first divergent module
marked `>>`. Exit status: 0 when every compared tensor is within tolerance, 1 when any exceeds it,
2 on a usage or setup error (unknown family/task, unreadable checkpoint, missing torch/onnxruntime).
"""
from __future__ import annotations

import argparse
import sys

__all__ = ["add_diff_parser", "run_diff_command", "main"]

EXIT_OK, EXIT_DIVERGED, EXIT_ERROR = 0, 1, 2


def add_diff_parser(subparsers) -> argparse.ArgumentParser:
    """Register the `diff` sub-command on an argparse subparsers object; returns its parser."""
    p = subparsers.add_parser(
        "diff", help="run a transformers model and the refimpl oracle side by side; print the first divergent layer",
        description="Forward and backward a Hugging Face (PyTorch) model and the refimpl model with the same weights "
                    "and inputs; compare every module output, the loss, the input gradient and every parameter "
                    "gradient. Exit 0 when all agree within the dtype's tolerance, 1 otherwise, 2 on errors.")
    p.add_argument("--family", help="model family (see --list); read from config.json with --checkpoint")
    p.add_argument("--task", help="task / head, e.g. sequence-classification (see --list); with --checkpoint "
                                  "taken from config.json's architectures when omitted")
    p.add_argument("--dtype", choices=("float64", "float32"), default=None,
                   help="precision of both models (default float64; float32 with --framework onnxruntime)")
    p.add_argument("--checkpoint", metavar="DIR", help="local Hugging Face checkpoint folder (config.json + weights)")
    p.add_argument("--inputs", metavar="FILE", help=".npz or .safetensors file of inputs by HF argument name "
                                                    "(default: generated from the config)")
    p.add_argument("--json", metavar="OUT", help="also write the full report as JSON to this file")
    p.add_argument("--framework", choices=("torch", "onnxruntime"), default="torch",
                   help="torch: forward + backward; onnxruntime: forward of the model exported with torch.onnx")
    p.add_argument("--atol", type=float, default=None, help="absolute tolerance (default: the dtype's table)")
    p.add_argument("--rtol", type=float, default=None, help="relative tolerance (default: the dtype's table)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights and inputs (default 0)")
    p.add_argument("--embeds", action="store_true",
                   help="text models: feed inputs_embeds instead of input_ids, so the input gradient is compared")
    p.add_argument("--only-failures", action="store_true", help="print only rows over tolerance (and the first)")
    p.add_argument("--list", action="store_true", help="list the families and their tasks, then exit")
    p.set_defaults(func=run_diff_command)
    return p


def _list() -> int:
    from .diff_families import FAMILIES
    for name, adapter in sorted(FAMILIES.items()):
        print(f"{name:12s} {', '.join(adapter.tasks)}")
    return EXIT_OK


def run_diff_command(args) -> int:
    """Run `refimpl diff` for parsed arguments; returns the exit status."""
    if args.list:
        return _list()
    if args.checkpoint is None and (args.family is None or args.task is None):
        print("refimpl diff: --family and --task are needed (or --checkpoint DIR); see --list", file=sys.stderr)
        return EXIT_ERROR
    from ..core.errors import RefimplError
    try:
        from .diff import run_diff
        report = run_diff(args.family, args.task, dtype=args.dtype, checkpoint=args.checkpoint, inputs=args.inputs,
                          framework=args.framework, rtol=args.rtol, atol=args.atol, seed=args.seed,
                          float_input=args.embeds)
    except (RefimplError, ImportError, OSError, ValueError, KeyError, RuntimeError) as exc:
        # setup problems and a framework that cannot run the model (an op the ONNX exporter lacks ...)
        print(f"refimpl diff: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(report.format_table(only_failures=args.only_failures, color=sys.stdout.isatty()))
    if args.json:
        report.to_json(args.json)
        print(f"JSON report written to {args.json}")
    return EXIT_OK if report.ok else EXIT_DIVERGED


def main(argv=None) -> int:
    """`python -m refimpl.interop.diff_cli ...`: the diff command on its own."""
    parser = argparse.ArgumentParser(prog="refimpl")
    sub = parser.add_subparsers(dest="command", required=True)
    add_diff_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
