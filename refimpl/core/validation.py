"""Argument checks shared by every layer, loss and kernel.

Each function raises a refimpl error naming the argument (`name`), the expectation and the
value received, so a user never sees a broadcasting error from deep inside NumPy.
"""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

import numpy as np

from .errors import ConfigError, DTypeError, IndexRangeError, ShapeError

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_dtype(dtype, name: str = "dtype") -> np.dtype:
    """Normalise a dtype argument to float32 or float64; anything else is an error."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise DTypeError(f"{name}: expected float32 or float64, got {dtype!r}") from exc
    if dt not in FLOAT_DTYPES:
        raise DTypeError(
            f"{name}: expected float32 or float64, got {dt}; low-precision inputs must be "
            f"converted explicitly (x.astype(np.float32))")
    return dt


def check_array(x, name: str, *, ndim: Optional[int | Sequence[int]] = None,
                dtype=None, floating: bool = False) -> np.ndarray:
    """Check that `x` is an ndarray (not a list or a torch tensor) of the given rank/dtype."""
    if not isinstance(x, np.ndarray):
        raise DTypeError(f"{name}: expected a numpy.ndarray, got {type(x).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ShapeError(f"{name}: expected {want} dimensions, got shape {x.shape}")
    if floating and x.dtype not in FLOAT_DTYPES:
        raise DTypeError(f"{name}: expected a float32 or float64 array, got dtype {x.dtype}")
    if dtype is not None and x.dtype != np.dtype(dtype):
        raise DTypeError(
            f"{name}: expected dtype {np.dtype(dtype)} (the module/operation dtype), got {x.dtype}; "
            f"refimpl never converts silently: call .astype() or module.to(dtype)")
    return x


def check_float(x, name: str, dtype=None, ndim=None) -> np.ndarray:
    """A float32/float64 ndarray, optionally of exactly `dtype` and rank `ndim`."""
    return check_array(x, name, ndim=ndim, dtype=dtype, floating=True)


def check_same_dtype(named_arrays: dict) -> np.dtype:
    """All arrays given as {name: array} (None skipped) share one dtype; return it."""
    items = [(k, v) for k, v in named_arrays.items() if v is not None]
    first_name, first = items[0]
    for k, v in items[1:]:
        if v.dtype != first.dtype:
            raise DTypeError(
                f"{k}: dtype {v.dtype} differs from {first_name} dtype {first.dtype}; "
                f"convert explicitly so no precision changes silently")
    return first.dtype


def check_last_dim(x: np.ndarray, size: int, name: str) -> None:
    """ShapeError naming `name` unless x.shape[-1] == size."""
    if x.ndim < 1 or x.shape[-1] != size:
        raise ShapeError(f"{name}: expected last dimension {size}, got shape {x.shape}")


def check_axis_size(x: np.ndarray, axis: int, size: int, name: str, what: str = "") -> None:
    """ShapeError naming `name` (and `what` the axis means) unless x.shape[axis] == size."""
    if x.shape[axis] != size:
        label = f" ({what})" if what else ""
        raise ShapeError(f"{name}: expected size {size} along axis {axis}{label}, got shape {x.shape}")


def check_shape(x: np.ndarray, shape: Sequence[Optional[int]], name: str) -> None:
    """Exact shape check; None in `shape` matches any size."""
    if x.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, x.shape)):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ShapeError(f"{name}: expected shape {want}, got {x.shape}")


def check_int_array(x, name: str, *, low: Optional[int] = None, high: Optional[int] = None,
                    ignore: Iterable[int] = ()) -> np.ndarray:
    """Integer array with every value in [low, high) except those in `ignore` (e.g. -100)."""
    if not isinstance(x, np.ndarray):
        raise DTypeError(f"{name}: expected a numpy.ndarray of integers, got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.integer):
        raise DTypeError(f"{name}: expected an integer array, got dtype {x.dtype}")
    if x.size == 0:
        return x
    ignore = tuple(ignore)
    vals = x[~np.isin(x, ignore)] if ignore else x
    if vals.size:
        lo, hi = int(vals.min()), int(vals.max())
        if low is not None and lo < low:
            raise IndexRangeError(f"{name}: values must be >= {low}, found {lo}"
                                  + (f" (ignored values: {list(ignore)})" if ignore else ""))
        if high is not None and hi >= high:
            raise IndexRangeError(f"{name}: values must be < {high}, found {hi}"
                                  + (f" (ignored values: {list(ignore)})" if ignore else ""))
    return x


def check_broadcastable(x: np.ndarray, target: Sequence[int], name: str, target_name: str) -> None:
    """`x` must broadcast to `target` (without changing `target`)."""
    try:
        out = np.broadcast_shapes(x.shape, tuple(target))
    except ValueError:
        out = None
    if out != tuple(target):
        raise ShapeError(f"{name}: shape {x.shape} does not broadcast to {target_name} shape {tuple(target)}")


def check_finite(x: np.ndarray, name: str) -> None:
    """ConfigError naming `name` and the first bad index if x holds NaN or +-inf."""
    if not np.all(np.isfinite(x)):
        bad = np.argwhere(~np.isfinite(x))[0]
        raise ConfigError(f"{name}: expected finite values, found {x[tuple(bad)]} at index {tuple(int(i) for i in bad)}")


def check_choice(value, name: str, choices: Sequence) -> None:
    """ConfigError naming `name` unless value is one of `choices`."""
    if value not in choices:
        raise ConfigError(f"{name}: expected one of {list(choices)}, got {value!r}")


def check_probability(p, name: str, *, inclusive_one: bool = False) -> float:
    """p as a float in [0, 1) ([0, 1] with inclusive_one); ConfigError naming `name` otherwise."""
    p = float(p)
    ok = 0.0 <= p <= 1.0 if inclusive_one else 0.0 <= p < 1.0
    if not ok:
        rng = "[0, 1]" if inclusive_one else "[0, 1)"
        raise ConfigError(f"{name}: expected a probability in {rng}, got {p}")
    return p


def check_positive_int(v, name: str, *, allow_zero: bool = False) -> int:
    """v as an int >= 1 (>= 0 with allow_zero), bools refused; ConfigError naming `name` otherwise."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < (0 if allow_zero else 1):
        kind = "a non-negative" if allow_zero else "a positive"
        raise ConfigError(f"{name}: expected {kind} integer, got {v!r}")
    return int(v)


def check_generator(rng, name: str = "rng") -> np.random.Generator:
    """rng if it is a numpy.random.Generator; ConfigError naming `name` otherwise (no global RNG fallback)."""
    if not isinstance(rng, np.random.Generator):
        raise ConfigError(
            f"{name}: expected a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}; "
            f"refimpl draws all randomness from an explicit generator so runs can be replayed")
    return rng
