"""Shared helpers for model-vs-transformers parity tests (imported by tests/models/<family>/test_*.py).

The reference and the transformers model get the same weights (transformers' state dict under its
CHECKPOINT keys -> load_state_dict), the same integer inputs and the same float inputs; the float inputs
that take a gradient (the refimpl model's `differentiable_inputs`: inputs_embeds, pixel_values,
input_values) become torch leaves that require grad. Outputs, the loss, those input gradients and EVERY
parameter gradient (matched by checkpoint key) are compared with refimpl.testing.compare at the dtype's
default tolerance.

Checkpoint keys: transformers 5.24 renames some families on load (ViT: `encoder.layer.N.attention.attention.query`
-> `layers.N.attention.q_proj`, ...) and back on save_pretrained; refimpl uses the checkpoint keys, so
transformers' live names are mapped through its own revert_weight_conversion (the identity for the families
it does not rename).

Randomness hooks: numpy_dropout (torch.nn.functional.dropout) and numpy_rand (torch.rand, drop path) make a
train-mode transformers forward draw exactly the masks a refimpl forward with a Generator of the same seed
draws. The quirks of one family (its float32 islands) live in that family's folder.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Dict, Optional, Sequence

import numpy as np

from refimpl.functional.dropout import dropout_mask
from refimpl.testing import ParityReport, assert_close, compare

# the float inputs that take a gradient, over all families (each model's differentiable_inputs)
GRAD_INPUTS = ("inputs_embeds", "pixel_values", "input_values")


def _np(t):
    return t.detach().cpu().numpy()


# ------------------------------------------------------------------------------------------- weights
def randomize_(hf_model, torch, seed: int = 0, std: float = 0.25, norms: str = "name"):
    """Re-draw every parameter in float64 so no block is near-identity: norm weights near 1 (biases near 0),
    the rest N(0, std^2) (ConvNeXT's layer scale starts at 1e-6 and GRN at 0, for instance).

    norms: which parameters are a norm's. "name": the name contains LayerNorm / layer_norm (BERT, DistilBERT,
    Wav2Vec2; GPT-2's ln_* are then drawn like the rest). "type": the parameters of torch.nn.LayerNorm
    modules (ViT's layernorm_before / after, ConvNeXT).
    """
    g = torch.Generator().manual_seed(seed)
    hf_model.double()
    if norms == "type":
        layer_norms = [m for m in hf_model.modules() if isinstance(m, torch.nn.LayerNorm)]
        norm_params = {id(p) for m in layer_norms for p in m.parameters()}
        norm_weights = {id(m.weight) for m in layer_norms}
    elif norms != "name":
        raise ValueError(f"norms: 'name' or 'type', got {norms!r}")
    with torch.no_grad():
        for name, p in hf_model.named_parameters():
            r = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if norms == "name":
                is_norm, is_weight = "LayerNorm" in name or "layer_norm" in name, name.endswith("weight")
            else:
                is_norm, is_weight = id(p) in norm_params, id(p) in norm_weights
            if is_norm:
                p.copy_(1.0 + 0.2 * r if is_weight else 0.2 * r)
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


def hf_state(hf_model) -> Dict[str, np.ndarray]:
    """transformers' state dict under checkpoint keys (what save_pretrained writes), as numpy arrays."""
    from transformers.core_model_loading import revert_weight_conversion
    state = revert_weight_conversion(hf_model, dict(hf_model.state_dict()))
    return {k: _np(v) for k, v in state.items()}


def build_pair(ref_cls, hf_model, ref_config, dtype, *, torch, seed: int = 0, norms: str = "name", **ref_kwargs):
    """(refimpl model, transformers model) with the same random weights, both in `dtype` and eval mode:
    hf_model re-drawn by randomize_ (then cast to float32 if dtype is), ref_cls(ref_config, dtype=dtype,
    **ref_kwargs) loaded with its checkpoint state."""
    hf = randomize_(hf_model, torch, seed, norms=norms).eval()
    if np.dtype(dtype) == np.float32:
        hf.float()
    ref = ref_cls(ref_config, dtype=dtype, **ref_kwargs).eval()
    ref.load_state_dict(hf_state(hf))
    return ref, hf


def assert_loads_into_transformers(ref, hf, directory):
    """ref.save_pretrained(directory) loads into transformers (hf's class) with no missing or unexpected key,
    and gives back hf's weights."""
    ref.save_pretrained(directory)
    back, info = type(hf).from_pretrained(directory, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    for k, v in back.state_dict().items():
        assert_close(v.numpy(), hf.state_dict()[k].numpy(), name=k)
    return back


# ------------------------------------------------------------------------------------------- parity
def to_torch(inputs: dict, torch, dtype, grad_inputs: Sequence[str] = GRAD_INPUTS) -> dict:
    """numpy inputs -> tensors; float arrays become `dtype`, those named in grad_inputs leaves that require grad."""
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


def run_parity(ref, hf, inputs: dict, *, dtype, torch, fields: Sequence[str], cotangent_fields: Sequence[str] = (),
               seed: int = 0, extra_kwargs: Optional[dict] = None, ref_kwargs: Optional[dict] = None,
               hf_kwargs: Optional[dict] = None, hf_context: Optional[Callable] = None, cotangent_scale: float = 1.0,
               name_map: Optional[Dict[str, str]] = None) -> ParityReport:
    """Forward both models on `inputs` and compare `fields`, then backward and compare every gradient.

    fields: output names to compare (tuples such as hidden_states are compared entry by entry).
    Backward: d loss when the outputs have a loss (summed if it is not 0-d); plus random cotangents of std
    cotangent_scale on `cotangent_fields` (entries of tuple fields each get one). Then the gradients of the
    float inputs in ref.differentiable_inputs and of every parameter (see compare_param_grads, name_map).
    extra_kwargs go to both models, ref_kwargs to refimpl only (rng, gumbel_noise), hf_kwargs to transformers
    only. hf_context: a factory of a context manager entered around transformers' forward and its backward
    (a patch of its float32 islands, of its random draws). hf must already be in `dtype` and in ref's mode.
    """
    dtype = np.dtype(dtype)
    extra = dict(extra_kwargs or {})
    grad_inputs = tuple(k for k in ref.differentiable_inputs if inputs.get(k) is not None)
    t_in = to_torch(inputs, torch, dtype, grad_inputs)
    hf_context = hf_context or contextlib.nullcontext
    hf.zero_grad(set_to_none=True)
    ref.zero_grad()
    with hf_context():
        t_out = hf(**t_in, **extra, **dict(hf_kwargs or {}))
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

    # backward: the loss (if any) plus random cotangents, the same on both sides
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
    with hf_context():
        sum(t_terms).backward()
    r_in_grads = ref.backward(**r_grads)
    assert set(r_in_grads) == set(grad_inputs), f"input gradients: refimpl gives {sorted(r_in_grads)}"
    for name in grad_inputs:
        report.append(compare(r_in_grads[name], _np(t_in[name].grad), dtype=dtype, name=f"grad {name}"))
    report.extend(compare_param_grads(ref, hf, dtype, name_map))
    return report


def compare_param_grads(ref, hf, dtype, name_map: Optional[Dict[str, str]] = None) -> list:
    """One row per parameter, matched by checkpoint key (name_map: {checkpoint key: refimpl name} where they
    differ); a missing gradient counts as zero on either side. Where transformers renames nothing, the
    names must also come in the same order."""
    names = checkpoint_names(hf)
    if name_map:
        names = {n: name_map.get(k, k) for n, k in names.items()}
    t_params = {names[n]: p for n, p in hf.named_parameters()}
    r_params = dict(ref.named_parameters())
    same = list(r_params) == list(t_params) if all(n == k for n, k in names.items()) else set(r_params) == set(t_params)
    assert same, (f"parameter names differ:\n only refimpl: {sorted(set(r_params) - set(t_params))}\n"
                  f" only transformers: {sorted(set(t_params) - set(r_params))}")
    rows = []
    for name, p in r_params.items():
        tg = t_params[name].grad
        rg = p.grad if p.grad is not None else np.zeros(p.shape, dtype)
        tg = _np(tg) if tg is not None else np.zeros(p.shape, dtype)
        rows.append(compare(rg, tg, dtype=dtype, name=f"grad {name}"))
    return rows


def summarize(report: ParityReport) -> str:
    """One line: max abs error over outputs and over gradients (for the helper's report)."""
    out = [c.max_abs for c in report if not c.name.startswith("grad")]
    grad = [c.max_abs for c in report if c.name.startswith("grad")]
    return f"outputs {max(out, default=0):.2e}  grads {max(grad, default=0):.2e}"


# ------------------------------------------------------------------------------------------- randomness hooks
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


def numpy_rand(torch, rng: np.random.Generator):
    """A stand-in for torch.rand(shape, dtype=..., device=...) drawing rng.random(shape): patched in during a
    transformers forward, it gives drop path the same uniforms a refimpl forward with the same seed draws."""
    def rand(*size, dtype=None, device=None, **kwargs):
        shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)) else size
        u = torch.from_numpy(rng.random(tuple(int(s) for s in shape)))
        return u.to(dtype) if dtype is not None else u.float()
    return rand


# ------------------------------------------------------------------------------------------- inputs
def embeds_of(hf, ids, dtype, seed: int = 5, scale: float = 0.1) -> np.ndarray:
    """transformers' word embeddings of ids plus noise, as the float input (both sides see the same inputs_embeds)."""
    w = hf.get_input_embeddings().weight.detach().numpy()
    noise = np.random.default_rng(seed).standard_normal(ids.shape + (w.shape[1],)).astype(dtype)
    return w[ids].astype(dtype) + noise * scale


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


def _class_labels(r: np.random.Generator, kind: str, batch: int, num_labels: int, dtype) -> np.ndarray:
    if kind == "regression":
        return r.standard_normal(batch).astype(dtype)
    if kind == "single":
        return r.integers(0, num_labels, batch)
    if kind == "multi":
        return (r.random((batch, num_labels)) < 0.5).astype(dtype)
    raise ValueError(kind)


def classification_labels(kind: str, batch: int, num_labels: int, dtype, seed: int = 1) -> np.ndarray:
    """Sequence / image classification labels: "regression" float (B,), "single" int (B,), "multi" 0/1 (B, C)."""
    return _class_labels(np.random.default_rng(seed), kind, batch, num_labels, dtype)


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
    if kind in ("regression", "single", "multi"):
        return dict(labels=_class_labels(r, kind, b, num_labels, dtype))
    if kind == "token":
        return dict(labels=np.where(mask == 1, r.integers(0, num_labels, (b, n)), -100))
    if kind == "qa":                                          # 4 * n is beyond L: clamped to L and ignored
        start = r.integers(0, n, b)
        start[1] = 4 * n
        return dict(start_positions=start, end_positions=r.integers(0, n, b))
    raise ValueError(kind)
