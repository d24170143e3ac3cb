"""BERT (Devlin et al., 2019): the bidirectional Transformer encoder and its task heads.

    input_ids (B, L) ─ word + position + token_type embeddings ─ LayerNorm ─ dropout    -> h_0 (B, L, E)
    h_l = BertLayer(h_{l-1}),  l = 1..N:
        a   = LayerNorm(h + dropout(W_o · MultiHeadSelfAttention(h, padding mask)))     attention.output
        h'  = LayerNorm(a + dropout(W_2 · act(W_1 a)))                                   intermediate / output
    pooler: tanh(W_p h_N[:, 0])                                                          (B, E)

Heads (names, keys and losses as transformers 5.24):
    BertForPreTraining             cls.predictions (MLM, decoder tied to the word embeddings and to
                                   cls.predictions.bias) + cls.seq_relationship (NSP on the pooler);
                                   loss = CE(MLM, ignore -100) + CE(NSP), only when both labels are given
    BertForMaskedLM                cls.predictions; loss CE(ignore -100)
    BertForNextSentencePrediction  cls.seq_relationship on the pooler; loss CE
    BertForSequenceClassification  dropout + classifier on the pooler; MSE / CE / BCE by problem_type
    BertForTokenClassification     dropout + classifier per token; CE(ignore -100)
    BertForQuestionAnswering       qa_outputs per token -> start/end logits; mean of two CEs
                                   (positions clamped to [0, L], L ignored)

Attention mask: transformers 5 (default "sdpa" attention) turns the (B, L) padding mask into a
boolean (B, 1, L, L) mask, True where the KEY is a real token, for every query row, pad queries
included; nothing is unmasked. A sequence that is all padding therefore has fully masked rows,
for which torch's SDPA returns 0 (and gradient 0): refimpl uses fully_masked_rows="zeros", so the
output is finite and equals transformers' even there. (Eager attention, with its additive
finfo.min mask, gives a uniform row instead; only an all-pad sequence tells the two apart.)
attentions (output_attentions=True) are the probabilities after attention dropout, what
transformers' eager attention returns (its sdpa path returns none).

Dropout: in training mode every forward needs `rng` (a numpy Generator); masks are drawn in the
order transformers applies dropout (embeddings; per layer: attention probabilities, attention
output, feed-forward output; then the head).

The pieces shared with the other families live in refimpl/models/{outputs,inputs,modeling_utils,heads,
task_losses}.py and refimpl/nn/{attention_heads,layer_stack}.py.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ...core.model import ModelOutput, PreTrainedModel
from ...core.module import Module
from ...core.parameter import Parameter
from ...losses.cross_entropy import cross_entropy, cross_entropy_backward
from ...nn.activation import Tanh, get_activation
from ...nn.dropout import Dropout
from ...nn.embedding import Embedding
from ...nn.linear import Linear
from ...nn.normalization import LayerNorm
from ...nn.attention_heads import AttentionHeads
from ...nn.layer_stack import LayerStack
from ..heads import (FirstTokenPooler, head_loss, logits_grad, qa_head_backward, qa_head_forward,
                     require_classification_labels, require_qa_labels, sequence_classification_head,
                     token_head_backward, token_head_forward)
from ..inputs import check_token_inputs, check_token_type_ids, labels_of, padding_keep_mask, position_ids_for
from ..modeling_utils import (apply_dropout, base_backward, init_weights, output_flags, require_rng,
                              word_embeddings_backward, zeros_if_none)
from ..outputs import (BaseModelOutput, BaseModelOutputWithPooling, MaskedLMOutput, NextSentencePredictorOutput,
                       QuestionAnsweringModelOutput, SequenceClassifierOutput, TokenClassifierOutput)
from ..task_losses import sequence_classification_loss_backward, token_cross_entropy, token_cross_entropy_backward
from .config import BertConfig

__all__ = ["BertModel", "BertPreTrainedModel", "BertForPreTraining", "BertForMaskedLM",
           "BertForNextSentencePrediction", "BertForSequenceClassification", "BertForTokenClassification",
           "BertForQuestionAnswering", "BaseModelOutput", "BaseModelOutputWithPooling", "BertForPreTrainingOutput",
           "MaskedLMOutput", "NextSentencePredictorOutput", "SequenceClassifierOutput", "TokenClassifierOutput",
           "QuestionAnsweringModelOutput"]


# ============================================================================================ outputs
class BertForPreTrainingOutput(ModelOutput):
    loss: Optional[np.ndarray] = None
    prediction_logits: Optional[np.ndarray] = None
    seq_relationship_logits: Optional[np.ndarray] = None
    hidden_states: Optional[tuple] = None
    attentions: Optional[tuple] = None


class BertEmbeddings(Module):
    """LayerNorm(word[input_ids] (or inputs_embeds) + token_type[token_type_ids] + position[position_ids]), dropout."""

    def __init__(self, config: BertConfig, dtype):
        super().__init__()
        e = config.hidden_size
        self.word_embeddings = Embedding(config.vocab_size, e, padding_idx=config.pad_token_id, dtype=dtype)
        self.position_embeddings = Embedding(config.max_position_embeddings, e, dtype=dtype)
        self.token_type_embeddings = Embedding(config.type_vocab_size, e, dtype=dtype)
        self.LayerNorm = LayerNorm(e, eps=config.layer_norm_eps, dtype=dtype)
        self.dropout = Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids, token_type_ids, position_ids, inputs_embeds=None, rng=None):
        x = self.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds   # (B, L, E)
        x = x + self.token_type_embeddings(token_type_ids)                                 # (B, L, E)
        x = x + self.position_embeddings(position_ids)
        self.save_for_backward(inputs_embeds is None)
        return apply_dropout(self.dropout, self.LayerNorm(x), rng)

    def backward(self, dy):
        (from_ids,) = self.saved()
        dx = self.LayerNorm.backward(self.dropout.backward(dy))   # d(sum of the three embeddings)
        self.position_embeddings.backward(dx)                     # each table gets the same dx
        self.token_type_embeddings.backward(dx)
        return word_embeddings_backward(self.word_embeddings, dx, from_ids)   # dL/d inputs_embeds, or None


class BertSelfAttention(Module):
    """query / key / value projections + AttentionHeads (the output projection lives in BertSelfOutput)."""

    def __init__(self, config: BertConfig, dtype):
        super().__init__()
        e, h = config.hidden_size, config.num_attention_heads
        self.query = Linear(e, e, dtype=dtype)
        self.key = Linear(e, e, dtype=dtype)
        self.value = Linear(e, e, dtype=dtype)
        self.heads = AttentionHeads(h, e // h, config.attention_probs_dropout_prob)

    def forward(self, hidden_states, keep, output_attentions=False, rng=None):
        return self.heads(self.query(hidden_states), self.key(hidden_states), self.value(hidden_states),
                          keep, output_attentions, rng)             # ((B, L, E), probs or None)

    def backward(self, d_ctx, d_probs=None):
        dq, dk, dv = self.heads.backward(d_ctx, d_probs)
        # hidden_states feeds all three projections: the gradients add
        return self.query.backward(dq) + self.key.backward(dk) + self.value.backward(dv)


class BertSelfOutput(Module):
    """LayerNorm(dropout(dense(h)) + residual) — BertSelfOutput (in = hidden) and BertOutput (in = intermediate)."""

    def __init__(self, config: BertConfig, in_features: int, dtype):
        super().__init__()
        self.dense = Linear(in_features, config.hidden_size, dtype=dtype)
        self.LayerNorm = LayerNorm(config.hidden_size, eps=config.layer_norm_eps, dtype=dtype)
        self.dropout = Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, input_tensor, rng=None):
        return self.LayerNorm(apply_dropout(self.dropout, self.dense(hidden_states), rng) + input_tensor)

    def backward(self, dy):
        dz = self.LayerNorm.backward(dy)                                      # d(branch + residual)
        d_hidden = self.dense.backward(self.dropout.backward(dz))             # through the branch
        return d_hidden, dz                                                   # (d hidden_states, d input_tensor)


class BertOutput(BertSelfOutput):
    """The feed-forward's second half: LayerNorm(dropout(dense(intermediate)) + attention_output)."""

    def __init__(self, config: BertConfig, dtype):
        super().__init__(config, config.intermediate_size, dtype)


class BertAttention(Module):
    def __init__(self, config: BertConfig, dtype):
        super().__init__()
        self.self = BertSelfAttention(config, dtype)
        self.output = BertSelfOutput(config, config.hidden_size, dtype)

    def forward(self, hidden_states, keep, output_attentions=False, rng=None):
        ctx, probs = self.self(hidden_states, keep, output_attentions, rng)
        return self.output(ctx, hidden_states, rng), probs

    def backward(self, dy, d_probs=None):
        d_ctx, d_residual = self.output.backward(dy)
        return d_residual + self.self.backward(d_ctx, d_probs)             # residual + attention paths


class BertIntermediate(Module):
    def __init__(self, config: BertConfig, dtype):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.intermediate_size, dtype=dtype)
        self.intermediate_act_fn = get_activation(config.hidden_act)

    def forward(self, hidden_states):
        return self.intermediate_act_fn(self.dense(hidden_states))        # (B, L, I)

    def backward(self, dy):
        return self.dense.backward(self.intermediate_act_fn.backward(dy))


class BertLayer(Module):
    def __init__(self, config: BertConfig, dtype):
        super().__init__()
        self.attention = BertAttention(config, dtype)
        self.intermediate = BertIntermediate(config, dtype)
        self.output = BertOutput(config, dtype)

    def forward(self, hidden_states, keep, output_attentions=False, rng=None):
        a, probs = self.attention(hidden_states, keep, output_attentions, rng)   # (B, L, E)
        return self.output(self.intermediate(a), a, rng), probs

    def backward(self, dy, d_probs=None):
        d_inter, d_a = self.output.backward(dy)
        d_a = d_a + self.intermediate.backward(d_inter)                   # a feeds the FFN and its residual
        return self.attention.backward(d_a, d_probs)


class BertEncoder(LayerStack):
    def __init__(self, config: BertConfig, dtype):
        super().__init__([BertLayer(config, dtype) for _ in range(config.num_hidden_layers)])


class BertPooler(FirstTokenPooler):
    """tanh(dense(h[:, 0])): the [CLS] vector, (B, L, E) -> (B, E)."""

    def __init__(self, config: BertConfig, dtype):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size, dtype=dtype)
        self.activation = Tanh()


def _classifier_dropout(config: BertConfig) -> float:
    """The heads' dropout: classifier_dropout, else hidden_dropout_prob (transformers' rule)."""
    return config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob


# ============================================================================================ models
class BertPreTrainedModel(PreTrainedModel):
    config_class = BertConfig
    base_model_prefix = "bert"
    differentiable_inputs = ("inputs_embeds",)

    def post_init(self) -> None:
        init_weights(self, self.config.initializer_range)
        super().post_init()

    def _base(self, *, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
              output_attentions, output_hidden_states, rng):
        return self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                         position_ids=position_ids, inputs_embeds=inputs_embeds, output_attentions=output_attentions,
                         output_hidden_states=output_hidden_states, rng=rng)

    def _base_backward(self, grads: dict, **d_outputs) -> dict:
        return base_backward(self, grads, **d_outputs)


class BertModel(BertPreTrainedModel):
    """The encoder: embeddings -> N BertLayers -> (optional) pooler.

    forward(input_ids | inputs_embeds, attention_mask, token_type_ids, position_ids, output_attentions,
            output_hidden_states, rng) -> BaseModelOutputWithPooling
    input_ids: int (B, L) in [0, vocab_size) — or inputs_embeds: float (B, L, E) of the model dtype.
    attention_mask: (B, L) of 1 (token) / 0 (pad), bool/int/float; None = no padding.
    token_type_ids: int (B, L) in [0, type_vocab_size), default 0. position_ids: int (B, L) or (1, L),
    default arange(L) (then L <= max_position_embeddings).
    Outputs: last_hidden_state (B, L, E), pooler_output (B, E) (absent with add_pooling_layer=False),
    hidden_states (N + 1 arrays (B, L, E): embeddings, then each layer), attentions (N arrays (B, H, L, L)).
    """

    def __init__(self, config: BertConfig, dtype=np.float64, add_pooling_layer: bool = True):
        super().__init__(config, dtype)
        self.embeddings = BertEmbeddings(config, self._dtype)
        self.encoder = BertEncoder(config, self._dtype)
        if add_pooling_layer:
            self.pooler = BertPooler(config, self._dtype)
        else:
            self.pooler = None
        self.post_init()

    def forward(self, *, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, output_attentions=None, output_hidden_states=None, rng=None):
        cfg = self.config
        shape = check_token_inputs(input_ids, inputs_embeds, vocab_size=cfg.vocab_size,
                                   hidden_size=cfg.hidden_size, dtype=self.dtype)          # (B, L)
        name = "input_ids" if input_ids is not None else "inputs_embeds"
        position_ids = position_ids_for(position_ids, shape, cfg.max_position_embeddings, name)
        token_type_ids = check_token_type_ids(token_type_ids, shape, cfg.type_vocab_size, name)
        if token_type_ids is None:
            token_type_ids = np.zeros(shape, np.int64)                                      # (B, L) segment A
        keep = padding_keep_mask(attention_mask, shape)                                     # (B, 1, 1, L)
        require_rng(self, rng)
        output_attentions, output_hidden_states = output_flags(cfg, output_attentions, output_hidden_states)

        h = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds, rng)      # (B, L, E)
        h, hidden_states, attentions = self.encoder(h, keep, output_hidden_states, output_attentions, rng)
        pooled = self.pooler(h) if self.pooler is not None else None                         # (B, E)
        self.save_for_backward(h.shape)
        return BaseModelOutputWithPooling(last_hidden_state=h, pooler_output=pooled, hidden_states=hidden_states,
                                          attentions=attentions)

    def _backward(self, grads):
        (shape,) = self.saved()
        dh = zeros_if_none(grads.get("last_hidden_state"), shape, self.dtype)              # (B, L, E)
        if self.pooler is not None:                                                          # pooler reads h[:, 0]
            d_pooled = zeros_if_none(grads.get("pooler_output"), (shape[0], shape[2]), self.dtype)
            dh = dh + self.pooler.backward(d_pooled)
        dh = self.encoder.backward(dh, grads.get("hidden_states"), grads.get("attentions"))
        d_embeds = self.embeddings.backward(dh)
        return {} if d_embeds is None else {"inputs_embeds": d_embeds}


# ---------------------------------------------------------------------------------------------- MLM head
class BertPredictionHeadTransform(Module):
    """LayerNorm(act(dense(h)))."""

    def __init__(self, config: BertConfig, dtype):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size, dtype=dtype)
        self.transform_act_fn = get_activation(config.hidden_act)
        self.LayerNorm = LayerNorm(config.hidden_size, eps=config.layer_norm_eps, dtype=dtype)

    def forward(self, h):
        return self.LayerNorm(self.transform_act_fn(self.dense(h)))

    def backward(self, dy):
        return self.dense.backward(self.transform_act_fn.backward(self.LayerNorm.backward(dy)))


class BertLMPredictionHead(Module):
    """decoder(transform(h)): (B, L, E) -> (B, L, V). `bias` is the decoder's bias when weights are tied
    (then both keys name one Parameter, as transformers ties them)."""

    def __init__(self, config: BertConfig, dtype):
        super().__init__()
        self.transform = BertPredictionHeadTransform(config, dtype)
        self.decoder = Linear(config.hidden_size, config.vocab_size, dtype=dtype)
        self.bias = Parameter(np.zeros(config.vocab_size, dtype))

    def forward(self, h):
        return self.decoder(self.transform(h))                           # (B, L, V)

    def backward(self, dy):
        return self.transform.backward(self.decoder.backward(dy))


class BertOnlyMLMHead(Module):
    def __init__(self, config: BertConfig, dtype):
        super().__init__()
        self.predictions = BertLMPredictionHead(config, dtype)

    def forward(self, h):
        return self.predictions(h)

    def backward(self, dy):
        return self.predictions.backward(dy)


class BertOnlyNSPHead(Module):
    def __init__(self, config: BertConfig, dtype):
        super().__init__()
        self.seq_relationship = Linear(config.hidden_size, 2, dtype=dtype)

    def forward(self, pooled):
        return self.seq_relationship(pooled)                             # (B, 2)

    def backward(self, dy):
        return self.seq_relationship.backward(dy)


class BertPreTrainingHeads(Module):
    def __init__(self, config: BertConfig, dtype):
        super().__init__()
        self.predictions = BertLMPredictionHead(config, dtype)
        self.seq_relationship = Linear(config.hidden_size, 2, dtype=dtype)


_MLM_TIES = {"cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
             "cls.predictions.decoder.bias": "cls.predictions.bias"}


class BertForPreTraining(BertPreTrainedModel):
    """MLM + NSP. labels: int (B, L) in [0, V) or -100; next_sentence_label: int (B,) in {0, 1}.
    The loss (MLM mean CE + NSP mean CE) is computed only when both are given, as in transformers."""

    tied_weights_keys = _MLM_TIES

    def __init__(self, config: BertConfig, dtype=np.float64):
        super().__init__(config, dtype)
        self.bert = BertModel(config, self._dtype)
        self.cls = BertPreTrainingHeads(config, self._dtype)
        self.post_init()

    def forward(self, *, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, next_sentence_label=None, output_attentions=None,
                output_hidden_states=None, rng=None):
        require_rng(self, rng)
        out = self._base(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                         position_ids=position_ids, inputs_embeds=inputs_embeds, output_attentions=output_attentions,
                         output_hidden_states=output_hidden_states, rng=rng)
        b, n, _ = out.last_hidden_state.shape
        labels = labels_of(labels, "labels", (b, n), high=self.config.vocab_size)
        next_sentence_label = labels_of(next_sentence_label, "next_sentence_label", (b,), high=2)
        scores = self.cls.predictions(out.last_hidden_state)                 # (B, L, V)
        nsp = self.cls.seq_relationship(out.pooler_output)                   # (B, 2)
        loss = None
        if labels is None or next_sentence_label is None:
            labels = next_sentence_label = None                              # not both given: no loss
        else:
            loss = np.asarray(token_cross_entropy(scores, labels) + cross_entropy(nsp, next_sentence_label), self.dtype)
        self.save_for_backward(scores, nsp, labels, next_sentence_label)
        return BertForPreTrainingOutput(loss=loss, prediction_logits=scores, seq_relationship_logits=nsp,
                                        hidden_states=out.hidden_states, attentions=out.attentions)

    def _backward(self, grads):
        scores, nsp, labels, nsl = self.saved()                     # labels, nsl: None when no loss was computed
        d_scores = logits_grad(grads, scores, self.dtype, token_cross_entropy_backward, labels,
                               key="prediction_logits")                        # + dL/dscores of the MLM CE
        d_nsp = logits_grad(grads, nsp, self.dtype, cross_entropy_backward, nsl,
                            key="seq_relationship_logits")                     # + dL/dnsp of the NSP CE
        dh = self.cls.predictions.backward(d_scores)                                   # (B, L, E)
        d_pooled = self.cls.seq_relationship.backward(d_nsp)                           # (B, E)
        return self._base_backward(grads, last_hidden_state=dh, pooler_output=d_pooled)


class BertForMaskedLM(BertPreTrainedModel):
    """MLM head on every token (no pooler). labels: int (B, L) in [0, V) or -100 (ignored)."""

    tied_weights_keys = _MLM_TIES

    def __init__(self, config: BertConfig, dtype=np.float64):
        super().__init__(config, dtype)
        self.bert = BertModel(config, self._dtype, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(config, self._dtype)
        self.post_init()

    def forward(self, *, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None, rng=None):
        require_rng(self, rng)
        out = self._base(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                         position_ids=position_ids, inputs_embeds=inputs_embeds, output_attentions=output_attentions,
                         output_hidden_states=output_hidden_states, rng=rng)
        labels = labels_of(labels, "labels", out.last_hidden_state.shape[:2], high=self.config.vocab_size)
        logits = self.cls(out.last_hidden_state)                             # (B, L, V)
        return token_head_forward(self, out, logits, labels, MaskedLMOutput)

    def _backward(self, grads):
        d_logits = token_head_backward(self, grads)                         # (B, L, V)
        return self._base_backward(grads, last_hidden_state=self.cls.backward(d_logits))


class BertForNextSentencePrediction(BertPreTrainedModel):
    """NSP head on the pooler. labels: int (B,) in {0, 1} (0 = B follows A)."""

    def __init__(self, config: BertConfig, dtype=np.float64):
        super().__init__(config, dtype)
        self.bert = BertModel(config, self._dtype)
        self.cls = BertOnlyNSPHead(config, self._dtype)
        self.post_init()

    def forward(self, *, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None, rng=None):
        require_rng(self, rng)
        out = self._base(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                         position_ids=position_ids, inputs_embeds=inputs_embeds, output_attentions=output_attentions,
                         output_hidden_states=output_hidden_states, rng=rng)
        labels = labels_of(labels, "labels", (out.pooler_output.shape[0],), high=2)
        logits = self.cls(out.pooler_output)                                 # (B, 2)
        loss = head_loss(cross_entropy, logits, labels, dtype=self.dtype)
        self.save_for_backward(logits, labels, out.last_hidden_state.shape)
        return NextSentencePredictorOutput(loss=loss, logits=logits, hidden_states=out.hidden_states,
                                           attentions=out.attentions)

    def _backward(self, grads):
        logits, labels, shape = self.saved()
        d_logits = logits_grad(grads, logits, self.dtype, cross_entropy_backward, labels)
        return self._base_backward(grads, pooler_output=self.cls.backward(d_logits),
                                   last_hidden_state=np.zeros(shape, self.dtype))


class BertForSequenceClassification(BertPreTrainedModel):
    """dropout + classifier on the pooler: (B, num_labels).

    labels: float (B,) for regression (num_labels == 1), int (B,) for single-label, float (B, C) 0/1 for
    multi-label; problem_type None is decided as transformers does (see problem_type_of).
    """

    def __init__(self, config: BertConfig, dtype=np.float64):
        super().__init__(config, dtype)
        require_classification_labels(config)
        self.bert = BertModel(config, self._dtype)
        self.dropout = Dropout(_classifier_dropout(config))
        self.classifier = Linear(config.hidden_size, config.num_labels, dtype=self._dtype)
        self.post_init()

    def forward(self, *, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None, rng=None):
        require_rng(self, rng)
        out = self._base(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                         position_ids=position_ids, inputs_embeds=inputs_embeds, output_attentions=output_attentions,
                         output_hidden_states=output_hidden_states, rng=rng)
        logits = self.classifier(apply_dropout(self.dropout, out.pooler_output, rng))   # (B, C)
        loss, target, kind = sequence_classification_head(logits, labels, self.config, self.dtype)
        self.save_for_backward(logits, target, kind, out.last_hidden_state.shape)
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states,
                                        attentions=out.attentions)

    def _backward(self, grads):
        logits, target, kind, shape = self.saved()
        d_logits = logits_grad(grads, logits, self.dtype, sequence_classification_loss_backward, target, kind)
        d_pooled = self.dropout.backward(self.classifier.backward(d_logits))
        return self._base_backward(grads, pooler_output=d_pooled, last_hidden_state=np.zeros(shape, self.dtype))


class BertForTokenClassification(BertPreTrainedModel):
    """dropout + classifier per token (no pooler): (B, L, num_labels). labels: int (B, L), -100 ignored."""

    def __init__(self, config: BertConfig, dtype=np.float64):
        super().__init__(config, dtype)
        self.bert = BertModel(config, self._dtype, add_pooling_layer=False)
        self.dropout = Dropout(_classifier_dropout(config))
        self.classifier = Linear(config.hidden_size, config.num_labels, dtype=self._dtype)
        self.post_init()

    def forward(self, *, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None, rng=None):
        require_rng(self, rng)
        out = self._base(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                         position_ids=position_ids, inputs_embeds=inputs_embeds, output_attentions=output_attentions,
                         output_hidden_states=output_hidden_states, rng=rng)
        labels = labels_of(labels, "labels", out.last_hidden_state.shape[:2], high=self.config.num_labels)
        logits = self.classifier(apply_dropout(self.dropout, out.last_hidden_state, rng))   # (B, L, C)
        return token_head_forward(self, out, logits, labels, TokenClassifierOutput)

    def _backward(self, grads):
        d_logits = token_head_backward(self, grads)                         # (B, L, C)
        dh = self.dropout.backward(self.classifier.backward(d_logits))
        return self._base_backward(grads, last_hidden_state=dh)


class BertForQuestionAnswering(BertPreTrainedModel):
    """qa_outputs per token (no pooler) -> start_logits, end_logits (B, L).

    start_positions / end_positions: int (B,) or (B, 1); clamped to [0, L], and L is ignored in the loss
    (transformers' rule for answers outside the window). loss = (CE(start) + CE(end)) / 2.
    """

    def __init__(self, config: BertConfig, dtype=np.float64):
        super().__init__(config, dtype)
        require_qa_labels(config)
        self.bert = BertModel(config, self._dtype, add_pooling_layer=False)
        self.qa_outputs = Linear(config.hidden_size, config.num_labels, dtype=self._dtype)
        self.post_init()

    def forward(self, *, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, start_positions=None, end_positions=None, output_attentions=None,
                output_hidden_states=None, rng=None):
        require_rng(self, rng)
        out = self._base(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                         position_ids=position_ids, inputs_embeds=inputs_embeds, output_attentions=output_attentions,
                         output_hidden_states=output_hidden_states, rng=rng)
        logits = self.qa_outputs(out.last_hidden_state)                      # (B, L, 2)
        return qa_head_forward(self, out, logits, start_positions, end_positions)

    def _backward(self, grads):
        d_logits = qa_head_backward(self, grads)
        return self._base_backward(grads, last_hidden_state=self.qa_outputs.backward(d_logits))
