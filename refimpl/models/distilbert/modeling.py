"""DistilBERT (Sanh et al., 2019): BERT distilled to half the layers, without token types or pooler.

    input_ids (B, L) ─ word + position embeddings ─ LayerNorm(eps 1e-12) ─ dropout           -> h_0 (B, L, dim)
    TransformerBlock, n_layers times:
        a  = sa_layer_norm(out_lin(MultiHeadSelfAttention_{q_lin,k_lin,v_lin}(h, padding mask)) + h)
        h' = output_layer_norm(dropout(ffn.lin2(act(ffn.lin1(a)))) + a)
    (no dropout on the attention output, unlike BERT; attention dropout on the probabilities)

Heads (keys and losses as transformers 5.24):
    DistilBertForMaskedLM                vocab_transform -> act -> vocab_layer_norm -> vocab_projector
                                         (weight tied to the word embeddings, own bias); CE(ignore -100)
    DistilBertForSequenceClassification  h[:, 0] -> pre_classifier -> ReLU -> dropout(seq_classif_dropout)
                                         -> classifier; MSE / CE / BCE by problem_type, as BERT
    DistilBertForTokenClassification     dropout(dropout) -> classifier per token; CE(ignore -100)
    DistilBertForQuestionAnswering       dropout(qa_dropout) -> qa_outputs -> start/end logits (num_labels 2)

The attention core, padding mask (transformers' sdpa boolean mask; an all-pad sequence gives 0, not
NaN: PITFALLS 2.1 is gone in transformers 5), input checks, ModelOutput types and losses are shared with BERT
(refimpl/models/{outputs,inputs,modeling_utils,heads,task_losses}.py, refimpl/nn/attention_heads.py).
"""
from __future__ import annotations

import numpy as np

from ...core.model import PreTrainedModel
from ...core.module import Module
from ...nn.activation import ReLU, get_activation
from ...nn.dropout import Dropout
from ...nn.embedding import Embedding
from ...nn.linear import Linear
from ...nn.normalization import LayerNorm
from ...nn.attention_heads import AttentionHeads
from ...nn.layer_stack import LayerStack
from ..heads import (first_token_backward, logits_grad, qa_head_backward, qa_head_forward,
                     require_classification_labels, require_qa_labels, sequence_classification_head,
                     token_head_backward, token_head_forward)
from ..inputs import check_token_inputs, labels_of, padding_keep_mask, position_ids_for
from ..modeling_utils import (apply_dropout, base_backward, init_weights, output_flags, require_rng,
                              word_embeddings_backward, zeros_if_none)
from ..outputs import BaseModelOutput, MaskedLMOutput, SequenceClassifierOutput, TokenClassifierOutput
from ..task_losses import sequence_classification_loss_backward
from .config import DistilBertConfig

__all__ = ["DistilBertModel", "DistilBertPreTrainedModel", "DistilBertForMaskedLM",
           "DistilBertForSequenceClassification", "DistilBertForTokenClassification",
           "DistilBertForQuestionAnswering", "sinusoidal_position_table"]

LAYER_NORM_EPS = 1e-12          # hard-coded in transformers for every DistilBERT LayerNorm


def sinusoidal_position_table(n_pos: int, dim: int, dtype) -> np.ndarray:
    """(n_pos, dim): sin(pos / 10000^(2i/dim)) in even columns 2i, cos(...) in odd columns 2i+1.

    transformers rounds this table to float32 before copying it in; refimpl keeps the dtype's precision.
    """
    pos = np.arange(n_pos, dtype=np.float64)[:, None]                     # (n_pos, 1)
    j = np.arange(dim)[None, :]                                            # (1, dim)
    angle = pos / np.power(10000.0, 2 * (j // 2) / dim)                    # (n_pos, dim)
    return np.where(j % 2 == 0, np.sin(angle), np.cos(angle)).astype(dtype)


# ============================================================================================ blocks
class Embeddings(Module):
    """dropout(LayerNorm(word[input_ids] (or inputs_embeds) + position[position_ids]))."""

    def __init__(self, config: DistilBertConfig, dtype):
        super().__init__()
        self.word_embeddings = Embedding(config.vocab_size, config.dim, padding_idx=config.pad_token_id, dtype=dtype)
        self.position_embeddings = Embedding(config.max_position_embeddings, config.dim, dtype=dtype)
        self.LayerNorm = LayerNorm(config.dim, eps=LAYER_NORM_EPS, dtype=dtype)
        self.dropout = Dropout(config.dropout)

    def forward(self, input_ids, inputs_embeds, position_ids, rng=None):
        x = self.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds   # (B, L, dim)
        x = x + self.position_embeddings(position_ids)
        self.save_for_backward(inputs_embeds is None)
        return apply_dropout(self.dropout, self.LayerNorm(x), rng)

    def backward(self, dy):
        (from_ids,) = self.saved()
        dx = self.LayerNorm.backward(self.dropout.backward(dy))   # d(word + position)
        self.position_embeddings.backward(dx)
        return word_embeddings_backward(self.word_embeddings, dx, from_ids)   # dL/d inputs_embeds, or None


class DistilBertSelfAttention(Module):
    """out_lin(attention(q_lin h, k_lin h, v_lin h)); returns (output (B, L, dim), probabilities or None)."""

    def __init__(self, config: DistilBertConfig, dtype):
        super().__init__()
        d = config.dim
        self.q_lin = Linear(d, d, dtype=dtype)
        self.k_lin = Linear(d, d, dtype=dtype)
        self.v_lin = Linear(d, d, dtype=dtype)
        self.out_lin = Linear(d, d, dtype=dtype)
        self.heads = AttentionHeads(config.n_heads, d // config.n_heads, config.attention_dropout)

    def forward(self, hidden_states, keep, output_attentions=False, rng=None):
        ctx, probs = self.heads(self.q_lin(hidden_states), self.k_lin(hidden_states), self.v_lin(hidden_states),
                                keep, output_attentions, rng)                   # (B, L, dim)
        return self.out_lin(ctx), probs

    def backward(self, dy, d_probs=None):
        dq, dk, dv = self.heads.backward(self.out_lin.backward(dy), d_probs)
        # hidden_states feeds all three projections: the gradients add
        return self.q_lin.backward(dq) + self.k_lin.backward(dk) + self.v_lin.backward(dv)


class FFN(Module):
    """dropout(lin2(act(lin1(x))))."""

    def __init__(self, config: DistilBertConfig, dtype):
        super().__init__()
        self.dropout = Dropout(config.dropout)
        self.lin1 = Linear(config.dim, config.hidden_dim, dtype=dtype)
        self.lin2 = Linear(config.hidden_dim, config.dim, dtype=dtype)
        self.activation = get_activation(config.activation)

    def forward(self, x, rng=None):
        return apply_dropout(self.dropout, self.lin2(self.activation(self.lin1(x))), rng)   # (B, L, dim)

    def backward(self, dy):
        return self.lin1.backward(self.activation.backward(self.lin2.backward(self.dropout.backward(dy))))


class TransformerBlock(Module):
    def __init__(self, config: DistilBertConfig, dtype):
        super().__init__()
        self.attention = DistilBertSelfAttention(config, dtype)
        self.sa_layer_norm = LayerNorm(config.dim, eps=LAYER_NORM_EPS, dtype=dtype)
        self.ffn = FFN(config, dtype)
        self.output_layer_norm = LayerNorm(config.dim, eps=LAYER_NORM_EPS, dtype=dtype)

    def forward(self, hidden_states, keep, output_attentions=False, rng=None):
        sa, probs = self.attention(hidden_states, keep, output_attentions, rng)
        a = self.sa_layer_norm(sa + hidden_states)                      # (B, L, dim)
        return self.output_layer_norm(self.ffn(a, rng) + a), probs

    def backward(self, dy, d_probs=None):
        dz = self.output_layer_norm.backward(dy)                        # d(ffn(a) + a)
        da = dz + self.ffn.backward(dz)                                 # a feeds the FFN and the residual
        ds = self.sa_layer_norm.backward(da)                            # d(attention + h)
        return ds + self.attention.backward(ds, d_probs)                # residual + attention paths


class Transformer(LayerStack):
    def __init__(self, config: DistilBertConfig, dtype):
        super().__init__([TransformerBlock(config, dtype) for _ in range(config.n_layers)])


# ============================================================================================ models
class DistilBertPreTrainedModel(PreTrainedModel):
    config_class = DistilBertConfig
    base_model_prefix = "distilbert"
    differentiable_inputs = ("inputs_embeds",)

    def post_init(self) -> None:
        init_weights(self, self.config.initializer_range)
        if self.config.sinusoidal_pos_embds:
            table = self.base_model.embeddings.position_embeddings.weight
            table.data = sinusoidal_position_table(self.config.max_position_embeddings, self.config.dim, table.dtype)
        super().post_init()

    def _base(self, *, input_ids, attention_mask, inputs_embeds, position_ids, output_attentions,
              output_hidden_states, rng):
        return self.distilbert(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                               position_ids=position_ids, output_attentions=output_attentions,
                               output_hidden_states=output_hidden_states, rng=rng)


class DistilBertModel(DistilBertPreTrainedModel):
    """embeddings -> n_layers TransformerBlocks.

    forward(input_ids | inputs_embeds, attention_mask, position_ids, output_attentions, output_hidden_states,
            rng) -> BaseModelOutput(last_hidden_state (B, L, dim), hidden_states (n_layers + 1 arrays),
            attentions (n_layers arrays (B, H, L, L))). Inputs as BertModel, without token_type_ids.
    """

    def __init__(self, config: DistilBertConfig, dtype=np.float64):
        super().__init__(config, dtype)
        self.embeddings = Embeddings(config, self._dtype)
        self.transformer = Transformer(config, self._dtype)
        self.post_init()

    def forward(self, *, input_ids=None, attention_mask=None, inputs_embeds=None, position_ids=None,
                output_attentions=None, output_hidden_states=None, rng=None):
        cfg = self.config
        shape = check_token_inputs(input_ids, inputs_embeds, vocab_size=cfg.vocab_size, hidden_size=cfg.dim,
                                   dtype=self.dtype)                                         # (B, L)
        name = "input_ids" if input_ids is not None else "inputs_embeds"
        position_ids = position_ids_for(position_ids, shape, cfg.max_position_embeddings, name)
        keep = padding_keep_mask(attention_mask, shape)                                      # (B, 1, 1, L)
        require_rng(self, rng)
        output_attentions, output_hidden_states = output_flags(cfg, output_attentions, output_hidden_states)

        h = self.embeddings(input_ids, inputs_embeds, position_ids, rng)                      # (B, L, dim)
        h, hidden_states, attentions = self.transformer(h, keep, output_hidden_states, output_attentions, rng)
        self.save_for_backward(h.shape)
        return BaseModelOutput(last_hidden_state=h, hidden_states=hidden_states, attentions=attentions)

    def _backward(self, grads):
        (shape,) = self.saved()
        dh = zeros_if_none(grads.get("last_hidden_state"), shape, self.dtype)
        dh = self.transformer.backward(dh, grads.get("hidden_states"), grads.get("attentions"))
        d_embeds = self.embeddings.backward(dh)
        return {} if d_embeds is None else {"inputs_embeds": d_embeds}


class DistilBertForMaskedLM(DistilBertPreTrainedModel):
    """vocab_projector(vocab_layer_norm(act(vocab_transform(h)))): (B, L, V). labels: int (B, L), -100 ignored."""

    tied_weights_keys = {"vocab_projector.weight": "distilbert.embeddings.word_embeddings.weight"}

    def __init__(self, config: DistilBertConfig, dtype=np.float64):
        super().__init__(config, dtype)
        self.activation = get_activation(config.activation)
        self.distilbert = DistilBertModel(config, self._dtype)
        self.vocab_transform = Linear(config.dim, config.dim, dtype=self._dtype)
        self.vocab_layer_norm = LayerNorm(config.dim, eps=LAYER_NORM_EPS, dtype=self._dtype)
        self.vocab_projector = Linear(config.dim, config.vocab_size, dtype=self._dtype)
        self.post_init()

    def forward(self, *, input_ids=None, attention_mask=None, inputs_embeds=None, labels=None, position_ids=None,
                output_attentions=None, output_hidden_states=None, rng=None):
        require_rng(self, rng)
        out = self._base(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                         position_ids=position_ids, output_attentions=output_attentions,
                         output_hidden_states=output_hidden_states, rng=rng)
        labels = labels_of(labels, "labels", out.last_hidden_state.shape[:2], high=self.config.vocab_size)
        x = self.vocab_layer_norm(self.activation(self.vocab_transform(out.last_hidden_state)))   # (B, L, dim)
        logits = self.vocab_projector(x)                                                          # (B, L, V)
        return token_head_forward(self, out, logits, labels, MaskedLMOutput)

    def _backward(self, grads):
        d_logits = token_head_backward(self, grads)                                      # (B, L, V)
        dx = self.vocab_projector.backward(d_logits)                                      # (B, L, dim)
        dh = self.vocab_transform.backward(self.activation.backward(self.vocab_layer_norm.backward(dx)))
        return base_backward(self, grads, last_hidden_state=dh)


class DistilBertForSequenceClassification(DistilBertPreTrainedModel):
    """classifier(dropout(ReLU(pre_classifier(h[:, 0])))): (B, num_labels); losses as BertForSequenceClassification."""

    def __init__(self, config: DistilBertConfig, dtype=np.float64):
        super().__init__(config, dtype)
        require_classification_labels(config)
        self.distilbert = DistilBertModel(config, self._dtype)
        self.pre_classifier = Linear(config.dim, config.dim, dtype=self._dtype)
        self.classifier = Linear(config.dim, config.num_labels, dtype=self._dtype)
        self.dropout = Dropout(config.seq_classif_dropout)
        self.relu = ReLU()
        self.post_init()

    def forward(self, *, input_ids=None, attention_mask=None, inputs_embeds=None, labels=None, position_ids=None,
                output_attentions=None, output_hidden_states=None, rng=None):
        require_rng(self, rng)
        out = self._base(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                         position_ids=position_ids, output_attentions=output_attentions,
                         output_hidden_states=output_hidden_states, rng=rng)
        pooled = self.relu(self.pre_classifier(out.last_hidden_state[:, 0]))                # (B, dim)
        logits = self.classifier(apply_dropout(self.dropout, pooled, rng))                  # (B, C)
        loss, target, kind = sequence_classification_head(logits, labels, self.config, self.dtype)
        self.save_for_backward(logits, target, kind, out.last_hidden_state.shape)
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states,
                                        attentions=out.attentions)

    def _backward(self, grads):
        logits, target, kind, shape = self.saved()
        d_logits = logits_grad(grads, logits, self.dtype, sequence_classification_loss_backward, target, kind)
        d_pooled = self.dropout.backward(self.classifier.backward(d_logits))
        d_first = self.pre_classifier.backward(self.relu.backward(d_pooled))                # (B, dim)
        dh = first_token_backward(d_first, shape, self.dtype)                               # only h[:, 0] was read
        return base_backward(self, grads, last_hidden_state=dh)


class DistilBertForTokenClassification(DistilBertPreTrainedModel):
    """classifier(dropout(h)) per token: (B, L, num_labels). labels: int (B, L), -100 ignored."""

    def __init__(self, config: DistilBertConfig, dtype=np.float64):
        super().__init__(config, dtype)
        self.distilbert = DistilBertModel(config, self._dtype)
        self.dropout = Dropout(config.dropout)
        self.classifier = Linear(config.dim, config.num_labels, dtype=self._dtype)
        self.post_init()

    def forward(self, *, input_ids=None, attention_mask=None, inputs_embeds=None, labels=None, position_ids=None,
                output_attentions=None, output_hidden_states=None, rng=None):
        require_rng(self, rng)
        out = self._base(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                         position_ids=position_ids, output_attentions=output_attentions,
                         output_hidden_states=output_hidden_states, rng=rng)
        labels = labels_of(labels, "labels", out.last_hidden_state.shape[:2], high=self.config.num_labels)
        logits = self.classifier(apply_dropout(self.dropout, out.last_hidden_state, rng))   # (B, L, C)
        return token_head_forward(self, out, logits, labels, TokenClassifierOutput)

    def _backward(self, grads):
        d_logits = token_head_backward(self, grads)                                      # (B, L, C)
        dh = self.dropout.backward(self.classifier.backward(d_logits))
        return base_backward(self, grads, last_hidden_state=dh)


class DistilBertForQuestionAnswering(DistilBertPreTrainedModel):
    """qa_outputs(dropout(h)) -> start_logits, end_logits (B, L); loss as BertForQuestionAnswering."""

    def __init__(self, config: DistilBertConfig, dtype=np.float64):
        super().__init__(config, dtype)
        require_qa_labels(config)
        self.distilbert = DistilBertModel(config, self._dtype)
        self.qa_outputs = Linear(config.dim, config.num_labels, dtype=self._dtype)
        self.dropout = Dropout(config.qa_dropout)
        self.post_init()

    def forward(self, *, input_ids=None, attention_mask=None, inputs_embeds=None, start_positions=None,
                end_positions=None, position_ids=None, output_attentions=None, output_hidden_states=None, rng=None):
        require_rng(self, rng)
        out = self._base(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                         position_ids=position_ids, output_attentions=output_attentions,
                         output_hidden_states=output_hidden_states, rng=rng)
        logits = self.qa_outputs(apply_dropout(self.dropout, out.last_hidden_state, rng))   # (B, L, 2)
        return qa_head_forward(self, out, logits, start_positions, end_positions)

    def _backward(self, grads):
        d_logits = qa_head_backward(self, grads)
        dh = self.dropout.backward(self.qa_outputs.backward(d_logits))
        return base_backward(self, grads, last_hidden_state=dh)
