"""Shared fixtures. torch-dependent tests use `torch = pytest.importorskip("torch")` at module top."""
import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def pytest_configure(config):
    try:
        import torch
        torch.set_num_threads(2)
    except ImportError:
        pass
