"""Activation modules (torch.nn names) and `get_activation`, the map from Hugging Face `hidden_act` strings.

The modules have no parameters: they take float32 or float64 input of any shape and return the same
shape and dtype (no dtype is fixed at construction). Non-float input raises DTypeError.
"""
from __future__ import annotations

import numpy as np

from ..core.errors import ConfigError
from ..core.module import Module
from ..core.validation import check_choice, check_float
from ..functional import activation as F
from .linear import Identity


def _check_dim(dim) -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise ConfigError(f"dim: expected an integer axis, got {dim!r}")
    return int(dim)


class _Elementwise(Module):
    """y = f(x) elementwise; saves x (or y where the derivative is cheaper from the output)."""

    _fn = None            # forward function of the functional module
    _bwd = None           # backward function: _bwd(dy, x)
    _from_output = False  # True: backward takes y (sigmoid, tanh) and forward saves y

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float(x, "x")
        y = self._fn(x)
        self.save_for_backward(y if self._from_output else x)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        (saved,) = self.saved()
        if self._from_output:
            return self._bwd(dy, None, y=saved)
        return self._bwd(dy, saved)


class GELU(Module):
    """GELU, exact (approximate="none": x Phi(x)) or tanh form (approximate="tanh"), as torch.nn.GELU.

    HF "gelu" is the exact form; "gelu_new" / "gelu_pytorch_tanh" are the tanh form.
    """

    def __init__(self, approximate: str = "none"):
        super().__init__()
        check_choice(approximate, "approximate", ("none", "tanh"))
        self.approximate = approximate

    def forward(self, x):
        check_float(x, "x")
        self.save_for_backward(x)
        return F.gelu(x) if self.approximate == "none" else F.gelu_tanh(x)

    def backward(self, dy):
        (x,) = self.saved()
        return F.gelu_backward(dy, x) if self.approximate == "none" else F.gelu_tanh_backward(dy, x)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class FastGELU(_Elementwise):
    """HF "gelu_fast": tanh-form GELU with sqrt(2/pi) truncated to 0.7978845608 (see functional.gelu_fast)."""
    _fn = staticmethod(F.gelu_fast)
    _bwd = staticmethod(F.gelu_fast_backward)


class QuickGELU(_Elementwise):
    """HF "quick_gelu": y = x sigmoid(1.702 x)."""
    _fn = staticmethod(F.quick_gelu)
    _bwd = staticmethod(F.quick_gelu_backward)


class ReLU(_Elementwise):
    """y = max(x, 0); gradient 0 at x = 0."""
    _fn = staticmethod(F.relu)
    _bwd = staticmethod(F.relu_backward)


class SiLU(_Elementwise):
    """y = x sigmoid(x) (HF "silu" / "swish")."""
    _fn = staticmethod(F.silu)
    _bwd = staticmethod(F.silu_backward)


class Sigmoid(_Elementwise):
    """y = 1 / (1 + exp(-x)); backward uses the saved output."""
    _fn = staticmethod(F.sigmoid)
    _bwd = staticmethod(F.sigmoid_backward)
    _from_output = True


class Tanh(_Elementwise):
    """y = tanh(x); backward uses the saved output."""
    _fn = staticmethod(F.tanh)
    _bwd = staticmethod(F.tanh_backward)
    _from_output = True


class _AlongDim(Module):
    """y = f(x) along `dim` (softmax, log_softmax); saves y, from which their backwards are computed."""

    _fn = None            # forward function: _fn(x, dim)
    _bwd = None           # backward function: _bwd(dy, None, dim, y=y)

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = _check_dim(dim)

    def forward(self, x):
        check_float(x, "x")
        y = self._fn(x, self.dim)
        self.save_for_backward(y)
        return y

    def backward(self, dy):
        (y,) = self.saved()
        return self._bwd(dy, None, self.dim, y=y)

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmax(_AlongDim):
    """y = softmax(x) along `dim` (default -1, the axis every HF model uses); saves y for backward."""
    _fn = staticmethod(F.softmax)
    _bwd = staticmethod(F.softmax_backward)


class LogSoftmax(_AlongDim):
    """y = log_softmax(x) along `dim` (default -1); saves y for backward."""
    _fn = staticmethod(F.log_softmax)
    _bwd = staticmethod(F.log_softmax_backward)


# HF `hidden_act` string -> (module class, constructor kwargs), mirroring transformers.activations.ACT2CLS
# for the names whose math refimpl implements. "gelu_python" is the same erf formula as "gelu";
# "gelu_python_tanh" and "gelu_accurate" are the same tanh formula (with the full sqrt(2/pi)) as
# "gelu_new"; "gelu_fast" differs in its constant, so it gets its own module.
ACT2CLS = {
    "gelu": (GELU, {"approximate": "none"}),
    "gelu_python": (GELU, {"approximate": "none"}),
    "gelu_new": (GELU, {"approximate": "tanh"}),
    "gelu_pytorch_tanh": (GELU, {"approximate": "tanh"}),
    "gelu_python_tanh": (GELU, {"approximate": "tanh"}),
    "gelu_accurate": (GELU, {"approximate": "tanh"}),
    "gelu_fast": (FastGELU, {}),
    "quick_gelu": (QuickGELU, {}),
    "relu": (ReLU, {}),
    "silu": (SiLU, {}),
    "swish": (SiLU, {}),
    "sigmoid": (Sigmoid, {}),
    "tanh": (Tanh, {}),
    "linear": (Identity, {}),
}


def get_activation(name: str) -> Module:
    """A new activation module for a Hugging Face `hidden_act` / `activation_function` string.

    Same names and math as transformers' ACT2FN for the forms listed in ACT2CLS; any other name
    (including HF ones refimpl does not implement, e.g. "mish", "relu6") raises ConfigError.
    """
    if not isinstance(name, str) or name not in ACT2CLS:
        raise ConfigError(f"hidden_act: unknown activation {name!r}; known: {sorted(ACT2CLS)}")
    cls, kwargs = ACT2CLS[name]
    return cls(**kwargs)
