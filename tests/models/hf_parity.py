"""Shared helpers for model-vs-transformers parity tests (imported by tests/models/<family>/test_*.py).

The reference and the transformers model get the same weights (HF state_dict -> load_state_dict),
the same integer inputs and the same float inputs (torch leaves with requires_grad); outputs,
the loss, the input gradient and EVERY parameter gradient (by HF name) are compared with
refimpl.testing.compare at the dtype's default tolerance.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np

from refimpl.functional.dropout import dropout_mask
from refimpl.testing import ParityReport, compare


def randomize_(hf_model, torch, seed: int = 0, std: float = 0.25):
    """Re-draw every parameter (LayerNorm weights near 1), in float64, so no block is near-identity."""
    g = torch.Generator().manual_seed(seed)
    hf_model.double()
    with torch.no_grad():
        for name, p in hf_model.named_parameters():
            r = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if "LayerNorm" in name or "layer_norm" in name:
                p.copy_(1.0 + 0.2 * r if name.endswith("weight") else 0.2 * r)
            else:
                p.copy_(std * r)
    return hf_model


def to_torch(inputs: dict, torch, dtype) -> dict:
    """numpy inputs -> tensors; float ones become leaves of `dtype` that require grad."""
    out = {}
    tdt = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}[np.dtype(dtype)]
    for k, v in inputs.items():
        if isinstance(v, np.ndarray):
            t = torch.from_numpy(np.ascontiguousarray(v))
            if v.dtype.kind == "f":
                t = t.to(tdt)
                if k == "inputs_embeds":
                    t.requires_grad_(True)
            out[k] = t
        else:
            out[k] = v
    return out


def _np(t):
    return t.detach().cpu().numpy()


def run_parity(ref, hf, inputs: dict, *, dtype, torch, fields: Sequence[str], cotangent_fields: Sequence[str] = (),
               seed: int = 0, extra_kwargs: Optional[dict] = None, ref_kwargs: Optional[dict] = None) -> ParityReport:
    """Forward both models on `inputs` and compare `fields`, then backward and compare every gradient.

    fields: output names to compare (tuples such as hidden_states are compared entry by entry).
    Backward: d loss when the outputs have a loss; plus random cotangents on `cotangent_fields`
    (entries of tuple fields each get one). hf must already be in `dtype` and in the same mode as ref.
    """
    dtype = np.dtype(dtype)
    extra = dict(extra_kwargs or {})
    t_in = to_torch(inputs, torch, dtype)
    hf.zero_grad(set_to_none=True)
    ref.zero_grad()
    t_out = hf(**t_in, **extra)
    r_out = ref(**inputs, **extra, **dict(ref_kwargs or {}))
    report = ParityReport()
    for f in fields:
        r, t = r_out[f], getattr(t_out, f)
        if isinstance(r, tuple):
            if len(r) != len(t):
                raise AssertionError(f"{f}: refimpl gives {len(r)} entries, transformers {len(t)}")
            for i, (ri, ti) in enumerate(zip(r, t)):
                report.append(compare(ri, _np(ti), dtype=dtype, name=f"{f}[{i}]"))
        else:
            report.append(compare(np.asarray(r), _np(t), dtype=dtype, name=f))

    # backward: the loss (if any) plus random cotangents, the same on both sides
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
    if "inputs_embeds" in inputs:
        report.append(compare(r_in_grads["inputs_embeds"], _np(t_in["inputs_embeds"].grad), dtype=dtype,
                              name="grad inputs_embeds"))
    else:
        assert r_in_grads == {}
    report.extend(compare_param_grads(ref, hf, dtype))
    return report


def compare_param_grads(ref, hf, dtype) -> list:
    """One row per parameter, by HF name; a missing gradient counts as zero on either side."""
    t_params = dict(hf.named_parameters())
    r_params = dict(ref.named_parameters())
    assert list(r_params) == list(t_params), (
        f"parameter names differ:\n only refimpl: {sorted(set(r_params) - set(t_params))}\n"
        f" only transformers: {sorted(set(t_params) - set(r_params))}")
    rows = []
    for name, p in r_params.items():
        tg = t_params[name].grad
        rg = p.grad if p.grad is not None else np.zeros(p.shape, dtype)
        tg = _np(tg) if tg is not None else np.zeros(p.shape, dtype)
        rows.append(compare(rg, tg, dtype=dtype, name=f"grad {name}"))
    return rows


def hf_state(hf) -> Dict[str, np.ndarray]:
    return {k: _np(v) for k, v in hf.state_dict().items()}


def numpy_dropout(torch, rng: np.random.Generator):
    """A stand-in for torch.nn.functional.dropout that draws refimpl's masks from `rng`, in call order.

    Patched in during a train-mode transformers forward, it makes transformers use exactly the masks a
    refimpl forward with a generator of the same seed draws (same order, same shapes).
    """
    def dropout(input, p=0.5, training=True, inplace=False):
        if not training or p == 0.0:
            return input
        dt = {torch.float64: np.float64, torch.float32: np.float32}[input.dtype]
        m = dropout_mask(rng, p, tuple(input.shape), dt)
        return input * torch.from_numpy(m)
    return dropout


def summarize(report: ParityReport) -> str:
    """One line: max abs error over outputs and over gradients (for the helper's report)."""
    out = [c.max_abs for c in report if not c.name.startswith("grad")]
    grad = [c.max_abs for c in report if c.name.startswith("grad")]
    return f"outputs {max(out, default=0):.2e}  grads {max(grad, default=0):.2e}"


# ------------------------------------------------------------------------------------------- inputs
def padded_batch(vocab: int, seq_len: int, lengths=(7, 5, 3), seed: int = 0, pairs: bool = True) -> dict:
    """input_ids with trailing padding (id 0) and attention_mask; token_type_ids of sentence pairs if `pairs`."""
    r = np.random.default_rng(seed)
    b = len(lengths)
    ids = r.integers(1, vocab, (b, seq_len))
    mask = np.zeros((b, seq_len), np.int64)
    tt = np.zeros((b, seq_len), np.int64)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
        ids[i, n:] = 0
        tt[i, n // 2:n] = 1                                   # second segment of the pair
    out = dict(input_ids=ids, attention_mask=mask)
    if pairs:
        out["token_type_ids"] = tt
    return out


def labels_for(kind: str, inputs: dict, dtype, vocab: int, num_labels: int = 3, seed: int = 1) -> dict:
    """Labels of each head kind for a batch from padded_batch (ignored positions: -100 / out-of-window)."""
    r = np.random.default_rng(seed)
    mask = inputs["attention_mask"]
    b, n = mask.shape
    tokens = np.where((r.random((b, n)) < 0.5) & (mask == 1), r.integers(0, vocab, (b, n)), -100)
    tokens[0, 0] = 3                                          # at least one counted token
    if kind == "pretraining":
        return dict(labels=tokens, next_sentence_label=r.integers(0, 2, b))
    if kind == "mlm":
        return dict(labels=tokens)
    if kind == "nsp":
        return dict(labels=r.integers(0, 2, b))
    if kind == "regression":
        return dict(labels=r.standard_normal(b).astype(dtype))
    if kind == "single":
        return dict(labels=r.integers(0, num_labels, b))
    if kind == "multi":
        return dict(labels=(r.random((b, num_labels)) < 0.5).astype(dtype))
    if kind == "token":
        return dict(labels=np.where(mask == 1, r.integers(0, num_labels, (b, n)), -100))
    if kind == "qa":                                          # 4 * n is beyond L: clamped to L and ignored
        start = r.integers(0, n, b)
        start[1] = 4 * n
        return dict(start_positions=start, end_positions=r.integers(0, n, b))
    raise ValueError(kind)
