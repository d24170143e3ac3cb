"""Dropout and DropPath modules with seeded, inspectable and replayable masks.

In train mode with p > 0 each forward draws a scaled keep mask from `self.rng` (a numpy Generator)
unless `mask=` is passed (e.g. the mask a framework drew); the mask is saved for backward and kept
as `self.last_mask` so a test can hand the same mask to the other framework. In eval mode, or with
p == 0, both modules are the identity (last_mask is None). No parameters; any float dtype.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..core.errors import ConfigError, ShapeError
from ..core.module import Module
from ..core.validation import check_float, check_generator
from ..functional import dropout as F


def _check_dy(dy, shape, dtype) -> None:
    check_float(dy, "dy", dtype=dtype)
    if dy.shape != shape:
        raise ShapeError(f"dy: expected the shape of the forward input {shape}, got {dy.shape}")


def _check_rng(rng):
    return None if rng is None else check_generator(rng, "rng")


def _prob_alias(name: str, allow_one: bool) -> property:
    """The public name of `prob` (torch's `p`, transformers' `drop_prob`), validated on assignment."""
    def _get(self) -> float:
        return self.prob

    def _set(self, value: float) -> None:
        self.prob = F._check_p(value, name, allow_one=allow_one)
    return property(_get, _set)


class _MaskedIdentity(Module):
    """Shared forward/backward of Dropout and DropPath: y = x * mask, mask drawn by `draw` or given.

    Subclasses set `prob` (the drop probability), `_draw` (the functional: F.dropout or F.drop_path)
    and `_name` (for messages).
    """

    _draw = None
    _name = ""

    def __init__(self, prob: float, rng: Optional[np.random.Generator], allow_one: bool, arg: str):
        super().__init__()
        self.prob = F._check_p(prob, arg, allow_one=allow_one)
        self.rng = _check_rng(rng)
        self.last_mask = None

    def forward(self, x: np.ndarray, mask: Optional[np.ndarray] = None) -> np.ndarray:
        check_float(x, "x")
        if self.training and self.prob > 0.0 and mask is None and self.rng is None:
            raise ConfigError(f"rng: {self._name}({self.prob}) in train mode needs a numpy Generator: "
                              f"{self._name}(p, rng=np.random.default_rng(seed)), set module.rng, pass mask=, "
                              f"or call .eval()")
        y, m = type(self)._draw(x, self.prob, rng=self.rng, mask=mask, training=self.training, return_mask=True)
        self.last_mask = m
        self.save_for_backward(m, x.shape, x.dtype)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        m, shape, dtype = self.saved()
        _check_dy(dy, shape, dtype)
        if m is None:
            return dy                                          # identity: dL/dx = dy
        return dy * m                                          # dL/dx = dy * mask (the forward's mask, broadcast)

    def extra_repr(self):
        return f"p={self.prob}"


class Dropout(_MaskedIdentity):
    """y = x * mask, mask = keep / (1 - p), keep ~ Bernoulli(1 - p) per element (torch.nn.Dropout).

    x: any shape, float32/float64 -> same shape and dtype.
    p: drop probability in [0, 1]; rng: numpy Generator, needed in train mode when p > 0 and no mask is given.
    forward(x, mask=None): mask (x's dtype, broadcastable to x) replays a given mask instead of drawing one.
    """

    _draw = staticmethod(F.dropout)
    _name = "Dropout"

    p = _prob_alias("p", allow_one=True)

    def __init__(self, p: float = 0.5, rng: Optional[np.random.Generator] = None):
        super().__init__(p, rng, allow_one=True, arg="p")


class DropPath(_MaskedIdentity):
    """Stochastic depth per sample (transformers' ConvNext/Swin/SegFormer DropPath, timm's drop_path).

    x: (B, ...) float32/float64 -> same shape and dtype; y = x * mask, mask of shape (B, 1, ..., 1)
    equal to floor(keep_prob + U) / keep_prob, keep_prob = 1 - drop_prob.
    drop_prob in [0, 1); rng: numpy Generator, needed in train mode when drop_prob > 0 and no mask is given.
    forward(x, mask=None): mask of shape (B, 1, ..., 1) replays a given mask.
    """

    _draw = staticmethod(F.drop_path)
    _name = "DropPath"

    drop_prob = _prob_alias("drop_prob", allow_one=False)

    def __init__(self, drop_prob: float = 0.0, rng: Optional[np.random.Generator] = None):
        super().__init__(drop_prob, rng, allow_one=False, arg="drop_prob")
