"""`refimpl generate`: generate from a checkpoint directory with a chosen strategy.

    refimpl generate --model DIR --prompt-ids 1,2,3 [--prompt-ids 4,5] --strategy beam --num-beams 4
    refimpl generate --model DIR --prompt "Hello" --strategy sample --top-p 0.9 --seed 0

The model class comes from config.json's model_type (MODEL_REGISTRY) and is loaded with
from_pretrained(DIR). --prompt needs the tokenizer files in DIR (TOKENIZER_REGISTRY); when they
are there the generated text is printed too. Several prompts are left-padded into one batch.
Output, per returned sequence i: `ids[i]: t1 t2 ...` (prompt + generated, padding removed),
`text[i]: "..."` (JSON string) when a tokenizer is loaded, and `score[i]: ...` for beam search.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

import numpy as np

from ..core.errors import CheckpointError, ConfigError, RefimplError

__all__ = ["MODEL_REGISTRY", "TOKENIZER_REGISTRY", "add_generate_parser", "run_generate", "load_model",
           "load_tokenizer"]

# config.json model_type -> (module, class) of the generating model
MODEL_REGISTRY = {
    "gpt2": ("refimpl.models.gpt2", "GPT2LMHeadModel"),
    "bart": ("refimpl.models.bart", "BartForConditionalGeneration"),
    "mbart": ("refimpl.models.mbart", "MBartForConditionalGeneration"),
    "t5": ("refimpl.models.t5", "T5ForConditionalGeneration"),
}
# model_type -> (module, class) of a tokenizer with from_pretrained(directory)
TOKENIZER_REGISTRY = {
    "gpt2": ("refimpl.tokenizers.bpe", "GPT2Tokenizer"),
}


def _model_type(directory) -> str:
    path = os.path.join(os.fspath(directory), "config.json")
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except FileNotFoundError as exc:
        raise CheckpointError(f"--model: no config.json in {os.fspath(directory)!r}") from exc
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"--model: {path} is not valid JSON ({exc})") from exc
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if not model_type:
        raise CheckpointError(f"--model: {path} has no model_type")
    return model_type


def _import(entry, what: str, model_type: str):
    module_name, class_name = entry
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{what} for model_type {model_type!r} ({module_name}.{class_name}) is not available in "
                          f"this refimpl: {exc}") from exc
    return getattr(module, class_name)


def load_model(directory, dtype=np.float64):
    """The registered generating model of the checkpoint's model_type, from_pretrained(directory, dtype)."""
    model_type = _model_type(directory)
    if model_type not in MODEL_REGISTRY:
        raise ConfigError(f"--model: model_type {model_type!r} cannot generate in refimpl; supported: "
                          f"{sorted(MODEL_REGISTRY)}")
    cls = _import(MODEL_REGISTRY[model_type], "the model", model_type)
    return cls.from_pretrained(directory, dtype=dtype)


def load_tokenizer(directory, required: bool):
    """The registered tokenizer loaded from `directory`, or None (error when required)."""
    model_type = _model_type(directory)
    if model_type not in TOKENIZER_REGISTRY:
        if required:
            raise ConfigError(f"--prompt: no refimpl tokenizer for model_type {model_type!r}; use --prompt-ids")
        return None
    try:
        cls = _import(TOKENIZER_REGISTRY[model_type], "the tokenizer", model_type)
        return cls.from_pretrained(os.fspath(directory))
    except RefimplError:
        if required:
            raise
        return None


def _parse_ids(text: str) -> list:
    try:
        ids = [int(t) for t in text.replace(" ", "").split(",") if t != ""]
    except ValueError as exc:
        raise ConfigError(f"--prompt-ids: expected comma-separated integers like 1,2,3, got {text!r}") from exc
    if not ids:
        raise ConfigError("--prompt-ids: empty prompt")
    return ids


def _batch(prompts: list, pad_id: int, side: str):
    """Pad the prompts on `side` into (B, L) ids and mask."""
    width = max(len(p) for p in prompts)
    ids = np.full((len(prompts), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(prompts), width), dtype=np.int64)
    for i, p in enumerate(prompts):
        cols = slice(width - len(p), width) if side == "left" else slice(0, len(p))
        ids[i, cols] = p
        mask[i, cols] = 1
    return ids, mask


def add_generate_parser(subparsers):
    """Register `generate` on an argparse subparsers object; returns the sub-parser."""
    p = subparsers.add_parser("generate", help="generate token ids (and text) from a checkpoint directory",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="checkpoint directory (config.json + weights)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--prompt-ids", action="append", help="comma-separated token ids; repeat for a batch")
    src.add_argument("--prompt", action="append", help="prompt text (tokenizer files in --model); repeatable")
    p.add_argument("--strategy", choices=("greedy", "beam", "sample"), default="greedy")
    p.add_argument("--num-beams", type=int, default=4, help="beams for --strategy beam (default 4)")
    p.add_argument("--max-new-tokens", type=int, default=20)
    p.add_argument("--num-return-sequences", type=int, default=1)
    p.add_argument("--seed", type=int, default=0, help="seed of the numpy Generator for --strategy sample")
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-k", type=int)
    p.add_argument("--top-p", type=float)
    p.add_argument("--repetition-penalty", type=float)
    p.add_argument("--no-repeat-ngram-size", type=int)
    p.add_argument("--length-penalty", type=float)
    p.add_argument("--early-stopping", choices=("true", "false", "never"))
    p.add_argument("--eos-token-id", type=int, action="append", help="stop token(s); default from the config")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.set_defaults(func=run_generate)
    return p


def _settings(args) -> dict:
    kw = dict(max_new_tokens=args.max_new_tokens, num_return_sequences=args.num_return_sequences,
              return_dict_in_generate=True, output_scores=args.strategy == "beam")
    if args.strategy == "beam":
        kw["num_beams"] = args.num_beams
    if args.strategy == "sample":
        kw["do_sample"] = True
    for name in ("temperature", "top_k", "top_p", "repetition_penalty", "no_repeat_ngram_size", "length_penalty"):
        value = getattr(args, name)
        if value is not None:
            kw[name] = value
    if args.early_stopping is not None:
        kw["early_stopping"] = {"true": True, "false": False, "never": "never"}[args.early_stopping]
    if args.eos_token_id:
        kw["eos_token_id"] = args.eos_token_id[0] if len(args.eos_token_id) == 1 else args.eos_token_id
    return kw


def run_generate(args, out=None) -> int:
    """Run `refimpl generate` from parsed args; prints to `out` (stdout). Returns the exit code."""
    from .utils import generate

    out = out or sys.stdout
    try:
        model = load_model(args.model, dtype=np.dtype(args.dtype))
        tokenizer = load_tokenizer(args.model, required=bool(args.prompt))
        if args.prompt:
            prompts = [list(tokenizer.encode(text)) for text in args.prompt]
            if any(len(p) == 0 for p in prompts):
                raise ConfigError("--prompt: a prompt encodes to no tokens")
        else:
            prompts = [_parse_ids(text) for text in args.prompt_ids]
        config = model.config
        eos = getattr(config, "eos_token_id", None)
        pad = getattr(config, "pad_token_id", None)
        pad = pad if pad is not None else (eos[0] if isinstance(eos, list) else eos)
        encoder_decoder = bool(getattr(config, "is_encoder_decoder", False))
        # decoder-only prompts are left-padded (generation appends on the right); encoder inputs right-padded
        ids, mask = _batch(prompts, pad if pad is not None else 0, "right" if encoder_decoder else "left")
        kw = _settings(args)
        result = generate(model, ids, mask, rng=np.random.default_rng(args.seed), **kw)
    except RefimplError as exc:
        print(f"refimpl generate: {exc}", file=sys.stderr)
        return 2
    sequences = result.sequences
    n = args.num_return_sequences
    for i, row in enumerate(sequences):
        tokens = row.tolist()
        if not encoder_decoder:                          # drop the left padding of the prompt
            tokens = tokens[int(np.argmax(mask[i // n] != 0)):]
        print(f"ids[{i}]: {' '.join(str(t) for t in tokens)}", file=out)
        if tokenizer is not None:
            print(f"text[{i}]: {json.dumps(tokenizer.decode(tokens), ensure_ascii=False)}", file=out)
        if getattr(result, "sequences_scores", None) is not None:
            print(f"score[{i}]: {float(result.sequences_scores[i]):.6f}", file=out)
    return 0
