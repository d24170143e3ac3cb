"""Kernel dispatch: route the four hot paths to the reference or to a fast backend.

    with refimpl.use_kernels("numba"):   # or refimpl.use_kernels("numba") to set globally
        out = model(**inputs)

The reference (NumPy) implementation is always the default and the judge. A backend registers
its version of an op as `kernels.<backend_module>.<op>` exposing the same function names as the
reference; `dispatch(op, fn_name)` returns the function for the active backend.
"""
from __future__ import annotations

import contextlib
import importlib
import threading
from typing import Callable, Optional

from .errors import ConfigError

HOT_PATHS = ("attention", "depthwise_conv", "ctc", "matching")
BACKENDS = {"numba": "kernels.numba_cpu", "cuda": "kernels.cuda"}

_state = threading.local()
_reference: dict = {}  # (op, fn_name) -> callable
# where each hot path's reference lives (imported on first use, so dispatch works before any model import)
_REFERENCE_MODULES = {"attention": "refimpl.functional.attention",
                      "depthwise_conv": "refimpl.functional.depthwise_conv",
                      "ctc": "refimpl.losses.ctc", "matching": "refimpl.losses.matching"}


def get_kernel_backend() -> Optional[str]:
    """The active kernel backend of this thread: "numba", "cuda", or None (the NumPy reference)."""
    return getattr(_state, "backend", None)


def _set_backend(backend: Optional[str]) -> None:
    if backend is not None and backend not in BACKENDS:
        raise ConfigError(f"use_kernels: backend must be one of {list(BACKENDS)} or None, got {backend!r}")
    _state.backend = backend


class use_kernels(contextlib.ContextDecorator):
    """Select the kernel backend ("numba", "cuda" or None = reference).

    Usable as a plain call (sets it until changed) or as a context manager (restores on exit).
    """

    def __init__(self, backend: Optional[str]):
        self._prev = get_kernel_backend()
        _set_backend(backend)
        self.backend = backend

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _set_backend(self._prev)
        return False


def register_reference(op: str, fn: Optional[Callable] = None):
    """Mark `fn` as the reference for hot path `op`: `register_reference(op, fn)` or `@register_reference(op)`."""
    if op not in HOT_PATHS:
        raise ConfigError(f"register_reference: op must be one of {HOT_PATHS}, got {op!r}")

    def register(f: Callable) -> Callable:
        _reference[(op, f.__name__)] = f
        return f
    return register if fn is None else register(fn)


def dispatch(op: str, fn_name: str) -> Callable:
    """The function `fn_name` of hot path `op` for the active backend."""
    backend = get_kernel_backend()
    if backend is None:
        if (op, fn_name) not in _reference:
            if op not in HOT_PATHS:
                raise ConfigError(f"dispatch: op must be one of {HOT_PATHS}, got {op!r}")
            importlib.import_module(_REFERENCE_MODULES[op])     # registers the reference on import
        try:
            return _reference[(op, fn_name)]
        except KeyError:
            raise ConfigError(f"dispatch: the {op!r} reference has no function {fn_name!r}") from None
    module_name = f"{BACKENDS[backend]}.{op}"
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"use_kernels({backend!r}): the {backend} kernel for {op!r} is not available "
            f"({module_name}: {exc}); install the matching extra or call use_kernels(None)") from exc
    fn = getattr(module, fn_name, None)
    if fn is None:
        raise ConfigError(f"use_kernels({backend!r}): {module_name} has no function {fn_name!r}")
    return fn
