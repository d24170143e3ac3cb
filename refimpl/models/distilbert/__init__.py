"""DistilBERT: DistilBertConfig, DistilBertModel and its task heads (see modeling.py)."""
from .config import DistilBertConfig
from .modeling import (DistilBertForMaskedLM, DistilBertForQuestionAnswering, DistilBertForSequenceClassification,
                       DistilBertForTokenClassification, DistilBertModel, DistilBertPreTrainedModel)

__all__ = ["DistilBertConfig", "DistilBertModel", "DistilBertPreTrainedModel", "DistilBertForMaskedLM",
           "DistilBertForSequenceClassification", "DistilBertForTokenClassification", "DistilBertForQuestionAnswering"]
