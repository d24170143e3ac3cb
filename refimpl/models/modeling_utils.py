"""Helpers every model family uses: dropout and drop-path masks drawn from the forward's `rng`, the check
that a training-mode forward got one, the config's default output switches, transformers' weight init,
and the hand-off from a head's backward to its base model's."""
from __future__ import annotations

import numpy as np

from ..core.errors import ConfigError
from ..core.model import PreTrainedModel
from ..core.module import Module
from ..core.validation import check_generator
from ..functional.dropout import drop_path_mask, dropout_mask
from ..nn.attention_heads import AttentionHeads
from ..nn.dropout import Dropout, DropPath
from ..nn.embedding import Embedding
from ..nn.init import normal
from ..nn.linear import Linear

__all__ = ["apply_dropout", "require_rng", "output_flags", "init_weights", "word_embeddings_backward",
           "base_backward", "zeros_if_none"]


def apply_dropout(module, x: np.ndarray, rng) -> np.ndarray:
    """module(x) for a Dropout (mask per element) or a DropPath (mask per sample), its mask drawn from the
    model's `rng` when it is active (training, p > 0)."""
    if module.training and module.prob > 0.0:
        draw = drop_path_mask if isinstance(module, DropPath) else dropout_mask
        return module(x, mask=draw(rng, module.prob, x.shape, x.dtype))
    return module(x)


def _active_randomness(m: Module):
    """What random draw the module m makes in training mode, or None."""
    if isinstance(m, DropPath) and m.drop_prob > 0.0:
        return "drop path active (drop_path_rate > 0)"
    if (isinstance(m, Dropout) and m.p > 0.0) or (isinstance(m, AttentionHeads) and m.dropout > 0.0):
        return "dropout active"
    return None


def require_rng(model: Module, rng) -> None:
    """In training mode with any active dropout or drop path the forward needs a Generator; a given rng must be one."""
    if rng is not None:
        check_generator(rng, "rng")
        return
    if not model.training:
        return
    for m in model.modules():
        what = _active_randomness(m)
        if what is not None:
            raise ConfigError(f"rng: {type(model).__name__} is in training mode with {what}; pass "
                              f"rng=np.random.default_rng(seed), or call .eval() for deterministic outputs")


def output_flags(config, output_attentions, output_hidden_states):
    """(output_attentions, output_hidden_states) of a forward: each None means the config's default."""
    return (config.output_attentions if output_attentions is None else output_attentions,
            config.output_hidden_states if output_hidden_states is None else output_hidden_states)


def init_weights(model: Module, std: float, seed: int = 0, also: tuple = ()) -> None:
    """transformers' init: Linear and Embedding weights N(0, std^2), biases 0, padding rows 0, LayerNorm 1/0.
    also: more layer types with a weight and an optional bias (e.g. Conv2d), initialised as Linear is."""
    rng = np.random.default_rng(seed)
    like_linear = (Linear,) + tuple(also)
    for m in model.modules():
        if isinstance(m, like_linear + (Embedding,)):
            m.weight.data = normal(rng, m.weight.shape, std, m.weight.dtype)
            if isinstance(m, Embedding) and m.padding_idx is not None:
                m.weight.data[m.padding_idx] = 0.0
            if isinstance(m, like_linear) and m.bias is not None:
                m.bias.data = np.zeros_like(m.bias.data)


def word_embeddings_backward(word_embeddings: Embedding, dx: np.ndarray, from_ids: bool):
    """The end of a text model's backward: dx, the gradient of the embedding sum, goes to the word table when
    the forward looked up input_ids (and None is returned: ids take no gradient), else it is dL/d inputs_embeds."""
    if from_ids:
        word_embeddings.backward(dx)
        return None
    return dx


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
