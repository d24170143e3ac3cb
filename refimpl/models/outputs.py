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
