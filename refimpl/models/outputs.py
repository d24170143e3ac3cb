"""ModelOutput types shared by the model families; field names and order are transformers'."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..core.model import ModelOutput

__all__ = ["BaseModelOutput", "BaseModelOutputWithPooling", "MaskedLMOutput", "NextSentencePredictorOutput",
           "SequenceClassifierOutput", "TokenClassifierOutput", "QuestionAnsweringModelOutput"]


class BaseModelOutput(ModelOutput):
    last_hidden_state: Optional[np.ndarray] = None
    hidden_states: Optional[tuple] = None
    attentions: Optional[tuple] = None


class BaseModelOutputWithPooling(ModelOutput):
    last_hidden_state: Optional[np.ndarray] = None
    pooler_output: Optional[np.ndarray] = None
    hidden_states: Optional[tuple] = None
    attentions: Optional[tuple] = None


class MaskedLMOutput(ModelOutput):
    loss: Optional[np.ndarray] = None
    logits: Optional[np.ndarray] = None
    hidden_states: Optional[tuple] = None
    attentions: Optional[tuple] = None


class NextSentencePredictorOutput(MaskedLMOutput):
    pass


class SequenceClassifierOutput(MaskedLMOutput):
    pass


class TokenClassifierOutput(MaskedLMOutput):
    pass


class QuestionAnsweringModelOutput(ModelOutput):
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
    last_hidden_state: Optional[np.ndarray] = None
    past_key_values: Optional[tuple] = None
    hidden_states: Optional[tuple] = None
    attentions: Optional[tuple] = None
    cross_attentions: Optional[tuple] = None


class CausalLMOutputWithCrossAttentions(_WithPastAlias):
    loss: Optional[np.ndarray] = None
    logits: Optional[np.ndarray] = None
    past_key_values: Optional[tuple] = None
    hidden_states: Optional[tuple] = None
    attentions: Optional[tuple] = None
    cross_attentions: Optional[tuple] = None


class SequenceClassifierOutputWithPast(_WithPastAlias):
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
