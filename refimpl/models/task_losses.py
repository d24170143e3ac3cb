"""The losses of the task heads, as transformers computes them, with their gradients w.r.t. the logits.

    sequence classification   problem_type regression -> MSE, single_label -> CE, multi_label -> BCE-with-logits
    token classification      CE over all (B*L) tokens, -100 ignored (masked LM too)
    causal language modeling  CE of the logits at t against the labels at t+1, -100 ignored
    question answering        (CE(start) + CE(end)) / 2, positions clamped to [0, L] and L ignored

How a head uses them (its loss when labels are given, d logits in its backward): refimpl/models/heads.py.
"""
from __future__ import annotations

import numpy as np

from ..core.errors import DTypeError, ShapeError
from ..core.validation import check_float
from ..losses.binary_cross_entropy import (binary_cross_entropy_with_logits,
                                           binary_cross_entropy_with_logits_backward)
from ..losses.cross_entropy import cross_entropy, cross_entropy_backward
from ..losses.regression import mse_loss, mse_loss_backward
from .inputs import labels_of

__all__ = ["problem_type_of", "sequence_classification_loss", "sequence_classification_loss_backward",
           "qa_targets", "qa_loss", "qa_loss_backward", "token_cross_entropy", "token_cross_entropy_backward",
           "causal_lm_loss", "causal_lm_loss_backward"]


def problem_type_of(config, labels) -> str:
    """transformers' choice when config.problem_type is None: 1 label -> regression; integer labels ->
    single-label; otherwise multi-label. (transformers also writes the choice into the config; refimpl
    decides afresh on every call and leaves the config alone.)"""
    if config.problem_type is not None:
        return config.problem_type
    if config.num_labels == 1:
        return "regression"
    if np.issubdtype(labels.dtype, np.integer):
        return "single_label_classification"
    return "multi_label_classification"


def sequence_classification_loss(logits: np.ndarray, labels, problem_type: str):
    """(loss, the arrays its backward needs) for logits (B, C) with MSE / CE / BCE by problem_type."""
    b, c = logits.shape
    if not isinstance(labels, np.ndarray):
        raise DTypeError(f"labels: expected a numpy.ndarray, got {type(labels).__name__}")
    if problem_type == "regression":
        check_float(labels, "labels", dtype=logits.dtype)
        if labels.size != b * c:
            raise ShapeError(f"labels: regression needs {b * c} targets, shape ({b}, {c})"
                             + (f" or ({b},)" if c == 1 else "") + f", got {labels.shape}")
        target = labels.reshape(b, c)       # num_labels == 1: torch squeezes both sides, same mean
        return mse_loss(logits, target), target
    if problem_type == "single_label_classification":
        if not np.issubdtype(labels.dtype, np.integer):
            raise DTypeError(f"labels: single-label classification needs integer class ids, got {labels.dtype}")
        target = labels_of(labels, "labels", (b,), high=c)
        return cross_entropy(logits, target), target
    check_float(labels, "labels", dtype=logits.dtype)                      # multi-label: float 0/1 targets
    if labels.shape != (b, c):
        raise ShapeError(f"labels: multi-label classification needs targets of shape ({b}, {c}), got {labels.shape}")
    return binary_cross_entropy_with_logits(logits, labels), labels


def sequence_classification_loss_backward(g, logits, target, problem_type: str) -> np.ndarray:
    """d loss / d logits, scaled by the upstream gradient g (0-d)."""
    if problem_type == "regression":
        return mse_loss_backward(g, logits, target)[0]
    if problem_type == "single_label_classification":
        return cross_entropy_backward(g, logits, target)
    return binary_cross_entropy_with_logits_backward(g, logits, target)


def qa_targets(positions, name: str, batch: int, seq_len: int) -> np.ndarray:
    """Start/end positions (B,) or (B, 1), clamped to [0, L]; L then means "ignored" (transformers' rule)."""
    if not isinstance(positions, np.ndarray) or not np.issubdtype(positions.dtype, np.integer):
        raise DTypeError(f"{name}: expected an integer numpy array, got "
                         f"{getattr(positions, 'dtype', type(positions).__name__)}")
    if positions.shape not in ((batch,), (batch, 1)):
        raise ShapeError(f"{name}: expected shape ({batch},) or ({batch}, 1), got {positions.shape}")
    return np.clip(positions.reshape(batch), 0, seq_len)


def qa_loss(start_logits, end_logits, start, end) -> float:
    """(CE(start) + CE(end)) / 2 with ignore_index = L; start/end from qa_targets."""
    n = start_logits.shape[1]
    return (cross_entropy(start_logits, start, ignore_index=n) + cross_entropy(end_logits, end, ignore_index=n)) / 2


def qa_loss_backward(g, start_logits, end_logits, start, end):
    """(d start_logits, d end_logits) of qa_loss for upstream g: each CE gets g / 2."""
    n = start_logits.shape[1]
    half = g / 2
    return (cross_entropy_backward(half, start_logits, start, ignore_index=n),
            cross_entropy_backward(half, end_logits, end, ignore_index=n))


def token_cross_entropy(logits, labels) -> float:
    """Mean CE over every token: logits (B, L, C) flattened to (B*L, C), labels (B, L), -100 ignored."""
    c = logits.shape[-1]
    return cross_entropy(logits.reshape(-1, c), labels.reshape(-1))


def token_cross_entropy_backward(g, logits, labels) -> np.ndarray:
    """d token_cross_entropy / d logits (B, L, C), scaled by the upstream gradient g."""
    c = logits.shape[-1]
    return cross_entropy_backward(g, logits.reshape(-1, c), labels.reshape(-1)).reshape(logits.shape)


def _shifted_labels(labels: np.ndarray) -> np.ndarray:
    """labels[:, t+1] at position t, -100 at the last position: (B, L)."""
    pad = np.full(labels.shape[:-1] + (1,), -100, dtype=labels.dtype)
    return np.concatenate([labels[..., 1:], pad], axis=-1)


def causal_lm_loss(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean CE of logits (B, L, V) at t against labels at t+1, over the labels != -100 (transformers'
    ForCausalLMLoss without num_items_in_batch). NaN when no label counts, as in torch."""
    return token_cross_entropy(logits, _shifted_labels(labels))


def causal_lm_loss_backward(g, logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """d causal_lm_loss / d logits (B, L, V), scaled by the upstream gradient g; the last position gets 0."""
    return token_cross_entropy_backward(g, logits, _shifted_labels(labels))
