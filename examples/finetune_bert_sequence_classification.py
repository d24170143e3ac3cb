"""Fine-tune BertForSequenceClassification with AdamW: refimpl and PyTorch side by side, step by step.

A tiny random BERT (transformers' initialisation, seeded) learns a synthetic sentiment task: short
sentences of filler words with one positive or one negative word, tokenized by refimpl's WordPiece
tokenizer into padded batches (attention_mask, token_type_ids). The refimpl model starts from the
transformers model's weights, and both are trained on the same batches for --steps AdamW steps with
the loop of transformers' Trainer: weight decay except on biases and LayerNorms, gradient clipping
to norm 1, linear schedule with warm-up.

Dropout is ON by default and exact: both models train with the same masks (transformers with eager
attention and torch.nn.functional.dropout replaced by refimpl's mask draw from a Generator of the
same seed; see refimpl.testing.side_by_side). --no-dropout runs both in eval mode instead.

    python examples/finetune_bert_sequence_classification.py --steps 10 --dtype float64 --seed 0

prints one row per step (loss of each side, largest parameter difference) and exits with status 1
when some parameter differs by more than the tolerance after any step: 1e-10 in float64 (measured:
~5e-14 after 10 steps), 1e-4 in float32 (measured: ~1.3e-5). The float32 gap is not a bug: the
attention key biases have an exactly zero true gradient (softmax ignores a constant added to every
score of a row), so both sides' key-bias gradients are rounding noise of ~1e-9, and Adam's
m / (sqrt(v) + eps) with eps = 1e-8 turns noise of that size into steps of a good fraction of lr.
In float64 the noise is ~1e-17 against the same eps, hence the tiny float64 differences.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional, Tuple

import numpy as np

from refimpl.models.bert.config import BertConfig
from refimpl.models.bert.modeling import BertForSequenceClassification
from refimpl.testing.side_by_side import SideBySideRun, train_side_by_side
from refimpl.tokenizers.wordpiece import BertTokenizer

TOLERANCE = {"float64": 1e-10, "float32": 1e-4}

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
POSITIVE = ["good", "great", "fine", "superb", "lovely", "brilliant"]
NEGATIVE = ["bad", "awful", "poor", "boring", "dull", "terrible"]
FILLER = ["the", "movie", "plot", "acting", "was", "really", "quite", "and", "a", "film", "story", "music",
          "very", "it", "is", "this", "ending", "cast"]
PIECES = ["##s", "##ly"]                                # "movies" -> movie ##s, "really" stays whole

MODEL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
             max_position_embeddings=32, type_vocab_size=2, pad_token_id=0, num_labels=2,
             hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)


def make_tokenizer() -> BertTokenizer:
    vocab = {tok: i for i, tok in enumerate(SPECIALS + POSITIVE + NEGATIVE + FILLER + PIECES)}
    return BertTokenizer(vocab)


def make_dataset(rng: np.random.Generator, n: int) -> Tuple[List[str], np.ndarray]:
    """n sentences of 2-7 filler words (some plural) with one sentiment word; label 1 = positive.

    Labels alternate 0, 1, 0, 1, ..., so every batch of an even size is balanced and only the words can
    lower the loss (with unbalanced batches a few steps mostly learn the label frequency)."""
    texts, labels = [], np.arange(n) % 2
    for label in labels:
        fillers = rng.integers(0, len(FILLER), rng.integers(2, 8))
        words = [FILLER[i] + ("s" if rng.random() < 0.2 else "") for i in fillers]
        sentiment = (POSITIVE if label == 1 else NEGATIVE)[rng.integers(0, len(POSITIVE))]
        words.insert(int(rng.integers(0, len(words) + 1)), sentiment)
        texts.append(" ".join(words) + ("!" if rng.random() < 0.3 else "."))
    return texts, labels.astype(np.int64)


def make_batches(tokenizer: BertTokenizer, texts: List[str], labels: np.ndarray, batch_size: int) -> List[dict]:
    """Padded batches (each to its longest sentence) with input_ids, token_type_ids, attention_mask, labels."""
    batches = []
    for i in range(0, len(texts), batch_size):
        enc = tokenizer(texts[i:i + batch_size], padding=True, return_tensors="np")
        batches.append(dict(input_ids=enc["input_ids"], token_type_ids=enc["token_type_ids"],
                            attention_mask=enc["attention_mask"], labels=labels[i:i + batch_size]))
    return batches


def build_models(vocab_size: int, dtype: str, seed: int):
    """(refimpl model, transformers model) with transformers' seeded initial weights, in `dtype`."""
    import torch
    import transformers

    torch.manual_seed(seed)
    hf = transformers.BertForSequenceClassification(
        transformers.BertConfig(vocab_size=vocab_size, **MODEL, attn_implementation="eager"))
    hf = hf.double() if dtype == "float64" else hf.float()
    ref = BertForSequenceClassification(BertConfig(vocab_size=vocab_size, **MODEL), dtype=np.dtype(dtype))
    ref.load_state_dict({k: v.detach().cpu().numpy() for k, v in hf.state_dict().items()})
    return ref, hf


def run(steps: int = 10, dtype: str = "float64", seed: int = 0, dropout: bool = True, lr: float = 1e-2,
        weight_decay: float = 0.01, batch_size: int = 16, n_examples: int = 32) -> SideBySideRun:
    """Build the data and the two models, train side by side; returns the per-step records."""
    if dtype not in TOLERANCE:
        raise ValueError(f"dtype: expected 'float64' or 'float32', got {dtype!r}")
    tokenizer = make_tokenizer()
    texts, labels = make_dataset(np.random.default_rng(seed), n_examples)
    batches = make_batches(tokenizer, texts, labels, batch_size)
    ref, hf = build_models(len(tokenizer), dtype, seed)
    return train_side_by_side(ref, hf, batches, lr=lr, weight_decay=weight_decay, betas=(0.9, 0.999), eps=1e-8,
                              steps=steps, max_grad_norm=1.0, schedule="linear", num_warmup_steps=2,
                              dropout_seed=seed if dropout else None)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--dtype", choices=sorted(TOLERANCE), default="float64")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--no-dropout", action="store_true", help="eval mode on both sides instead of shared masks")
    parser.add_argument("--atol", type=float, default=None, help="tolerance on parameters (default: per dtype)")
    args = parser.parse_args(argv)
    result = run(steps=args.steps, dtype=args.dtype, seed=args.seed, dropout=not args.no_dropout, lr=args.lr)
    atol = TOLERANCE[args.dtype] if args.atol is None else args.atol
    mode = "eval mode (dropout off)" if args.no_dropout else "train mode, identical dropout masks"
    print(f"BertForSequenceClassification, {args.dtype}, {mode}, AdamW lr={args.lr} (linear schedule, warm-up 2), "
          f"clip 1.0, seed {args.seed}")
    print(result.table())
    worst = result.max_param_diff()
    status = "OK" if worst <= atol else "FAIL"
    print(f"max |param refimpl - param torch| over all steps: {worst:.3e} (tolerance {atol:.0e}): {status}; "
          f"max |loss diff| {result.max_loss_diff():.3e}")
    return 0 if worst <= atol else 1


if __name__ == "__main__":
    sys.exit(main())
