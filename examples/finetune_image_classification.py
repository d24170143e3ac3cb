"""Fine-tune ViT, ConvNeXT or ConvNeXt V2 for image classification with AdamW: refimpl and PyTorch side by side.

A tiny random classifier (transformers' initialisation, seeded) learns a synthetic task: uint8 RGB
images of random sizes, dark noise everywhere except one bright quadrant, whose position (top-left,
top-right, bottom-left, bottom-right) is the label. refimpl's image processors turn them into
pixel_values (ViTImageProcessor: bilinear warp to 16x16; ConvNextImageProcessor: bicubic resize of
the short side to 18 and a 16x16 center crop; both rescale by 1/255 and normalise with mean = std =
0.5). The refimpl model starts from the transformers model's weights, and both are trained on the
same batches for --steps AdamW steps with the loop of transformers' Trainer: weight decay except on
biases and LayerNorms, gradient clipping to norm 1, linear schedule with warm-up (see
refimpl.testing.side_by_side).

Randomness is ON by default and exact, both models train with the same draws:
  - ViT: hidden dropout, through torch.nn.functional.dropout, which the harness replaces by
    refimpl's masks. Attention-probability dropout is 0 because transformers' SDPA attention draws
    it inside torch's kernel (and its eager attention takes the softmax in float32).
  - ConvNeXT / V2: drop path (stochastic depth, rate 0.2 at the last block), which transformers draws
    with torch.rand; during the torch forward of step k, torch.rand returns the uniforms refimpl's
    Generator([seed, k]) draws for the same blocks in the same order.
--no-dropout runs both in eval mode instead.

    python examples/finetune_image_classification.py --model convnext --steps 10 --dtype float64 --seed 0

prints one row per step (loss of each side, largest gradient and parameter difference) and exits
with status 1 when some parameter differs by more than the tolerance after any step: 1e-10 in
float64, 1e-4 in float32 (measured: see TOLERANCE).
"""
from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import transformers
from transformers.core_model_loading import revert_weight_conversion

from refimpl.models.convnext import ConvNextConfig, ConvNextForImageClassification
from refimpl.models.convnextv2 import ConvNextV2Config, ConvNextV2ForImageClassification
from refimpl.models.vit import ViTConfig, ViTForImageClassification
from refimpl.processing.image import ConvNextImageProcessor, ViTImageProcessor
from refimpl.testing.side_by_side import SideBySideRun, train_side_by_side

# Largest |param refimpl - param torch| allowed after any step. Measured over seeds 0-4, 10 steps each at the
# default learning rates: float64 <= 1.8e-13 (ViT), 2.8e-14 (ConvNeXT), 8.4e-16 (V2); float32 <= 5.9e-5 (ViT),
# 4.3e-6 (ConvNeXT), 5.6e-7 (V2). ViT's float32 gap is all in the attention key biases, as in the BERT
# example: their true gradient is exactly zero (softmax ignores a constant added to every score of a row),
# so both sides' key-bias gradients are rounding noise (~1e-9), and Adam's m / (sqrt(v) + eps), eps = 1e-8,
# turns noise of that size into steps of a good fraction of lr. Every other ViT parameter stays within 1e-6.
TOLERANCE = {"float64": 1e-10, "float32": 1e-4}
# Default AdamW learning rate per model: ConvNeXT's blocks start nearly switched off (layer scale 1e-6) and
# learn faster with 1e-2; ViT keeps 5e-3, where its float32 key-bias drift stays well inside 1e-4.
LR = {"vit": 5e-3, "convnext": 1e-2, "convnextv2": 1e-2}

SIZE = 16                                     # the models' input side; the processors produce 16 x 16
NUM_LABELS = 4                                # which quadrant is bright
QUADRANTS = ("top-left", "top-right", "bottom-left", "bottom-right")

CONVNEXT = dict(num_channels=3, patch_size=2, num_stages=2, hidden_sizes=[8, 16], depths=[2, 2],
                drop_path_rate=0.2, num_labels=NUM_LABELS)
# name: (transformers config class, transformers model class, refimpl config class, refimpl model class,
#        tiny config, image processor)
MODELS = {
    "vit": ("ViTConfig", "ViTForImageClassification", ViTConfig, ViTForImageClassification,
            dict(image_size=SIZE, patch_size=4, num_channels=3, hidden_size=32, num_hidden_layers=2,
                 num_attention_heads=4, intermediate_size=37, hidden_dropout_prob=0.1,
                 attention_probs_dropout_prob=0.0, num_labels=NUM_LABELS),
            lambda: ViTImageProcessor(size={"height": SIZE, "width": SIZE}, backend="pil")),
    "convnext": ("ConvNextConfig", "ConvNextForImageClassification", ConvNextConfig,
                 ConvNextForImageClassification, CONVNEXT,
                 lambda: ConvNextImageProcessor(size={"shortest_edge": SIZE}, backend="pil")),
    "convnextv2": ("ConvNextV2Config", "ConvNextV2ForImageClassification", ConvNextV2Config,
                   ConvNextV2ForImageClassification, CONVNEXT,
                   lambda: ConvNextImageProcessor(size={"shortest_edge": SIZE}, backend="pil")),
}


# ============================================================================================ data
def make_images(rng: np.random.Generator, n: int) -> Tuple[List[np.ndarray], np.ndarray]:
    """n uint8 (H, W, 3) images, H and W in [20, 40]: dark noise (0..79) with one bright quadrant
    (150..255, a random tint per image); label k = QUADRANTS[k]. Labels cycle 0, 1, 2, 3, so every batch
    of a multiple of 4 is balanced and only the pixels can lower the loss."""
    images, labels = [], np.arange(n) % NUM_LABELS
    for label in labels:
        h, w = (int(s) for s in rng.integers(20, 41, 2))
        image = rng.integers(0, 80, (h, w, 3))
        rows = slice(0, h // 2) if label < 2 else slice(h // 2, h)
        cols = slice(0, w // 2) if label % 2 == 0 else slice(w // 2, w)
        low = rng.integers(150, 200, 3)                                  # per-channel floor: a tint
        image[rows, cols] = rng.integers(low, 256, image[rows, cols].shape)
        images.append(image.astype(np.uint8))
    return images, labels.astype(np.int64)


def make_batches(processor, images: List[np.ndarray], labels: np.ndarray, batch_size: int, dtype) -> List[dict]:
    """pixel_values (B, 3, 16, 16) in `dtype` from refimpl's image processor, with the labels."""
    return [dict(pixel_values=processor(images[i:i + batch_size], dtype=dtype,
                                        input_data_format="channels_last")["pixel_values"],
                 labels=labels[i:i + batch_size]) for i in range(0, len(images), batch_size)]


# ============================================================================================ models
def checkpoint_keys(hf_model) -> Dict[str, str]:
    """{transformers' live parameter name: its checkpoint key}. transformers 5 renames some families on
    load (ViT: ...attention.attention.query -> ...attention.q_proj) and back on save; refimpl's names are
    the checkpoint keys. Each parameter is tagged with its index and the renaming reverted."""
    names = [n for n, _ in hf_model.named_parameters()]
    tagged = revert_weight_conversion(hf_model, {n: torch.tensor(float(i)) for i, n in enumerate(names)})
    return {names[int(t.item())]: key for key, t in tagged.items()}


def replayed_rand(rng: np.random.Generator):
    """A torch.rand(size, dtype=..., device=...) returning rng.random(size): drop path then keeps the
    samples a refimpl forward with the same Generator keeps (refimpl.functional.dropout.drop_path_mask)."""
    def rand(*size, dtype=None, device=None, **kwargs):
        shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)) else size
        u = torch.from_numpy(rng.random(tuple(int(s) for s in shape)))
        return u.to(dtype if dtype is not None else torch.get_default_dtype())
    return rand


class TorchSide(torch.nn.Module):
    """The transformers model as train_side_by_side sees it: its parameters under their checkpoint keys
    (the names refimpl's model has) and, in training, drop path drawing refimpl's uniforms: the k-th
    forward (step k; the harness runs one per step) takes them from Generator([dropout_seed, k]), the
    generator the harness gives the refimpl model at step k."""

    def __init__(self, model, dropout_seed: Optional[int]):
        super().__init__()
        self.model = model
        self.keys = checkpoint_keys(model)
        self.dropout_seed = dropout_seed
        self.forwards = 0

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        for name, p in self.model.named_parameters(recurse=recurse, remove_duplicate=remove_duplicate):
            yield prefix + self.keys[name], p

    def forward(self, **batch):
        replay = self.training and self.dropout_seed is not None
        rng = np.random.default_rng([self.dropout_seed, self.forwards]) if replay else None
        with _patched_rand(rng) if replay else contextlib.nullcontext():
            out = self.model(**batch)
        self.forwards += 1
        return out


@contextlib.contextmanager
def _patched_rand(rng):
    original = torch.rand
    torch.rand = replayed_rand(rng)
    try:
        yield
    finally:
        torch.rand = original


def build_models(model: str, dtype: str, seed: int, dropout: bool):
    """(refimpl model, transformers model wrapped in TorchSide) with transformers' seeded initial weights."""
    hf_config, hf_class, ref_config, ref_class, config, _ = MODELS[model]
    torch.manual_seed(seed)
    hf = getattr(transformers, hf_class)(getattr(transformers, hf_config)(**config))
    hf = hf.double() if dtype == "float64" else hf.float()
    ref = ref_class(ref_config(**config), dtype=np.dtype(dtype))
    state = revert_weight_conversion(hf, dict(hf.state_dict()))                 # checkpoint keys
    ref.load_state_dict({k: v.detach().cpu().numpy() for k, v in state.items()})
    return ref, TorchSide(hf, seed if dropout else None)


# ============================================================================================ the run
def run(model: str = "vit", steps: int = 10, dtype: str = "float64", seed: int = 0, dropout: bool = True,
        lr: Optional[float] = None, weight_decay: float = 0.01, batch_size: int = 16,
        n_examples: int = 32) -> SideBySideRun:
    """Build the data and the two models, train side by side; returns the per-step records.
    lr: AdamW's peak learning rate (default LR[model])."""
    if model not in MODELS:
        raise ValueError(f"model: expected one of {sorted(MODELS)}, got {model!r}")
    if dtype not in TOLERANCE:
        raise ValueError(f"dtype: expected 'float64' or 'float32', got {dtype!r}")
    lr = LR[model] if lr is None else lr
    images, labels = make_images(np.random.default_rng(seed), n_examples)
    batches = make_batches(MODELS[model][5](), images, labels, batch_size, np.dtype(dtype))
    ref, hf = build_models(model, dtype, seed, dropout)
    return train_side_by_side(ref, hf, batches, lr=lr, weight_decay=weight_decay, betas=(0.9, 0.999), eps=1e-8,
                              steps=steps, max_grad_norm=1.0, schedule="linear", num_warmup_steps=2,
                              dropout_seed=seed if dropout else None)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="vit")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--dtype", choices=sorted(TOLERANCE), default="float64")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (default: per model, LR)")
    parser.add_argument("--no-dropout", action="store_true",
                        help="eval mode on both sides instead of shared dropout / drop-path draws")
    parser.add_argument("--atol", type=float, default=None, help="tolerance on parameters (default: per dtype)")
    args = parser.parse_args(argv)
    result = run(model=args.model, steps=args.steps, dtype=args.dtype, seed=args.seed, dropout=not args.no_dropout,
                 lr=args.lr)
    atol = TOLERANCE[args.dtype] if args.atol is None else args.atol
    lr = LR[args.model] if args.lr is None else args.lr
    noise = "dropout" if args.model == "vit" else "drop path"
    mode = "eval mode" if args.no_dropout else f"train mode, identical {noise}"
    print(f"{MODELS[args.model][1]}, {args.dtype}, {mode}, AdamW lr={lr} (linear schedule, warm-up 2), "
          f"clip 1.0, seed {args.seed}")
    print(result.table())
    worst = result.max_param_diff()
    status = "OK" if worst <= atol else "FAIL"
    print(f"max |param refimpl - param torch| over all steps: {worst:.3e} (tolerance {atol:.0e}): {status}; "
          f"max |loss diff| {result.max_loss_diff():.3e}")
    return 0 if worst <= atol else 1


if __name__ == "__main__":
    sys.exit(main())
