"""Shared fixtures. torch-dependent tests use `torch = pytest.importorskip("torch")` at module top."""
import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def pytest_configure(config):
    try:
        import torch
        torch.set_num_threads(1)   # tiny models: more threads only add contention on 2 shared cores
    except ImportError:
        pass


try:  # bounded property tests in CI; HYPOTHESIS_PROFILE=thorough for a long local run
    import os

    from hypothesis import HealthCheck, settings

    settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("dev", max_examples=50, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("thorough", max_examples=1000, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
except ImportError:
    pass
