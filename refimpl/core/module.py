"""Module: the layer protocol every layer, block and model follows.

    y  = m.forward(*inputs)          # saves what backward needs (unless under no_grad())
    dx = m.backward(*grad_outputs)   # returns input grads; ADDS parameter grads into p.grad

Rules (see docs/architecture.md):
- Attributes that are Parameters, Modules or buffers are registered by name, in assignment order,
  so `named_parameters()` yields the Hugging Face state-dict keys ("encoder.layer.0.output.dense.weight").
- forward pushes its saved arrays onto a per-module stack and backward pops them, so a module
  applied k times in one forward (shared heads, tied embeddings) gets k backward calls in reverse order.
- backward returns one gradient per differentiable (float) input: an array if there is one, a tuple
  otherwise; None where an input has no gradient (integer ids).
- dtype is chosen at construction (float64 default) and changed only by `to(dtype)`.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, Iterator, Optional, Tuple

import numpy as np

from .errors import BackwardError, ConfigError, StateDictError
from .grad_mode import is_grad_enabled
from .parameter import Parameter
from .validation import as_dtype


class Module:
    """Base class of every layer and model. Subclasses implement forward and backward."""

    # state-dict keys (relative to this module) that load_state_dict accepts and drops, e.g. the
    # num_batches_tracked a BatchNorm checkpoint carries into a FrozenBatchNorm2d
    ignored_state_keys: Tuple[str, ...] = ()

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_saved", [])
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        # re-assigning keeps the key's position (as torch does), so tying weights never reorders keys
        target = (self._parameters if isinstance(value, Parameter) else
                  self._modules if isinstance(value, Module) else
                  self._buffers if name in self._buffers and (value is None or isinstance(value, np.ndarray))
                  else None)
        for table in (self._parameters, self._modules, self._buffers):
            if table is not target:
                table.pop(name, None)
        if target is not None:
            target[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, array: Optional[np.ndarray], persistent: bool = True) -> None:
        """A non-learnable array that belongs in the state dict (running_mean) unless persistent=False."""
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._buffers[name] = array
        if not persistent:
            self._non_persistent.add(name)
        object.__setattr__(self, name, array)

    def set_buffer(self, name: str, array: np.ndarray) -> None:
        """Replace the value of a registered buffer (keeps registration)."""
        if name not in self._buffers:
            raise ConfigError(f"{type(self).__name__}: no buffer named {name!r}")
        self._buffers[name] = array
        object.__setattr__(self, name, array)

    def register_parameter(self, name: str, param: Optional[Parameter]) -> None:
        if param is None:  # e.g. bias=False: the key does not exist, as in torch
            object.__setattr__(self, name, None)
            return
        setattr(self, name, param)

    # ------------------------------------------------------------------ forward/backward
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, *grad_outputs, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}.backward")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def save_for_backward(self, *values) -> None:
        """Push what backward needs; nothing is kept under no_grad()."""
        if is_grad_enabled():
            self._saved.append(values)

    def saved(self) -> Tuple:
        """Pop the values saved by the matching forward (most recent first)."""
        if not self._saved:
            raise BackwardError(
                f"{type(self).__name__}.backward: no saved forward to differentiate; call forward() "
                f"first, outside no_grad(), and call backward() once per forward()")
        return self._saved.pop()

    def clear_saved(self) -> None:
        """Drop every saved forward in this module and its children (frees memory)."""
        for m in self.modules():
            m._saved.clear()

    # ------------------------------------------------------------------ traversal
    def named_modules(self, prefix: str = "") -> Iterator[Tuple[str, "Module"]]:
        seen = set()

        def walk(mod, pre):
            if id(mod) in seen:
                return
            seen.add(id(mod))
            yield pre, mod
            for n, child in mod._modules.items():
                if child is not None:
                    yield from walk(child, f"{pre}.{n}" if pre else n)

        yield from walk(self, prefix)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def children(self) -> Iterator["Module"]:
        for m in self._modules.values():
            if m is not None:
                yield m

    def named_parameters(self, prefix: str = "", remove_duplicate: bool = True) -> Iterator[Tuple[str, Parameter]]:
        """(HF state-dict key, Parameter) pairs; a shared (tied) Parameter appears once, under its first name."""
        seen = set()
        for mod_name, mod in self._named_modules_all(prefix):
            for n, p in mod._parameters.items():
                if p is None or (remove_duplicate and id(p) in seen):
                    continue
                seen.add(id(p))
                yield (f"{mod_name}.{n}" if mod_name else n), p

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, prefix: str = "", persistent_only: bool = False) -> Iterator[Tuple[str, np.ndarray]]:
        for mod_name, mod in self.named_modules(prefix):
            for n, b in mod._buffers.items():
                if b is None or (persistent_only and n in mod._non_persistent):
                    continue
                yield (f"{mod_name}.{n}" if mod_name else n), b

    def _named_modules_all(self, prefix=""):
        # like named_modules but a shared submodule is visited under every name, so that
        # state_dict lists tied weights under each key HF uses (named_parameters dedups them)
        def walk(mod, pre):
            yield pre, mod
            for n, child in mod._modules.items():
                if child is not None:
                    yield from walk(child, f"{pre}.{n}" if pre else n)
        yield from walk(self, prefix)

    # ------------------------------------------------------------------ state dict
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Every parameter (tied ones under each of their keys) and persistent buffer, by HF key.

        Values are the live arrays (as torch returns live tensors); copy them to keep a snapshot.
        """
        out = OrderedDict()
        for mod_name, mod in self._named_modules_all():
            for n, p in mod._parameters.items():
                if p is not None:
                    out[f"{mod_name}.{n}" if mod_name else n] = p.data
            for n, b in mod._buffers.items():
                if b is not None and n not in mod._non_persistent:
                    out[f"{mod_name}.{n}" if mod_name else n] = b
        return out

    def _state_slots(self) -> Dict[str, Tuple["Module", str, str]]:
        slots = OrderedDict()
        for mod_name, mod in self._named_modules_all():
            for n, p in mod._parameters.items():
                if p is not None:
                    slots[f"{mod_name}.{n}" if mod_name else n] = (mod, n, "param")
            for n, b in mod._buffers.items():
                if b is not None and n not in mod._non_persistent:
                    slots[f"{mod_name}.{n}" if mod_name else n] = (mod, n, "buffer")
        return slots

    def load_state_dict(self, state_dict: Dict[str, np.ndarray], strict: bool = True):
        """Copy arrays into parameters and buffers by key.

        Values are converted to each parameter's own dtype (the module's dtype is the contract;
        a float32 checkpoint loads into a float64 oracle exactly). Integer buffers keep their dtype.
        With strict=True any missing or unexpected key is an error; a mis-shaped key is always an
        error. The error lists every problem at once. Returns (missing_keys, unexpected_keys).
        """
        if not hasattr(state_dict, "items"):
            raise StateDictError(f"state_dict: expected a mapping of key -> array, got {type(state_dict).__name__}")
        slots = self._state_slots()
        ignored = {f"{mod_name}.{k}" if mod_name else k
                   for mod_name, mod in self._named_modules_all() for k in mod.ignored_state_keys}
        missing = [k for k in slots if k not in state_dict]
        unexpected = [k for k in state_dict if k not in slots and k not in ignored]
        mis_shaped = []
        converted = {}
        for k, (mod, n, kind) in slots.items():
            if k not in state_dict:
                continue
            value = _to_numpy(state_dict[k], k)
            current = mod._parameters[n].data if kind == "param" else mod._buffers[n]
            if value.shape != current.shape:
                mis_shaped.append(f"{k}: checkpoint {value.shape} vs module {current.shape}")
                continue
            converted[k] = value.astype(current.dtype, copy=True)
        problems = []
        if mis_shaped:
            problems.append("mis-shaped keys:\n    " + "\n    ".join(mis_shaped))
        if strict and missing:
            problems.append("missing keys:\n    " + "\n    ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys:\n    " + "\n    ".join(unexpected))
        if problems:
            raise StateDictError(f"Error(s) loading state_dict into {type(self).__name__}:\n  " + "\n  ".join(problems))
        for k, value in converted.items():
            mod, n, kind = slots[k]
            if kind == "param":
                mod._parameters[n].data = value
            else:
                mod.set_buffer(n, value)
        return missing, unexpected

    # ------------------------------------------------------------------ modes, grads, dtype
    def train(self, mode: bool = True) -> "Module":
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad = bool(requires_grad)
        return self

    def to(self, dtype) -> "Module":
        """Convert every float parameter and float buffer to `dtype` (float32 or float64); grads are dropped."""
        dt = as_dtype(dtype)
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None:
                    p.data = p.data.astype(dt)
                    p.grad = None
            for n, b in list(m._buffers.items()):
                if b is not None and np.issubdtype(b.dtype, np.floating):
                    m.set_buffer(n, b.astype(dt))
            m._saved.clear()
        return self

    def num_parameters(self, only_trainable: bool = False) -> int:
        return sum(p.size for p in self.parameters() if p.requires_grad or not only_trainable)

    # ------------------------------------------------------------------ repr
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for n, m in self._modules.items():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({n}): {child}")
        return "\n".join(lines) + (")" if len(lines) == 1 else "\n)")


def _to_numpy(value, key: str) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if type(value).__module__.startswith("torch"):
        t = value.detach().cpu()
        if str(t.dtype) == "torch.bfloat16":
            t = t.float()
        return t.numpy()
    raise StateDictError(f"state_dict[{key!r}]: expected a numpy array (or torch tensor), got {type(value).__name__}")


class ModuleList(Module):
    """A list of modules registered as "0", "1", ... (HF's `layer.0.`, `layers.1.`)."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> "ModuleList":
        setattr(self, str(len(self._modules)), module)
        return self

    def __getitem__(self, i):
        if isinstance(i, slice):
            return list(self._modules.values())[i]
        n = len(self._modules)
        if not -n <= i < n:
            raise IndexError(f"ModuleList index {i} out of range for length {n}")
        return self._modules[str(i % n)]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class ModuleDict(Module):
    """Modules registered under string keys."""

    def __init__(self, modules: Optional[Dict[str, Module]] = None):
        super().__init__()
        for k, m in (modules or {}).items():
            setattr(self, k, m)

    def __getitem__(self, k):
        return self._modules[k]

    def __setitem__(self, k, m):
        setattr(self, k, m)

    def __contains__(self, k):
        return k in self._modules

    def __len__(self):
        return len(self._modules)

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()


class Sequential(ModuleList):
    """Applies its modules in order; backward runs them in reverse. Each must take and return one array."""

    def forward(self, x):
        for m in self:
            x = m(x)
        return x

    def backward(self, dy):
        for m in reversed(list(self)):
            dy = m.backward(dy)
        return dy
