"""BERT in `refimpl diff`: every head of refimpl.models.bert; sentence-pair inputs."""
from .base import Task, TextAdapter, register_family

_M = "refimpl.models.bert.modeling:"


class BertAdapter(TextAdapter):
    name = "bert"
    model_type = "bert"
    hf_config_class = "BertConfig"
    ref_config_class = "refimpl.models.bert.config:BertConfig"
    token_types = True
    tiny_config = dict(vocab_size=40, hidden_size=24, num_hidden_layers=2, num_attention_heads=3,
                       intermediate_size=37, max_position_embeddings=12, type_vocab_size=2, pad_token_id=0)
    tasks = {
        "base": Task(_M + "BertModel", "BertModel"),
        "pretraining": Task(_M + "BertForPreTraining", "BertForPreTraining", "pretraining"),
        "masked-lm": Task(_M + "BertForMaskedLM", "BertForMaskedLM", "mlm"),
        "next-sentence-prediction": Task(_M + "BertForNextSentencePrediction", "BertForNextSentencePrediction", "nsp"),
        "sequence-classification": Task(_M + "BertForSequenceClassification", "BertForSequenceClassification",
                                        "class", {"num_labels": 3}),
        "token-classification": Task(_M + "BertForTokenClassification", "BertForTokenClassification", "token",
                                     {"num_labels": 4}),
        "question-answering": Task(_M + "BertForQuestionAnswering", "BertForQuestionAnswering", "qa"),
    }


register_family(BertAdapter())
