"""The family adapter of `refimpl diff`: everything the diff needs to know about one model family.

A family plugs in with ONE file in this package that builds a FamilyAdapter and calls
register_family(adapter); refimpl/interop/diff_families/__init__.py imports every module here, and
refimpl.interop.diff never names a family. An adapter says:

- name / model_type: the CLI name and the `model_type` of an HF config.json (to recognise checkpoints);
- hf_config_class: the transformers config class name; ref_config_class: refimpl's config class as
  "module.path:ClassName" (imported on first use, so a family whose code is broken or missing does
  not stop the others from loading);
- tiny_config: keyword arguments of a tiny random config (the same keys in both config classes);
- tasks: {task name: Task(refimpl class, transformers class name, config overrides, label kind)};
- grad_input: the HF name of the float input whose gradient is compared (inputs_embeds,
  pixel_values, input_values);
- make_inputs(config, task, dtype, rng): the generated inputs (HF argument names, NumPy arrays);
  labels come from the Task's label kind (see make_labels);
- optional hooks: randomize (re-draw the tiny model's weights), prepare_hf (e.g. a float64 loss
  where transformers computes its loss in float32), hf_context (a context manager entered around
  transformers' forward and backward), forward_kwargs (extra keyword arguments of both forwards).
"""
from __future__ import annotations

import contextlib
import importlib
from dataclasses import dataclass, field
from typing import Dict, Optional

import numpy as np

__all__ = ["Task", "FamilyAdapter", "TextAdapter", "ImageAdapter", "FAMILIES", "register_family", "get_family",
           "make_labels", "randomize_weights", "resolve"]

FAMILIES: Dict[str, "FamilyAdapter"] = {}


def register_family(adapter: "FamilyAdapter") -> "FamilyAdapter":
    """Add (or replace) a family adapter in the registry, under adapter.name."""
    FAMILIES[adapter.name] = adapter
    return adapter


def get_family(name: str) -> "FamilyAdapter":
    from ...core.errors import ConfigError
    if name not in FAMILIES:
        raise ConfigError(f"family: unknown model family {name!r}; known: {sorted(FAMILIES)}")
    return FAMILIES[name]


@dataclass
class Task:
    """One task (head) of a family.

    ref_class: "module.path:ClassName" of the refimpl model (imported lazily).
    hf_class: the transformers class name (transformers.<hf_class>).
    labels: the label kind of make_labels ("none" for a model without a loss: the backward then uses a
    random cotangent on the first output).
    config: config overrides of the tiny config for this task (e.g. num_labels).
    """
    ref_class: str
    hf_class: str
    labels: str = "none"
    config: Dict = field(default_factory=dict)

    def ref_cls(self):
        return resolve(self.ref_class)


def resolve(path):
    """"package.module:Name" -> the object (a class given directly is returned as is)."""
    if not isinstance(path, str):
        return path
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


class FamilyAdapter:
    """Base adapter; subclasses (or instances) set the attributes below and override make_inputs."""

    name: str = ""
    model_type: str = ""
    hf_config_class: str = ""
    ref_config_class: Optional[str] = None   # "refimpl.models.<family>.config:<Class>"
    tiny_config: Dict = {}
    tasks: Dict[str, Task] = {}
    grad_input: Optional[str] = None
    batch_size: int = 2
    # transformers' attention implementation for the tiny config (None: the family has no attention)
    attn_implementation: Optional[str] = "sdpa"
    # inputs that only feed the loss: dropped when the ONNX export of the loss fails
    loss_inputs = ("labels", "next_sentence_label", "start_positions", "end_positions")
    # std of the random cotangent of a model without a loss (float32 runs may want smaller values)
    cotangent_scale: float = 1.0

    # ---- configs
    def hf_config(self, task: str, **overrides):
        """A tiny transformers config for `task` (sdpa attention where the family has a choice)."""
        import transformers
        cfg = {**self.tiny_config, **self.tasks[task].config, **overrides}
        cls = getattr(transformers, self.hf_config_class)
        if self.attn_implementation is not None:
            cfg["attn_implementation"] = self.attn_implementation
        return cls(**cfg)

    def ref_config(self, task: str, **overrides):
        return resolve(self.ref_config_class)(**{**self.tiny_config, **self.tasks[task].config, **overrides})

    def task_of_architecture(self, architecture: str) -> Optional[str]:
        """The task whose transformers class is `architecture` (a config.json "architectures" entry)."""
        for name, t in self.tasks.items():
            if t.hf_class == architecture or t.ref_class.endswith(":" + architecture):
                return name
        return None

    # ---- weights and transformers quirks
    def randomize(self, hf_model, seed: int = 0):
        """Re-draw the tiny model's weights so no block is near identity (see randomize_weights)."""
        return randomize_weights(hf_model, seed)

    def prepare_hf(self, hf_model, task: str, dtype) -> None:
        """Adjust the transformers model in place before the run (default: nothing)."""

    def hf_context(self, dtype):
        """A context manager around transformers' forward and backward (default: none)."""
        return contextlib.nullcontext()

    def forward_kwargs(self, task: str) -> dict:
        """Extra keyword arguments given to both forwards (default: none)."""
        return {}

    # ---- inputs
    def make_inputs(self, config, task: str, dtype, rng: np.random.Generator, batch_size: Optional[int] = None) -> dict:
        raise NotImplementedError(f"{type(self).__name__}.make_inputs")

    def float_input_from(self, hf_model, inputs: dict, dtype) -> dict:
        """Turn generated inputs into ones with a float `grad_input` (text: ids -> inputs_embeds)."""
        return inputs


# ============================================================================================ helpers
def randomize_weights(hf_model, seed: int = 0, std: float = 0.25):
    """Every parameter re-drawn in float64: norm-layer weights 1 + 0.2 N(0,1), their biases 0.2 N(0,1),
    everything else std * N(0,1) (ConvNeXT's layer scale starts at 1e-6 and GRN at 0: left as they are,
    an error there would be invisible)."""
    import torch
    g = torch.Generator().manual_seed(seed)
    hf_model.double()
    norms = (torch.nn.LayerNorm, torch.nn.GroupNorm, torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)
    norm_weights, norm_params = set(), set()
    for m in hf_model.modules():
        if isinstance(m, norms) or "LayerNorm" in type(m).__name__:
            for n, p in m.named_parameters(recurse=False):
                norm_params.add(id(p))
                if n == "weight":
                    norm_weights.add(id(p))
    with torch.no_grad():
        for _, p in hf_model.named_parameters():
            r = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if id(p) in norm_weights:
                p.copy_(1.0 + 0.2 * r)
            elif id(p) in norm_params:
                p.copy_(0.2 * r)
            else:
                p.copy_(std * r)
    return hf_model


def make_labels(kind: str, config, inputs: dict, dtype, rng: np.random.Generator) -> dict:
    """Labels of a task kind, for generated inputs (ignored positions are -100).

    kinds: none; class (B,) in [0, num_labels); nsp (B,) in {0, 1}; mlm (B, L) token ids on about half
    of the real tokens; causal-lm (B, L) the input ids with padding ignored; token (B, L) classes;
    qa start/end positions (B,); pretraining mlm + next_sentence_label; ctc (B, T) ids in
    [1, vocab) (0 is the blank) with -100 padding, at most frames // 2 per row.
    """
    mask = inputs.get("attention_mask")
    first = next(v for v in inputs.values() if isinstance(v, np.ndarray))
    b = first.shape[0]
    if kind == "none":
        return {}
    if kind == "class":
        return {"labels": rng.integers(0, config.num_labels, b)}
    if kind == "nsp":
        return {"labels": rng.integers(0, 2, b)}
    ids = inputs.get("input_ids")
    n = first.shape[1]
    keep = mask != 0 if mask is not None else np.ones((b, n), bool)
    if kind in ("mlm", "pretraining"):
        tokens = np.where((rng.random((b, n)) < 0.5) & keep, rng.integers(0, config.vocab_size, (b, n)), -100)
        tokens[0, 0] = 1 % config.vocab_size                      # at least one counted token
        out = {"labels": tokens}
        if kind == "pretraining":
            out["next_sentence_label"] = rng.integers(0, 2, b)
        return out
    if kind == "causal-lm":
        if ids is None:
            raise ValueError("causal-lm labels need input_ids")
        return {"labels": np.where(keep, ids, -100)}
    if kind == "token":
        return {"labels": np.where(keep, rng.integers(0, config.num_labels, (b, n)), -100)}
    if kind == "qa":
        return {"start_positions": rng.integers(0, n, b), "end_positions": rng.integers(0, n, b)}
    raise ValueError(f"labels: unknown label kind {kind!r}")


class TextAdapter(FamilyAdapter):
    """Token models: a right-padded batch of ids (never the pad id inside a row), attention_mask,
    token_type_ids (sentence pairs) when the family has them. The float input is inputs_embeds."""

    grad_input = "inputs_embeds"
    batch_size = 3
    seq_len = 7
    token_types = False

    def _sizes(self, config):
        vocab = config.vocab_size
        max_pos = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None) or 512
        return vocab, min(self.seq_len, max_pos)

    def make_inputs(self, config, task, dtype, rng, batch_size=None):
        vocab, n = self._sizes(config)
        b = batch_size or self.batch_size
        pad = getattr(config, "pad_token_id", None)
        ids = rng.integers(0, vocab, (b, n))
        if pad is not None:
            ids[ids == pad] = (pad + 1) % vocab
        lengths = [max(1, n - 2 * i) for i in range(b)]
        mask = np.zeros((b, n), np.int64)
        for i, k in enumerate(lengths):
            mask[i, :k] = 1
        ids[mask == 0] = pad if pad is not None else 0
        inputs = {"input_ids": ids, "attention_mask": mask}
        if self.token_types and getattr(config, "type_vocab_size", 1) >= 2:
            tt = np.zeros((b, n), np.int64)
            for i, k in enumerate(lengths):
                tt[i, k // 2:k] = 1                               # second segment of the pair
            inputs["token_type_ids"] = tt
        inputs.update(make_labels(self.tasks[task].labels, config, inputs, dtype, rng))
        return inputs

    def float_input_from(self, hf_model, inputs, dtype):
        """input_ids -> inputs_embeds: the rows of transformers' word-embedding table (same on both sides)."""
        if "input_ids" not in inputs:
            return inputs
        out = dict(inputs)
        table = hf_model.get_input_embeddings().weight.detach().cpu().double().numpy()
        out["inputs_embeds"] = table[out.pop("input_ids")].astype(dtype)
        return out


class ImageAdapter(FamilyAdapter):
    """Image models: pixel_values (B, C, H, W) standard normal, H = W = config.image_size."""

    grad_input = "pixel_values"

    def make_inputs(self, config, task, dtype, rng, batch_size=None):
        b = batch_size or self.batch_size
        size = config.image_size
        h, w = (size, size) if isinstance(size, int) else tuple(size)
        inputs = {"pixel_values": rng.standard_normal((b, config.num_channels, h, w)).astype(dtype)}
        inputs.update(make_labels(self.tasks[task].labels, config, inputs, dtype, rng))
        return inputs
