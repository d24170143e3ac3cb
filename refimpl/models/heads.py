"""What every task head does around its own layers, written once: the loss when labels are given, the
gradient of the logits in the backward, reading the first token, the [CLS] pooler, the num_labels checks.

The building blocks: head_loss (the loss, or None without labels) and logits_grad (d L / d logits: the
logits' own gradient plus the loss's). A head's forward and backward in a model file read:

    logits = self.classifier(apply_dropout(self.dropout, pooled, rng))             # (B, C)   the head's layers
    loss = head_loss(cross_entropy, logits, labels, dtype=self.dtype)              # None without labels
    self.save_for_backward(logits, labels)
    ...
    logits, labels = self.saved()
    d_logits = logits_grad(grads, logits, self.dtype, cross_entropy_backward, labels)
    d_pooled = self.dropout.backward(self.classifier.backward(d_logits))           # back through its layers

The heads that are the same in every family keep their layers in the model file and hand the rest to
a forward/backward pair here, which saves on the model what its backward needs:

    token_head_forward / token_head_backward   per-token logits (B, L, C), mean CE over labels != -100
                                               (token classification, masked LM)
    qa_head_forward / qa_head_backward         (B, L, 2) logits split into start/end logits, QA loss

The losses themselves, each with its gradient w.r.t. the logits, are in refimpl/models/task_losses.py.
"""
from __future__ import annotations

import numpy as np

from ..core.errors import ConfigError
from ..core.module import Module
from .modeling_utils import zeros_if_none
from .outputs import QuestionAnsweringModelOutput
from .task_losses import (problem_type_of, qa_loss, qa_loss_backward, qa_targets, sequence_classification_loss,
                          token_cross_entropy, token_cross_entropy_backward)

__all__ = ["require_classification_labels", "require_qa_labels", "head_loss", "logits_grad",
           "sequence_classification_head", "token_head_forward", "token_head_backward", "qa_head_forward",
           "qa_head_backward", "first_token_backward", "FirstTokenPooler"]


# ============================================================================================ config checks
def require_classification_labels(config) -> None:
    """A sequence-classification head needs at least one label."""
    if config.num_labels < 1:
        raise ConfigError(f"num_labels: sequence classification needs at least 1 label, got {config.num_labels}")


def require_qa_labels(config) -> None:
    """A question-answering head splits qa_outputs into start/end logits: num_labels must be 2."""
    if config.num_labels != 2:
        raise ConfigError(f"num_labels: question answering splits qa_outputs into start/end logits, so it "
                          f"must be 2, got {config.num_labels}")


# ============================================================================================ loss and d logits
def head_loss(loss_fn, logits, *targets, dtype):
    """loss_fn(logits, *targets) as a 0-d array of `dtype`; None when the forward got no labels (targets[0] None)."""
    if targets[0] is None:
        return None
    return np.asarray(loss_fn(logits, *targets), dtype)


def logits_grad(grads: dict, logits, dtype, loss_backward, *targets, key: str = "logits"):
    """d L / d logits of a head: the gradient of its output `key` (zeros when none came) plus, when its
    forward computed a loss (targets[0] not None) and grads has one, loss_backward(grads["loss"], logits, *targets)."""
    d = zeros_if_none(grads.get(key), logits.shape, dtype)
    if targets[0] is not None and "loss" in grads:
        d = d + loss_backward(grads["loss"], logits, *targets)
    return d


def sequence_classification_head(logits, labels, config, dtype):
    """The loss of a sequence (or image) classification head on logits (B, C): (loss, target, problem type),
    all None without labels; MSE / CE / BCE-with-logits by problem_type, decided as transformers does.
    The backward: logits_grad(grads, logits, dtype, sequence_classification_loss_backward, target, kind)."""
    if labels is None:
        return None, None, None
    if config.num_labels < 1:
        raise ConfigError("labels: a loss needs num_labels >= 1; this classifier is the identity")
    kind = problem_type_of(config, labels)
    loss, target = sequence_classification_loss(logits, labels, kind)
    return np.asarray(loss, dtype), target, kind


def token_head_forward(model, out, logits, labels, output_cls):
    """A head with logits (B, L, C) per token: loss = mean CE over the labels != -100 (None without labels).
    Saves (logits, labels) on `model` for token_head_backward; returns output_cls(loss, logits, hidden_states,
    attentions) with the base output `out`'s hidden_states and attentions."""
    loss = head_loss(token_cross_entropy, logits, labels, dtype=model.dtype)
    model.save_for_backward(logits, labels)
    return output_cls(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)


def token_head_backward(model, grads):
    """d L / d logits (B, L, C) of the head whose forward ran token_head_forward."""
    logits, labels = model.saved()
    return logits_grad(grads, logits, model.dtype, token_cross_entropy_backward, labels)   # per-token CE


def qa_head_forward(model, out, logits, start_positions, end_positions):
    """A question-answering head: logits (B, L, 2) split into start/end logits (B, L); with both positions
    ((B,) or (B, 1), clamped to [0, L], L ignored) loss = (CE(start) + CE(end)) / 2. Saves what
    qa_head_backward needs on `model`; returns a QuestionAnsweringModelOutput (hidden_states, attentions of `out`)."""
    b, n, _ = logits.shape
    start_logits = np.ascontiguousarray(logits[..., 0])                   # (B, L)
    end_logits = np.ascontiguousarray(logits[..., 1])
    loss = targets = None
    if start_positions is not None and end_positions is not None:
        targets = (qa_targets(start_positions, "start_positions", b, n),
                   qa_targets(end_positions, "end_positions", b, n))
        loss = np.asarray(qa_loss(start_logits, end_logits, *targets), model.dtype)
    model.save_for_backward(start_logits, end_logits, targets)
    return QuestionAnsweringModelOutput(loss=loss, start_logits=start_logits, end_logits=end_logits,
                                        hidden_states=out.hidden_states, attentions=out.attentions)


def qa_head_backward(model, grads):
    """d (B, L, 2) logits from the gradients of start_logits, end_logits and loss (after qa_head_forward)."""
    start_logits, end_logits, targets = model.saved()
    d_start = zeros_if_none(grads.get("start_logits"), start_logits.shape, model.dtype)
    d_end = zeros_if_none(grads.get("end_logits"), end_logits.shape, model.dtype)
    if targets is not None and "loss" in grads:
        ds, de = qa_loss_backward(grads["loss"], start_logits, end_logits, *targets)
        d_start, d_end = d_start + ds, d_end + de
    return np.stack([d_start, d_end], axis=-1)                            # (B, L, 2): undo the split


# ============================================================================================ the first token
def first_token_backward(d_first, shape, dtype) -> np.ndarray:
    """d L / d h for h of `shape` (B, L, ...) of which only h[:, 0] was read: d_first there, 0 elsewhere."""
    dh = np.zeros(shape, dtype)
    dh[:, 0] = d_first
    return dh


class FirstTokenPooler(Module):
    """activation(dense(h[:, 0])): (B, L, E) -> (B, P), the [CLS] pooler of BERT (tanh) and ViT (pooler_act).

    A subclass builds `dense` (E -> P) and `activation` under its checkpoint names.
    """

    def forward(self, hidden_states):
        self.save_for_backward(hidden_states.shape)
        return self.activation(self.dense(hidden_states[:, 0]))          # (B, P)

    def backward(self, dy):
        (shape,) = self.saved()
        d_first = self.dense.backward(self.activation.backward(dy))      # (B, E)
        return first_token_backward(d_first, shape, dy.dtype)            # only the first token was read
