"""gradcheck for PreTrainedModel: keyword inputs in, ModelOutput fields out.

Adapts a model to the positional protocol refimpl.testing.gradcheck drives: the float inputs to
differentiate become positional inputs, the chosen output fields become the outputs, and parameters
keep their Hugging Face names.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..core.model import PreTrainedModel
from ..core.module import Module
from .gradcheck import GradcheckReport, gradcheck


class _ModelAsFunction(Module):
    def __init__(self, model: PreTrainedModel, fixed: dict, wrt: Sequence[str], outputs: Sequence[str]):
        super().__init__()
        object.__setattr__(self, "model", model)     # not registered: parameter names stay unprefixed
        self.fixed, self.wrt, self.outputs = fixed, tuple(wrt), tuple(outputs)

    def named_parameters(self, prefix: str = "", remove_duplicate: bool = True):
        return self.model.named_parameters(prefix, remove_duplicate)

    def zero_grad(self):
        self.model.zero_grad()

    def clear_saved(self):
        self.model.clear_saved()

    def forward(self, *float_inputs):
        out = self.model(**self.fixed, **dict(zip(self.wrt, float_inputs)))
        missing = [n for n in self.outputs if n not in out]
        if missing:
            raise ValueError(f"gradcheck_model: outputs {missing} were not computed; the model returned {list(out)}")
        return tuple(out[n] for n in self.outputs)

    def backward(self, *grads):
        named = {n: g for n, g in zip(self.outputs, grads) if g is not None}
        result = self.model.backward(**named)
        return tuple(result[n] for n in self.wrt)


def gradcheck_model(model: PreTrainedModel, inputs: dict, *, wrt: Optional[Sequence[str]] = None,
                    outputs: Optional[Sequence[str]] = None, check_params: bool = True,
                    **gradcheck_kwargs) -> GradcheckReport:
    """Finite-difference check of a model's hand-written backward (float64), inputs and all parameters.

    inputs: the keyword inputs by HF name (input_ids, attention_mask, labels, inputs_embeds, ...).
    wrt: float inputs to differentiate (default: the model's differentiable_inputs present in `inputs`).
    outputs: output fields to take a random cotangent on (default: ("loss",) when labels are given,
        else every float array field of one probing forward, tuples such as hidden_states excluded).
    Other keyword arguments go to refimpl.testing.gradcheck (eps, rtol, atol, n_directions, seed).
    Put the model in eval mode first (or give fixed dropout masks): every evaluation must be deterministic.
    """
    if wrt is None:
        wrt = [n for n in model.differentiable_inputs if inputs.get(n) is not None]
    fixed = {k: v for k, v in inputs.items() if k not in wrt}
    if outputs is None:
        from ..core.grad_mode import no_grad
        with no_grad():
            probe = model(**inputs)
        if "loss" in probe:
            outputs = ("loss",)
        else:
            outputs = tuple(k for k, v in probe.items() if isinstance(v, np.ndarray) and v.dtype.kind == "f")
    adapter = _ModelAsFunction(model, fixed, wrt, outputs)
    return gradcheck(adapter, [inputs[n] for n in wrt], check_params=check_params, **gradcheck_kwargs)
