"""Fine-tuning side by side: a refimpl model and its transformers twin trained on the same batches with
AdamW, step by step, measuring after every step how far the two sets of parameters have drifted apart.

    run = train_side_by_side(ref_model, hf_model, batches, lr=1e-3, weight_decay=0.01, steps=10,
                             max_grad_norm=1.0, schedule="linear", num_warmup_steps=2)
    print(run.table())
    run.assert_close(atol=1e-10)          # every parameter after every step

One step, identical on both sides (the loop of transformers' Trainer, without accumulation):

    zero the grads -> loss = model(**batch).loss -> d loss (refimpl: model.backward(); torch:
    loss.backward()) -> [clip the global grad 2-norm to max_grad_norm] -> AdamW step -> schedule step

refimpl side: refimpl.optim.AdamW (+ clip_grad_norm_, schedules); torch side: torch.optim.AdamW
(+ torch.nn.utils.clip_grad_norm_, transformers' schedules). Parameter groups follow Trainer:
weight decay on every parameter except biases and norms (refimpl.optim.param_groups), the same
names on both sides since refimpl's names are the HF keys.

The models follow the PreTrainedModel contract (`out = model(**batch); model.backward()` gives
d loss / d every parameter), so nothing here is specific to one family. They must start from the
same weights (load the HF state_dict into the refimpl model), be in the same dtype, and each batch
must make the model return a loss (labels included).

Dropout: with dropout_seed=None both models run in eval mode (dropout off). With a seed both train
and use the SAME masks: the refimpl model gets rng = Generator(seed, step) and, during the torch
forward, torch.nn.functional.dropout is replaced by one that draws refimpl's masks from a Generator of
the same seed. That is exact when every random op of the HF model goes through F.dropout in the order
refimpl draws them (BERT/DistilBERT/ViT/GPT-2 with attn_implementation="eager"; SDPA attention
dropout is drawn inside torch's kernel and drop-path with torch.rand, so those runs differ).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence

import numpy as np

from ..core.errors import ConfigError, DTypeError
from ..core.model import PreTrainedModel
from ..functional.dropout import dropout_mask
from ..optim import AdamW, clip_grad_norm_
from ..optim import schedules as _schedules
from ..optim.param_groups import decay_parameter_names
from .tolerances import tolerance_for

__all__ = ["StepRecord", "SideBySideRun", "train_side_by_side", "SCHEDULES"]

SCHEDULES = ("constant", "constant_with_warmup", "linear", "cosine")


@dataclass
class StepRecord:
    """What happened in one step (1-based). Differences are max |refimpl - torch| per parameter, by HF name:
    grad_diffs before clipping, param_diffs after the optimizer step."""
    step: int
    lr_ref: float
    lr_torch: float
    loss_ref: float
    loss_torch: float
    grad_norm_ref: float
    grad_norm_torch: float
    grad_diffs: Dict[str, float] = field(default_factory=dict)
    param_diffs: Dict[str, float] = field(default_factory=dict)

    @property
    def loss_diff(self) -> float:
        return abs(self.loss_ref - self.loss_torch)

    @property
    def max_grad_diff(self) -> float:
        return max(self.grad_diffs.values(), default=0.0)

    @property
    def max_param_diff(self) -> float:
        return max(self.param_diffs.values(), default=0.0)

    @property
    def worst_param(self) -> Optional[str]:
        """The parameter with the largest difference after this step (None when all are equal)."""
        if self.max_param_diff == 0.0:
            return None
        return max(self.param_diffs, key=self.param_diffs.get)


class SideBySideRun(list):
    """The StepRecords of a run, in order, plus the difference of the weights before the first step."""

    def __init__(self, records=(), initial_param_diff: float = 0.0):
        super().__init__(records)
        self.initial_param_diff = initial_param_diff

    def max_param_diff(self) -> float:
        """The largest parameter difference after any step (and before the first)."""
        return max([self.initial_param_diff] + [r.max_param_diff for r in self])

    def max_loss_diff(self) -> float:
        return max((r.loss_diff for r in self), default=0.0)

    def first_divergence(self, atol: float) -> Optional[StepRecord]:
        """The first step after which some parameter differs by more than atol (None if none does)."""
        return next((r for r in self if r.max_param_diff > atol), None)

    def table(self) -> str:
        lines = [f"{'step':>4s} {'lr':>9s} {'loss refimpl':>18s} {'loss torch':>18s} {'|dloss|':>8s} "
                 f"{'max|dgrad|':>10s} {'max|dparam|':>11s}  worst parameter"]
        for r in self:
            lines.append(f"{r.step:4d} {r.lr_ref:9.2e} {r.loss_ref:18.12f} {r.loss_torch:18.12f} {r.loss_diff:8.1e} "
                         f"{r.max_grad_diff:10.2e} {r.max_param_diff:11.2e}  {r.worst_param or '-'}")
        return "\n".join(lines)

    def assert_close(self, atol: Optional[float] = None, dtype=None) -> "SideBySideRun":
        """AssertionError naming the first step and parameter that differ by more than atol (default: the
        dtype table's atol, float64 if dtype is None)."""
        atol = tolerance_for(dtype)["atol"] if atol is None else float(atol)
        if self.initial_param_diff > atol:
            raise AssertionError(f"the two models start from different weights (max |diff| "
                                 f"{self.initial_param_diff:.2e} > {atol:.1e}); load the HF state_dict first")
        bad = self.first_divergence(atol)
        if bad is not None:
            raise AssertionError(f"step {bad.step}: parameter {bad.worst_param} differs by {bad.max_param_diff:.3e} "
                                 f"> atol {atol:.1e} after the optimizer step (largest gradient difference "
                                 f"{bad.max_grad_diff:.2e}, loss {bad.loss_ref!r} vs {bad.loss_torch!r})\n"
                                 + self.table())
        return self


# ============================================================================================ helpers
def _torch():
    import torch  # noqa: PLC0415 (optional dependency)
    return torch


def _torch_dtype(torch, dt: np.dtype):
    return {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}[dt]


def _to_torch(batch: dict, torch, dtype) -> dict:
    out = {}
    for k, v in batch.items():
        if isinstance(v, np.ndarray):
            t = torch.from_numpy(np.ascontiguousarray(v))
            out[k] = t.to(_torch_dtype(torch, dtype)) if v.dtype.kind == "f" else t
        else:
            out[k] = v
    return out


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0


def _grad_norm(grads) -> float:
    return float(np.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads)))


def _replay_dropout(torch, rng: np.random.Generator):
    """A torch.nn.functional.dropout that multiplies by refimpl's mask, drawn from `rng` in call order."""
    def dropout(input, p=0.5, training=True, inplace=False):
        if not training or p == 0.0:
            return input
        dt = np.float64 if input.dtype == torch.float64 else np.float32
        return input * torch.from_numpy(dropout_mask(rng, p, tuple(input.shape), dt))
    return dropout


@contextlib.contextmanager
def _patched_dropout(torch, rng):
    F = torch.nn.functional
    original = F.dropout
    F.dropout = _replay_dropout(torch, rng)
    try:
        yield
    finally:
        F.dropout = original


def _schedules_for(schedule, ref_opt, torch_opt, num_warmup_steps, num_training_steps):
    if schedule is None:
        return None, None
    if schedule not in SCHEDULES:
        raise ConfigError(f"schedule: expected None or one of {list(SCHEDULES)}, got {schedule!r}")
    from transformers import optimization as hf_opt  # noqa: PLC0415 (optional dependency)

    if schedule == "constant":
        return _schedules.get_constant_schedule(ref_opt), hf_opt.get_constant_schedule(torch_opt)
    if schedule == "constant_with_warmup":
        return (_schedules.get_constant_schedule_with_warmup(ref_opt, num_warmup_steps),
                hf_opt.get_constant_schedule_with_warmup(torch_opt, num_warmup_steps))
    ref_fn = getattr(_schedules, f"get_{schedule}_schedule_with_warmup")
    hf_fn = getattr(hf_opt, f"get_{schedule}_schedule_with_warmup")
    return (ref_fn(ref_opt, num_warmup_steps, num_training_steps),
            hf_fn(torch_opt, num_warmup_steps, num_training_steps))


# ============================================================================================ the loop
def train_side_by_side(ref_model: PreTrainedModel, hf_model, batches: Sequence[dict], *, lr: float,
                       weight_decay: float = 0.0, betas=(0.9, 0.999), eps: float = 1e-8,
                       steps: Optional[int] = None, max_grad_norm: Optional[float] = None,
                       schedule: Optional[str] = None, num_warmup_steps: int = 0,
                       param_groups: str = "trainer", dropout_seed: Optional[int] = None,
                       torch_overrides: Optional[dict] = None) -> SideBySideRun:
    """Train both models for `steps` AdamW steps on the same batches; return one StepRecord per step.

    ref_model: a refimpl PreTrainedModel; hf_model: the transformers model with the same parameter
      names, weights and dtype (torch.float64 for a float64 refimpl model).
    batches: a list of dicts of numpy arrays with HF argument names, labels included (the model must
      return a loss); step k (0-based) uses batches[k % len(batches)]. Float arrays must be in the
      model's dtype.
    lr, weight_decay, betas, eps: AdamW's hyperparameters (torch.optim.AdamW's meaning) on both sides.
    steps: number of optimizer steps (default: len(batches)); also the schedule's num_training_steps.
    max_grad_norm: clip the global gradient 2-norm to this before each step (None: no clipping).
    schedule: None (constant lr) or "constant", "constant_with_warmup", "linear", "cosine" with
      num_warmup_steps (transformers' get_*_schedule_with_warmup on the torch side).
    param_groups: "trainer" (no weight decay for biases and norms, as transformers' Trainer) or
      "all" (weight decay on every parameter, AdamW(model.parameters())).
    dropout_seed: None (both in eval mode) or a seed for identical dropout masks (module docstring).
    torch_overrides: AdamW options applied to the torch optimizer only (e.g. {"lr": 1.0001e-3}): a way
      to see what a small disagreement does to the trajectory; leave None for a real comparison.
    Both models are left in the mode used (eval or train) with the trained weights.
    """
    torch = _torch()
    if not isinstance(ref_model, PreTrainedModel):
        raise ConfigError(f"ref_model: expected a refimpl PreTrainedModel, got {type(ref_model).__name__}")
    if not isinstance(hf_model, torch.nn.Module):
        raise ConfigError(f"hf_model: expected a torch.nn.Module (a transformers model), got {type(hf_model).__name__}")
    if isinstance(batches, dict) or not isinstance(batches, (list, tuple)) or not batches:
        raise ConfigError("batches: expected a non-empty list of dicts of arrays (HF argument names)")
    for i, b in enumerate(batches):
        if not isinstance(b, dict):
            raise ConfigError(f"batches[{i}]: expected a dict of arrays, got {type(b).__name__}")
    steps = len(batches) if steps is None else steps
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ConfigError(f"steps: expected an integer >= 1, got {steps!r}")
    if max_grad_norm is not None and (isinstance(max_grad_norm, bool) or not isinstance(max_grad_norm, (int, float))
                                      or not 0 < max_grad_norm < float("inf")):
        raise ConfigError(f"max_grad_norm: expected None or a finite number > 0, got {max_grad_norm!r}")
    if param_groups not in ("trainer", "all"):
        raise ConfigError(f"param_groups: expected 'trainer' or 'all', got {param_groups!r}")
    if dropout_seed is not None and (isinstance(dropout_seed, bool) or not isinstance(dropout_seed, (int, np.integer))):
        raise ConfigError(f"dropout_seed: expected None or an int, got {dropout_seed!r}")

    dtype = ref_model.dtype
    ref_params = dict(ref_model.named_parameters())
    hf_params = dict(hf_model.named_parameters())
    if set(ref_params) != set(hf_params):
        raise ConfigError(f"hf_model: parameter names differ from ref_model's; only refimpl: "
                          f"{sorted(set(ref_params) - set(hf_params))[:5]}, only transformers: "
                          f"{sorted(set(hf_params) - set(ref_params))[:5]}")
    wrong = [n for n, p in hf_params.items() if p.dtype != _torch_dtype(torch, dtype)]
    if wrong:
        raise DTypeError(f"hf_model: parameter {wrong[0]} is {hf_params[wrong[0]].dtype}, ref_model is {dtype}; "
                         f"convert it (hf_model.double() / .float()) first")
    names = [n for n, p in ref_params.items() if p.requires_grad]
    if [n for n in names if not hf_params[n].requires_grad]:
        raise ConfigError("hf_model: requires_grad differs from ref_model's for some parameters; freeze the same ones")

    def np_param(name):
        return hf_params[name].detach().cpu().numpy()

    initial = max(_max_abs(ref_params[n].data, np_param(n)) for n in ref_params)

    # ---- optimizers: the same groups (by name) on both sides
    decay = set(decay_parameter_names(ref_model)) if param_groups == "trainer" else set(names)
    group_names = [[n for n in names if n in decay], [n for n in names if n not in decay]]
    wds = [weight_decay, 0.0]
    ref_groups = [{"params": [(n, ref_params[n]) for n in g], "weight_decay": wd}
                  for g, wd in zip(group_names, wds) if g]
    torch_groups = [{"params": [hf_params[n] for n in g], "weight_decay": wd} for g, wd in zip(group_names, wds) if g]
    ref_opt = AdamW(ref_groups, lr=lr, betas=tuple(betas), eps=eps)
    torch_kw = {**dict(lr=lr, betas=tuple(betas), eps=eps), **(torch_overrides or {})}
    torch_opt = torch.optim.AdamW(torch_groups, **torch_kw)
    ref_sched, torch_sched = _schedules_for(schedule, ref_opt, torch_opt, num_warmup_steps, steps)

    training = dropout_seed is not None
    ref_model.train(training)
    hf_model.train(training)

    records = []
    for k in range(steps):
        batch = batches[k % len(batches)]
        lr_ref, lr_torch = ref_opt.param_groups[0]["lr"], torch_opt.param_groups[0]["lr"]
        ref_opt.zero_grad()
        torch_opt.zero_grad(set_to_none=True)

        # forward + backward, the same dropout masks when training
        ref_kw = dict(rng=np.random.default_rng([dropout_seed, k])) if training else {}
        out = ref_model(**batch, **ref_kw)
        if getattr(out, "loss", None) is None:
            raise ConfigError(f"batches[{k % len(batches)}]: the model returned no loss; include the labels")
        ref_model.backward()
        patch = (_patched_dropout(torch, np.random.default_rng([dropout_seed, k])) if training
                 else contextlib.nullcontext())
        with patch:
            t_out = hf_model(**_to_torch(batch, torch, dtype))
        t_out.loss.backward()

        ref_grads = {n: (ref_params[n].grad if ref_params[n].grad is not None else np.zeros_like(ref_params[n].data))
                     for n in names}
        t_grads = {n: (hf_params[n].grad.detach().cpu().numpy() if hf_params[n].grad is not None
                       else np.zeros(tuple(hf_params[n].shape), dtype)) for n in names}
        grad_diffs = {n: _max_abs(ref_grads[n], t_grads[n]) for n in names}
        if max_grad_norm is not None:
            norm_ref = float(clip_grad_norm_([ref_params[n] for n in names], max_grad_norm))
            norm_torch = float(torch.nn.utils.clip_grad_norm_([hf_params[n] for n in names], max_grad_norm))
        else:
            norm_ref, norm_torch = _grad_norm(ref_grads.values()), _grad_norm(t_grads.values())

        ref_opt.step()
        torch_opt.step()
        if ref_sched is not None:
            ref_sched.step()
            torch_sched.step()
        records.append(StepRecord(step=k + 1, lr_ref=float(lr_ref), lr_torch=float(lr_torch),
                                  loss_ref=float(np.asarray(out.loss)), loss_torch=float(t_out.loss.item()),
                                  grad_norm_ref=norm_ref, grad_norm_torch=norm_torch, grad_diffs=grad_diffs,
                                  param_diffs={n: _max_abs(ref_params[n].data, np_param(n)) for n in ref_params}))
    return SideBySideRun(records, initial_param_diff=initial)
