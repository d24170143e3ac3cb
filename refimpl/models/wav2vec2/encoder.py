"""Wav2Vec2's context network: the positional convolution and the Transformer encoder, both layouts.

    frame mask m (B, T) (from the audio attention_mask), h (B, T, E):
    h = h * m                                   padded frames are zeroed first (so their values never leak)
    h = h + GELU(trim(WeightNormConv1d(h)))     positional conv embedding: kernel K, padding K // 2,
                                                groups G, weight g v / ||v|| (dim=2), last frame dropped if K is even
    post-LN  (do_stable_layer_norm=False):  h = dropout(LayerNorm(h)); per layer
        h = LayerNorm(h + dropout(Attn(h)));  h = final_LayerNorm(h + FF(h))
    pre-LN   (do_stable_layer_norm=True):   h = dropout(h); per layer
        h = h + dropout(Attn(LayerNorm(h)));  h = h + FF(final_LayerNorm(h));  after the last layer LayerNorm(h)
    FF(x) = dropout(W_2 dropout(act(W_1 x))) (activation_dropout inside, hidden_dropout outside).
    Attention keys are masked by m (every query row, pad rows too, sees the valid frames: transformers' sdpa
    mask); the positional conv activation is feat_extract_activation, as in transformers.

hidden_states (output_hidden_states): the input of the first layer, then every layer's output; in the
pre-LN layout the last entry is BEFORE the final LayerNorm (last_hidden_state is after it).
LayerDrop (training, layerdrop > 0): each layer is skipped when rng.random() < layerdrop (transformers
draws torch.rand); a skipped layer adds no hidden_states / attentions entry, as in transformers.
"""
from __future__ import annotations

import numpy as np

from ...core.module import Module, ModuleList
from ...nn.activation import get_activation
from ...nn.attention_heads import AttentionHeads
from ...nn.dropout import Dropout
from ...nn.linear import Linear
from ...nn.normalization import LayerNorm
from ...nn.weight_norm import WeightNormConv1d
from ..modeling_utils import apply_dropout

__all__ = ["Wav2Vec2PositionalConvEmbedding", "Wav2Vec2Attention", "Wav2Vec2FeedForward", "Wav2Vec2EncoderLayer",
           "Wav2Vec2EncoderLayerStableLayerNorm", "Wav2Vec2Encoder", "Wav2Vec2EncoderStableLayerNorm"]


class Wav2Vec2PositionalConvEmbedding(Module):
    """(B, T, E) -> (B, T, E): act(trim(grouped weight-normalised Conv1d over time)); trim = drop last if K even."""

    def __init__(self, config, dtype):
        super().__init__()
        k = config.num_conv_pos_embeddings
        self.conv = WeightNormConv1d(config.hidden_size, config.hidden_size, k, padding=k // 2,
                                     groups=config.num_conv_pos_embedding_groups, dim=2, dtype=dtype)
        self.num_pad_remove = 1 if k % 2 == 0 else 0                   # SamePad: even K gives T + 1 frames
        self.activation = get_activation(config.feat_extract_activation)

    def forward(self, h):
        y = self.conv(h.transpose(0, 2, 1))                             # (B, E, T + 1 - K % 2)
        if self.num_pad_remove:
            y = y[:, :, :-self.num_pad_remove]                          # (B, E, T)
        return self.activation(y).transpose(0, 2, 1)                    # (B, T, E)

    def backward(self, dy):
        dy = self.activation.backward(dy.transpose(0, 2, 1))            # (B, E, T)
        if self.num_pad_remove:
            dy = np.concatenate([dy, np.zeros(dy.shape[:2] + (self.num_pad_remove,), dy.dtype)], axis=2)
        return self.conv.backward(dy).transpose(0, 2, 1)                # (B, T, E)


class Wav2Vec2Attention(Module):
    """Self-attention with k_proj, v_proj, q_proj, out_proj (transformers' order) around AttentionHeads."""

    def __init__(self, config, dtype):
        super().__init__()
        e, h = config.hidden_size, config.num_attention_heads
        self.k_proj = Linear(e, e, dtype=dtype)
        self.v_proj = Linear(e, e, dtype=dtype)
        self.q_proj = Linear(e, e, dtype=dtype)
        self.out_proj = Linear(e, e, dtype=dtype)
        self.heads = AttentionHeads(h, e // h, config.attention_dropout)

    def forward(self, h, keep, output_attentions=False, rng=None):
        ctx, probs = self.heads(self.q_proj(h), self.k_proj(h), self.v_proj(h), keep, output_attentions, rng)
        return self.out_proj(ctx), probs                                # (B, T, E), (B, H, T, T) or None

    def backward(self, dy, d_probs=None):
        dq, dk, dv = self.heads.backward(self.out_proj.backward(dy), d_probs)
        # h feeds all three projections: the gradients add
        return self.q_proj.backward(dq) + self.k_proj.backward(dk) + self.v_proj.backward(dv)


class Wav2Vec2FeedForward(Module):
    """dropout_h(output_dense(dropout_a(act(intermediate_dense(x)))))."""

    def __init__(self, config, dtype):
        super().__init__()
        self.intermediate_dropout = Dropout(config.activation_dropout)
        self.intermediate_dense = Linear(config.hidden_size, config.intermediate_size, dtype=dtype)
        self.intermediate_act_fn = get_activation(config.hidden_act)
        self.output_dense = Linear(config.intermediate_size, config.hidden_size, dtype=dtype)
        self.output_dropout = Dropout(config.hidden_dropout)

    def forward(self, x, rng=None):
        a = self.intermediate_act_fn(self.intermediate_dense(x))       # (B, T, I)
        a = apply_dropout(self.intermediate_dropout, a, rng)
        return apply_dropout(self.output_dropout, self.output_dense(a), rng)   # (B, T, E)

    def backward(self, dy):
        da = self.output_dense.backward(self.output_dropout.backward(dy))
        da = self.intermediate_act_fn.backward(self.intermediate_dropout.backward(da))
        return self.intermediate_dense.backward(da)


class Wav2Vec2EncoderLayer(Module):
    """Post-LN: a = LN(h + dropout(Attn(h))); out = final_LN(a + FF(a))."""

    def __init__(self, config, dtype):
        super().__init__()
        self.attention = Wav2Vec2Attention(config, dtype)
        self.dropout = Dropout(config.hidden_dropout)
        self.layer_norm = LayerNorm(config.hidden_size, eps=config.layer_norm_eps, dtype=dtype)
        self.feed_forward = Wav2Vec2FeedForward(config, dtype)
        self.final_layer_norm = LayerNorm(config.hidden_size, eps=config.layer_norm_eps, dtype=dtype)

    def forward(self, h, keep, output_attentions=False, rng=None):
        att, probs = self.attention(h, keep, output_attentions, rng)
        a = self.layer_norm(h + apply_dropout(self.dropout, att, rng))          # (B, T, E)
        return self.final_layer_norm(a + self.feed_forward(a, rng)), probs

    def backward(self, dy, d_probs=None):
        dz = self.final_layer_norm.backward(dy)                        # d(a + FF(a))
        da = dz + self.feed_forward.backward(dz)                        # a feeds the FF and its residual
        ds = self.layer_norm.backward(da)                               # d(h + dropout(att))
        return ds + self.attention.backward(self.dropout.backward(ds), d_probs)


class Wav2Vec2EncoderLayerStableLayerNorm(Wav2Vec2EncoderLayer):
    """Pre-LN: r = h + dropout(Attn(LN(h))); out = r + FF(final_LN(r)). Same parameters and names."""

    def forward(self, h, keep, output_attentions=False, rng=None):
        att, probs = self.attention(self.layer_norm(h), keep, output_attentions, rng)
        r = h + apply_dropout(self.dropout, att, rng)                   # (B, T, E)
        return r + self.feed_forward(self.final_layer_norm(r), rng), probs

    def backward(self, dy, d_probs=None):
        dr = dy + self.final_layer_norm.backward(self.feed_forward.backward(dy))   # residual + FF branch
        dx = self.attention.backward(self.dropout.backward(dr), d_probs)
        return dr + self.layer_norm.backward(dx)                        # residual + attention branch


class Wav2Vec2Encoder(Module):
    """The post-LN encoder (do_stable_layer_norm=False); Wav2Vec2EncoderStableLayerNorm is the pre-LN one.

    forward(h (B, T, E), frame_mask (B, T) bool or None, output_hidden_states, output_attentions, rng)
        -> (last_hidden_state, hidden_states tuple or None, attentions tuple or None)
    backward(d_last, d_hidden_states, d_attentions) -> d h.
    """

    pre_ln = False
    layer_class = Wav2Vec2EncoderLayer

    def __init__(self, config, dtype):
        super().__init__()
        self.layerdrop = config.layerdrop
        self.pos_conv_embed = Wav2Vec2PositionalConvEmbedding(config, dtype)
        self.layer_norm = LayerNorm(config.hidden_size, eps=config.layer_norm_eps, dtype=dtype)
        self.dropout = Dropout(config.hidden_dropout)
        self.layers = ModuleList([self.layer_class(config, dtype) for _ in range(config.num_hidden_layers)])

    def forward(self, h, frame_mask=None, output_hidden_states=False, output_attentions=False, rng=None):
        keep = None
        if frame_mask is not None:
            h = np.where(frame_mask[:, :, None], h, 0)                  # padded frames -> 0
            keep = frame_mask[:, None, None, :]                         # (B, 1, 1, T): keys that may be attended
        h = h + self.pos_conv_embed(h)                                  # (B, T, E)
        if not self.pre_ln:
            h = self.layer_norm(h)
        h = apply_dropout(self.dropout, h, rng)
        ran, hidden, attn = [], [], []
        for i, layer in enumerate(self.layers):
            if self.training and self.layerdrop > 0.0 and rng.random() < self.layerdrop:
                continue                                                # LayerDrop: this layer is skipped
            if not hidden:
                hidden.append(h)                                        # the first layer's input
            h, probs = layer(h, keep, output_attentions, rng)
            ran.append(i)
            hidden.append(h)
            attn.append(probs)
        last = self.layer_norm(h) if self.pre_ln else h
        self.save_for_backward(frame_mask, ran)
        return last, (tuple(hidden) if output_hidden_states else None), (tuple(attn) if output_attentions else None)

    def backward(self, d_last, d_hidden_states=None, d_attentions=None):
        frame_mask, ran = self.saved()
        n = len(ran)
        d_hs = d_hidden_states if d_hidden_states is not None else (None,) * (n + 1 if n else 0)
        d_at = d_attentions if d_attentions is not None else (None,) * n
        dh = self.layer_norm.backward(d_last) if self.pre_ln else d_last
        if n and d_hs[n] is not None:
            dh = dh + d_hs[n]                                           # the last layer output is hidden_states[-1]
        for j in reversed(range(n)):
            dh = self.layers[ran[j]].backward(dh, d_at[j])              # d(input of the j-th layer run)
            if d_hs[j] is not None:
                dh = dh + d_hs[j]                                       # ... which is hidden_states[j]
        dh = self.dropout.backward(dh)
        if not self.pre_ln:
            dh = self.layer_norm.backward(dh)
        dh = dh + self.pos_conv_embed.backward(dh)                      # h feeds the sum and the conv
        if frame_mask is not None:
            dh = np.where(frame_mask[:, :, None], dh, 0)                # zeroed frames get no gradient
        return dh


class Wav2Vec2EncoderStableLayerNorm(Wav2Vec2Encoder):
    """The pre-LN encoder (do_stable_layer_norm=True): no LayerNorm before the layers, one after them."""

    pre_ln = True
    layer_class = Wav2Vec2EncoderLayerStableLayerNorm
