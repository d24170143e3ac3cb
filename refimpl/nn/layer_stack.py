"""A stack of Transformer layers that also collects hidden_states and attentions, and routes their
gradients back in its backward."""
from __future__ import annotations

from ..core.module import Module, ModuleList

__all__ = ["LayerStack"]


class LayerStack(Module):
    """A stack of encoder layers (`layer.0`, `layer.1`, ...), each forward(h, keep, output_attentions, rng)
    -> (h, probs) and backward(dh, d_probs) -> d(input). Collects hidden_states (the input of each layer,
    then the last output) and attentions; shared by BERT's BertEncoder and DistilBERT's Transformer."""

    def __init__(self, layers):
        super().__init__()
        self.layer = ModuleList(layers)

    def forward(self, hidden_states, keep, output_hidden_states=False, output_attentions=False, rng=None):
        all_hidden, all_attn = [hidden_states], []
        for layer in self.layer:
            hidden_states, probs = layer(hidden_states, keep, output_attentions, rng)
            all_hidden.append(hidden_states)
            all_attn.append(probs)
        return (hidden_states, tuple(all_hidden) if output_hidden_states else None,
                tuple(all_attn) if output_attentions else None)

    def backward(self, d_last, d_hidden_states=None, d_attentions=None):
        """d_hidden_states / d_attentions: per-entry gradients of those tuples (None entries allowed)."""
        n = len(self.layer)
        d_hs = d_hidden_states if d_hidden_states is not None else (None,) * (n + 1)
        d_at = d_attentions if d_attentions is not None else (None,) * n
        dh = d_last if d_hs[n] is None else d_last + d_hs[n]             # the last hidden state is output twice
        for i in reversed(range(n)):
            dh = self.layer[i].backward(dh, d_at[i])                      # dL/d(input of layer i)
            if d_hs[i] is not None:
                dh = dh + d_hs[i]                                         # ... which is also hidden_states[i]
        return dh
