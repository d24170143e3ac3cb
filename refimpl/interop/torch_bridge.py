"""torch tensors <-> NumPy arrays, with every precision change explicit.

torch is optional (the `diff` extra): it is imported on first use, and a missing install raises an
ImportError that says how to get it. Conversions COPY by default, so an array handed to the oracle
never changes when torch later updates its tensor in place (and vice versa).

bfloat16 (and the float8 types) have no NumPy dtype: `to_numpy` upcasts them to float32, which is
exact. float16 stays float16.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Mapping

import numpy as np

from ..core.errors import DTypeError

__all__ = ["import_torch", "is_torch_tensor", "to_numpy", "to_torch", "state_dict_to_numpy", "torch_dtype"]


def import_torch():
    """Import torch, or raise an ImportError naming the extra that provides it."""
    try:
        import torch
    except ImportError as exc:
        raise ImportError(
            "PyTorch is needed for this function but is not installed; install refimpl's `diff` extra: "
            "pip install 'refimpl[diff]'") from exc
    return torch


def is_torch_tensor(x) -> bool:
    """True for a torch.Tensor (checked without importing torch)."""
    return type(x).__module__.startswith("torch") and hasattr(x, "detach") and hasattr(x, "dtype")


def to_numpy(tensor, *, copy: bool = True) -> np.ndarray:
    """torch.Tensor -> np.ndarray: detached, moved to CPU, bfloat16/float8 upcast to float32.

    A NumPy array is passed through (copied when copy=True). copy=False shares memory with a CPU
    tensor where possible (torch's .numpy()).
    """
    if isinstance(tensor, np.ndarray):
        return tensor.copy() if copy else tensor
    if not is_torch_tensor(tensor):
        raise DTypeError(f"tensor: expected a torch.Tensor or numpy.ndarray, got {type(tensor).__name__}")
    torch = import_torch()
    t = tensor.detach()
    if t.device.type != "cpu":
        t = t.cpu()  # already a copy
        copy = False
    if t.dtype == torch.bfloat16 or "float8" in str(t.dtype):
        t = t.to(torch.float32)  # explicit, exact upcast: NumPy has no bfloat16
        copy = False
    if t.is_conj():
        t = t.resolve_conj()
    if t.is_neg():
        t = t.resolve_neg()
    out = t.numpy()
    return out.copy() if copy else out


def torch_dtype(dtype):
    """A NumPy dtype / name ("float32", "bfloat16") / torch dtype -> torch dtype."""
    torch = import_torch()
    if isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(dtype, str) and dtype.replace("torch.", "") == "bfloat16":
        return torch.bfloat16
    try:
        name = np.dtype(dtype).name
    except TypeError as exc:
        raise DTypeError(f"dtype: cannot interpret {dtype!r} as a dtype") from exc
    t = getattr(torch, name, None)
    if not isinstance(t, torch.dtype):
        raise DTypeError(f"dtype: NumPy dtype {name} has no torch equivalent")
    return t


def to_torch(array, dtype=None, requires_grad: bool = False):
    """np.ndarray -> a new CPU torch.Tensor (a copy), optionally converted to `dtype`.

    dtype: None keeps the array's dtype; a NumPy dtype, a name ("float32", "bfloat16") or a torch dtype
    converts explicitly. requires_grad=True makes it a leaf that accumulates .grad (float dtypes only).
    A torch tensor is accepted too (detached and copied).
    """
    torch = import_torch()
    if is_torch_tensor(array):
        t = array.detach().clone()
    elif isinstance(array, np.ndarray):
        # a native-endian C-order copy (astype keeps 0-d arrays 0-d, unlike ascontiguousarray)
        t = torch.from_numpy(array.astype(array.dtype.newbyteorder("="), order="C", copy=True))
    else:
        raise DTypeError(f"array: expected a numpy.ndarray, got {type(array).__name__}")
    if dtype is not None:
        t = t.to(torch_dtype(dtype))
    if requires_grad:
        if not (t.is_floating_point() or t.is_complex()):
            raise DTypeError(f"requires_grad: only float tensors can require gradients, got dtype {t.dtype}")
        t.requires_grad_(True)
    return t


def state_dict_to_numpy(state_dict: Mapping) -> "OrderedDict[str, np.ndarray]":
    """A torch state dict (key -> tensor) -> OrderedDict key -> np.ndarray, same keys, same order.

    Tied tensors (one storage under two keys) become two equal arrays, as in a safetensors file
    written by torch.save + conversion.
    """
    if not isinstance(state_dict, Mapping):
        raise DTypeError(f"state_dict: expected a mapping of key -> tensor, got {type(state_dict).__name__}")
    return OrderedDict((k, to_numpy(v)) for k, v in state_dict.items())
