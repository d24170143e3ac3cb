"""CUDA (CuPy) kernel: batched linear sum assignment, one problem per CUDA block.

    min over injective rows -> cols of sum_i C[i, col(i)],  C (n_rows, n_cols) with n_rows <= n_cols
    (a taller problem is solved on C^T; maximize solves -C)

Shortest augmenting paths (Crouse 2016, the Jonker-Volgenant family SciPy uses), with the greedy start
of kernels/numba_cpu/matching.py; inside a block the threads share every column scan of a Dijkstra
step (relaxation and argmin), see matching.cu. The optimum value equals SciPy's; the assignment too
whenever the optimum is unique (with ties another optimal assignment may come back).

Arrays: costs as in the reference (a (B, n_rows, n_cols) array or a list of 2-d matrices of any shapes),
NumPy or CuPy. Problems are validated on the host with the reference's check_cost_batch (CuPy costs
are copied to the host first: matching problems are small and the answer needs the host anyway),
packed into one buffer and solved in one launch. Results are int64 (row_ind, col_ind) pairs, NumPy
arrays, or CuPy arrays when the costs were CuPy.

Tested against: refimpl.losses.matching.linear_sum_assignment / batched_linear_sum_assignment (SciPy)
in tests/kernels/test_cuda_matching.py (run where CuPy and a GPU are present).
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np

from refimpl.core.errors import InfeasibleError
from refimpl.losses.matching import check_cost_batch, check_cost_matrix, find_invalid_costs

from ._runtime import get_module, is_cupy, require_cupy

__all__ = ["linear_sum_assignment", "batched_linear_sum_assignment"]

NT = 128  # must match matching.cu


def _to_host(x):
    return x.get() if is_cupy(x) else x


def _solve(mats: List[np.ndarray], maximize: bool, names: List[str]) -> List[Tuple[np.ndarray, np.ndarray]]:
    """mats: float64 matrices checked for type and shape; values are scanned here in one pass."""
    transposed = [c.shape[0] > c.shape[1] for c in mats]
    tall = [c.T if t else c for c, t in zip(mats, transposed)]              # (k, m) with k <= m
    n_rows = np.array([c.shape[0] for c in tall], np.int64)
    n_cols = np.array([c.shape[1] for c in tall], np.int64)
    sizes = n_rows * n_cols
    offsets = np.zeros(len(mats), np.int64)
    np.cumsum(sizes[:-1], out=offsets[1:])
    flat = np.empty(max(1, int(sizes.sum())))
    for c, o, n in zip(tall, offsets, sizes):
        flat[o:o + n].reshape(c.shape)[...] = c                              # one copy, C order
    if find_invalid_costs(flat[:int(sizes.sum())], maximize):               # slow path: name the entry
        for c, name in zip(mats, names):
            check_cost_matrix(c, name, maximize)
    cp = require_cupy("matching")
    if maximize:
        np.negative(flat, out=flat)                                          # max C = -min(-C)
    row_off = np.zeros(len(mats), np.int64)
    np.cumsum(n_rows[:-1], out=row_off[1:])
    col_off = np.zeros(len(mats), np.int64)
    np.cumsum(n_cols[:-1], out=col_off[1:])
    R, Cn = max(1, int(n_rows.sum())), max(1, int(n_cols.sum()))
    d = cp.asarray
    col4row = cp.empty(R, np.int64)
    feasible = cp.zeros(len(mats), np.int32)
    args = (d(flat), d(offsets), d(n_rows), d(n_cols), d(row_off), d(col_off),
            cp.empty(R), cp.empty(Cn), cp.empty(Cn), cp.empty(Cn, np.int64), cp.empty(Cn, np.int64),
            cp.empty(Cn, np.uint8), cp.empty(R, np.uint8), col4row, feasible)
    get_module("matching").get_function("lsa_batch")((len(mats),), (NT,), args)
    feasible = feasible.get()
    if not feasible.all():
        b = int(np.argmin(feasible))
        raise InfeasibleError(f"{names[b]}: the forbidden (infinite) entries of this {mats[b].shape[0]}x"
                              f"{mats[b].shape[1]} cost matrix leave no complete assignment")
    out = col4row.get()
    results = []
    for b in range(len(mats)):
        c4r = out[row_off[b]:row_off[b] + n_rows[b]].copy()
        if transposed[b]:                          # c4r maps each original column to its row
            order = np.argsort(c4r, kind="stable")
            results.append((c4r[order], order.astype(np.int64)))
        else:
            results.append((np.arange(n_rows[b], dtype=np.int64), c4r))
    return results


def linear_sum_assignment(cost, maximize: bool = False) -> Tuple:
    """Same contract as refimpl.losses.matching.linear_sum_assignment (NumPy or CuPy cost)."""
    rows, cols = _solve([check_cost_matrix(_to_host(cost), "cost", maximize, values=False)], maximize, ["cost"])[0]
    if is_cupy(cost):
        import cupy
        return cupy.asarray(rows), cupy.asarray(cols)
    return rows, cols


def batched_linear_sum_assignment(costs, maximize: bool = False) -> List[Tuple]:
    """Same contract as refimpl.losses.matching.batched_linear_sum_assignment; the batch is one launch."""
    on_device = is_cupy(costs) or (isinstance(costs, (list, tuple)) and any(is_cupy(c) for c in costs))
    if is_cupy(costs):
        costs = costs.get()
    elif isinstance(costs, (list, tuple)):
        costs = [_to_host(c) for c in costs]
    mats = check_cost_batch(costs, maximize, values=False)
    if not mats:
        return []
    results = _solve(mats, maximize, [f"costs[{b}]" for b in range(len(mats))])
    if on_device:
        import cupy
        results = [(cupy.asarray(r), cupy.asarray(c)) for r, c in results]
    return results
