"""Numba CPU kernel: batched linear sum assignment by shortest augmenting paths.

    min over injective rows -> cols of sum_i C[i, col(i)],  C (n_rows, n_cols) with n_rows <= n_cols
    (a wider-than-tall problem is solved on C^T; maximize solves -C)

Algorithm (Crouse 2016, the Jonker-Volgenant family SciPy uses): rows are added one at a time; for
row i a Dijkstra search over reduced costs C[r, j] - u[r] - v[j] >= 0 finds the cheapest augmenting
path to a free column, the duals u, v are updated so reduced costs stay >= 0 on the tree, and the
path is flipped. Before that, a greedy pass gives each row its cheapest column when that column is
free (u_i = row minimum, v = 0): on DETR-like problems most rows need no search at all. The optimum
value equals SciPy's; the assignment too whenever the optimum is unique (with ties, another optimal
assignment may be returned).

Tested against: refimpl.losses.matching.linear_sum_assignment / batched_linear_sum_assignment
(SciPy) in tests/kernels/test_matching_numba.py, the same checks run before compiled code.
One call solves a whole batch; problems run in parallel (numba prange), each with its own
workspace.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple, Union

import numba
import numpy as np

from refimpl.core.errors import InfeasibleError
from refimpl.losses.matching import check_cost_batch, check_cost_matrix, find_invalid_costs

__all__ = ["linear_sum_assignment", "batched_linear_sum_assignment"]


@numba.njit(cache=True, nogil=True)
def _augmenting_path(cost, u, v, path, row4col, shortest, start_row, row_seen, col_seen, remaining):
    """Dijkstra from `start_row` over reduced costs; returns (sink column or -1 if none, its distance)."""
    n_cols = cost.shape[1]
    min_val = 0.0
    n_remaining = n_cols
    for it in range(n_cols):                       # scanned in reverse column order, as SciPy does
        remaining[it] = n_cols - it - 1
    row_seen[:] = False
    col_seen[:] = False
    shortest[:] = np.inf
    i = start_row
    sink = -1
    while sink == -1:
        index = -1
        lowest = np.inf
        row_seen[i] = True
        for it in range(n_remaining):
            j = remaining[it]
            reduced = min_val + cost[i, j] - u[i] - v[j]     # path length to column j through row i
            if reduced < shortest[j]:
                path[j] = i
                shortest[j] = reduced
            if shortest[j] < lowest or (shortest[j] == lowest and row4col[j] == -1):
                lowest = shortest[j]                        # ties: prefer a free column (ends the search)
                index = it
        min_val = lowest
        if min_val == np.inf:                              # every remaining column is forbidden
            return -1, min_val
        j = remaining[index]
        if row4col[j] == -1:
            sink = j
        else:
            i = row4col[j]                                 # continue from the row matched to j
        col_seen[j] = True                                 # j's distance is final
        n_remaining -= 1
        remaining[index] = remaining[n_remaining]
    return sink, min_val


@numba.njit(cache=True, nogil=True)
def _solve_one(cost, col4row):
    """cost (n_rows <= n_cols) -> col4row filled; returns False when infeasible."""
    n_rows, n_cols = cost.shape
    u = np.zeros(n_rows)                                  # row duals
    v = np.zeros(n_cols)                                  # column duals
    shortest = np.empty(n_cols)
    path = np.full(n_cols, -1, np.int64)
    row4col = np.full(n_cols, -1, np.int64)
    row_seen = np.zeros(n_rows, np.bool_)
    col_seen = np.zeros(n_cols, np.bool_)
    remaining = np.empty(n_cols, np.int64)
    col4row[:] = -1
    # greedy start (Jonker-Volgenant's row reduction): u_i = min_j C[i, j] keeps every reduced cost >= 0
    # with v = 0, and a row whose cheapest column is still free takes it at reduced cost 0 — valid duals
    # for the rectangular problem (free columns keep v_j = 0), so only the other rows need a search
    for i in range(n_rows):
        best = np.inf
        best_j = -1
        for j in range(n_cols):
            if cost[i, j] < best:
                best = cost[i, j]
                best_j = j
        if best_j < 0:                                    # the whole row is forbidden
            return False
        u[i] = best
        if row4col[best_j] == -1:
            row4col[best_j] = i
            col4row[i] = best_j
    for cur_row in range(n_rows):
        if col4row[cur_row] >= 0:
            continue
        sink, min_val = _augmenting_path(cost, u, v, path, row4col, shortest, cur_row, row_seen, col_seen,
                                         remaining)
        if sink < 0:
            return False
        # duals: u_i += d - dist(col of i) on the search tree, v_j -= d - dist(j) on final columns,
        # which keeps every reduced cost >= 0 and those on the new matching at 0
        u[cur_row] += min_val
        for i in range(n_rows):
            if row_seen[i] and i != cur_row:
                u[i] += min_val - shortest[col4row[i]]
        for j in range(n_cols):
            if col_seen[j]:
                v[j] -= min_val - shortest[j]
        j = sink                                          # flip the augmenting path back to cur_row
        while True:
            i = path[j]
            row4col[j] = i
            nxt = col4row[i]
            col4row[i] = j
            j = nxt
            if i == cur_row:
                break
    return True


@numba.njit(parallel=True, cache=True)
def _solve_batch(flat, offsets, n_rows, n_cols, out, out_offsets, feasible):
    for b in numba.prange(n_rows.shape[0]):
        nr, nc = n_rows[b], n_cols[b]
        if nr == 0:
            feasible[b] = True
            continue
        cost = flat[offsets[b]:offsets[b] + nr * nc].reshape((nr, nc))
        feasible[b] = _solve_one(cost, out[out_offsets[b]:out_offsets[b] + nr])


def _solve(mats: List[np.ndarray], maximize: bool, names: List[str]) -> List[Tuple[np.ndarray, np.ndarray]]:
    """mats: float64 matrices checked for type and shape; values are scanned here in one pass."""
    transposed = [c.shape[0] > c.shape[1] for c in mats]
    tall = [c.T if t else c for c, t in zip(mats, transposed)]              # (k, m) with k <= m
    n_rows = np.array([c.shape[0] for c in tall], np.int64)
    n_cols = np.array([c.shape[1] for c in tall], np.int64)
    sizes = n_rows * n_cols
    offsets = np.zeros(len(mats), np.int64)
    np.cumsum(sizes[:-1], out=offsets[1:])
    flat = np.empty(int(sizes.sum()))
    for c, o, n in zip(tall, offsets, sizes):
        flat[o:o + n].reshape(c.shape)[...] = c                              # one copy, C order
    if find_invalid_costs(flat, maximize):                                   # slow path: name the entry
        for c, name in zip(mats, names):
            check_cost_matrix(c, name, maximize)
    if maximize:
        np.negative(flat, out=flat)                                          # max C = -min(-C)
    out_offsets = np.zeros(len(mats), np.int64)
    np.cumsum(n_rows[:-1], out=out_offsets[1:])
    out = np.empty(int(n_rows.sum()), np.int64)
    feasible = np.zeros(len(mats), np.bool_)
    _solve_batch(flat, offsets, n_rows, n_cols, out, out_offsets, feasible)
    if not feasible.all():
        b = int(np.argmin(feasible))
        raise InfeasibleError(f"{names[b]}: the forbidden (infinite) entries of this {mats[b].shape[0]}x"
                              f"{mats[b].shape[1]} cost matrix leave no complete assignment")
    results = []
    for b in range(len(mats)):
        col4row = out[out_offsets[b]:out_offsets[b] + n_rows[b]]
        if transposed[b]:                          # col4row maps each original column to its row
            order = np.argsort(col4row, kind="stable")
            results.append((col4row[order], order))
        else:
            results.append((np.arange(n_rows[b], dtype=np.int64), col4row))
    return results


def linear_sum_assignment(cost: np.ndarray, maximize: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """Same contract as refimpl.losses.matching.linear_sum_assignment."""
    return _solve([check_cost_matrix(cost, "cost", maximize, values=False)], maximize, ["cost"])[0]


def batched_linear_sum_assignment(costs: Union[np.ndarray, Sequence[np.ndarray]], maximize: bool = False
                                  ) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Same contract as refimpl.losses.matching.batched_linear_sum_assignment; the batch runs in parallel."""
    mats = check_cost_batch(costs, maximize, values=False)
    if not mats:
        return []
    return _solve(mats, maximize, [f"costs[{b}]" for b in range(len(mats))])
