"""Linear sum assignment (minimum-cost bipartite matching) — the "matching" hot path.

    cost C (n_rows, n_cols), k = min(n_rows, n_cols)
    find rows r_1 < ... < r_k and distinct columns c_1..c_k minimising sum_i C[r_i, c_i]
    (maximize=True: maximising). Every row is matched when n_rows <= n_cols, every column otherwise.

DETR's and Mask2Former's Hungarian matcher solve one such problem per image: C is (num_queries,
num_targets_i), a weighted sum of class, box-L1 / GIoU or mask costs. There is no gradient: the
matching picks which pairs the set loss compares.

Forbidden pairs are +inf (minimising) or -inf (maximising); the opposite infinity and NaN are
invalid input. A matrix whose forbidden entries leave no complete matching is infeasible.

The reference is SciPy's `linear_sum_assignment` (Crouse's shortest augmenting path, a
Jonker-Volgenant variant), called once per problem behind refimpl's input checks:

    linear_sum_assignment(cost, maximize=False)            -> (row_ind, col_ind), int64 (k,) each
    batched_linear_sum_assignment(costs, maximize=False)   -> [(row_ind, col_ind) per problem]

kernels/numba_cpu/matching.py provides the same two names (one call solves a whole batch in parallel).
"""
from __future__ import annotations

from typing import List, Sequence, Tuple, Union

import numpy as np

from ..core.errors import ConfigError, DTypeError, InfeasibleError, ShapeError
from ..core.kernel_dispatch import register_reference

__all__ = ["linear_sum_assignment", "batched_linear_sum_assignment", "check_cost_matrix", "check_cost_batch",
           "find_invalid_costs"]


def check_cost_matrix(cost, name: str = "cost", maximize: bool = False, values: bool = True) -> np.ndarray:
    """Validate one cost matrix; return it as a float64 array (n_rows, n_cols).

    values=False checks type and shape only (a kernel then scans all values of a batch in one pass
    with find_invalid_costs and calls this again for the message)."""
    if not isinstance(maximize, (bool, np.bool_)):
        raise DTypeError(f"maximize: expected a bool, got {type(maximize).__name__}")
    if not isinstance(cost, np.ndarray):
        raise DTypeError(f"{name}: expected a numpy.ndarray, got {type(cost).__name__}")
    if cost.dtype == np.bool_ or not (np.issubdtype(cost.dtype, np.floating) or np.issubdtype(cost.dtype, np.integer)):
        raise DTypeError(f"{name}: expected a real (float or integer) cost matrix, got dtype {cost.dtype}")
    if cost.ndim != 2:
        raise ShapeError(f"{name}: expected a 2-d cost matrix (n_rows, n_cols), got shape {cost.shape}")
    cost = cost.astype(np.float64, copy=False)
    if not values:
        return cost
    bad = np.isnan(cost) | (cost == (np.inf if maximize else -np.inf))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        allowed = "-inf" if maximize else "+inf"
        raise ConfigError(f"{name}: entry [{i}, {j}] is {cost[i, j]}; only finite values and {allowed} "
                              f"(a forbidden pair when maximize={bool(maximize)}) are allowed")
    return cost


def find_invalid_costs(flat: np.ndarray, maximize: bool) -> bool:
    """True when float64 `flat` holds a NaN or the infinity that is not "forbidden" for this direction."""
    return bool(np.isnan(flat).any() or (flat == (np.inf if maximize else -np.inf)).any())


def check_cost_batch(costs, maximize: bool = False, values: bool = True) -> List[np.ndarray]:
    """A (B, n_rows, n_cols) array or a sequence of 2-d arrays (shapes may differ) -> list of float64 matrices."""
    if isinstance(costs, np.ndarray):
        if costs.ndim != 3:
            raise ShapeError(f"costs: expected a 3-d array (batch, n_rows, n_cols) or a list of 2-d arrays, "
                             f"got shape {costs.shape}")
        items = list(costs)
    elif isinstance(costs, (list, tuple)):
        items = list(costs)
    else:
        raise DTypeError(f"costs: expected a numpy.ndarray or a list of them, got {type(costs).__name__}")
    return [check_cost_matrix(c, f"costs[{b}]", maximize, values) for b, c in enumerate(items)]


def _infeasible(name: str, cost: np.ndarray) -> InfeasibleError:
    return InfeasibleError(f"{name}: the forbidden (infinite) entries of this {cost.shape[0]}x{cost.shape[1]} "
                           f"cost matrix leave no complete assignment")


def _solve(cost: np.ndarray, maximize: bool, name: str) -> Tuple[np.ndarray, np.ndarray]:
    from scipy.optimize import linear_sum_assignment as scipy_lsa
    try:
        rows, cols = scipy_lsa(cost, maximize=bool(maximize))
    except ValueError as exc:        # the only one left after our checks: infeasible
        raise _infeasible(name, cost) from exc
    return rows.astype(np.int64), cols.astype(np.int64)


@register_reference("matching")
def linear_sum_assignment(cost: np.ndarray, maximize: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """Optimal assignment for cost (n_rows, n_cols) float/int -> (row_ind, col_ind), int64 (min(n_rows, n_cols),).

    row_ind is increasing; cost[row_ind, col_ind].sum() is the optimum. SciPy's result, behind checks
    that name `cost`: NaN or the wrong infinity -> ConfigError, infeasible -> InfeasibleError.
    """
    cost = check_cost_matrix(cost, "cost", maximize)
    return _solve(cost, maximize, "cost")


@register_reference("matching")
def batched_linear_sum_assignment(costs: Union[np.ndarray, Sequence[np.ndarray]], maximize: bool = False
                                  ) -> List[Tuple[np.ndarray, np.ndarray]]:
    """linear_sum_assignment of each problem: costs (B, n_rows, n_cols) or a list of 2-d matrices of any
    shapes (DETR: (num_queries, num_targets_i) per image) -> list of B (row_ind, col_ind) pairs."""
    mats = check_cost_batch(costs, maximize)
    return [_solve(c, maximize, f"costs[{b}]") for b, c in enumerate(mats)]
