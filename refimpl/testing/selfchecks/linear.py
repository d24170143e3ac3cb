"""Self-checks for Linear."""
import numpy as np

from ...nn import Linear
from ..gradcheck import gradcheck
from ..parity import compare_module_with_torch
from ..selfcheck import register_check


def _x(dtype=np.float64):
    return np.random.default_rng(0).standard_normal((2, 3, 5)).astype(dtype)


@register_check("nn.Linear", "gradcheck f64")
def _gradcheck():
    return gradcheck(Linear(5, 4), [_x()], raise_on_failure=False)


def _torch(dtype):
    import torch
    torch.manual_seed(0)
    return compare_module_with_torch(Linear(5, 4, dtype=dtype), torch.nn.Linear(5, 4), [_x(dtype)], dtype=dtype)


@register_check("nn.Linear", "torch f64")
def _torch64():
    return _torch(np.float64)


@register_check("nn.Linear", "torch f32")
def _torch32():
    return _torch(np.float32)
