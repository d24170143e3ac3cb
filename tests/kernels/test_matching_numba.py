"""Numba batched linear sum assignment vs the reference (SciPy), by property tests.

Matching is discrete, so the tolerance rule becomes: the kernel's assignment is valid (rows
increasing, distinct columns, min(n_rows, n_cols) pairs, no forbidden pair) and its total cost equals
the reference optimum up to summation rounding; where the optimum is unique (continuous random costs)
the assignment itself must be identical.
"""
import numpy as np
import pytest

numba = pytest.importorskip("numba")
from hypothesis import given, strategies as st  # noqa: E402

from refimpl.core.errors import ConfigError, InfeasibleError, ShapeError  # noqa: E402
from refimpl.core.kernel_dispatch import dispatch, use_kernels  # noqa: E402
from refimpl.losses import matching as reference  # noqa: E402
from kernels.numba_cpu import matching as kernel  # noqa: E402


def _check_against_reference(c, maximize):
    try:
        expected = reference.linear_sum_assignment(c, maximize=maximize)
    except InfeasibleError:
        with pytest.raises(InfeasibleError, match="cost"):
            kernel.linear_sum_assignment(c, maximize=maximize)
        return
    rows, cols = kernel.linear_sum_assignment(c, maximize=maximize)
    k = min(c.shape)
    assert rows.shape == cols.shape == (k,) and rows.dtype == cols.dtype == np.int64
    assert np.all(np.diff(rows) > 0) and len(set(cols.tolist())) == k
    assert np.isfinite(c[rows, cols]).all()
    best = c[expected].sum()
    assert abs(c[rows, cols].sum() - best) <= 1e-12 * max(1.0, np.abs(c[np.isfinite(c)]).sum())
    return rows, cols, expected


@st.composite
def cost_matrices(draw):
    n = draw(st.integers(0, 9))
    m = draw(st.integers(0, 9))
    kind = draw(st.sampled_from(["normal", "ties", "forbidden", "ties+forbidden"]))
    seed = draw(st.integers(0, 2**32 - 1))
    r = np.random.default_rng(seed)
    c = r.integers(0, 3, (n, m)).astype(np.float64) if "ties" in kind else r.standard_normal((n, m)) * 10
    if "forbidden" in kind and c.size:
        c[r.random((n, m)) < draw(st.floats(0.1, 0.9))] = np.inf
    return c


@given(cost_matrices(), st.booleans())
def test_kernel_optimum_equals_reference(c, maximize):
    if maximize:
        c = np.where(np.isinf(c), -np.inf, c)                  # forbidden is -inf when maximising
    _check_against_reference(c, maximize)


@given(st.integers(1, 40), st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_unique_optimum_gives_identical_assignment(n, m, seed):
    c = np.random.default_rng(seed).random((n, m))
    rows, cols, expected = _check_against_reference(c, False)
    np.testing.assert_array_equal(rows, expected[0])
    np.testing.assert_array_equal(cols, expected[1])


@given(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), min_size=0, max_size=6),
       st.integers(0, 2**32 - 1))
def test_batch_equals_reference_problem_by_problem(shapes, seed):
    r = np.random.default_rng(seed)
    costs = [r.random(s) for s in shapes]
    got = kernel.batched_linear_sum_assignment(costs)
    want = reference.batched_linear_sum_assignment(costs)
    assert len(got) == len(want)
    for (r1, c1), (r2, c2) in zip(got, want):
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_array_equal(c1, c2)


def test_detr_sized_batch_and_3d_input(rng):
    costs = [rng.random((100, int(n))) for n in rng.integers(1, 51, 16)]
    for (r1, c1), (r2, c2) in zip(kernel.batched_linear_sum_assignment(costs),
                                  reference.batched_linear_sum_assignment(costs)):
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_array_equal(c1, c2)
    stacked = rng.random((4, 6, 3))
    got = kernel.batched_linear_sum_assignment(stacked, maximize=True)
    for c, (r1, c1) in zip(stacked, got):
        np.testing.assert_array_equal(c1, reference.linear_sum_assignment(c, maximize=True)[1])


def test_use_kernels_routes_matching():
    c = np.random.default_rng(0).random((5, 5))
    with use_kernels("numba"):
        fn = dispatch("matching", "linear_sum_assignment")
    assert fn is kernel.linear_sum_assignment
    np.testing.assert_array_equal(fn(c)[1], reference.linear_sum_assignment(c)[1])


def test_kernel_checks_input_before_compiled_code():
    with pytest.raises(ConfigError, match=r"costs\[1\]: entry \[0, 0\] is nan"):
        kernel.batched_linear_sum_assignment([np.zeros((2, 2)), np.full((2, 2), np.nan)])
    with pytest.raises(InfeasibleError, match=r"costs\[0\]"):
        kernel.batched_linear_sum_assignment([np.array([[np.inf, np.inf], [0.0, 1.0]])])
    with pytest.raises(ShapeError, match="cost"):
        kernel.linear_sum_assignment(np.zeros((2, 2, 2)))
    with pytest.raises(ConfigError, match=r"cost: entry \[0, 1\] is -inf"):
        kernel.linear_sum_assignment(np.array([[1.0, -np.inf]]))
    assert kernel.batched_linear_sum_assignment([]) == []
