"""GPT-2 (Radford et al., 2019): a decoder-only, pre-LayerNorm Transformer with a key/value cache.

    input_ids (B, L) ─ wte[input_ids] + wpe[position_ids] (+ wte[token_type_ids]) ─ dropout    -> h_0 (B, L, E)
    h_l = GPT2Block(h_{l-1}),  l = 1..N  (module h.{l-1}):
        a   = h + dropout(c_proj · CausalSelfAttention(ln_1(h)))                  attn (c_attn packs q|k|v)
        h'  = a + dropout(c_proj · act(c_fc · ln_2(a)))                            mlp (act: gelu_new by default)
    last_hidden_state = ln_f(h_N)

c_attn / c_proj / c_fc are Conv1D layers: y = x W + b with W stored (in, out), the checkpoint layout
(refimpl.nn.conv1d_linear). Attention scores are q k^T * scale, scale = 1/sqrt(Dh) (scale_attn_weights)
divided by (layer_idx + 1) when scale_attn_by_inverse_layer_idx.

Heads (keys, losses as transformers 5.24):
    GPT2LMHeadModel                  lm_head (no bias) tied to transformer.wte; loss = mean CE of
                                     logits[:, t] against labels[:, t+1] over labels != -100
    GPT2ForSequenceClassification    score (no bias) on every token, read at the last non-padding token:
                                     the rightmost position whose input id != pad_token_id (0 when the
                                     row is all padding); without pad_token_id, or with inputs_embeds, the
                                     last position; without pad_token_id a batch > 1 is an error.
                                     MSE / CE / BCE by problem_type.
    GPT2ForTokenClassification       dropout (config classifier_dropout, else hidden_dropout, else 0.1) +
                                     classifier per token; CE with -100 ignored
    GPT2ForQuestionAnswering         qa_outputs per token -> start/end logits (no cache)

KEY/VALUE CACHE AND THE INTERFACE GENERATION USES
-------------------------------------------------
    out = model(input_ids=ids,                  # (B, L_new) int, L_new >= 1: only the new tokens
                attention_mask=mask,            # (B, L_past + L_new): 1 token / 0 pad, covering cache + new
                position_ids=pos,               # (B, L_new) or (1, L_new) or None
                past_key_values=past,           # None, or the previous out.past_key_values
                use_cache=True)
    out.logits           (B, L_new, V)
    out.past_key_values  tuple over the n_layer layers of (key, value), each a numpy array
                         (B, n_head, L_past + L_new, head_dim) in the model dtype: the given cache
                         with the new positions appended (new arrays; the inputs are not modified).
- position_ids=None means L_past + arange(L_new) (transformers' default), which is wrong for left
  padding: pass position_ids = cumsum(mask) - 1 (pads clamped, e.g. to 1 as transformers' generate does)
  for the new positions.
- Causal masking is bottom-right aligned (new query i sees cache positions and new positions <= i),
  combined (logical and) with the padding mask over all L_past + L_new keys. A query row that sees no
  key at all (a left-padding position) outputs 0, as transformers' default sdpa attention does
  (its eager attention gives a uniform row instead; only such pad rows differ).
- An incremental forward (one token or a chunk at a time) equals the full forward, exactly up to rounding.
- The cache is a constant: backward gives no gradient to past_key_values (and a gradient FOR the
  returned past_key_values is refused); parameter gradients flow through the new positions only.
- Under refimpl.core.grad_mode.no_grad() nothing is saved for backward (generation runs so).
- `cache=` is accepted as transformers 5's name of `past_key_values` (input), and `out.cache` reads it.
- use_cache=None means config.use_cache (True by default, as in transformers).

Dropout: in training mode every forward needs `rng`; masks are drawn in transformers' order (embeddings;
per block: attention probabilities, attention output, MLP output; then the head).
attentions (output_attentions=True): the probabilities after attention dropout, (B, H, L_new, L_past + L_new),
as transformers' eager attention returns them (its sdpa path returns none).
Not implemented: GPT2DoubleHeadsModel, cross-attention (add_cross_attention), head_mask.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ...core.errors import ConfigError, DTypeError, ShapeError
from ...core.grad_mode import is_grad_enabled
from ...core.kernel_dispatch import dispatch
from ...core.model import PreTrainedModel
from ...core.module import Module, ModuleList
from ...core.validation import check_float
from ...functional.attention import attention_dropout_mask, attention_probabilities
from ...nn.activation import get_activation
from ...nn.attention_heads import AttentionHeads
from ...nn.conv1d_linear import Conv1D
from ...nn.dropout import Dropout
from ...nn.embedding import Embedding
from ...nn.init import normal
from ...nn.linear import Linear
from ...nn.normalization import LayerNorm
from ...generation.utils import GenerationMixin
from ..heads import (head_loss, logits_grad, qa_head_backward, qa_head_forward, require_classification_labels,
                     sequence_classification_head, token_head_backward, token_head_forward)
from ..inputs import check_token_inputs, check_token_type_ids, labels_of, padding_keep_mask, position_ids_for
from ..modeling_utils import (apply_dropout, base_backward, init_weights, output_flags, require_rng,
                              word_embeddings_backward, zeros_if_none)
from ..outputs import (BaseModelOutputWithPastAndCrossAttentions, CausalLMOutputWithCrossAttentions,
                       SequenceClassifierOutputWithPast, TokenClassifierOutput)
from ..task_losses import causal_lm_loss, causal_lm_loss_backward, sequence_classification_loss_backward
from .config import GPT2Config

__all__ = ["GPT2Model", "GPT2PreTrainedModel", "GPT2LMHeadModel", "GPT2ForSequenceClassification",
           "GPT2ForTokenClassification", "GPT2ForQuestionAnswering", "causal_lm_loss", "causal_lm_loss_backward",
           "last_non_pad_index"]


# ============================================================================================ helpers
def last_non_pad_index(input_ids: Optional[np.ndarray], batch: int, seq_len: int,
                       pad_token_id: Optional[int]) -> np.ndarray:
    """Per row the position GPT2ForSequenceClassification reads, as transformers 5.24 finds it: the
    rightmost position whose id != pad_token_id (argmax of position * is_token, so 0 for an all-pad row);
    the last position when pad_token_id is None or only inputs_embeds are given. (B,) int."""
    if pad_token_id is None or input_ids is None:
        return np.full(batch, seq_len - 1)
    return (np.arange(seq_len) * (input_ids != pad_token_id)).argmax(-1)      # (B,)


def _refuse_cache_gradient(grads: dict) -> None:
    if "past_key_values" in grads:
        raise ConfigError("past_key_values: the key/value cache is a constant of the forward; it takes no "
                          "gradient (differentiate a full forward without a cache instead)")


# ============================================================================================ layers
class GPT2AttentionHeads(AttentionHeads):
    """AttentionHeads with bottom-right causal masking and a key/value cache (no parameters).

    q, k, v: (B, L, E) projections of the new positions; past: None or (past_k, past_v), each
    (B, H, L_past, Dh), prepended to the new keys/values; keep: bool (B, 1, 1, L_past + L) or None.
    Returns (context (B, L, E), probabilities (B, H, L, L_past + L) or None, (K, V) with the new positions).
    backward(d_context, d_probs=None) -> (dq, dk, dv) for the new positions only: the cache is a constant.
    """

    def __init__(self, num_heads: int, head_dim: int, dropout: float, scale: float):
        super().__init__(num_heads, head_dim, dropout)
        self.scale = float(scale)                          # 1/sqrt(Dh), maybe / (layer_idx + 1), or 1

    def forward(self, q, k, v, keep=None, past=None, output_attentions=False, rng=None):
        q, k, v = self._split(q), self._split(k), self._split(v)                     # (B, H, L, Dh)
        if past is not None:
            k = np.concatenate([past[0], k], axis=2)                                  # (B, H, L_past + L, Dh)
            v = np.concatenate([past[1], v], axis=2)
        p = self.dropout if self.training else 0.0
        scores_shape = q.shape[:-1] + (k.shape[2],)                                   # (B, H, L, L_past + L)
        drop = attention_dropout_mask(rng, p, scores_shape, q.dtype) if p > 0.0 else None
        kw = dict(attn_mask=keep, causal=True, scale=self.scale, dropout_p=p, dropout_mask=drop,
                  fully_masked_rows="zeros")
        ctx = dispatch("attention", "scaled_dot_product_attention")(q, k, v, **kw)   # (B, H, L, Dh)
        probs = None
        if output_attentions:
            probs, _ = attention_probabilities(q, k, attn_mask=keep, causal=True, scale=self.scale)
        self.save_for_backward(q, k, v, kw, probs)
        if probs is not None and drop is not None:
            probs = probs * drop                                                      # P~ = P * M
        return self._merge(ctx), probs, (k, v)

    def backward(self, d_out, d_probs=None):
        dq, dk, dv = super().backward(d_out, d_probs)      # dk, dv over all L_past + L keys: (B, L_past + L, E)
        n = dq.shape[1]
        return dq, dk[:, -n:], dv[:, -n:]                  # keep the new positions; the cache is constant


class GPT2Attention(Module):
    """c_attn (E -> 3E, q|k|v) -> causal multi-head attention (with cache) -> c_proj -> resid_dropout."""

    # causal-mask buffers that old checkpoints carry (transformers ignores them too)
    ignored_state_keys = ("bias", "masked_bias")

    def __init__(self, config: GPT2Config, layer_idx: int, dtype):
        super().__init__()
        e, h = config.n_embd, config.n_head
        scale = (e // h) ** -0.5 if config.scale_attn_weights else 1.0
        if config.scale_attn_by_inverse_layer_idx:
            scale /= float(layer_idx + 1)
        self.layer_idx = layer_idx
        self.c_attn = Conv1D(3 * e, e, dtype=dtype)
        self.c_proj = Conv1D(e, e, dtype=dtype)
        self.heads = GPT2AttentionHeads(h, e // h, config.attn_pdrop, scale)
        self.resid_dropout = Dropout(config.resid_pdrop)

    def forward(self, x, keep, past=None, output_attentions=False, rng=None):
        q, k, v = np.split(self.c_attn(x), 3, axis=-1)                                # 3 x (B, L, E)
        ctx, probs, present = self.heads(q, k, v, keep, past, output_attentions, rng)
        return apply_dropout(self.resid_dropout, self.c_proj(ctx), rng), probs, present

    def backward(self, dy, d_probs=None):
        d_ctx = self.c_proj.backward(self.resid_dropout.backward(dy))                 # (B, L, E)
        dq, dk, dv = self.heads.backward(d_ctx, d_probs)
        return self.c_attn.backward(np.concatenate([dq, dk, dv], axis=-1))            # undo the q|k|v split


class GPT2MLP(Module):
    """dropout(c_proj(act(c_fc(x)))): E -> inner_dim -> E."""

    def __init__(self, config: GPT2Config, dtype):
        super().__init__()
        self.c_fc = Conv1D(config.inner_dim, config.n_embd, dtype=dtype)
        self.c_proj = Conv1D(config.n_embd, config.inner_dim, dtype=dtype)
        self.act = get_activation(config.activation_function)
        self.dropout = Dropout(config.resid_pdrop)

    def forward(self, x, rng=None):
        return apply_dropout(self.dropout, self.c_proj(self.act(self.c_fc(x))), rng)  # (B, L, E)

    def backward(self, dy):
        return self.c_fc.backward(self.act.backward(self.c_proj.backward(self.dropout.backward(dy))))


class GPT2Block(Module):
    """Pre-LN block: a = h + attn(ln_1(h)); out = a + mlp(ln_2(a))."""

    def __init__(self, config: GPT2Config, layer_idx: int, dtype):
        super().__init__()
        e, eps = config.n_embd, config.layer_norm_epsilon
        self.ln_1 = LayerNorm(e, eps=eps, dtype=dtype)
        self.attn = GPT2Attention(config, layer_idx, dtype)
        self.ln_2 = LayerNorm(e, eps=eps, dtype=dtype)
        self.mlp = GPT2MLP(config, dtype)

    def forward(self, h, keep, past=None, output_attentions=False, rng=None):
        attn_out, probs, present = self.attn(self.ln_1(h), keep, past, output_attentions, rng)
        a = h + attn_out                                                              # (B, L, E)
        return a + self.mlp(self.ln_2(a), rng), probs, present

    def backward(self, dy, d_probs=None):
        da = dy + self.ln_2.backward(self.mlp.backward(dy))            # a feeds the MLP and the residual
        return da + self.ln_1.backward(self.attn.backward(da, d_probs))  # h feeds attention and the residual


# ============================================================================================ models
class GPT2PreTrainedModel(PreTrainedModel):
    config_class = GPT2Config
    base_model_prefix = "transformer"
    differentiable_inputs = ("inputs_embeds",)

    def post_init(self) -> None:
        """transformers' init: Linear/Embedding/Conv1D weights N(0, initializer_range^2), biases 0, and the
        residual projections (attn.c_proj, mlp.c_proj) N(0, (initializer_range / sqrt(2 n_layer))^2)."""
        std = self.config.initializer_range
        init_weights(self, std)
        rng = np.random.default_rng(1)
        for m in self.modules():
            if isinstance(m, (GPT2Attention, GPT2MLP)):
                for conv in (m.c_attn if isinstance(m, GPT2Attention) else m.c_fc, m.c_proj):
                    s = std / np.sqrt(2 * self.config.n_layer) if conv is m.c_proj else std
                    conv.weight.data = normal(rng, conv.weight.shape, s, conv.weight.dtype)
                    conv.bias.data = np.zeros_like(conv.bias.data)
        super().post_init()

    def _base(self, *, input_ids, past_key_values, attention_mask, token_type_ids, position_ids, inputs_embeds,
              use_cache, output_attentions, output_hidden_states, rng, cache=None):
        return self.transformer(input_ids=input_ids, past_key_values=past_key_values, attention_mask=attention_mask,
                                token_type_ids=token_type_ids, position_ids=position_ids,
                                inputs_embeds=inputs_embeds, use_cache=use_cache,
                                output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                                rng=rng, cache=cache)


class GPT2Model(GPT2PreTrainedModel):
    """The decoder: embeddings -> N GPT2Blocks -> ln_f.

    forward(input_ids | inputs_embeds, past_key_values, attention_mask, token_type_ids, position_ids, use_cache,
            output_attentions, output_hidden_states, rng, cache) -> BaseModelOutputWithPastAndCrossAttentions
    input_ids: int (B, L) in [0, vocab_size), L >= 1 (the new tokens) — or inputs_embeds: float (B, L, E).
    past_key_values: see the module docstring; L_past is its third axis.
    attention_mask: (B, L_past + L) of 1 / 0 (bool/int/float); None = no padding.
    token_type_ids: int (B, L) in [0, vocab_size); transformers embeds them with wte (no separate table).
    position_ids: int (B, L) or (1, L) in [0, n_positions); default L_past + arange(L), then
    L_past + L <= n_positions.
    Outputs: last_hidden_state (B, L, E); past_key_values (use_cache); hidden_states (N + 1 arrays (B, L, E):
    the embeddings, the outputs of blocks 0..N-2, and ln_f of the last, as transformers); attentions
    (N arrays (B, H, L, L_past + L)).
    """

    def __init__(self, config: GPT2Config, dtype=np.float64):
        super().__init__(config, dtype)
        dt = self._dtype
        self.wte = Embedding(config.vocab_size, config.n_embd, dtype=dt)
        self.wpe = Embedding(config.n_positions, config.n_embd, dtype=dt)
        self.drop = Dropout(config.embd_pdrop)
        self.h = ModuleList([GPT2Block(config, i, dt) for i in range(config.n_layer)])
        self.ln_f = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon, dtype=dt)
        self.post_init()

    # ------------------------------------------------------------------ input checks
    def _check_past(self, past, cache, batch: int):
        """The validated cache as a tuple of (k, v) pairs, and L_past (0 without one)."""
        if cache is not None:
            if past is not None:
                raise ConfigError("cache, past_key_values: the same input under its two names; pass one")
            past = cache
        if past is None:
            return None, 0
        cfg = self.config
        n_layer, n_head, dh = cfg.n_layer, cfg.n_head, cfg.n_embd // cfg.n_head
        if not isinstance(past, (tuple, list)):
            raise DTypeError(f"past_key_values: expected a tuple over the {n_layer} layers of (key, value) numpy "
                             f"arrays, got {type(past).__name__}")
        if len(past) != n_layer:
            raise ShapeError(f"past_key_values: expected {n_layer} layers (n_layer), got {len(past)}")
        l_past = None
        for i, layer in enumerate(past):
            if not isinstance(layer, (tuple, list)) or len(layer) != 2:
                raise ShapeError(f"past_key_values[{i}]: expected a (key, value) pair, got "
                                 f"{type(layer).__name__}" + (f" of length {len(layer)}"
                                                              if isinstance(layer, (tuple, list)) else ""))
            for j, what in enumerate(("key", "value")):
                name = f"past_key_values[{i}][{j}] ({what})"
                a = check_float(layer[j], name, dtype=self.dtype, ndim=4)
                want = (batch, n_head, a.shape[2] if l_past is None else l_past, dh)
                if a.shape != want:
                    raise ShapeError(f"{name}: expected shape (batch={batch}, n_head={n_head}, L_past="
                                     f"{'*' if l_past is None else l_past}, head_dim={dh}), got {a.shape}")
                l_past = a.shape[2]
        return tuple((k, v) for k, v in past), l_past

    def _positions(self, position_ids, shape, l_past: int, name: str) -> np.ndarray:
        b, n = shape
        n_pos = self.config.n_positions
        if position_ids is None:
            if l_past + n > n_pos:
                raise ShapeError(f"{name}: {n} new positions after {l_past} cached ones exceed n_positions={n_pos} "
                                 f"(the default position ids are L_past + 0..L-1); shorten the input or pass "
                                 f"position_ids")
            return np.broadcast_to(np.arange(l_past, l_past + n), (b, n))             # (B, L)
        return position_ids_for(position_ids, shape, n_pos, name)                    # validates the values

    @staticmethod
    def _keep_mask(attention_mask, batch: int, l_past: int, n: int):
        if attention_mask is not None and isinstance(attention_mask, np.ndarray) \
                and attention_mask.shape != (batch, l_past + n):
            raise ShapeError(f"attention_mask: expected shape (batch, L_past + L_new) = ({batch}, {l_past + n}) "
                             f"covering the {l_past} cached and {n} new positions, got {attention_mask.shape}")
        return padding_keep_mask(attention_mask, (batch, l_past + n))                # (B, 1, 1, L_past + L)

    # ------------------------------------------------------------------ forward / backward
    def forward(self, *, input_ids=None, past_key_values=None, attention_mask=None, token_type_ids=None,
                position_ids=None, inputs_embeds=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, rng=None, cache=None):
        cfg = self.config
        shape = check_token_inputs(input_ids, inputs_embeds, vocab_size=cfg.vocab_size,
                                   hidden_size=cfg.n_embd, dtype=self.dtype)                 # (B, L)
        b, n = shape
        name = "input_ids" if input_ids is not None else "inputs_embeds"
        past, l_past = self._check_past(past_key_values, cache, b)
        position_ids = self._positions(position_ids, shape, l_past, name)                    # (B, L)
        check_token_type_ids(token_type_ids, shape, cfg.vocab_size, name)              # embedded by wte
        keep = self._keep_mask(attention_mask, b, l_past, n)                                 # (B, 1, 1, Lk)
        require_rng(self, rng)
        use_cache = cfg.use_cache if use_cache is None else use_cache
        output_attentions, output_hidden_states = output_flags(cfg, output_attentions, output_hidden_states)

        x = self.wte(input_ids) if inputs_embeds is None else inputs_embeds                  # (B, L, E)
        x = x + self.wpe(position_ids)
        if token_type_ids is not None:
            x = x + self.wte(token_type_ids)                                                 # same table as tokens
        h = apply_dropout(self.drop, x, rng)
        hidden, attentions, presents = [], [], []
        for i, block in enumerate(self.h):
            hidden.append(h)
            h, probs, (k, v) = block(h, keep, None if past is None else past[i], output_attentions, rng)
            attentions.append(probs)
            if use_cache:       # the caller's own arrays: backward's saved ones must not change under it
                presents.append((k.copy(), v.copy()) if is_grad_enabled() else
                                (np.ascontiguousarray(k), np.ascontiguousarray(v)))
        h = self.ln_f(h)                                                                     # (B, L, E)
        self.save_for_backward(inputs_embeds is None, token_type_ids is not None, h.shape)
        return BaseModelOutputWithPastAndCrossAttentions(
            last_hidden_state=h, past_key_values=tuple(presents) if use_cache else None,
            hidden_states=tuple(hidden) + (h,) if output_hidden_states else None,
            attentions=tuple(attentions) if output_attentions else None)

    def _backward(self, grads):
        _refuse_cache_gradient(grads)
        from_ids, with_types, shape = self.saved()
        n = len(self.h)
        d_hs = grads.get("hidden_states") or (None,) * (n + 1)
        d_at = grads.get("attentions") or (None,) * n
        dh = zeros_if_none(grads.get("last_hidden_state"), shape, self.dtype)              # (B, L, E)
        if d_hs[n] is not None:
            dh = dh + d_hs[n]                                        # ln_f's output is also hidden_states[N]
        dh = self.ln_f.backward(dh)
        for i in reversed(range(n)):
            dh = self.h[i].backward(dh, d_at[i])                     # dL/d(input of block i)
            if d_hs[i] is not None:
                dh = dh + d_hs[i]                                    # ... which is also hidden_states[i]
        dx = self.drop.backward(dh)                                  # d(wte + wpe (+ wte[types]))
        if with_types:
            self.wte.backward(dx)                                    # token types read the word table too
        self.wpe.backward(dx)
        d_embeds = word_embeddings_backward(self.wte, dx, from_ids)
        return {} if d_embeds is None else {"inputs_embeds": d_embeds}


# ---------------------------------------------------------------------------------------------- LM head
class GPT2LMHeadModel(GPT2PreTrainedModel, GenerationMixin):
    """lm_head (E -> V, no bias, tied to transformer.wte) on every kept position.

    labels: int (B, L) in [0, V) or -100; the loss predicts labels[:, t+1] from logits[:, t] (so labels =
    input_ids works), mean over counted labels. logits_to_keep: int k > 0 computes the logits of the last k
    positions only (0 = all), as transformers; it cannot be combined with labels unless it keeps all.
    The generation interface is in the module docstring.
    """

    tied_weights_keys = {"lm_head.weight": "transformer.wte.weight"}

    def __init__(self, config: GPT2Config, dtype=np.float64):
        super().__init__(config, dtype)
        self.transformer = GPT2Model(config, self._dtype)
        self.lm_head = Linear(config.n_embd, config.vocab_size, bias=False, dtype=self._dtype)
        self.post_init()

    def forward(self, *, input_ids=None, past_key_values=None, attention_mask=None, token_type_ids=None,
                position_ids=None, inputs_embeds=None, labels=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, logits_to_keep: int = 0, rng=None, cache=None):
        if isinstance(logits_to_keep, (bool, np.bool_)) or not isinstance(logits_to_keep, (int, np.integer)) \
                or logits_to_keep < 0:
            raise ConfigError(f"logits_to_keep: expected a non-negative int (0 = every position), "
                              f"got {logits_to_keep!r}")
        shape = check_token_inputs(input_ids, inputs_embeds, vocab_size=self.config.vocab_size,
                                   hidden_size=self.config.n_embd, dtype=self.dtype)
        keep_n = shape[1] if logits_to_keep == 0 else min(int(logits_to_keep), shape[1])
        labels = labels_of(labels, "labels", shape, high=self.config.vocab_size)   # checked before anything is saved
        if labels is not None and keep_n != shape[1]:
            raise ConfigError(f"logits_to_keep={logits_to_keep}: the loss needs the logits of every position; "
                              f"use logits_to_keep=0 with labels")
        require_rng(self, rng)
        out = self._base(input_ids=input_ids, past_key_values=past_key_values, attention_mask=attention_mask,
                         token_type_ids=token_type_ids, position_ids=position_ids, inputs_embeds=inputs_embeds,
                         use_cache=use_cache, output_attentions=output_attentions,
                         output_hidden_states=output_hidden_states, rng=rng, cache=cache)
        h = out.last_hidden_state
        logits = self.lm_head(h[:, h.shape[1] - keep_n:])                                    # (B, k, V)
        loss = head_loss(causal_lm_loss, logits, labels, dtype=self.dtype)
        self.save_for_backward(logits, labels, h.shape)
        return CausalLMOutputWithCrossAttentions(loss=loss, logits=logits, past_key_values=out.past_key_values,
                                                 hidden_states=out.hidden_states, attentions=out.attentions)

    def _backward(self, grads):
        _refuse_cache_gradient(grads)
        logits, labels, shape = self.saved()
        d_logits = logits_grad(grads, logits, self.dtype, causal_lm_loss_backward, labels)   # d mean CE(shifted)
        dh = np.zeros(shape, self.dtype)
        dh[:, shape[1] - logits.shape[1]:] = self.lm_head.backward(d_logits)             # only kept positions
        return base_backward(self, grads, last_hidden_state=dh)


# ---------------------------------------------------------------------------------------------- classification
class GPT2ForSequenceClassification(GPT2PreTrainedModel):
    """score (E -> num_labels, no bias) on every token, read at the last non-padding token (B, num_labels).

    See last_non_pad_index for the position; config.pad_token_id None with a batch > 1 raises ConfigError
    (transformers: "Cannot handle batch sizes > 1 if no padding token is defined"). labels: float (B,) for
    regression, int (B,) single-label, float (B, C) multi-label (problem_type as transformers decides).
    """

    def __init__(self, config: GPT2Config, dtype=np.float64):
        super().__init__(config, dtype)
        require_classification_labels(config)
        self.transformer = GPT2Model(config, self._dtype)
        self.score = Linear(config.n_embd, config.num_labels, bias=False, dtype=self._dtype)
        self.post_init()

    def forward(self, *, input_ids=None, past_key_values=None, attention_mask=None, token_type_ids=None,
                position_ids=None, inputs_embeds=None, labels=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, rng=None, cache=None):
        b, n = check_token_inputs(input_ids, inputs_embeds, vocab_size=self.config.vocab_size,
                                  hidden_size=self.config.n_embd, dtype=self.dtype)
        if self.config.pad_token_id is None and b != 1:
            raise ConfigError(f"pad_token_id: the config defines no padding token, so the last token of each row "
                              f"cannot be found in a batch of {b}; set config.pad_token_id or pass one row")
        require_rng(self, rng)
        out = self._base(input_ids=input_ids, past_key_values=past_key_values, attention_mask=attention_mask,
                         token_type_ids=token_type_ids, position_ids=position_ids, inputs_embeds=inputs_embeds,
                         use_cache=use_cache, output_attentions=output_attentions,
                         output_hidden_states=output_hidden_states, rng=rng, cache=cache)
        logits_all = self.score(out.last_hidden_state)                                       # (B, L, C)
        idx = last_non_pad_index(input_ids if inputs_embeds is None else None, b, n, self.config.pad_token_id)
        logits = logits_all[np.arange(b), idx]                                               # (B, C)
        loss, target, kind = sequence_classification_head(logits, labels, self.config, self.dtype)
        self.save_for_backward(logits, target, kind, idx, logits_all.shape)
        return SequenceClassifierOutputWithPast(loss=loss, logits=logits, past_key_values=out.past_key_values,
                                                hidden_states=out.hidden_states, attentions=out.attentions)

    def _backward(self, grads):
        _refuse_cache_gradient(grads)
        logits, target, kind, idx, all_shape = self.saved()
        d_logits = logits_grad(grads, logits, self.dtype, sequence_classification_loss_backward, target, kind)
        d_all = np.zeros(all_shape, self.dtype)
        d_all[np.arange(all_shape[0]), idx] = d_logits               # only the read position gets a gradient
        return base_backward(self, grads, last_hidden_state=self.score.backward(d_all))


def _classifier_dropout(config: GPT2Config) -> float:
    """transformers' choice for GPT2ForTokenClassification: classifier_dropout, else hidden_dropout, else 0.1."""
    for key in ("classifier_dropout", "hidden_dropout"):
        p = config.extra.get(key)
        if p is not None:
            return float(p)
    return 0.1


class GPT2ForTokenClassification(GPT2PreTrainedModel):
    """dropout + classifier per token: (B, L, num_labels). labels: int (B, L), -100 ignored (mean CE)."""

    def __init__(self, config: GPT2Config, dtype=np.float64):
        super().__init__(config, dtype)
        self.transformer = GPT2Model(config, self._dtype)
        self.dropout = Dropout(_classifier_dropout(config))
        self.classifier = Linear(config.n_embd, config.num_labels, dtype=self._dtype)
        self.post_init()

    def forward(self, *, input_ids=None, past_key_values=None, attention_mask=None, token_type_ids=None,
                position_ids=None, inputs_embeds=None, labels=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, rng=None, cache=None):
        shape = check_token_inputs(input_ids, inputs_embeds, vocab_size=self.config.vocab_size,
                                   hidden_size=self.config.n_embd, dtype=self.dtype)
        labels = labels_of(labels, "labels", shape, high=self.config.num_labels)
        require_rng(self, rng)
        out = self._base(input_ids=input_ids, past_key_values=past_key_values, attention_mask=attention_mask,
                         token_type_ids=token_type_ids, position_ids=position_ids, inputs_embeds=inputs_embeds,
                         use_cache=use_cache, output_attentions=output_attentions,
                         output_hidden_states=output_hidden_states, rng=rng, cache=cache)
        logits = self.classifier(apply_dropout(self.dropout, out.last_hidden_state, rng))   # (B, L, C)
        return token_head_forward(self, out, logits, labels, TokenClassifierOutput)

    def _backward(self, grads):
        d_logits = token_head_backward(self, grads)                                      # (B, L, C)
        dh = self.dropout.backward(self.classifier.backward(d_logits))
        return base_backward(self, grads, last_hidden_state=dh)


class GPT2ForQuestionAnswering(GPT2PreTrainedModel):
    """qa_outputs per token -> start_logits, end_logits (B, L); loss (CE(start) + CE(end)) / 2 with positions
    clamped to [0, L] and L ignored. No cache (transformers' head takes none)."""

    def __init__(self, config: GPT2Config, dtype=np.float64):
        super().__init__(config, dtype)
        self.transformer = GPT2Model(config, self._dtype)
        self.qa_outputs = Linear(config.n_embd, 2, dtype=self._dtype)
        self.post_init()

    def forward(self, *, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, start_positions=None, end_positions=None, output_attentions=None,
                output_hidden_states=None, rng=None):
        require_rng(self, rng)
        out = self._base(input_ids=input_ids, past_key_values=None, attention_mask=attention_mask,
                         token_type_ids=token_type_ids, position_ids=position_ids, inputs_embeds=inputs_embeds,
                         use_cache=False, output_attentions=output_attentions,
                         output_hidden_states=output_hidden_states, rng=rng)
        logits = self.qa_outputs(out.last_hidden_state)                                      # (B, L, 2)
        return qa_head_forward(self, out, logits, start_positions, end_positions)

    def _backward(self, grads):
        d_logits = qa_head_backward(self, grads)
        return base_backward(self, grads, last_hidden_state=self.qa_outputs.backward(d_logits))
