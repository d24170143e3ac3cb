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
        self._check_positive("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                             "intermediate_size", "max_position_embeddings", "type_vocab_size")
        self._check_divides("num_attention_heads", "hidden_size")
        if self.position_embedding_type != "absolute":
            raise ConfigError(f"BertConfig.position_embedding_type: only 'absolute' is implemented (transformers 5 "
                              f"has no other), got {self.position_embedding_type!r}")
        if self.is_decoder or self.add_cross_attention:
            raise ConfigError("BertConfig.is_decoder / add_cross_attention: refimpl's BERT is the bidirectional "
                              "encoder only; both must be False")
        self._check_known(("hidden_act",), ACT2CLS, "activation")
        self._check_probability("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout")
        self._check_index("pad_token_id", "vocab_size")
        self._check_non_negative("layer_norm_eps")
