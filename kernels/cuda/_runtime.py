"""What the CUDA kernels share: finding CuPy and a GPU, compiling a .cu file (cached), moving arrays.

Nothing here imports CuPy at module import time, so `import kernels.cuda.<op>` works on a machine
without CuPy; the first call of a kernel function raises ConfigError naming the "cuda" backend instead.

Array convention for every op: inputs may be NumPy arrays (copied to the GPU, results copied back
and returned as NumPy) or CuPy arrays (results stay on the GPU, returned as CuPy). Where the results
go follows the op's primary input (q, x, costs, log_probs); other arrays of either kind are accepted.
Validation runs the reference's own check functions; CuPy arrays are shown to them as zero-stride
NumPy stand-ins of the same shape and dtype (`host_proxy`), and the value checks a stand-in cannot
answer (NaN / +inf in a mask) are redone on the device with the reference's messages.
"""
from __future__ import annotations

import functools
import os
import threading
from pathlib import Path
from typing import Dict, Sequence, Tuple

import numpy as np

from refimpl.core.errors import ConfigError

_HERE = Path(__file__).resolve().parent
_lock = threading.Lock()
_modules: Dict[tuple, object] = {}


def require_cupy(op: str):
    """The cupy module, after checking that it imports and sees a GPU; ConfigError naming the backend otherwise."""
    try:
        import cupy
    except ImportError as exc:
        raise ConfigError(
            f"use_kernels('cuda'): the cuda kernel for {op!r} needs CuPy and an NVIDIA GPU, but CuPy is not "
            f"installed ({exc}); install refimpl[cuda] (cupy-cuda12x) or call use_kernels('numba') / "
            f"use_kernels(None)") from exc
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError: no driver / no device
        raise ConfigError(
            f"use_kernels('cuda'): the cuda kernel for {op!r} found no usable GPU ({type(exc).__name__}: {exc}); "
            f"call use_kernels('numba') or use_kernels(None)") from exc
    if n < 1:
        raise ConfigError(f"use_kernels('cuda'): the cuda kernel for {op!r} found no GPU (cudaGetDeviceCount = 0); "
                          f"call use_kernels('numba') or use_kernels(None)")
    return cupy


def cuda_available() -> bool:
    """True when CuPy imports and sees at least one GPU (tests use it to skip)."""
    try:
        require_cupy("probe")
    except ConfigError:
        return False
    return True


def cu_source(name: str) -> str:
    """The text of kernels/cuda/<name>.cu (shipped as package data)."""
    return (_HERE / f"{name}.cu").read_text()


def get_module(name: str, defines: Sequence[Tuple[str, object]] = ()):
    """cupy.RawModule compiled from <name>.cu with -D<key>=<value> for each define; cached per device."""
    import cupy
    dev = cupy.cuda.Device().id
    key = (name, tuple(defines), dev)
    mod = _modules.get(key)
    if mod is None:
        with _lock:
            mod = _modules.get(key)
            if mod is None:
                opts = ("-std=c++14",) + tuple(f"-D{k}={v}" for k, v in defines)
                mod = cupy.RawModule(code=cu_source(name), options=opts)
                _modules[key] = mod
    return mod


@functools.lru_cache(maxsize=None)
def max_shared_bytes(device_id: int) -> int:
    """Largest dynamic shared memory a block may opt into on this device."""
    import cupy
    attrs = cupy.cuda.runtime.getDeviceProperties(device_id)
    return int(attrs.get("sharedMemPerBlockOptin", 0) or attrs.get("sharedMemPerBlock", 48 * 1024))


def launch(fn, grid, block, args, shared_mem: int = 0) -> None:
    """Launch, opting into more than 48 KiB of dynamic shared memory when needed."""
    if shared_mem > 48 * 1024:
        fn.max_dynamic_shared_size_bytes = shared_mem
    fn(grid, block, args, shared_mem=shared_mem)


def is_cupy(x) -> bool:
    return type(x).__module__.split(".")[0] == "cupy"


def host_proxy(x):
    """A NumPy stand-in for a CuPy array (same shape and dtype, zero strides, no copy) for shape/dtype checks;
    anything else is returned unchanged."""
    if is_cupy(x):
        return np.broadcast_to(np.zeros((), x.dtype), x.shape)
    return x


def to_device(x, cupy):
    """x on the current GPU as a C-contiguous CuPy array (None stays None)."""
    if x is None:
        return None
    return cupy.ascontiguousarray(cupy.asarray(x))


def result(x, on_device: bool):
    """Hand back a CuPy result as CuPy (on_device) or NumPy (copied to the host)."""
    if x is None or on_device:
        return x
    return x.get()


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")
