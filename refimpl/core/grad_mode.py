"""Global switch for whether forward() saves what backward() needs (like torch.no_grad)."""
import contextlib
import threading

_state = threading.local()


def is_grad_enabled() -> bool:
    """True unless inside no_grad(): forwards then save what their backward needs."""
    return getattr(_state, "enabled", True)


def set_grad_enabled(enabled: bool) -> None:
    """Switch saving-for-backward on or off for this thread (no_grad / enable_grad restore it)."""
    _state.enabled = bool(enabled)


@contextlib.contextmanager
def no_grad():
    """Inside this block forward() saves nothing, so no backward() can follow (inference, generation)."""
    prev = is_grad_enabled()
    set_grad_enabled(False)
    try:
        yield
    finally:
        set_grad_enabled(prev)


@contextlib.contextmanager
def enable_grad():
    """Context manager: turn saving-for-backward back on inside a no_grad() block."""
    prev = is_grad_enabled()
    set_grad_enabled(True)
    try:
        yield
    finally:
        set_grad_enabled(prev)
