"""ModelOutput types shared by the model families; field names and order are transformers'."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..core.model import ModelOutput

__all__ = ["BaseModelOutput", "BaseModelOutputWithPooling", "MaskedLMOutput", "NextSentencePredictorOutput",
           "SequenceClassifierOutput", "TokenClassifierOutput", "QuestionAnsweringModelOutput"]


class BaseModelOutput(ModelOutput):
    """Encoder output: last_hidden_state (B, L, E); hidden_states (N+1 arrays) and attentions
    (N arrays (B, H, L, L)) when asked."""
    last_hidden_state: Optional[np.ndarray] = None
    hidden_states: Optional[tuple] = None
    attentions: Optional[tuple] = None


class BaseModelOutputWithPooling(ModelOutput):
    """Encoder output plus pooler_output (B, E) (BERT's tanh(W h[:, 0]), ViT's pooler)."""
    last_hidden_state: Optional[np.ndarray] = None
    pooler_output: Optional[np.ndarray] = None
    hidden_states: Optional[tuple] = None
    attentions: Optional[tuple] = None


class MaskedLMOutput(ModelOutput):
    """loss (0-d, with labels), logits (B, L, V), hidden_states, attentions."""
    loss: Optional[np.ndarray] = None
    logits: Optional[np.ndarray] = None
    hidden_states: Optional[tuple] = None
    attentions: Optional[tuple] = None


class NextSentencePredictorOutput(MaskedLMOutput):
    """loss (0-d, with labels), logits (B, 2): is-next / random, hidden_states, attentions."""
    pass


class SequenceClassifierOutput(MaskedLMOutput):
    """loss (0-d, with labels), logits (B, num_labels), hidden_states, attentions."""
    pass


class TokenClassifierOutput(MaskedLMOutput):
    """loss (0-d, with labels), logits (B, L, num_labels), hidden_states, attentions."""
    pass


class QuestionAnsweringModelOutput(ModelOutput):
    """loss (0-d, with both positions), start_logits and end_logits (B, L), hidden_states, attentions."""
    loss: Optional[np.ndarray] = None
    start_logits: Optional[np.ndarray] = None
    end_logits: Optional[np.ndarray] = None
    hidden_states: Optional[tuple] = None
    attentions: Optional[tuple] = None


# ---------------------------------------------------------------------------------- decoders with a KV cache
# transformers 5 names the cache field `cache` (holding a Cache object) and keeps `past_key_values` as a
# deprecated alias; refimpl's field is `past_key_values` (a tuple over layers of (key, value) arrays,
# each (B, H, L, Dh)) at the same position, readable as `.cache` too.
class _WithPastAlias(ModelOutput):
    @property
    def cache(self):
        """transformers 5's name of `past_key_values` (read-only alias)."""
        return self._values.get("past_key_values")


class BaseModelOutputWithPastAndCrossAttentions(_WithPastAlias):
    """Decoder output: last_hidden_state (B, L, E), past_key_values (per layer (k, v), each
    (B, H, L_total, Dh)), hidden_states, attentions."""
    last_hidden_state: Optional[np.ndarray] = None
    past_key_values: Optional[tuple] = None
    hidden_states: Optional[tuple] = None
    attentions: Optional[tuple] = None
    cross_attentions: Optional[tuple] = None


class CausalLMOutputWithCrossAttentions(_WithPastAlias):
    """loss (0-d, labels shifted by one), logits (B, L, V), past_key_values, hidden_states, attentions."""
    loss: Optional[np.ndarray] = None
    logits: Optional[np.ndarray] = None
    past_key_values: Optional[tuple] = None
    hidden_states: Optional[tuple] = None
    attentions: Optional[tuple] = None
    cross_attentions: Optional[tuple] = None


class SequenceClassifierOutputWithPast(_WithPastAlias):
    """loss, logits (B, num_labels) at the last non-pad token, past_key_values, hidden_states, attentions."""
    loss: Optional[np.ndarray] = None
    logits: Optional[np.ndarray] = None
    past_key_values: Optional[tuple] = None
    hidden_states: Optional[tuple] = None
    attentions: Optional[tuple] = None


__all__ += ["BaseModelOutputWithPastAndCrossAttentions", "CausalLMOutputWithCrossAttentions",
            "SequenceClassifierOutputWithPast"]


# ---------------------------------------------------------------------------------- image models
class ImageClassifierOutput(MaskedLMOutput):
    """ViT-style classifier: loss, logits, hidden_states, attentions."""


class BaseModelOutputWithPoolingAndNoAttention(ModelOutput):
    """Convolutional backbones (ConvNeXT): last_hidden_state (B, C, H, W), pooler_output, hidden_states."""
    last_hidden_state: Optional[np.ndarray] = None
    pooler_output: Optional[np.ndarray] = None
    hidden_states: Optional[tuple] = None


class ImageClassifierOutputWithNoAttention(ModelOutput):
    """loss (0-d, with labels), logits (B, num_labels), hidden_states (no attentions in a ConvNet)."""
    loss: Optional[np.ndarray] = None
    logits: Optional[np.ndarray] = None
    hidden_states: Optional[tuple] = None


__all__ += ["ImageClassifierOutput", "BaseModelOutputWithPoolingAndNoAttention",
            "ImageClassifierOutputWithNoAttention"]


# ---------------------------------------------------------------------------------- speech models
class Wav2Vec2BaseModelOutput(ModelOutput):
    """Wav2Vec2Model: last_hidden_state (B, T, E), extract_features (B, T, conv_dim[-1]) (the layer-normed conv
    features), hidden_states, attentions."""
    last_hidden_state: Optional[np.ndarray] = None
    extract_features: Optional[np.ndarray] = None
    hidden_states: Optional[tuple] = None
    attentions: Optional[tuple] = None


class CausalLMOutput(ModelOutput):
    """A per-frame / per-token head without a cache (Wav2Vec2ForCTC): loss, logits, hidden_states, attentions."""
    loss: Optional[np.ndarray] = None
    logits: Optional[np.ndarray] = None
    hidden_states: Optional[tuple] = None
    attentions: Optional[tuple] = None


__all__ += ["Wav2Vec2BaseModelOutput", "CausalLMOutput"]
