import pytest

import refimpl
from refimpl.core import ConfigError, dispatch, get_kernel_backend, register_reference, use_kernels
from refimpl.core.kernel_dispatch import _reference


def test_reference_is_default_and_context_restores():
    assert get_kernel_backend() is None
    with use_kernels("numba"):
        assert refimpl.get_kernel_backend() == "numba"
        with use_kernels(None):
            assert get_kernel_backend() is None
        assert get_kernel_backend() == "numba"
    assert get_kernel_backend() is None


def test_unknown_backend_is_rejected():
    with pytest.raises(ConfigError, match="backend must be one of"):
        use_kernels("triton")


def test_missing_kernel_gives_clear_error():
    @register_reference("matching")
    def _probe_only_reference(x):
        return x

    try:
        assert dispatch("matching", "_probe_only_reference")(3) == 3
        with use_kernels("cuda"):
            with pytest.raises(ConfigError, match="cuda"):
                dispatch("matching", "_probe_only_reference")
    finally:
        _reference.pop(("matching", "_probe_only_reference"), None)


def test_register_reference_rejects_unknown_op():
    with pytest.raises(ConfigError, match="op must be one of"):
        register_reference("softmax", lambda x: x)
