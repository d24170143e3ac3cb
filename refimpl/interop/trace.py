"""Per-module traces: every submodule's forward output (and backward gradient) recorded by its dotted name.

    with trace_modules(model) as tr:          # refimpl: wraps each submodule's forward/backward
        out = model(**inputs); model.backward()
    tr.outputs["bert.encoder.layer.0.attention.output"]   -> [array (B, L, E)]   one entry per call
    tr.order                                               -> [(name, call), ...] in completion order

    with trace_torch_modules(hf_model) as tt: # transformers / torch: forward hooks + tensor grad hooks
        ...

A record is the FIRST float array of what the module returned: the array itself, the first float array
inside a tuple/list (recursively), or the first float value of a ModelOutput / mapping. The backward
record is the gradient with respect to that same output: the first argument of refimpl's
`backward(*grad_outputs)`, and on the torch side the gradient a hook on the output tensor receives.
Both are the TOTAL gradient of the output (refimpl modules get one backward per forward, with every
use already summed; a torch tensor hook fires once with the accumulated gradient).

Names are the dotted paths of `named_modules()` (a shared module is traced under its first name),
which in refimpl are the Hugging Face checkpoint paths ("bert.encoder.layer.0.attention.output"). A
module called k times in one forward has k records, in call order (and k backward records, which
refimpl and torch both deliver in reverse; they are stored re-ordered to match the forward calls).

The refimpl trace wraps from outside, without touching refimpl.core: for each traced instance it sets
an instance attribute `forward` (and `backward`) that calls the class method and records the result.
Module.__call__ calls `self.forward`, so the instance attribute is found first; on exit the attributes
are removed (an attribute that was there before, e.g. an outer trace's wrapper, is put back) and the
instances are as before. PreTrainedModel backward (keyword gradients by output name,
where a head passes last_hidden_state and pooler_output separately while torch sees one total gradient)
is not wrapped: the forward of a nested base model is recorded, its output gradient is not.
"""
from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

__all__ = ["Trace", "first_float_array", "trace_modules", "trace_torch_modules", "torch_first_tensor"]


@dataclass
class Trace:
    """Recorded module outputs and output gradients, by dotted module name.

    outputs: {name: [first float output of call 0, call 1, ...]}   (NumPy arrays, copies)
    inputs:  {name: [first float positional input of each call or None]}
    grads:   {name: [d loss / d output of call 0, call 1, ...]}     (None where no gradient arrived)
    order:      [(name, call index)] in forward COMPLETION order (children before their parent)
    grad_order: [(name, call index)] in the order backward reached them
    types:   {name: class name of the module}
    """
    outputs: Dict[str, List[np.ndarray]] = field(default_factory=OrderedDict)
    inputs: Dict[str, List[Optional[np.ndarray]]] = field(default_factory=OrderedDict)
    grads: Dict[str, List[Optional[np.ndarray]]] = field(default_factory=OrderedDict)
    order: List[Tuple[str, int]] = field(default_factory=list)
    grad_order: List[Tuple[str, int]] = field(default_factory=list)
    types: Dict[str, str] = field(default_factory=dict)

    def output(self, name: str, call: int = 0) -> np.ndarray:
        """The recorded output of `name` (its `call`-th call)."""
        return self.outputs[name][call]

    def grad(self, name: str, call: int = 0) -> Optional[np.ndarray]:
        """The recorded gradient of `name`'s output (its `call`-th forward call), or None."""
        g = self.grads.get(name)
        return None if g is None or call >= len(g) else g[call]

    def _record_output(self, name, value, first_input):
        calls = self.outputs.setdefault(name, [])
        calls.append(value)
        self.inputs.setdefault(name, []).append(first_input)
        self.order.append((name, len(calls) - 1))
        return len(calls) - 1

    def _record_grad(self, name, call, value):
        n = len(self.outputs.get(name, ()))
        g = self.grads.setdefault(name, [None] * n)
        if len(g) < n:
            g.extend([None] * (n - len(g)))
        if 0 <= call < len(g):
            g[call] = value
            self.grad_order.append((name, call))


# ============================================================================================ refimpl side
def first_float_array(value) -> Optional[np.ndarray]:
    """The first floating-point NumPy array in `value` (array, tuple/list, mapping / ModelOutput), else None."""
    if isinstance(value, np.ndarray):
        return value if value.dtype.kind == "f" else None
    if isinstance(value, (tuple, list)):
        for v in value:
            a = first_float_array(v)
            if a is not None:
                return a
        return None
    if isinstance(value, Mapping):
        for k in list(value.keys()):
            a = first_float_array(value[k])
            if a is not None:
                return a
    return None


_MISSING = object()


def _copy(a):
    return None if a is None else np.array(a, copy=True)


@contextlib.contextmanager
def trace_modules(model, *, prefix: str = "", record_inputs: bool = False, record_grads: bool = True,
                  include_root: bool = False):
    """Record every submodule's forward output (and backward output-gradient) of a refimpl model by name.

    model: a refimpl Module. prefix: prepended to every name. record_inputs: also keep the first float
    positional input of each call. record_grads: wrap `backward` too. include_root: trace the model itself
    (name "" or `prefix`); off by default since the root's output is compared field by field.
    Yields a Trace that fills as the model runs; the wrapping is removed on exit.
    """
    from ..core.model import PreTrainedModel

    trace = Trace()
    wrapped = []
    pending: Dict[int, List[int]] = {}   # id(module) -> stack of forward call indices awaiting backward

    for name, mod in model.named_modules(prefix):
        if not include_root and mod is model:
            continue
        trace.types[name] = type(mod).__name__
        fwd, bwd = mod.forward, mod.backward     # bound now (an existing instance patch is kept)

        def forward(*args, __name=name, __fwd=fwd, __mod=mod, **kwargs):
            out = __fwd(*args, **kwargs)
            first_in = _copy(first_float_array(args)) if record_inputs else None
            call = trace._record_output(__name, _copy(first_float_array(out)), first_in)
            pending.setdefault(id(__mod), []).append(call)
            return out

        def backward(*grad_outputs, __name=name, __bwd=bwd, __mod=mod, **grads):
            stack = pending.get(id(__mod))
            call = stack.pop() if stack else -1
            g = first_float_array(grad_outputs) if grad_outputs else None
            trace._record_grad(__name, call, _copy(g))
            return __bwd(*grad_outputs, **grads)

        # what the instance held before (nothing, or an outer trace's wrapper), restored on exit
        wrapped.append((mod, {k: mod.__dict__.get(k, _MISSING) for k in ("forward", "backward")}))
        object.__setattr__(mod, "forward", forward)
        if record_grads and not isinstance(mod, PreTrainedModel):
            object.__setattr__(mod, "backward", backward)
    try:
        yield trace
    finally:
        for mod, before in wrapped:
            for k, v in before.items():
                if v is _MISSING:
                    mod.__dict__.pop(k, None)
                else:
                    object.__setattr__(mod, k, v)


# ============================================================================================ torch side
def torch_first_tensor(value):
    """The first floating-point torch tensor in `value` (tensor, tuple/list, ModelOutput / mapping), else None."""
    import torch
    if isinstance(value, torch.Tensor):
        return value if value.is_floating_point() else None
    if isinstance(value, (tuple, list)):
        for v in value:
            t = torch_first_tensor(v)
            if t is not None:
                return t
        return None
    if isinstance(value, Mapping):
        for k in list(value.keys()):
            t = torch_first_tensor(value[k])
            if t is not None:
                return t
    return None


def _to_np(t):
    t = t.detach().cpu()
    if str(t.dtype) in ("torch.bfloat16", "torch.float16"):
        t = t.float()
    return t.numpy().copy()


@contextlib.contextmanager
def trace_torch_modules(model, *, names: Optional[Dict[str, str]] = None, record_inputs: bool = False,
                        record_grads: bool = True, include_root: bool = False):
    """Record every submodule's forward output (and the gradient of that output) of a torch model by name.

    names: optional {live torch name: name to record under} (e.g. checkpoint paths where transformers
    renames modules on load); modules absent from a given mapping are recorded under their live name.
    Forward hooks record the first float tensor of each output; when it requires grad, a tensor hook
    records d loss / d output during backward (not for a module that returns one of its inputs as is,
    e.g. Dropout in eval, whose tensor carries the gradients of all its other consumers too).
    Yields a Trace; every hook is removed on exit.
    """
    trace = Trace()
    handles = []
    for live, mod in model.named_modules():
        if not include_root and mod is model:
            continue
        name = names.get(live, live) if names else live
        trace.types[name] = type(mod).__name__

        def hook(module, args, kwargs, out, __name=name):
            t = torch_first_tensor(out)
            first_in = None
            if record_inputs:
                ti = torch_first_tensor(tuple(args)) if args else None
                if ti is None and kwargs:
                    ti = torch_first_tensor(list(kwargs.values()))
                first_in = None if ti is None else _to_np(ti)
            call = trace._record_output(__name, None if t is None else _to_np(t), first_in)
            # a module that returns its input object (Dropout in eval, Identity) would see the gradient of every
            # other consumer of that tensor too, not just its own: no gradient record for it
            passthrough = t is not None and any(a is t for a in list(args) + list(kwargs.values()))
            if record_grads and t is not None and t.requires_grad and not passthrough:
                t.register_hook(lambda g, __c=call: trace._record_grad(__name, __c, _to_np(g)))

        handles.append(mod.register_forward_hook(hook, with_kwargs=True))
    try:
        yield trace
    finally:
        for h in handles:
            h.remove()
