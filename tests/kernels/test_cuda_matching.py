"""CUDA (CuPy) batched linear sum assignment vs the reference (SciPy), by property tests.

Matching is discrete, so the tolerance rule becomes: the kernel's assignment is valid (rows
increasing, distinct columns, min(n_rows, n_cols) pairs, no forbidden pair) and its total cost equals
the reference optimum up to summation rounding; where the optimum is unique (continuous random costs)
the assignment itself must be identical. Runs only where CuPy sees a GPU; skips cleanly elsewhere.
"""
import numpy as np
import pytest

pytestmark = pytest.mark.gpu
cupy = pytest.importorskip("cupy")
from kernels.cuda._runtime import cuda_available  # noqa: E402

if not cuda_available():
    pytest.skip("CuPy is installed but sees no GPU", allow_module_level=True)

from hypothesis import given, strategies as st  # noqa: E402

from refimpl.core.errors import InfeasibleError  # noqa: E402
from refimpl.core.kernel_dispatch import dispatch, use_kernels  # noqa: E402
from refimpl.losses import matching as reference  # noqa: E402
from kernels.cuda import matching as kernel  # noqa: E402


def _check_solution(c, maximize, rows, cols, expected):
    k = min(c.shape)
    assert rows.shape == cols.shape == (k,) and rows.dtype == cols.dtype == np.int64
    assert np.all(np.diff(rows) > 0) and len(set(cols.tolist())) == k
    assert np.isfinite(c[rows, cols]).all()
    best = c[expected].sum()
    assert abs(c[rows, cols].sum() - best) <= 1e-12 * max(1.0, np.abs(c[np.isfinite(c)]).sum())


def _check_against_reference(c, maximize):
    try:
        expected = reference.linear_sum_assignment(c, maximize=maximize)
    except InfeasibleError:
        with pytest.raises(InfeasibleError, match="cost"):
            kernel.linear_sum_assignment(c, maximize=maximize)
        return
    rows, cols = kernel.linear_sum_assignment(c, maximize=maximize)
    _check_solution(c, maximize, rows, cols, expected)
    return rows, cols, expected


@st.composite
def cost_matrices(draw, max_n=9):
    n = draw(st.integers(0, max_n))
    m = draw(st.integers(0, max_n))
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


@given(st.integers(1, 300), st.integers(1, 300), st.integers(0, 2**32 - 1))
def test_unique_optimum_gives_identical_assignment(n, m, seed):
    c = np.random.default_rng(seed).random((n, m))
    rows, cols, expected = _check_against_reference(c, False)
    np.testing.assert_array_equal(rows, expected[0])
    np.testing.assert_array_equal(cols, expected[1])


@given(st.lists(cost_matrices(max_n=12), min_size=1, max_size=6))
def test_batch_of_mixed_shapes_equals_reference(mats):
    feasible = []
    for c in mats:
        try:
            feasible.append(reference.linear_sum_assignment(c))
        except InfeasibleError:
            with pytest.raises(InfeasibleError, match=r"costs\["):
                kernel.batched_linear_sum_assignment(mats)
            return
    for c, (rows, cols), expected in zip(mats, kernel.batched_linear_sum_assignment(mats), feasible):
        _check_solution(c, False, rows, cols, expected)


def test_detr_sized_batch_and_cupy_costs(rng):
    costs = rng.random((8, 100, 20))
    got = kernel.batched_linear_sum_assignment(cupy.asarray(costs))
    for c, (rows, cols), (er, ec) in zip(costs, got, reference.batched_linear_sum_assignment(costs)):
        assert isinstance(rows, cupy.ndarray) and isinstance(cols, cupy.ndarray)
        np.testing.assert_array_equal(rows.get(), er)
        np.testing.assert_array_equal(cols.get(), ec)


def test_use_kernels_routes_matching_to_cuda():
    with use_kernels("cuda"):
        assert dispatch("matching", "batched_linear_sum_assignment") is kernel.batched_linear_sum_assignment
