"""Reference linear sum assignment (refimpl.losses.matching): SciPy's answer behind clear input checks."""
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment as scipy_lsa

from refimpl.core.errors import ConfigError, DTypeError, InfeasibleError, ShapeError
from refimpl.core.kernel_dispatch import dispatch
from refimpl.losses.matching import batched_linear_sum_assignment, linear_sum_assignment


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (4, 7), (7, 4), (0, 3), (3, 0)])
@pytest.mark.parametrize("maximize", [False, True])
def test_equals_scipy(rng, shape, maximize):
    c = rng.standard_normal(shape)
    rows, cols = linear_sum_assignment(c, maximize=maximize)
    r2, c2 = scipy_lsa(c, maximize=maximize)
    np.testing.assert_array_equal(rows, r2)
    np.testing.assert_array_equal(cols, c2)
    assert rows.dtype == cols.dtype == np.int64


def test_integer_costs_and_forbidden_pairs(rng):
    c = rng.integers(0, 5, (5, 6)).astype(np.float64)
    c[0, :5] = np.inf                                          # row 0 may only take column 5
    rows, cols = linear_sum_assignment(c)
    assert cols[0] == 5 and np.isfinite(c[rows, cols]).all()
    rows, cols = linear_sum_assignment(np.ones((5, 6), np.int64))    # integer matrix, all ties
    assert len(set(cols.tolist())) == 5


def test_batch_of_different_shapes_is_registered_hot_path(rng):
    costs = [rng.random((10, n)) for n in (1, 4, 10, 12)]
    out = dispatch("matching", "batched_linear_sum_assignment")(costs)
    for c, (r, k) in zip(costs, out):
        r2, k2 = scipy_lsa(c)
        np.testing.assert_array_equal(r, r2)
        np.testing.assert_array_equal(k, k2)
    out3 = batched_linear_sum_assignment(rng.random((3, 4, 5)))
    assert len(out3) == 3 and all(len(r) == 4 for r, _ in out3)


def test_bad_input_names_the_argument():
    with pytest.raises(ConfigError, match=r"cost: entry \[0, 1\] is nan"):
        linear_sum_assignment(np.array([[0.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(ConfigError, match=r"cost: entry \[1, 0\] is -inf"):
        linear_sum_assignment(np.array([[0.0, 1.0], [-np.inf, 2.0]]))
    with pytest.raises(ConfigError, match=r"cost: entry \[0, 0\] is inf.*maximize=True"):
        linear_sum_assignment(np.array([[np.inf, 1.0], [1.0, 2.0]]), maximize=True)
    with pytest.raises(InfeasibleError, match="cost: .*2x2"):
        linear_sum_assignment(np.array([[np.inf, np.inf], [1.0, 2.0]]))
    with pytest.raises(InfeasibleError, match=r"costs\[1\]"):
        batched_linear_sum_assignment([np.zeros((2, 2)), np.full((2, 2), np.inf)])
    with pytest.raises(ShapeError, match="cost: expected a 2-d"):
        linear_sum_assignment(np.zeros(3))
    with pytest.raises(ShapeError, match="costs: expected a 3-d"):
        batched_linear_sum_assignment(np.zeros((2, 3)))
    with pytest.raises(DTypeError, match="cost: expected a real"):
        linear_sum_assignment(np.zeros((2, 2), bool))
    with pytest.raises(DTypeError, match="cost: expected a numpy.ndarray"):
        linear_sum_assignment([[1.0]])
    with pytest.raises(DTypeError, match="maximize"):
        linear_sum_assignment(np.zeros((2, 2)), maximize="yes")
