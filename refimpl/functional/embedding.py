"""embedding: y = weight[input_ids], a row lookup (torch.nn.functional.embedding).

Backward scatter-adds each upstream row into the row it was read from, so repeated ids accumulate;
the row `padding_idx` (if any) never receives gradient, as in torch (BERT/BART pad rows stay fixed).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..core.errors import ConfigError, ShapeError
from ..core.validation import check_float, check_int_array


def normalize_padding_idx(padding_idx, num_embeddings: int) -> Optional[int]:
    """torch's rule: None stays None; -k means num_embeddings - k; anything outside [-V, V) is an error."""
    if padding_idx is None:
        return None
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
        raise ConfigError(f"padding_idx: expected an integer or None, got {padding_idx!r}")
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ConfigError(f"padding_idx: must lie in [{-num_embeddings}, {num_embeddings}) for "
                          f"num_embeddings={num_embeddings}, got {padding_idx}")
    return int(padding_idx) % num_embeddings


def _check(input_ids, weight, name="input_ids"):
    check_float(weight, "weight", ndim=2)
    check_int_array(input_ids, name, low=0, high=weight.shape[0])


def embedding(input_ids: np.ndarray, weight: np.ndarray, padding_idx: Optional[int] = None) -> np.ndarray:
    """input_ids: integer array of any shape (...), values in [0, V); weight: (V, D) -> (..., D), weight's dtype.

    padding_idx only affects the gradient (the forward reads that row like any other).
    """
    _check(input_ids, weight)
    normalize_padding_idx(padding_idx, weight.shape[0])
    return weight[input_ids]                                   # (..., D)


def embedding_backward(dy: np.ndarray, input_ids: np.ndarray, weight: np.ndarray,
                       padding_idx: Optional[int] = None):
    """(None, dweight): no gradient for the integer ids; dweight (V, D) = sum of dy rows per id, pad row 0."""
    _check(input_ids, weight)
    pad = normalize_padding_idx(padding_idx, weight.shape[0])
    V, D = weight.shape
    check_float(dy, "dy", dtype=weight.dtype)
    if dy.shape != input_ids.shape + (D,):
        raise ShapeError(f"dy: expected shape {input_ids.shape + (D,)} (input_ids shape + embedding_dim), "
                         f"got {dy.shape}")
    dweight = np.zeros((V, D), weight.dtype)
    # dL/dW[v] = sum over positions n with ids[n] == v of dy[n]  (unbuffered, so repeats accumulate)
    np.add.at(dweight, input_ids.reshape(-1), dy.reshape(-1, D))
    if pad is not None:
        dweight[pad] = 0.0                                     # the pad row is frozen: dL/dW[pad] = 0
    return None, dweight
