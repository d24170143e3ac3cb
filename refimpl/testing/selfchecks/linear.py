"""Self-checks for Linear."""
import numpy as np

from ...nn import Linear
from ..selfcheck import register_layer_checks


def _x(dtype=np.float64):
    return np.random.default_rng(0).standard_normal((2, 3, 5)).astype(dtype)


register_layer_checks("nn.Linear", lambda dt: Linear(5, 4, dtype=dt), lambda torch: torch.nn.Linear(5, 4),
                      lambda dt: [_x(dt)])
