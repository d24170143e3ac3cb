"""Parity helpers: a refimpl layer (or function) against its PyTorch counterpart, forward and backward.

Both sides get the same weights (torch's state_dict loaded into the refimpl module by HF key), the
same inputs and the same random cotangent; outputs, input gradients and every parameter gradient are
compared with refimpl.testing.compare. torch is imported lazily (it is an optional dependency).
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from ..core.grad_mode import enable_grad
from ..core.module import Module
from .assert_close import Comparison, compare


class ParityReport(list):
    """A list of Comparison rows (outputs, input grads, parameter grads), in that order."""

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self)

    def first_failure(self) -> Optional[Comparison]:
        return next((c for c in self if not c.ok), None)

    def format(self) -> str:
        lines = [f"{'what':48s} {'shape':>18s} {'max abs':>10s} {'max rel':>10s}  status"]
        for c in self:
            lines.append(f"{c.name[:48]:48s} {str(c.shape):>18s} {c.max_abs:10.2e} {c.max_rel:10.2e}  "
                         f"{'ok' if c.ok else 'FAIL'}")
        return "\n".join(lines)

    def assert_ok(self) -> "ParityReport":
        if not self.ok:
            details = "\n".join(c.describe() for c in self if not c.ok)
            raise AssertionError("parity with torch failed:\n" + self.format() + "\n" + details)
        return self


def torch_dtype(dtype):
    """The torch dtype of a NumPy float64/float32 dtype."""
    import torch
    return {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}[np.dtype(dtype)]


def to_torch_inputs(inputs, dtype, requires_grad=True):
    """Float arrays -> leaf tensors of `dtype` with requires_grad; other arrays -> tensors; rest unchanged."""
    import torch
    out = []
    for x in inputs:
        if isinstance(x, np.ndarray):
            t = torch.from_numpy(np.ascontiguousarray(x).reshape(x.shape))  # keeps 0-d arrays 0-d
            if np.issubdtype(x.dtype, np.floating):
                t = t.to(torch_dtype(dtype)).requires_grad_(requires_grad)
            out.append(t)
        else:
            out.append(x)
    return out


def _tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _np(t):
    return None if t is None else t.detach().cpu().numpy()


def _float_like(o):
    return isinstance(o, np.ndarray) and np.issubdtype(o.dtype, np.floating) or isinstance(o, (float, np.floating))


def _run_and_compare(ref_forward, ref_backward, torch_forward, inputs, *, dtype, seed, rtol, atol,
                     output_names, ref_param_grads, torch_param_grads, grad_outputs):
    import torch
    dtype = np.dtype(dtype)
    t_inputs = to_torch_inputs(inputs, dtype)
    t_out = _tuple(torch_forward(*t_inputs))
    with enable_grad():
        r_out = _tuple(ref_forward(*inputs))
    if len(t_out) != len(r_out):
        raise AssertionError(f"refimpl returned {len(r_out)} outputs, torch {len(t_out)}")
    rng = np.random.default_rng(seed)
    if grad_outputs is None:
        grad_outputs = [rng.standard_normal(np.shape(o)).astype(dtype) if _float_like(o) else None for o in r_out]
    report = ParityReport()
    names = list(output_names or [f"output {i}" for i in range(len(r_out))])
    for name, r, t in zip(names, r_out, t_out):
        report.append(compare(np.asarray(r), _np(t), dtype=dtype, rtol=rtol, atol=atol, name=name))
    t_pairs = [(t, torch.from_numpy(np.asarray(g)).to(t.dtype)) for t, g in zip(t_out, grad_outputs)
               if g is not None and isinstance(t, torch.Tensor) and t.requires_grad]
    if t_pairs:
        torch.autograd.backward([p[0] for p in t_pairs], [p[1] for p in t_pairs])
    r_grads = _tuple(ref_backward(*[g if g is None or np.ndim(g) else dtype.type(g) for g in grad_outputs]))
    float_inputs = [(i, t) for i, t in enumerate(t_inputs) if isinstance(t, torch.Tensor) and t.requires_grad]
    for (i, t), g in zip(float_inputs, r_grads):
        tg = _np(t.grad)
        if tg is None:
            tg = np.zeros(t.shape, dtype)
        if g is None:
            g = np.zeros(t.shape, dtype)
        report.append(compare(g, tg, dtype=dtype, rtol=rtol, atol=atol, name=f"grad input {i}"))
    for name, rg in ref_param_grads().items():
        tg = torch_param_grads().get(name)
        if rg is None and tg is None:
            continue
        shape = (rg if rg is not None else tg).shape
        report.append(compare(np.zeros(shape, dtype) if rg is None else rg,
                              np.zeros(shape, dtype) if tg is None else tg,
                              dtype=dtype, rtol=rtol, atol=atol, name=f"grad {name}"))
    return report


def compare_module_with_torch(ref: Module, torch_module, inputs: Sequence, *, dtype=np.float64,
                              kwargs: Optional[dict] = None, torch_kwargs: Optional[dict] = None,
                              copy_weights: bool = True, seed: int = 0, rtol: Optional[float] = None,
                              atol: Optional[float] = None, output_names=None, grad_outputs=None) -> ParityReport:
    """Run `ref` and `torch_module` on the same inputs and compare outputs and all gradients.

    ref: a refimpl Module whose parameter names equal torch_module's state_dict keys.
    torch_module: a torch.nn.Module; it is converted to `dtype` (float32/float64) in place.
    inputs: positional numpy inputs; float ones become torch leaves with requires_grad.
    kwargs / torch_kwargs: extra keyword arguments for each side's forward (torch_kwargs defaults to kwargs).
    copy_weights: load torch's state_dict into ref (strict) before running.
    Returns a ParityReport (call .assert_ok() to raise with a table).
    """
    kwargs = dict(kwargs or {})
    torch_kwargs = kwargs if torch_kwargs is None else dict(torch_kwargs)
    torch_module.to(torch_dtype(dtype))
    if copy_weights:
        ref.load_state_dict({k: v.detach().cpu().numpy() for k, v in torch_module.state_dict().items()})
    ref.to(dtype)
    ref.zero_grad()
    torch_module.zero_grad(set_to_none=True)
    t_params = dict(torch_module.named_parameters())
    return _run_and_compare(
        lambda *xs: ref.forward(*xs, **kwargs), ref.backward,
        lambda *xs: torch_module(*xs, **torch_kwargs), inputs, dtype=dtype, seed=seed, rtol=rtol, atol=atol,
        output_names=output_names, grad_outputs=grad_outputs,
        ref_param_grads=lambda: {n: p.grad for n, p in ref.named_parameters() if p.requires_grad},
        torch_param_grads=lambda: {n: _np(p.grad) for n, p in t_params.items()})


def compare_function_with_torch(ref_forward: Callable, ref_backward: Callable, torch_forward: Callable,
                                inputs: Sequence, *, dtype=np.float64, seed: int = 0, rtol: Optional[float] = None,
                                atol: Optional[float] = None, output_names=None, grad_outputs=None) -> ParityReport:
    """Same as compare_module_with_torch for a functional pair.

    ref_forward(*inputs) -> output(s); ref_backward(*grad_outputs) -> one gradient per float input, in
    order (close over the inputs, e.g. `lambda dy: gelu_backward(dy, x)`). torch_forward(*tensors).
    """
    return _run_and_compare(ref_forward, ref_backward, torch_forward, inputs, dtype=dtype, seed=seed,
                            rtol=rtol, atol=atol, output_names=output_names, grad_outputs=grad_outputs,
                            ref_param_grads=dict, torch_param_grads=dict)
