"""DistilBERT in `refimpl diff`: every head of refimpl.models.distilbert (no token types)."""
from .base import Task, TextAdapter, register_family

_M = "refimpl.models.distilbert.modeling:"


class DistilBertAdapter(TextAdapter):
    name = "distilbert"
    model_type = "distilbert"
    hf_config_class = "DistilBertConfig"
    ref_config_class = "refimpl.models.distilbert.config:DistilBertConfig"
    tiny_config = dict(vocab_size=40, dim=24, n_layers=2, n_heads=3, hidden_dim=37, max_position_embeddings=12,
                       pad_token_id=0)
    tasks = {
        "base": Task(_M + "DistilBertModel", "DistilBertModel"),
        "masked-lm": Task(_M + "DistilBertForMaskedLM", "DistilBertForMaskedLM", "mlm"),
        "sequence-classification": Task(_M + "DistilBertForSequenceClassification",
                                        "DistilBertForSequenceClassification", "class", {"num_labels": 3}),
        "token-classification": Task(_M + "DistilBertForTokenClassification", "DistilBertForTokenClassification",
                                     "token", {"num_labels": 4}),
        "question-answering": Task(_M + "DistilBertForQuestionAnswering", "DistilBertForQuestionAnswering", "qa"),
    }


register_family(DistilBertAdapter())
