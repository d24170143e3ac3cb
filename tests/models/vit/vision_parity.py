"""Parity helpers for the image models (ViT, ConvNeXT, ConvNeXt V2) against transformers.

Like tests/models/hf_parity.run_parity, generalised in two ways:
- the float input is any named input (pixel_values here): it becomes a torch leaf that requires grad,
  and its gradient is compared;
- parameters are matched by CHECKPOINT key. transformers 5.24 renames some families on load (ViT:
  `encoder.layer.N.attention.attention.query` -> `layers.N.attention.q_proj`, ...) and renames back on
  save_pretrained; refimpl uses the checkpoint keys, so HF's live names are mapped through
  transformers' own revert_weight_conversion.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np

from refimpl.testing import ParityReport, compare


def _np(t):
    return t.detach().cpu().numpy()


def randomize_vision_(hf_model, torch, seed: int = 0, std: float = 0.25):
    """Re-draw every parameter in float64: LayerNorm weights near 1 (biases near 0), the rest N(0, std^2),
    so no block is near-identity (ConvNeXT's layer scale starts at 1e-6, GRN at 0)."""
    g = torch.Generator().manual_seed(seed)
    hf_model.double()
    ln_params = {id(p) for m in hf_model.modules() if isinstance(m, torch.nn.LayerNorm) for p in m.parameters()}
    ln_weights = {id(m.weight) for m in hf_model.modules() if isinstance(m, torch.nn.LayerNorm)}
    with torch.no_grad():
        for _, p in hf_model.named_parameters():
            r = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if id(p) in ln_params:
                p.copy_(1.0 + 0.2 * r if id(p) in ln_weights else 0.2 * r)
            else:
                p.copy_(std * r)
    return hf_model


def checkpoint_names(hf_model) -> Dict[str, str]:
    """{transformers' live parameter name: the key it has in a checkpoint} (identity where not renamed)."""
    import torch
    from transformers.core_model_loading import revert_weight_conversion
    names = [n for n, _ in hf_model.named_parameters()]
    tagged = {n: torch.tensor(float(i)) for i, n in enumerate(names)}
    reverted = revert_weight_conversion(hf_model, dict(tagged))
    by_index = {int(v.item()): k for k, v in reverted.items()}
    return {n: by_index[i] for i, n in enumerate(names)}


def hf_checkpoint_state(hf_model) -> Dict[str, np.ndarray]:
    """transformers' state dict under checkpoint keys (what save_pretrained writes), as numpy arrays."""
    from transformers.core_model_loading import revert_weight_conversion
    state = revert_weight_conversion(hf_model, dict(hf_model.state_dict()))
    return {k: _np(v) for k, v in state.items()}


def to_torch(inputs: dict, torch, dtype, grad_inputs: Sequence[str]) -> dict:
    """numpy -> tensors; float arrays become `dtype`, those named in grad_inputs leaves that require grad."""
    tdt = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}[np.dtype(dtype)]
    out = {}
    for k, v in inputs.items():
        if isinstance(v, np.ndarray):
            t = torch.from_numpy(np.ascontiguousarray(v))
            if v.dtype.kind == "f":
                t = t.to(tdt)
                if k in grad_inputs:
                    t.requires_grad_(True)
            out[k] = t
        else:
            out[k] = v
    return out


def compare_param_grads_by_key(ref, hf, dtype) -> list:
    """One row per parameter, matched by checkpoint key; a missing gradient counts as zero on either side."""
    names = checkpoint_names(hf)
    t_params = {names[n]: p for n, p in hf.named_parameters()}
    r_params = dict(ref.named_parameters())
    assert set(r_params) == set(t_params), (
        f"parameter keys differ:\n only refimpl: {sorted(set(r_params) - set(t_params))}\n"
        f" only transformers: {sorted(set(t_params) - set(r_params))}")
    rows = []
    for name, p in r_params.items():
        tg = t_params[name].grad
        rg = p.grad if p.grad is not None else np.zeros(p.shape, dtype)
        tg = _np(tg) if tg is not None else np.zeros(p.shape, dtype)
        rows.append(compare(rg, tg, dtype=dtype, name=f"grad {name}"))
    return rows


def run_vision_parity(ref, hf, inputs: dict, *, dtype, torch, fields: Sequence[str],
                      cotangent_fields: Sequence[str] = (), grad_inputs: Sequence[str] = ("pixel_values",),
                      seed: int = 0, extra_kwargs: Optional[dict] = None,
                      ref_kwargs: Optional[dict] = None) -> ParityReport:
    """Forward both models, compare `fields`; backward (loss + random cotangents on cotangent_fields) and
    compare the gradients of grad_inputs and of EVERY parameter. hf must be in `dtype` and ref's mode."""
    dtype = np.dtype(dtype)
    extra = dict(extra_kwargs or {})
    t_in = to_torch(inputs, torch, dtype, grad_inputs)
    hf.zero_grad(set_to_none=True)
    ref.zero_grad()
    t_out = hf(**t_in, **extra)
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
        t_terms.append(t_out.loss)
        r_grads["loss"] = 1.0
    for f in cotangent_fields:
        r, t = r_out[f], getattr(t_out, f)
        if isinstance(r, tuple):
            gs = tuple(rng.standard_normal(ri.shape).astype(dtype) for ri in r)
            r_grads[f] = gs
            t_terms += [(ti * torch.from_numpy(gi)).sum() for ti, gi in zip(t, gs)]
        else:
            g = rng.standard_normal(r.shape).astype(dtype)
            r_grads[f] = g
            t_terms.append((t * torch.from_numpy(g)).sum())
    sum(t_terms).backward()
    r_in_grads = ref.backward(**r_grads)
    for name in grad_inputs:
        report.append(compare(r_in_grads[name], _np(t_in[name].grad), dtype=dtype, name=f"grad {name}"))
    report.extend(compare_param_grads_by_key(ref, hf, dtype))
    return report


def summarize(report: ParityReport) -> str:
    out = [c.max_abs for c in report if not c.name.startswith("grad")]
    grad = [c.max_abs for c in report if c.name.startswith("grad")]
    return f"outputs {max(out, default=0):.2e}  grads {max(grad, default=0):.2e}"


def classification_labels(kind: str, batch: int, num_labels: int, dtype, seed: int = 1) -> np.ndarray:
    r = np.random.default_rng(seed)
    if kind == "regression":
        return r.standard_normal(batch).astype(dtype)
    if kind == "single":
        return r.integers(0, num_labels, batch)
    if kind == "multi":
        return (r.random((batch, num_labels)) < 0.5).astype(dtype)
    raise ValueError(kind)


def numpy_rand(torch, rng: np.random.Generator):
    """A stand-in for torch.rand(shape, dtype=..., device=...) drawing rng.random(shape): patched in during a
    transformers forward, it gives drop path the same uniforms a refimpl forward with the same seed draws."""
    def rand(*size, dtype=None, device=None, **kwargs):
        shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)) else size
        u = torch.from_numpy(rng.random(tuple(int(s) for s in shape)))
        return u.to(dtype) if dtype is not None else u.float()
    return rand
