"""GPT2Config: the fields of a Hugging Face GPT-2 config.json, with transformers' defaults (gpt2 small)."""
from __future__ import annotations

from typing import Optional, Union

from ...core.config import PretrainedConfig
from ...core.errors import ConfigError
from ...nn.activation import ACT2CLS

__all__ = ["GPT2Config"]


class GPT2Config(PretrainedConfig):
    """GPT-2 hyper-parameters (transformers.GPT2Config names and defaults).

    The HF aliases read and write the real fields: hidden_size = n_embd, num_hidden_layers = n_layer,
    num_attention_heads = n_head, max_position_embeddings = n_positions.
    n_inner=None means 4 * n_embd. activation_function defaults to "gelu_new" (the tanh form).
    Attention scores are scaled by 1/sqrt(head_dim) when scale_attn_weights, and additionally by
    1/(layer_idx + 1) when scale_attn_by_inverse_layer_idx.
    reorder_and_upcast_attn only changes how transformers' eager attention rounds in low precision
    (scale before the matmul, softmax in float32); the math is the same, and transformers' default sdpa
    attention ignores it, so refimpl accepts it and computes the ordinary way in the model dtype.
    summary_* fields belong to GPT2DoubleHeadsModel (not implemented); they are kept for round trips.
    add_cross_attention must stay False (GPT-2 as an encoder-decoder's decoder is not implemented).
    bos/eos default to 50256 as in transformers: a tiny test vocabulary must set them (and pad_token_id).
    """

    model_type = "gpt2"
    attribute_map = {"hidden_size": "n_embd", "max_position_embeddings": "n_positions",
                     "num_attention_heads": "n_head", "num_hidden_layers": "n_layer"}

    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: Optional[int] = None
    activation_function: str = "gelu_new"
    resid_pdrop: float = 0.1
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02
    summary_type: str = "cls_index"
    summary_use_proj: bool = True
    summary_activation: Optional[str] = None
    summary_proj_to_labels: bool = True
    summary_first_dropout: float = 0.1
    scale_attn_weights: bool = True
    use_cache: bool = True
    bos_token_id: Optional[int] = 50256
    eos_token_id: Optional[Union[int, list]] = 50256
    pad_token_id: Optional[int] = None
    scale_attn_by_inverse_layer_idx: bool = False
    reorder_and_upcast_attn: bool = False
    add_cross_attention: bool = False
    tie_word_embeddings: bool = True

    @property
    def inner_dim(self) -> int:
        """The feed-forward width: n_inner, or 4 * n_embd when n_inner is None."""
        return self.n_inner if self.n_inner is not None else 4 * self.n_embd

    def __post_init__(self):
        self._check_positive("vocab_size", "n_positions", "n_embd", "n_layer", "n_head")
        if self.n_inner is not None and self.n_inner < 1:
            raise ConfigError(f"GPT2Config.n_inner: expected None or a positive integer, got {self.n_inner}")
        self._check_divides("n_head", "n_embd")
        self._check_known(("activation_function",), ACT2CLS, "activation")
        self._check_probability("resid_pdrop", "embd_pdrop", "attn_pdrop", "summary_first_dropout")
        self._check_non_negative("layer_norm_epsilon")
        if self.add_cross_attention:
            raise ConfigError("GPT2Config.add_cross_attention: GPT-2 with cross-attention (as a decoder of an "
                              "encoder-decoder model) is not implemented; it must be False")
