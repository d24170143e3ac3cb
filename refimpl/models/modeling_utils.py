"""Helpers every model family uses: dropout masks drawn from the forward's `rng`, the check that a
training-mode forward got one, transformers' weight init, and the hand-off from a head's backward
to its base model's."""
from __future__ import annotations

import numpy as np

from ..core.errors import ConfigError
from ..core.model import PreTrainedModel
from ..core.module import Module
from ..core.validation import check_generator
from ..functional.dropout import dropout_mask
from ..nn.attention_heads import AttentionHeads
from ..nn.dropout import Dropout
from ..nn.embedding import Embedding
from ..nn.init import normal
from ..nn.linear import Linear

__all__ = ["apply_dropout", "require_rng", "init_weights", "base_backward", "zeros_if_none"]


def apply_dropout(module: Dropout, x: np.ndarray, rng) -> np.ndarray:
    """module(x) with its mask drawn from the model's `rng` when it is active (training, p > 0)."""
    if module.training and module.p > 0.0:
        return module(x, mask=dropout_mask(rng, module.p, x.shape, x.dtype))
    return module(x)


def require_rng(model: Module, rng) -> None:
    """In training mode with any active dropout the forward needs a Generator; a given rng must be one."""
    if rng is not None:
        check_generator(rng, "rng")
        return
    if not model.training:
        return
    for m in model.modules():
        if (isinstance(m, Dropout) and m.p > 0.0) or (isinstance(m, AttentionHeads) and m.dropout > 0.0):
            raise ConfigError(f"rng: {type(model).__name__} is in training mode with dropout active; pass "
                              f"rng=np.random.default_rng(seed), or call .eval() for deterministic outputs")


def init_weights(model: Module, std: float, seed: int = 0) -> None:
    """transformers' init: Linear and Embedding weights N(0, std^2), biases 0, padding rows 0, LayerNorm 1/0."""
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, (Linear, Embedding)):
            m.weight.data = normal(rng, m.weight.shape, std, m.weight.dtype)
            if isinstance(m, Embedding) and m.padding_idx is not None:
                m.weight.data[m.padding_idx] = 0.0
            if isinstance(m, Linear) and m.bias is not None:
                m.bias.data = np.zeros_like(m.bias.data)


def base_backward(head: PreTrainedModel, grads: dict, **d_outputs) -> dict:
    """Backward through head.base_model: the head's gradients for the base outputs it read (d_outputs)
    plus the gradients of hidden_states / attentions, which the head passes through unchanged."""
    for name in ("hidden_states", "attentions"):
        if name in grads:
            d_outputs[name] = grads[name]
    return head.base_model.backward(**d_outputs)


def zeros_if_none(g, shape, dtype):
    """The gradient g, or zeros of `shape` when an output received none."""
    return np.zeros(shape, dtype) if g is None else g
