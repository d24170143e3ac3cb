import numpy as np
import pytest

from refimpl.core import ConfigError, DTypeError, IndexRangeError, ShapeError
from refimpl.core import validation as v


def test_int_array_ranges_and_ignore():
    v.check_int_array(np.array([0, 4, -100]), "labels", low=0, high=5, ignore=(-100,))
    with pytest.raises(IndexRangeError, match="labels: values must be < 5, found 5"):
        v.check_int_array(np.array([0, 5]), "labels", low=0, high=5)
    with pytest.raises(IndexRangeError, match="input_ids: values must be >= 0, found -1"):
        v.check_int_array(np.array([-1]), "input_ids", low=0)
    with pytest.raises(DTypeError, match="input_ids: expected an integer array"):
        v.check_int_array(np.array([1.0]), "input_ids")


def test_broadcast_and_shape_checks():
    v.check_broadcastable(np.zeros((1, 1, 4)), (2, 3, 4), "attn_mask", "scores")
    with pytest.raises(ShapeError, match=r"attn_mask: shape \(2, 4\) does not broadcast to scores shape \(2, 3, 4\)"):
        v.check_broadcastable(np.zeros((2, 4)), (2, 3, 4), "attn_mask", "scores")
    with pytest.raises(ShapeError, match=r"pixel_values: expected shape \(\*, 3, \*, \*\), got \(1, 4, 2, 2\)"):
        v.check_shape(np.zeros((1, 4, 2, 2)), (None, 3, None, None), "pixel_values")


def test_same_dtype_and_generator_and_choices():
    with pytest.raises(DTypeError, match="k: dtype float32 differs from q dtype float64"):
        v.check_same_dtype({"q": np.zeros(1), "k": np.zeros(1, np.float32)})
    with pytest.raises(ConfigError, match="rng: expected a numpy.random.Generator"):
        v.check_generator(np.random.RandomState(0))
    with pytest.raises(ConfigError, match="reduction: expected one of"):
        v.check_choice("avg", "reduction", ["none", "mean", "sum"])
    with pytest.raises(ConfigError, match="p: expected a probability"):
        v.check_probability(1.0, "p")
    with pytest.raises(ConfigError, match="x: expected finite values, found nan at index \\(1,\\)"):
        v.check_finite(np.array([0.0, np.nan]), "x")
