"""What the numbers were measured on: cores, thread counts of every library, versions, load.

Thread counts matter more than anything else for comparing a NumPy/Numba/torch triple on a CPU:
torch's intra-op threads are set to the core count (set_torch_threads), Numba uses
numba.get_num_threads() workers, NumPy's BLAS uses its own pool (OPENBLAS_NUM_THREADS/OMP_NUM_THREADS
if set). The 1-minute load average before and after the run says whether the machine was shared.
"""
from __future__ import annotations

import os
import platform
import sys
import time
from typing import Any, Dict, Optional

from .backends import cpu_count, cuda_unavailable, set_torch_threads, torch_module

__all__ = ["collect_environment", "load_average"]

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
                "NUMBA_THREADING_LAYER")


def load_average() -> Optional[float]:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _version(name: str) -> Optional[str]:
    try:
        return getattr(__import__(name), "__version__", "?")
    except Exception:
        return None


def _numpy_blas() -> Optional[str]:
    import numpy as np
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:
        return None


def collect_environment(torch_threads: Optional[int] = None) -> Dict[str, Any]:
    """Sets torch's threads (to `torch_threads` or the core count) and returns the environment record."""
    env: Dict[str, Any] = {
        "time": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "host": platform.node(), "platform": platform.platform(), "processor": platform.processor() or None,
        "python": sys.version.split()[0], "cpu_count": cpu_count(), "os_cpu_count": os.cpu_count(),
        "load_avg_1min_start": load_average(),
        "thread_env": {k: os.environ[k] for k in _THREAD_VARS if k in os.environ},
        "numpy_blas": _numpy_blas(),
        "versions": {m: _version(m) for m in ("refimpl", "numpy", "scipy", "numba", "torch", "transformers",
                                             "cupy")},
    }
    env["torch_threads"] = set_torch_threads(torch_threads)
    torch = torch_module()
    env["torch_interop_threads"] = torch.get_num_interop_threads() if torch is not None else None
    try:
        import numba
        env["numba_threads"] = numba.get_num_threads()
        env["numba_threading_layer"] = os.environ.get("NUMBA_THREADING_LAYER", numba.config.THREADING_LAYER)
    except ImportError:
        env["numba_threads"] = None
    env["cuda"] = cuda_unavailable() or "available"
    return env
