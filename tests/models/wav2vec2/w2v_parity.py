"""Parity helpers for Wav2Vec2: like tests/models/hf_parity.run_parity, with `input_values` as the differentiable
input, 0-d outputs (losses, perplexity) as cotangent fields, and the float64 neutralisation of transformers'
float32 casts (see float64_transformers)."""
from __future__ import annotations

import contextlib
from typing import Optional, Sequence

import numpy as np

from refimpl.testing import ParityReport, compare
from tests.models.hf_parity import compare_param_grads


def _np(t):
    return t.detach().cpu().numpy()


@contextlib.contextmanager
def float64_transformers(torch, enabled: bool = True):
    """Neutralise transformers' float32 islands in a float64 Wav2Vec2 run (HF_TINY_MODELS.md).

    - Tensor.float() is the identity on float64 tensors: Wav2Vec2ForPreTraining calls .float() on the
      cosine-similarity inputs, the contrastive cross-entropy logits, the gumbel-softmax logits and the
      perplexity softmax input (then .type_as back to float64);
    - torch.nn.functional.log_softmax ignores dtype=torch.float32 for float64 input: transformers'
      ForCTCLoss computes log_softmax(logits, dtype=torch.float32).
    Everything else runs unchanged. float32 runs need nothing (the casts are no-ops there).
    """
    if not enabled:
        yield
        return
    orig_float = torch.Tensor.float
    orig_log_softmax = torch.nn.functional.log_softmax

    def float_(self, *args, **kwargs):
        return self if self.dtype == torch.float64 else orig_float(self, *args, **kwargs)

    def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
        if input.dtype == torch.float64 and dtype == torch.float32:
            dtype = None
        return orig_log_softmax(input, dim=dim, dtype=dtype)

    torch.Tensor.float = float_
    torch.nn.functional.log_softmax = log_softmax
    try:
        yield
    finally:
        torch.Tensor.float = orig_float
        torch.nn.functional.log_softmax = orig_log_softmax


def to_torch(inputs: dict, torch, dtype) -> dict:
    tdt = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}[np.dtype(dtype)]
    out = {}
    for k, v in inputs.items():
        if isinstance(v, np.ndarray):
            t = torch.from_numpy(np.ascontiguousarray(v))
            if v.dtype.kind == "f":
                t = t.to(tdt)
                if k == "input_values":
                    t.requires_grad_(True)
            out[k] = t
        else:
            out[k] = v
    return out


def run_parity(ref, hf, inputs: dict, *, dtype, torch, fields: Sequence[str], cotangent_fields: Sequence[str] = (),
               seed: int = 0, extra_kwargs: Optional[dict] = None, ref_kwargs: Optional[dict] = None,
               hf_only_kwargs: Optional[dict] = None, neutralise: bool = True, hf_context=None,
               cotangent_scale: Optional[float] = None) -> ParityReport:
    """Forward both on `inputs`, compare `fields`, backward d loss + random cotangents, compare every gradient.

    ref_kwargs go to refimpl only (rng, gumbel_noise), hf_only_kwargs to transformers only. hf_context: a
    context manager factory entered around transformers' forward (e.g. a gumbel-softmax patch).
    cotangent_scale: std of the random cotangents; default 1 in float64 and 0.1 in float32. The float32 table
    is elementwise (atol 1e-5): standard-normal cotangents on every hidden state, summed over ~100 audio
    samples, give parameter gradients up to ~100 whose float32 rounding (~1e-5 absolute, the same size in
    refimpl and in transformers) exceeds it on the small entries; 0.1 keeps the gradients O(1-10).
    """
    if cotangent_scale is None:
        cotangent_scale = 1.0 if np.dtype(dtype) == np.float64 else 0.1
    dtype = np.dtype(dtype)
    extra = dict(extra_kwargs or {})
    t_in = to_torch(inputs, torch, dtype)
    hf.zero_grad(set_to_none=True)
    ref.zero_grad()
    with float64_transformers(torch, neutralise and dtype == np.float64):
        with (hf_context() if hf_context is not None else contextlib.nullcontext()):
            t_out = hf(**t_in, **extra, **dict(hf_only_kwargs or {}))
    r_out = ref(**inputs, **extra, **dict(ref_kwargs or {}))
    report = ParityReport()
    for f in fields:
        r, t = r_out[f], getattr(t_out, f)
        if isinstance(r, tuple):
            assert len(r) == len(t), f"{f}: refimpl gives {len(r)} entries, transformers {len(t)}"
            for i, (ri, ti) in enumerate(zip(r, t)):
                report.append(compare(ri, _np(ti), dtype=dtype, name=f"{f}[{i}]"))
        else:
            report.append(compare(np.asarray(r), _np(t), dtype=dtype, name=f))
    rng = np.random.default_rng(seed)
    t_terms, r_grads = [], {}
    if "loss" in r_out:
        t_terms.append(t_out.loss.sum())
        r_grads["loss"] = 1.0 if np.ndim(r_out["loss"]) == 0 else np.ones(r_out["loss"].shape, dtype)
    for f in cotangent_fields:
        r, t = r_out[f], getattr(t_out, f)
        if isinstance(r, tuple):
            gs = tuple((cotangent_scale * rng.standard_normal(ri.shape)).astype(dtype) for ri in r)
            r_grads[f] = gs
            t_terms += [(ti * torch.from_numpy(gi)).sum() for ti, gi in zip(t, gs)]
        else:
            g = (cotangent_scale * rng.standard_normal(np.shape(r))).astype(dtype)
            r_grads[f] = g if np.ndim(r) else float(g)
            t_terms.append((t * torch.from_numpy(np.asarray(g))).sum())
    with float64_transformers(torch, neutralise and dtype == np.float64):
        sum(t_terms).backward()
    r_in = ref.backward(**r_grads)
    report.append(compare(r_in["input_values"], _np(t_in["input_values"].grad), dtype=dtype,
                          name="grad input_values"))
    report.extend(compare_param_grads(ref, hf, dtype))
    return report
