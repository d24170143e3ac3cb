"""Parameter: a float array with an accumulated gradient."""
from __future__ import annotations

import numpy as np

from .errors import DTypeError, ShapeError
from .validation import FLOAT_DTYPES


class Parameter:
    """A learnable array `data` and its gradient `grad`.

    `grad` is None until the first backward (as in PyTorch after zero_grad(set_to_none=True)).
    `accumulate(g)` adds into it; a parameter with requires_grad=False ignores gradients, so a
    frozen parameter never receives a gradient and optimizers never update it.
    """

    __slots__ = ("data", "grad", "requires_grad")

    def __init__(self, data: np.ndarray, requires_grad: bool = True):
        if not isinstance(data, np.ndarray):
            raise DTypeError(f"Parameter: expected a numpy.ndarray, got {type(data).__name__}")
        if data.dtype not in FLOAT_DTYPES:
            raise DTypeError(f"Parameter: expected float32 or float64 data, got {data.dtype}")
        self.data = data
        self.grad = None
        self.requires_grad = bool(requires_grad)

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self):
        return self.data.size

    def accumulate(self, g: np.ndarray) -> None:
        """grad += g (g has the parameter's shape; it is cast to the parameter dtype only if equal in kind)."""
        if not self.requires_grad:
            return
        if g.shape != self.data.shape:
            raise ShapeError(f"Parameter.accumulate: gradient shape {g.shape} != parameter shape {self.data.shape}")
        if g.dtype != self.data.dtype:
            raise DTypeError(f"Parameter.accumulate: gradient dtype {g.dtype} != parameter dtype {self.data.dtype}")
        if self.grad is None:
            self.grad = np.array(g, dtype=self.data.dtype, copy=True)
        else:
            self.grad += g

    def zero_grad(self) -> None:
        self.grad = None

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype}, requires_grad={self.requires_grad})"
