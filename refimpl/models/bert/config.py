"""BertConfig: the fields of a Hugging Face BERT config.json, with transformers' defaults."""
from __future__ import annotations

from typing import Optional, Union

from ...core.config import PretrainedConfig
from ...core.errors import ConfigError
from ...nn.activation import ACT2CLS

__all__ = ["BertConfig"]


class BertConfig(PretrainedConfig):
    """BERT hyper-parameters (transformers.BertConfig names and defaults: bert-base-uncased).

    Only the bidirectional encoder is implemented: `position_embedding_type` must be "absolute"
    (older configs carry "relative_key"/"relative_key_query", which transformers 5 dropped) and
    `is_decoder` / `add_cross_attention` must stay False. `classifier_dropout=None` means
    hidden_dropout_prob, as in transformers. num_labels / id2label / problem_type come from
    PretrainedConfig.
    """

    model_type = "bert"

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: Optional[int] = 0
    position_embedding_type: str = "absolute"
    use_cache: bool = True
    classifier_dropout: Optional[float] = None
    is_decoder: bool = False
    add_cross_attention: bool = False
    bos_token_id: Optional[int] = None
    eos_token_id: Optional[Union[int, list]] = None
    tie_word_embeddings: bool = True

    def __post_init__(self):
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                     "max_position_embeddings", "type_vocab_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"BertConfig.{name}: expected a positive integer, got {getattr(self, name)}")
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(f"BertConfig.num_attention_heads: must divide hidden_size={self.hidden_size}, "
                              f"got {self.num_attention_heads}")
        if self.position_embedding_type != "absolute":
            raise ConfigError(f"BertConfig.position_embedding_type: only 'absolute' is implemented (transformers 5 "
                              f"has no other), got {self.position_embedding_type!r}")
        if self.is_decoder or self.add_cross_attention:
            raise ConfigError("BertConfig.is_decoder / add_cross_attention: refimpl's BERT is the bidirectional "
                              "encoder only; both must be False")
        if self.hidden_act not in ACT2CLS:
            raise ConfigError(f"BertConfig.hidden_act: unknown activation {self.hidden_act!r}; known: "
                              f"{sorted(ACT2CLS)}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"):
            p = getattr(self, name)
            if p is not None and not 0.0 <= p <= 1.0:
                raise ConfigError(f"BertConfig.{name}: expected a probability in [0, 1], got {p}")
        if self.pad_token_id is not None and not 0 <= self.pad_token_id < self.vocab_size:
            raise ConfigError(f"BertConfig.pad_token_id: must lie in [0, vocab_size={self.vocab_size}), "
                              f"got {self.pad_token_id}")
        if self.layer_norm_eps < 0:
            raise ConfigError(f"BertConfig.layer_norm_eps: expected a non-negative float, got {self.layer_norm_eps}")
