"""DistilBertConfig: the fields of a Hugging Face DistilBERT config.json, with transformers' defaults."""
from __future__ import annotations

from typing import Optional, Union

from ...core.config import PretrainedConfig
from ...nn.activation import ACT2CLS

__all__ = ["DistilBertConfig"]


class DistilBertConfig(PretrainedConfig):
    """DistilBERT hyper-parameters (transformers.DistilBertConfig names and defaults: distilbert-base-uncased).

    DistilBERT's own names: dim (hidden size), n_layers, n_heads, hidden_dim (feed-forward size),
    activation, dropout, attention_dropout; hidden_size / num_attention_heads / num_hidden_layers are
    aliases, as in transformers. sinusoidal_pos_embds only decides the initial position table of a
    fresh model (checkpoints carry a learned table, PITFALLS 2.2); it stays trainable, as in
    transformers 5. Every LayerNorm uses eps 1e-12 (hard-coded in transformers, not a config field).
    """

    model_type = "distilbert"
    attribute_map = {"hidden_size": "dim", "num_attention_heads": "n_heads", "num_hidden_layers": "n_layers"}

    vocab_size: int = 30522
    max_position_embeddings: int = 512
    sinusoidal_pos_embds: bool = False
    n_layers: int = 6
    n_heads: int = 12
    dim: int = 768
    hidden_dim: int = 4 * 768
    dropout: float = 0.1
    attention_dropout: float = 0.1
    activation: str = "gelu"
    initializer_range: float = 0.02
    qa_dropout: float = 0.1
    seq_classif_dropout: float = 0.2
    pad_token_id: Optional[int] = 0
    eos_token_id: Optional[Union[int, list]] = None
    bos_token_id: Optional[int] = None
    tie_word_embeddings: bool = True

    def __post_init__(self):
        self._check_positive("vocab_size", "max_position_embeddings", "n_layers", "n_heads", "dim", "hidden_dim")
        self._check_divides("n_heads", "dim")
        self._check_known(("activation",), ACT2CLS, "activation")
        self._check_probability("dropout", "attention_dropout", "qa_dropout", "seq_classif_dropout")
        self._check_index("pad_token_id", "vocab_size")
