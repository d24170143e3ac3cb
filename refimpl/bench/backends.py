"""Which implementations can run here, and the glue to call them.

- reference: the NumPy function, always there (use_kernels(None)).
- numba / cuda: the kernel the dispatcher routes to under use_kernels(backend); a missing kernel
  module (kernels/numba_cpu/ctc.py not written yet, no CuPy, no GPU) is a skip with its reason, never
  a crash. CUDA kernels are called on CuPy arrays (inputs copied to the device before timing,
  results copied back after it) and each call is followed by a stream synchronize inside the timing.
  Lists stay host lists: the matching costs go in as NumPy matrices (the CUDA matching kernel validates
  on the host and copies them itself, as a DETR loss would hand them over).
- torch: imported lazily; set_torch_threads() pins its intra-op threads to the cores available.
"""
from __future__ import annotations

import importlib
import os
from typing import Any, Callable, Optional, Tuple

from ..core.errors import ConfigError
from ..core.kernel_dispatch import dispatch, use_kernels

__all__ = ["cpu_count", "kernel_function", "cuda_unavailable", "cupy_module", "to_device", "to_host",
           "torch_module", "set_torch_threads"]


def cpu_count() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cupy_module():
    try:
        return importlib.import_module("cupy")
    except Exception:       # ImportError, or a CUDA runtime error at import
        return None


def cuda_unavailable() -> Optional[str]:
    """None when CuPy and at least one GPU are there, else the reason."""
    cp = cupy_module()
    if cp is None:
        return "CuPy not installed"
    try:
        n = cp.cuda.runtime.getDeviceCount()
    except Exception as exc:  # no driver
        return f"no CUDA device ({type(exc).__name__}: {exc})"
    return None if n > 0 else "no CUDA device"


def kernel_function(backend: Optional[str], op: str, fn_name: str) -> Tuple[Optional[Callable], Optional[str]]:
    """(function, None) for hot path `op` under use_kernels(backend), or (None, reason) if it is missing."""
    if backend == "cuda":
        reason = cuda_unavailable()
        if reason:
            return None, reason
    try:
        with use_kernels(backend):
            return dispatch(op, fn_name), None
    except ConfigError as exc:
        return None, str(exc)
    except Exception as exc:  # a kernel module that fails to import for another reason
        return None, f"{type(exc).__name__}: {exc}"


def to_device(x: Any) -> Any:
    """numpy array -> CuPy array (others unchanged)."""
    import numpy as np
    cp = cupy_module()
    return cp.asarray(x) if isinstance(x, np.ndarray) else x


def to_host(x: Any) -> Any:
    """CuPy array -> numpy (tuples/lists/dicts recursively; others unchanged)."""
    cp = cupy_module()
    if cp is not None and isinstance(x, cp.ndarray):
        return cp.asnumpy(x)
    if isinstance(x, (tuple, list)):
        return type(x)(to_host(v) for v in x)
    if isinstance(x, dict):
        return {k: to_host(v) for k, v in x.items()}
    return x


def cuda_sync() -> None:
    cupy_module().cuda.get_current_stream().synchronize()


def torch_module():
    try:
        return importlib.import_module("torch")
    except ImportError:
        return None


def set_torch_threads(n: Optional[int] = None) -> Optional[int]:
    """torch.set_num_threads(n or the core count); returns the count in force (None without torch)."""
    torch = torch_module()
    if torch is None:
        return None
    torch.set_num_threads(n or cpu_count())
    return torch.get_num_threads()
