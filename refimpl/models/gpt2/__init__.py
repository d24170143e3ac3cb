"""GPT-2: GPT2Config, GPT2Model (with a key/value cache) and its task heads (see modeling.py)."""
from .config import GPT2Config
from .modeling import (GPT2ForQuestionAnswering, GPT2ForSequenceClassification, GPT2ForTokenClassification,
                       GPT2LMHeadModel, GPT2Model, GPT2PreTrainedModel)

__all__ = ["GPT2Config", "GPT2Model", "GPT2PreTrainedModel", "GPT2LMHeadModel", "GPT2ForSequenceClassification",
           "GPT2ForTokenClassification", "GPT2ForQuestionAnswering"]
