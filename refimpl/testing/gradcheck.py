"""gradcheck: hand-written backward vs central finite differences, in float64, along random directions.

For each differentiable input x_i (and each parameter of a Module) and a random direction u:

    numerical = sum_j < v_j, (f_j(x + eps u) - f_j(x - eps u)) / (2 eps) >   # directional derivative of <v, f>
    analytic  = < dL/dx_i, u >      where dL/dx_i comes from backward(v)

with v a fixed random cotangent for each float output. A wrong gradient term is detected with
probability 1 for a random u; checking inputs and parameters one at a time names the culprit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from ..core.grad_mode import enable_grad, no_grad
from ..core.module import Module


@dataclass
class GradcheckRow:
    name: str
    numerical: float
    analytic: float
    abs_err: float
    ok: bool


class GradcheckReport(list):
    """Rows of GradcheckRow; truthy attribute `ok` when all passed."""

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self)

    def format(self) -> str:
        lines = [f"{'what':40s} {'numerical':>16s} {'analytic':>16s} {'abs err':>10s}  status"]
        for r in self:
            lines.append(f"{r.name:40s} {r.numerical:16.9e} {r.analytic:16.9e} {r.abs_err:10.2e}  "
                         f"{'ok' if r.ok else 'FAIL'}")
        return "\n".join(lines)


def _is_float64(x) -> bool:
    return isinstance(x, np.ndarray) and x.dtype == np.float64


def _as_tuple(out) -> tuple:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _float_outputs(outs):
    return [np.asarray(o) if isinstance(o, (float, np.floating)) else o for o in outs]


def gradcheck(target, inputs: Sequence, *, backward: Optional[Callable] = None, kwargs: Optional[dict] = None,
              wrt: Optional[Sequence[int]] = None, check_params: bool = True, eps: float = 1e-6,
              rtol: float = 1e-6, atol: float = 1e-9, n_directions: int = 2, seed: int = 0,
              raise_on_failure: bool = True) -> GradcheckReport:
    """Check a backward against finite differences.

    target: a Module (forward(*inputs, **kwargs) then backward(*grad_outputs) returns one gradient per
        float positional input: an array if there is one, a tuple otherwise), or a function
        f(*inputs, **kwargs) with `backward(*grad_outputs, *inputs, **kwargs)` returning one gradient
        per positional input (None for non-differentiable ones), a single array if there is one input.
    inputs: positional inputs; float64 arrays among them are differentiated (or those indexed by `wrt`).
        Integer arrays, masks and Python values are passed through unchanged.
    check_params: for a Module, also check every parameter with requires_grad (by its HF name).
    Everything differentiated must be float64 (float32 differences are too noisy to judge by).
    Outputs may be arrays, Python/NumPy scalars (a loss) or tuples of them; non-float outputs are ignored.
    Returns a GradcheckReport; raises AssertionError listing every failing row unless raise_on_failure=False.
    """
    kwargs = dict(kwargs or {})
    inputs = list(inputs)
    is_module = isinstance(target, Module)
    if not is_module and backward is None:
        raise ValueError("gradcheck: a plain function needs backward=...; pass a Module or the backward function")
    float_positions = [i for i, x in enumerate(inputs) if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating)]
    check = list(float_positions if wrt is None else wrt)
    for i in check:
        if not _is_float64(inputs[i]):
            raise ValueError(f"gradcheck: inputs[{i}] must be a float64 array to be differentiated, got "
                             f"{getattr(inputs[i], 'dtype', type(inputs[i]).__name__)}")
    params = []
    if is_module and check_params:
        params = [(n, p) for n, p in target.named_parameters() if p.requires_grad]
        for n, p in params:
            if p.dtype != np.float64:
                raise ValueError(f"gradcheck: parameter {n} must be float64, got {p.dtype}; call module.to(np.float64)")

    fwd = (lambda *xs: target.forward(*xs, **kwargs)) if is_module else (lambda *xs: target(*xs, **kwargs))
    # its own seed stream, so a cotangent never coincides with test data drawn from default_rng(seed)
    rng = np.random.default_rng([seed, 0x6A09E667])

    # ---- analytic pass
    with enable_grad():
        if is_module:
            target.clear_saved()
            target.zero_grad()
        outs = _float_outputs(_as_tuple(fwd(*inputs)))
        cot = [rng.standard_normal(np.shape(o)) if (isinstance(o, np.ndarray) and np.issubdtype(o.dtype, np.floating))
               else None for o in outs]
        cot_args = [c if c is None or np.ndim(c) else float(c) for c in cot]
        if is_module:
            grads = target.backward(*cot_args)
            # None (or an empty tuple) stands for "no input gradient", e.g. Embedding fed integer ids
            grads = () if grads is None and not float_positions else _as_tuple(grads)
            if len(grads) != len(float_positions):
                raise ValueError(f"gradcheck: {type(target).__name__}.backward returned {len(grads)} gradients, "
                                 f"expected one per float input ({len(float_positions)})")
            grad_of = dict(zip(float_positions, grads))
        else:
            grads = _as_tuple(backward(*cot_args, *inputs, **kwargs))
            if len(grads) != len(inputs):
                raise ValueError(f"gradcheck: backward returned {len(grads)} gradients for {len(inputs)} inputs")
            grad_of = dict(enumerate(grads))
    param_grads = {n: (p.grad if p.grad is not None else np.zeros_like(p.data)) for n, p in params}

    def objective():
        with no_grad():
            o = _float_outputs(_as_tuple(fwd(*inputs)))
        return sum(float(np.sum(c * oi)) for c, oi in zip(cot, o) if c is not None)

    # Rounding in f(x +- eps u) is up to ~machine-eps * sum|v * f| per evaluation; divided by 2 eps it
    # is the noise floor of the central difference, added to the tolerance so large outputs don't fail
    # spuriously while real gradient errors (>= 1e-6 relative) still do.
    magnitude = sum(float(np.sum(np.abs(c * oi))) for c, oi in zip(cot, outs) if c is not None)
    noise = 4 * np.finfo(np.float64).eps * magnitude / eps

    report = GradcheckReport()

    def check_one(name, array, analytic_grad, restore):
        for d in range(n_directions):
            u = rng.standard_normal(array.shape)
            orig = array.copy()
            array += eps * u
            f_plus = objective()
            array[...] = orig - eps * u
            f_minus = objective()
            restore(orig)
            numerical = (f_plus - f_minus) / (2 * eps)
            g = np.zeros(array.shape) if analytic_grad is None else np.asarray(analytic_grad, dtype=np.float64)
            if g.shape != array.shape:
                report.append(GradcheckRow(f"{name} (shape {g.shape} != {array.shape})", numerical, np.nan, np.inf, False))
                return
            analytic = float(np.sum(g * u))
            err = abs(numerical - analytic)
            ok = err <= atol + noise + rtol * max(abs(numerical), abs(analytic))
            report.append(GradcheckRow(f"{name} [dir {d}]", numerical, analytic, err, bool(ok)))

    for i in check:
        x = inputs[i]

        def restore(orig, x=x):
            x[...] = orig
        check_one(f"input {i}", x, grad_of.get(i), restore)
    for n, p in params:
        def restore(orig, p=p):
            p.data[...] = orig
        check_one(f"param {n}", p.data, param_grads[n], restore)

    if is_module:
        target.clear_saved()
    if raise_on_failure and not report.ok:
        raise AssertionError("gradcheck failed:\n" + report.format())
    return report
