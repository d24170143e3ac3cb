"""Wav2Vec2 (Baevski et al., 2020): raw audio -> conv features -> Transformer context, and its task heads.

    input_values (B, S) -- feature encoder (conv stack) -------------------------> (B, T, C)   feature_encoder.py
    -- LayerNorm = extract_features -- Linear -- dropout ------------------------> (B, T, E)
    -- SpecAugment: masked frames := masked_spec_embed, masked channels := 0 ----> (B, T, E)   masking.py
    -- encoder: positional conv + Transformer (post-LN or pre-LN) --------------> last_hidden_state   encoder.py

The audio attention_mask (B, S) becomes a frame mask (B, T) through the conv length formula; padded frames
are zeroed before the encoder and excluded as attention keys (feature_encoder.py).

Heads (names, keys and losses as transformers 5.24):
    Wav2Vec2ForPreTraining              quantizer (Gumbel product codebook, quantizer.py), project_hid, project_q;
                                        loss = contrastive + diversity_loss_weight * diversity (contrastive.py),
                                        only when sampled_negative_indices is given (it needs mask_time_indices)
    Wav2Vec2ForSequenceClassification   [softmax(layer_weights)-weighted sum of hidden_states], projector,
                                        mean over the valid frames, classifier; loss CE
    Wav2Vec2ForCTC                      dropout, lm_head; loss CTC with blank = pad_token_id

Randomness: dropout, SpecAugment masks, LayerDrop and Gumbel noise come from the forward's `rng`
(a numpy Generator), in transformers' order (feature projection dropout, time mask, feature mask,
encoder dropouts, head); `mask_time_indices`, `sampled_negative_indices` and `gumbel_noise` can be
passed instead. In eval mode nothing is random.

transformers runs parts of the losses in float32 even in a float64 model (CTC log_softmax with
dtype=float32; the contrastive cosine similarities, cross-entropy, gumbel softmax and perplexity softmax
via `.float()`); refimpl computes everything in the model's dtype (HF_TINY_MODELS.md: the float64 parity
tests neutralise those casts on the transformers side).

Old checkpoints store the positional conv's weight norm as `weight_g` / `weight_v` (torch.nn.utils.weight_norm);
they load into `parametrizations.weight.original0` / `original1` (PITFALLS 14.1).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ...core.errors import ConfigError, DTypeError, IndexRangeError, ShapeError
from ...core.kernel_dispatch import dispatch
from ...core.model import ModelOutput, PreTrainedModel
from ...core.parameter import Parameter
from ...core.validation import check_float
from ...functional.activation import log_softmax, log_softmax_backward, softmax, softmax_backward
from ...losses.cross_entropy import cross_entropy, cross_entropy_backward
from ...nn.dropout import Dropout
from ...nn.init import normal, uniform_fan_in
from ...nn.linear import Linear
from ...nn.weight_norm import WEIGHT_NORM_LEGACY_KEYS
from ...nn.conv import Conv1d
from ..heads import head_loss, logits_grad, require_classification_labels
from ..modeling_utils import apply_dropout, base_backward, init_weights, output_flags, require_rng, zeros_if_none
from ..outputs import CausalLMOutput, SequenceClassifierOutput, Wav2Vec2BaseModelOutput
from .config import Wav2Vec2Config
from .contrastive import contrastive_logits, contrastive_loss, contrastive_loss_backward, diversity_loss
from .encoder import Wav2Vec2Encoder, Wav2Vec2EncoderStableLayerNorm, Wav2Vec2PositionalConvEmbedding
from .feature_encoder import (Wav2Vec2FeatureEncoder, Wav2Vec2FeatureProjection, audio_lengths,
                              feat_extract_output_lengths, feature_vector_attention_mask, utterance_frames)
from .masking import check_bool_mask, compute_mask_indices
from .quantizer import Wav2Vec2GumbelVectorQuantizer

__all__ = ["Wav2Vec2PreTrainedModel", "Wav2Vec2Model", "Wav2Vec2ForPreTraining", "Wav2Vec2ForSequenceClassification",
           "Wav2Vec2ForCTC", "Wav2Vec2ForPreTrainingOutput", "Wav2Vec2BaseModelOutput", "SequenceClassifierOutput",
           "CausalLMOutput"]


class Wav2Vec2ForPreTrainingOutput(ModelOutput):
    loss: Optional[np.ndarray] = None
    projected_states: Optional[np.ndarray] = None
    projected_quantized_states: Optional[np.ndarray] = None
    codevector_perplexity: Optional[np.ndarray] = None
    hidden_states: Optional[tuple] = None
    attentions: Optional[tuple] = None
    contrastive_loss: Optional[np.ndarray] = None
    diversity_loss: Optional[np.ndarray] = None


# ============================================================================================ base class
def _rename_legacy_keys(state):
    """weight_g / weight_v of a weight-normalised conv -> parametrizations.weight.original0 / original1."""
    if not hasattr(state, "items"):
        return state
    out = {}
    for k, v in state.items():
        head, _, last = k.rpartition(".")
        if last in WEIGHT_NORM_LEGACY_KEYS and head.endswith("pos_conv_embed.conv"):
            k = f"{head}.{WEIGHT_NORM_LEGACY_KEYS[last]}"
        out[k] = v
    return out


class Wav2Vec2PreTrainedModel(PreTrainedModel):
    config_class = Wav2Vec2Config
    base_model_prefix = "wav2vec2"
    differentiable_inputs = ("input_values",)

    def post_init(self) -> None:
        self._init_weights()
        super().post_init()

    def _init_weights(self, seed: int = 0) -> None:
        """transformers' scheme (Linear N(0, initializer_range), quantizer N(0, 1) / U(0, 1), kaiming conv ...)."""
        init_weights(self, self.config.initializer_range, seed)
        rng = np.random.default_rng(seed + 1)
        for m in self.modules():
            if isinstance(m, Wav2Vec2GumbelVectorQuantizer):
                m.weight_proj.weight.data = normal(rng, m.weight_proj.weight.shape, 1.0, m.weight_proj.weight.dtype)
                m.codevectors.data = rng.uniform(0, 1, m.codevectors.shape).astype(m.codevectors.dtype)
            elif isinstance(m, Wav2Vec2PositionalConvEmbedding):
                wn = m.conv.parametrizations["weight"]
                k, c_in = wn.original1.shape[2], m.conv.in_channels
                wn.original1.data = normal(rng, wn.original1.shape, 2 * np.sqrt(1 / (k * c_in)), wn.original1.dtype)
                v = wn.original1.data
                wn.original0.data = np.sqrt((v * v).sum(axis=(0, 1), keepdims=True))
                m.conv.bias.data = np.zeros_like(m.conv.bias.data)
            elif isinstance(m, Wav2Vec2FeatureProjection):
                w = m.projection.weight
                m.projection.weight.data = uniform_fan_in(rng, w.shape, w.shape[1], w.dtype)
                m.projection.bias.data = uniform_fan_in(rng, m.projection.bias.shape, w.shape[1], w.dtype)
            elif isinstance(m, Conv1d):
                fan_in = m.weight.shape[1] * m.weight.shape[2]
                m.weight.data = normal(rng, m.weight.shape, np.sqrt(2.0 / fan_in), m.weight.dtype)   # kaiming normal
                if m.bias is not None:
                    m.bias.data = uniform_fan_in(rng, m.bias.shape, fan_in, m.bias.dtype)
            elif isinstance(m, Wav2Vec2Model) and m.masked_spec_embed is not None:
                m.masked_spec_embed.data = rng.uniform(0, 1, m.masked_spec_embed.shape).astype(m._dtype)
        if isinstance(self, Wav2Vec2ForPreTraining):       # transformers resets these two to torch's Linear init
            for lin in (self.project_hid, self.project_q):
                lin.weight.data = uniform_fan_in(rng, lin.weight.shape, lin.weight.shape[1], lin.weight.dtype)
                lin.bias.data = uniform_fan_in(rng, lin.bias.shape, lin.weight.shape[1], lin.bias.dtype)

    def load_state_dict(self, state_dict, strict: bool = True):
        """Also accepts the old weight-norm key names weight_g / weight_v (PITFALLS 14.1)."""
        return super().load_state_dict(_rename_legacy_keys(state_dict), strict=strict)

    def load_checkpoint_state(self, state, strict: bool = True) -> dict:
        return super().load_checkpoint_state(_rename_legacy_keys(state), strict=strict)

    def set_gumbel_temperature(self, temperature: float) -> None:
        for m in self.modules():
            if isinstance(m, Wav2Vec2GumbelVectorQuantizer):
                m.temperature = float(temperature)

    def frame_lengths(self, lengths):
        """Frames per utterance for audio lengths (transformers' _get_feat_extract_output_lengths)."""
        return feat_extract_output_lengths(self.config, lengths)

    def frame_mask(self, num_frames: int, attention_mask) -> np.ndarray:
        """(B, S) audio mask -> (B, T) bool frame mask (transformers' _get_feature_vector_attention_mask)."""
        return feature_vector_attention_mask(self.config, num_frames, attention_mask)

    def _base(self, **kw):
        return self.wav2vec2(**kw)

    def _base_backward(self, grads: dict, **d_outputs) -> dict:
        return base_backward(self, grads, **d_outputs)


def _check_input_values(input_values, dtype):
    """(batch, samples) of a valid input_values, checked before any head input that depends on them."""
    if input_values is None:
        raise ConfigError("input_values: Wav2Vec2 needs raw audio input_values (batch, samples)")
    check_float(input_values, "input_values", dtype=dtype)
    if input_values.ndim != 2:
        raise ShapeError(f"input_values: expected shape (batch, samples), got {input_values.shape}")
    return input_values.shape


def _needs_rng(model, rng, reasons) -> None:
    """require_rng for dropout, plus the other random parts (masks, LayerDrop, Gumbel noise) that are active."""
    require_rng(model, rng)
    if rng is None and reasons:
        raise ConfigError(f"rng: {type(model).__name__} in training mode draws {', '.join(reasons)}; pass "
                          f"rng=np.random.default_rng(seed) (or the drawn values themselves), or call .eval()")


# ============================================================================================ base model
class Wav2Vec2Model(Wav2Vec2PreTrainedModel):
    """Feature encoder -> feature projection -> (SpecAugment) -> encoder.

    forward(input_values, attention_mask, mask_time_indices, output_attentions, output_hidden_states, rng)
        -> Wav2Vec2BaseModelOutput(last_hidden_state (B, T, E), extract_features (B, T, C), hidden_states, attentions)
    input_values: float (B, S) of the model dtype, S at least the receptive field.
    attention_mask: (B, S) 1 = sample, 0 = padding (bool/int/float); None = no padding.
    mask_time_indices: (B, T) bool (or 0/1): frames replaced by masked_spec_embed (in eval mode too, as
        transformers); needs config.mask_time_prob > 0 or mask_feature_prob > 0 (masked_spec_embed exists
        only then). In training mode without it (mask_time_prob > 0) a mask is drawn from `rng`
        (compute_mask_indices, attention-mask aware); mask_feature_prob > 0 draws a channel mask in training.
    apply_spec_augment=False turns both masks off.
    """

    def __init__(self, config: Wav2Vec2Config, dtype=np.float64):
        super().__init__(config, dtype)
        self.feature_extractor = Wav2Vec2FeatureEncoder(config, self._dtype)
        self.feature_projection = Wav2Vec2FeatureProjection(config, self._dtype)
        if config.mask_time_prob > 0.0 or config.mask_feature_prob > 0.0:
            self.masked_spec_embed = Parameter(np.zeros(config.hidden_size, self._dtype))
        else:
            self.register_parameter("masked_spec_embed", None)
        encoder_cls = Wav2Vec2EncoderStableLayerNorm if config.do_stable_layer_norm else Wav2Vec2Encoder
        self.encoder = encoder_cls(config, self._dtype)
        self.post_init()

    def _random_parts(self, mask_time_indices):
        cfg = self.config
        if not self.training:
            return []
        reasons = []
        if cfg.apply_spec_augment and mask_time_indices is None and cfg.mask_time_prob > 0:
            reasons.append("a SpecAugment time mask (mask_time_prob > 0)")
        if cfg.apply_spec_augment and cfg.mask_feature_prob > 0:
            reasons.append("a SpecAugment feature mask (mask_feature_prob > 0)")
        if cfg.layerdrop > 0:
            reasons.append("LayerDrop (layerdrop > 0)")
        return reasons

    def _mask_hidden_states(self, h, mask_time_indices, frame_mask, rng):
        """SpecAugment: (masked hidden, time mask (B, T) or None, feature mask (E,) per row (B, E) or None)."""
        cfg = self.config
        if not cfg.apply_spec_augment:
            return h, None, None
        b, t, e = h.shape
        time_mask = feature_mask = None
        if mask_time_indices is not None:
            time_mask = mask_time_indices
        elif cfg.mask_time_prob > 0 and self.training:
            time_mask = compute_mask_indices((b, t), cfg.mask_time_prob, cfg.mask_time_length, rng,
                                             attention_mask=frame_mask, min_masks=cfg.mask_time_min_masks)
        if time_mask is not None:
            h = np.where(time_mask[:, :, None], self.masked_spec_embed.data, h)       # masked frames := embed
        if cfg.mask_feature_prob > 0 and self.training:
            feature_mask = compute_mask_indices((b, e), cfg.mask_feature_prob, cfg.mask_feature_length, rng,
                                                min_masks=cfg.mask_feature_min_masks)  # (B, E)
            h = np.where(feature_mask[:, None, :], 0, h)                               # masked channels := 0
        return h, time_mask, feature_mask

    def forward(self, *, input_values=None, attention_mask=None, mask_time_indices=None, output_attentions=None,
                output_hidden_states=None, rng=None):
        cfg = self.config
        b, s = _check_input_values(input_values, self.dtype)
        self.feature_extractor.check_input(input_values)                              # at least one frame
        t = int(self.frame_lengths(s))                                                # frames of the batch
        # every check before any layer runs (a failed forward leaves nothing saved)
        frame_mask = None
        if attention_mask is not None:
            audio_lengths(attention_mask, (b, s))                                     # shape (B, S), 0/1
            frame_mask = self.frame_mask(t, attention_mask)                           # (B, T) bool
        if mask_time_indices is not None:
            mask_time_indices = check_bool_mask(mask_time_indices, "mask_time_indices", (b, t))
            if cfg.apply_spec_augment and self.masked_spec_embed is None:
                raise ConfigError("mask_time_indices: this model has no masked_spec_embed (config.mask_time_prob "
                                  "and mask_feature_prob are both 0), so it cannot mask frames")
        _needs_rng(self, rng, self._random_parts(mask_time_indices))
        output_attentions, output_hidden_states = output_flags(cfg, output_attentions, output_hidden_states)

        features = self.feature_extractor(input_values).transpose(0, 2, 1)            # (B, T, C)
        h, extract = self.feature_projection(features, rng)                           # (B, T, E), (B, T, C)
        h, time_mask, feature_mask = self._mask_hidden_states(h, mask_time_indices, frame_mask, rng)
        last, hidden, attn = self.encoder(h, frame_mask, output_hidden_states, output_attentions, rng)
        self.save_for_backward(time_mask, feature_mask, last.shape)
        return Wav2Vec2BaseModelOutput(last_hidden_state=last, extract_features=extract, hidden_states=hidden,
                                       attentions=attn)

    def _backward(self, grads):
        time_mask, feature_mask, shape = self.saved()
        d_last = zeros_if_none(grads.get("last_hidden_state"), shape, self.dtype)
        dh = self.encoder.backward(d_last, grads.get("hidden_states"), grads.get("attentions"))   # (B, T, E)
        if feature_mask is not None:
            dh = np.where(feature_mask[:, None, :], 0, dh)                             # constant 0 there
        if time_mask is not None:
            # dL/dmasked_spec_embed = sum of the gradients at the masked frames; those frames lose theirs
            self.masked_spec_embed.accumulate(np.where(time_mask[:, :, None], dh, 0).sum(axis=(0, 1)))
            dh = np.where(time_mask[:, :, None], 0, dh)
        d_features = self.feature_projection.backward(dh, grads.get("extract_features"))   # (B, T, C)
        return {"input_values": self.feature_extractor.backward(d_features.transpose(0, 2, 1))}


# ============================================================================================ pretraining
class Wav2Vec2ForPreTraining(Wav2Vec2PreTrainedModel):
    """Contrastive pretraining head (see contrastive.py and quantizer.py for the math).

    forward(input_values, attention_mask, mask_time_indices, sampled_negative_indices, gumbel_noise,
            output_attentions, output_hidden_states, rng) -> Wav2Vec2ForPreTrainingOutput
    mask_time_indices: (B, T) bool (or 0/1): the masked frames (replaced by masked_spec_embed, predicted by the
        loss, and the frames the perplexity averages over).
    sampled_negative_indices: (B, T, K) int flat frame indices b * T + t' in [0, B * T) (see
        masking.sample_negative_indices); with it (and mask_time_indices) the loss is computed.
    gumbel_noise: (B * T * G, V) or (B, T, G, V) Gumbel noise for the training-mode quantizer; drawn from
        `rng` when absent. Eval mode uses the argmax codewords (no noise, no gradient into weight_proj).
    Outputs: loss, projected_states (B, T, P), projected_quantized_states (B, T, P), codevector_perplexity (),
        hidden_states, attentions, contrastive_loss, diversity_loss (the three losses only with negatives).
    """

    def __init__(self, config: Wav2Vec2Config, dtype=np.float64):
        super().__init__(config, dtype)
        self.wav2vec2 = Wav2Vec2Model(config, self._dtype)
        self.dropout_features = Dropout(config.feat_quantizer_dropout)
        self.quantizer = Wav2Vec2GumbelVectorQuantizer(config, self._dtype)
        self.project_hid = Linear(config.hidden_size, config.proj_codevector_dim, dtype=self._dtype)
        self.project_q = Linear(config.codevector_dim, config.proj_codevector_dim, dtype=self._dtype)
        self.post_init()

    def forward(self, *, input_values=None, attention_mask=None, mask_time_indices=None,
                sampled_negative_indices=None, gumbel_noise=None, output_attentions=None, output_hidden_states=None,
                rng=None):
        cfg = self.config
        require_rng(self, rng)
        b, s = _check_input_values(input_values, self.dtype)
        self.wav2vec2.feature_extractor.check_input(input_values)                     # at least one frame
        t = int(self.frame_lengths(s))                                                # frames of the batch
        mask = None if mask_time_indices is None else check_bool_mask(mask_time_indices, "mask_time_indices", (b, t))
        negatives = None
        if sampled_negative_indices is not None:
            if mask is None:
                raise ConfigError("mask_time_indices: the contrastive loss (sampled_negative_indices given) needs "
                                  "the mask of the frames to predict")
            negatives = _check_negatives(sampled_negative_indices, b, t)
        if gumbel_noise is not None:
            self.quantizer.check_noise(gumbel_noise, b * t, self.dtype)
        elif self.quantizer.training:
            _needs_rng(self, rng, ["Gumbel noise for the quantizer"])
        out = self._base(input_values=input_values, attention_mask=attention_mask, mask_time_indices=mask,
                         output_attentions=output_attentions, output_hidden_states=output_hidden_states, rng=rng)
        tf = self.project_hid(out.last_hidden_state)                                  # (B, T, P)
        ef = apply_dropout(self.dropout_features, out.extract_features, rng)          # (B, T, C)
        q, perplexity = self.quantizer(ef, mask, gumbel_noise, rng)                   # (B, T, D), ()
        qf = self.project_q(q)                                                        # (B, T, P)
        loss = c_loss = d_loss = None
        saved = None
        if negatives is not None:
            logits, neg_is_pos = contrastive_logits(tf, qf, negatives, cfg.contrastive_logits_temperature)
            num_masked = int(mask.sum())
            num_codes = cfg.num_codevectors_per_group * cfg.num_codevector_groups
            c_loss = np.asarray(contrastive_loss(logits, mask), self.dtype)
            d_loss = np.asarray(diversity_loss(perplexity, num_codes, num_masked), self.dtype)
            loss = np.asarray(c_loss + cfg.diversity_loss_weight * d_loss, self.dtype)
            saved = (negatives, logits, neg_is_pos, num_masked, num_codes)
        self.save_for_backward(tf, qf, mask, saved)
        return Wav2Vec2ForPreTrainingOutput(loss=loss, projected_states=tf, projected_quantized_states=qf,
                                            codevector_perplexity=perplexity, hidden_states=out.hidden_states,
                                            attentions=out.attentions, contrastive_loss=c_loss, diversity_loss=d_loss)

    def _backward(self, grads):
        tf, qf, mask, saved = self.saved()
        cfg, dt = self.config, self.dtype
        d_tf = zeros_if_none(grads.get("projected_states"), tf.shape, dt)
        d_qf = zeros_if_none(grads.get("projected_quantized_states"), qf.shape, dt)
        d_ppl = dt.type(grads.get("codevector_perplexity", 0.0))
        if saved is not None:
            negatives, logits, neg_is_pos, num_masked, num_codes = saved
            g_loss = dt.type(grads.get("loss", 0.0))
            g_c = g_loss + dt.type(grads.get("contrastive_loss", 0.0))                 # loss = c + w d
            g_d = g_loss * dt.type(cfg.diversity_loss_weight) + dt.type(grads.get("diversity_loss", 0.0))
            d_ppl = d_ppl - g_d * dt.type(num_masked / num_codes)                      # d diversity / d ppl
            dtf_c, dqf_c = contrastive_loss_backward(g_c, tf, qf, negatives, cfg.contrastive_logits_temperature,
                                                     logits, neg_is_pos, mask)
            d_tf, d_qf = d_tf + dtf_c, d_qf + dqf_c
        d_ef = self.quantizer.backward(self.project_q.backward(d_qf), np.asarray(d_ppl, dt))
        d_extract = self.dropout_features.backward(d_ef)
        return self._base_backward(grads, last_hidden_state=self.project_hid.backward(d_tf),
                                   extract_features=d_extract)


def _check_negatives(neg, b, t):
    if not isinstance(neg, np.ndarray) or not np.issubdtype(neg.dtype, np.integer):
        raise DTypeError(f"sampled_negative_indices: expected an integer numpy array, got "
                         f"{getattr(neg, 'dtype', type(neg).__name__)}")
    if neg.ndim != 3 or neg.shape[:2] != (b, t) or neg.shape[2] < 1:
        raise ShapeError(f"sampled_negative_indices: expected shape ({b}, {t}, num_negatives >= 1) (batch, frames, "
                         f"negatives), got {neg.shape}")
    if neg.size and (neg.min() < 0 or neg.max() >= b * t):
        raise IndexRangeError(f"sampled_negative_indices: values are flat frame indices in [0, {b * t}) "
                              f"(batch * frames), found {int(neg.min())}..{int(neg.max())}")
    return neg.astype(np.int64)


# ============================================================================================ classification
class Wav2Vec2ForSequenceClassification(Wav2Vec2PreTrainedModel):
    """Utterance classification: [weighted layer sum] -> projector -> mean over valid frames -> classifier.

    use_weighted_layer_sum: h = sum_i softmax(layer_weights)_i hidden_states[i] over the N + 1 hidden states
    (the pre-LN layout's last entry is before the final LayerNorm, as in transformers), else last_hidden_state.
    Pooling: the mean over all frames without attention_mask, over the valid frames with it.
    labels: int (B,) in [0, num_labels) (-100 ignored); loss = mean CE (always CE, as transformers' head).
    hidden_states are returned only when asked for (output_hidden_states), as transformers does.
    """

    def __init__(self, config: Wav2Vec2Config, dtype=np.float64):
        super().__init__(config, dtype)
        require_classification_labels(config)
        self.wav2vec2 = Wav2Vec2Model(config, self._dtype)
        n = config.num_hidden_layers + 1
        if config.use_weighted_layer_sum:
            self.layer_weights = Parameter(np.full(n, 1.0 / n, self._dtype))
        else:
            self.register_parameter("layer_weights", None)
        self.projector = Linear(config.hidden_size, config.classifier_proj_size, dtype=self._dtype)
        self.classifier = Linear(config.classifier_proj_size, config.num_labels, dtype=self._dtype)
        self.post_init()

    def post_init(self) -> None:
        super().post_init()
        if getattr(self, "layer_weights", None) is not None:
            self.layer_weights.data = np.full(self.layer_weights.shape, 1.0 / self.layer_weights.size, self._dtype)

    def forward(self, *, input_values=None, attention_mask=None, labels=None, output_attentions=None,
                output_hidden_states=None, rng=None):
        cfg = self.config
        want_hidden = cfg.output_hidden_states if output_hidden_states is None else output_hidden_states
        weighted = cfg.use_weighted_layer_sum
        b, _ = _check_input_values(input_values, self.dtype)
        if labels is not None:
            labels = _class_labels(labels, b, cfg.num_labels)
        out = self._base(input_values=input_values, attention_mask=attention_mask,
                         output_attentions=output_attentions, output_hidden_states=want_hidden or weighted, rng=rng)
        t = out.last_hidden_state.shape[1]
        stack = w = None
        if weighted:
            if len(out.hidden_states) != cfg.num_hidden_layers + 1:
                raise ConfigError(f"use_weighted_layer_sum: needs all {cfg.num_hidden_layers + 1} hidden states, "
                                  f"LayerDrop skipped some ({len(out.hidden_states)} left); set layerdrop=0")
            stack = np.stack(out.hidden_states, axis=1)                               # (B, N+1, T, E)
            w = softmax(self.layer_weights.data, -1)                                  # (N+1,)
            h = np.einsum("bntd,n->btd", stack, w)                                    # (B, T, E)
        else:
            h = out.last_hidden_state
        p = self.projector(h)                                                         # (B, T, Pc)
        if attention_mask is None:
            frames, count = None, np.full((b, 1), t, self.dtype)
            pooled = p.mean(axis=1)                                                   # (B, Pc)
        else:
            frames = self.wav2vec2.frame_mask(t, attention_mask)                      # (B, T) bool
            count = frames.sum(axis=1, keepdims=True).astype(self.dtype)             # (B, 1)
            pooled = np.where(frames[:, :, None], p, 0).sum(axis=1) / count           # mean over valid frames
        logits = self.classifier(pooled)                                              # (B, C)
        loss = head_loss(cross_entropy, logits, labels, dtype=self.dtype)
        self.save_for_backward(logits, labels, frames, count, stack, w, out.last_hidden_state.shape, want_hidden)
        return SequenceClassifierOutput(loss=loss, logits=logits,
                                        hidden_states=out.hidden_states if want_hidden else None,
                                        attentions=out.attentions)

    def _backward(self, grads):
        logits, labels, frames, count, stack, w, shape, want_hidden = self.saved()
        d_logits = logits_grad(grads, logits, self.dtype, cross_entropy_backward, labels)
        d_pooled = self.classifier.backward(d_logits)                                 # (B, Pc)
        b, t, _ = shape
        dp = np.broadcast_to(d_pooled[:, None, :] / count[:, :, None], (b, t, d_pooled.shape[1]))   # mean backward
        if frames is not None:
            dp = np.where(frames[:, :, None], dp, 0)                                  # padded frames were not pooled
        dh = self.projector.backward(np.ascontiguousarray(dp))                        # (B, T, E)
        d_hidden = grads.get("hidden_states") if want_hidden else None
        passthrough = {"attentions": grads["attentions"]} if "attentions" in grads else {}
        if stack is None:
            if d_hidden is not None:
                passthrough["hidden_states"] = d_hidden
            return self.wav2vec2.backward(last_hidden_state=dh, **passthrough)
        # h = sum_i w_i hs_i:  dL/dhs_i = w_i dh ;  dL/dw_i = <dh, hs_i> ;  w = softmax(layer_weights)
        dw = np.einsum("btd,bntd->n", dh, stack)
        self.layer_weights.accumulate(softmax_backward(dw, None, -1, y=w))
        d_hs = [dh * w[i] for i in range(len(w))]
        if d_hidden is not None:
            d_hs = [d if extra is None else d + extra for d, extra in zip(d_hs, d_hidden)]
        return self.wav2vec2.backward(last_hidden_state=np.zeros(shape, self.dtype), hidden_states=tuple(d_hs),
                                      **passthrough)


def _class_labels(labels, b, num_labels):
    if not isinstance(labels, np.ndarray) or not np.issubdtype(labels.dtype, np.integer):
        raise DTypeError(f"labels: expected an integer numpy array of class ids, got "
                         f"{getattr(labels, 'dtype', type(labels).__name__)}")
    if labels.size != b:
        raise ShapeError(f"labels: expected one class id per utterance, shape ({b},), got {labels.shape}")
    labels = labels.reshape(b)
    bad = (labels != -100) & ((labels < 0) | (labels >= num_labels))
    if bad.any():
        raise IndexRangeError(f"labels: class ids must be in [0, {num_labels}) or -100 (ignored), "
                              f"found {int(labels[bad][0])}")
    return labels


# ============================================================================================ CTC
class Wav2Vec2ForCTC(Wav2Vec2PreTrainedModel):
    """Per-frame character logits (B, T, vocab_size) and the CTC loss (blank = config.pad_token_id).

    labels: int (B, U); entries -100 are ignored and the blank id is accepted as trailing padding only
    (transformers drops both, wherever they are, and counts the rest as the target). A blank id FOLLOWED by a
    real label is a label equal to blank: refimpl raises IndexRangeError (transformers would silently drop
    it). Target length = the number of real labels of the row; input length = the frames of the row's audio
    (attention_mask.sum(-1) through the conv formula, or all samples).
    A target longer than its frames can never be aligned: refimpl raises ShapeError naming `labels`
    (transformers returns inf, or 0 with ctc_zero_infinity). A target that fits but cannot be aligned
    because repeated labels need a blank between them gives inf, or 0 (loss and gradient) with
    config.ctc_zero_infinity, as in torch.
    Loss: torch's ctc_loss with reduction config.ctc_loss_reduction ("sum" by default; "mean" divides each
    utterance's loss by its target length, then averages) on log_softmax(logits), computed in the model's
    dtype (transformers casts to float32 first). The CTC runs through dispatch("ctc", ...).
    """

    def __init__(self, config: Wav2Vec2Config, dtype=np.float64):
        super().__init__(config, dtype)
        if config.vocab_size is None:
            raise ConfigError("vocab_size: Wav2Vec2ForCTC needs config.vocab_size (the characters of its tokenizer)")
        if config.pad_token_id is None or not 0 <= config.pad_token_id < config.vocab_size:
            raise ConfigError(f"pad_token_id: the CTC blank must be a class id in [0, vocab_size={config.vocab_size}), "
                              f"got {config.pad_token_id}")
        self.wav2vec2 = Wav2Vec2Model(config, self._dtype)
        self.dropout = Dropout(config.final_dropout)
        self.lm_head = Linear(config.hidden_size, config.vocab_size, dtype=self._dtype)
        self.post_init()

    def _ctc_targets(self, labels, b):
        """(1-d concatenated targets, target_lengths (B,)) from (B, U) labels, transformers' rule + checks."""
        cfg = self.config
        blank = cfg.pad_token_id
        if not isinstance(labels, np.ndarray) or not np.issubdtype(labels.dtype, np.integer):
            raise DTypeError(f"labels: expected an integer numpy array (batch, target length), got "
                             f"{getattr(labels, 'dtype', type(labels).__name__)}")
        if labels.ndim != 2 or labels.shape[0] != b:
            raise ShapeError(f"labels: expected shape ({b}, max_target_length), got {labels.shape}")
        bad = (labels != -100) & ((labels < 0) | (labels >= cfg.vocab_size))
        if bad.any():
            raise IndexRangeError(f"labels: values must be in [0, vocab_size={cfg.vocab_size}) or -100 (ignored), "
                                  f"found {int(labels[bad][0])}")
        real = (labels != -100) & (labels != blank)                                   # (B, U)
        pos = np.arange(labels.shape[1])[None, :]
        last_real = np.where(real, pos, -1).max(axis=1, initial=-1)                   # (B,)
        inner_blank = (labels == blank) & (pos < last_real[:, None])
        if inner_blank.any():
            r, c = (int(i) for i in np.argwhere(inner_blank)[0])
            raise IndexRangeError(f"labels: row {r} has the blank id {blank} (config.pad_token_id) at position {c}, "
                                  f"before a real label; CTC targets cannot contain the blank (pad with -100, or "
                                  f"with the blank only after the last label)")
        return labels[real].astype(np.int64), real.sum(axis=1).astype(np.int64)       # masked_select order

    def forward(self, *, input_values=None, attention_mask=None, labels=None, output_attentions=None,
                output_hidden_states=None, rng=None):
        cfg = self.config
        require_rng(self, rng)
        b, s = _check_input_values(input_values, self.dtype)
        ctc = None
        if labels is not None:
            targets, target_lengths = self._ctc_targets(labels, b)
            self.wav2vec2.feature_extractor.check_input(input_values)                 # the audio gives frames
            input_lengths = (utterance_frames(cfg, attention_mask, (b, s)) if attention_mask is not None
                             else np.full(b, int(self.frame_lengths(s)), np.int64))   # (B,) frames per row
            long = np.flatnonzero(target_lengths > input_lengths)
            if long.size:
                r = int(long[0])
                raise ShapeError(f"labels: row {r} has {int(target_lengths[r])} labels but its audio gives only "
                                 f"{int(input_lengths[r])} frames; a CTC target cannot be longer than its frames")
            ctc = (targets, input_lengths, target_lengths)
        out = self._base(input_values=input_values, attention_mask=attention_mask,
                         output_attentions=output_attentions, output_hidden_states=output_hidden_states, rng=rng)
        h = apply_dropout(self.dropout, out.last_hidden_state, rng)
        logits = self.lm_head(h)                                                      # (B, T, V)
        loss, saved = None, None
        if ctc is not None:
            targets, input_lengths, target_lengths = ctc
            log_probs = np.ascontiguousarray(log_softmax(logits, -1).transpose(1, 0, 2))   # (T, B, V)
            kw = dict(blank=cfg.pad_token_id, reduction=cfg.ctc_loss_reduction, zero_infinity=cfg.ctc_zero_infinity)
            loss = np.asarray(dispatch("ctc", "ctc_loss")(log_probs, targets, input_lengths, target_lengths, **kw),
                              self.dtype)
            saved = (log_probs, targets, input_lengths, target_lengths, kw)
        self.save_for_backward(logits, saved)
        return CausalLMOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)

    def _backward(self, grads):
        logits, saved = self.saved()
        d_logits = logits_grad(grads, logits, self.dtype, _ctc_loss_backward, saved)
        dh = self.dropout.backward(self.lm_head.backward(d_logits))
        return self._base_backward(grads, last_hidden_state=dh)


def _ctc_loss_backward(g, logits, saved):
    """d CTC loss / d logits (B, T, V) for upstream g, through the log_softmax the forward took."""
    log_probs, targets, input_lengths, target_lengths, kw = saved
    d_lp = dispatch("ctc", "ctc_loss_backward")(g, log_probs, targets, input_lengths, target_lengths,
                                                **kw)                                 # (T, B, V) d loss / d log_probs
    lp = log_probs.transpose(1, 0, 2)                                                 # (B, T, V)
    return log_softmax_backward(d_lp.transpose(1, 0, 2), None, -1, y=lp)
