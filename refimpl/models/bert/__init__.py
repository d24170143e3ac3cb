"""BERT: BertConfig, BertModel and its task heads (see modeling.py)."""
from .config import BertConfig
from .modeling import (BertForMaskedLM, BertForNextSentencePrediction, BertForPreTraining, BertForQuestionAnswering,
                       BertForSequenceClassification, BertForTokenClassification, BertModel, BertPreTrainedModel)

__all__ = ["BertConfig", "BertModel", "BertPreTrainedModel", "BertForPreTraining", "BertForMaskedLM",
           "BertForNextSentencePrediction", "BertForSequenceClassification", "BertForTokenClassification",
           "BertForQuestionAnswering"]
