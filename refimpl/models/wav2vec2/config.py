"""Wav2Vec2Config: the fields of a Hugging Face Wav2Vec2 config.json, with transformers' defaults."""
from __future__ import annotations

from typing import Optional, Union

from ...core.config import PretrainedConfig
from ...core.errors import ConfigError
from ...nn.activation import ACT2CLS

__all__ = ["Wav2Vec2Config"]


class Wav2Vec2Config(PretrainedConfig):
    """Wav2Vec2 hyper-parameters (transformers.Wav2Vec2Config names and defaults: wav2vec2-base-960h).

    The two published layouts:
      feat_extract_norm="group", do_stable_layer_norm=False   (wav2vec2-base): GroupNorm on the first
          conv layer only, post-LN Transformer (LayerNorm after the positional conv embedding and in
          each layer after the residual sum);
      feat_extract_norm="layer", do_stable_layer_norm=True    (wav2vec2-large-lv60): LayerNorm over the
          channels after every conv layer, pre-LN Transformer with a final LayerNorm.
    (The other two combinations are accepted, as transformers does.)

    Not implemented (ConfigError): the adapter stack (add_adapter=True) and attention adapters
    (adapter_attn_dim); the XVector / TDNN fields are kept but unused. `num_feat_extract_layers` is
    derived (len(conv_dim)) and `output_hidden_size` defaults to hidden_size, as in transformers.
    The config default ctc_loss_reduction is "sum", as in transformers.
    """

    model_type = "wav2vec2"

    vocab_size: Optional[int] = 32
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout: float = 0.1
    activation_dropout: float = 0.1
    attention_dropout: float = 0.1
    feat_proj_dropout: float = 0.0
    feat_quantizer_dropout: float = 0.0
    final_dropout: float = 0.1
    layerdrop: float = 0.1
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-5
    feat_extract_norm: str = "group"
    feat_extract_activation: str = "gelu"
    conv_dim: list = (512, 512, 512, 512, 512, 512, 512)
    conv_stride: list = (5, 2, 2, 2, 2, 2, 2)
    conv_kernel: list = (10, 3, 3, 3, 3, 2, 2)
    conv_bias: bool = False
    num_conv_pos_embeddings: int = 128
    num_conv_pos_embedding_groups: int = 16
    do_stable_layer_norm: bool = False
    apply_spec_augment: bool = True
    mask_time_prob: float = 0.05
    mask_time_length: int = 10
    mask_time_min_masks: int = 2
    mask_feature_prob: float = 0.0
    mask_feature_length: int = 10
    mask_feature_min_masks: int = 0
    num_codevectors_per_group: int = 320
    num_codevector_groups: int = 2
    contrastive_logits_temperature: float = 0.1
    num_negatives: int = 100
    codevector_dim: int = 256
    proj_codevector_dim: int = 256
    diversity_loss_weight: float = 0.1
    ctc_loss_reduction: str = "sum"
    ctc_zero_infinity: bool = False
    use_weighted_layer_sum: bool = False
    classifier_proj_size: int = 256
    tdnn_dim: list = (512, 512, 512, 512, 1500)
    tdnn_kernel: list = (5, 3, 3, 1, 1)
    tdnn_dilation: list = (1, 2, 3, 1, 1)
    xvector_output_dim: int = 512
    pad_token_id: Optional[int] = 0
    bos_token_id: Optional[int] = 1
    eos_token_id: Optional[Union[int, list]] = 2
    add_adapter: bool = False
    adapter_kernel_size: int = 3
    adapter_stride: int = 2
    num_adapter_layers: int = 3
    output_hidden_size: Optional[int] = None
    adapter_attn_dim: Optional[int] = None
    num_feat_extract_layers: Optional[int] = None

    def __post_init__(self):
        name = type(self).__name__
        self.num_feat_extract_layers = len(self.conv_dim)
        if self.output_hidden_size is None:
            self.output_hidden_size = self.hidden_size
        self._check_positive("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                             "num_conv_pos_embeddings", "num_conv_pos_embedding_groups", "mask_time_length",
                             "mask_feature_length", "num_codevectors_per_group", "num_codevector_groups",
                             "codevector_dim", "proj_codevector_dim", "classifier_proj_size", "num_negatives")
        n = len(self.conv_dim)
        if n < 1 or len(self.conv_stride) != n or len(self.conv_kernel) != n:
            raise ConfigError(f"{name}.conv_dim / conv_stride / conv_kernel: expected three lists of the same "
                              f"positive length, got lengths {len(self.conv_dim)}, {len(self.conv_stride)}, "
                              f"{len(self.conv_kernel)}")
        for key in ("conv_dim", "conv_stride", "conv_kernel"):
            vals = getattr(self, key)
            if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in vals):
                raise ConfigError(f"{name}.{key}: expected positive integers, got {vals}")
        if self.feat_extract_norm not in ("group", "layer"):
            raise ConfigError(f"{name}.feat_extract_norm: expected 'group' or 'layer', got {self.feat_extract_norm!r}")
        self._check_known(("hidden_act", "feat_extract_activation"), ACT2CLS, "activation")
        self._check_divides("num_attention_heads", "hidden_size")
        self._check_divides("num_conv_pos_embedding_groups", "hidden_size")
        self._check_divides("num_codevector_groups", "codevector_dim")
        self._check_probability("hidden_dropout", "activation_dropout", "attention_dropout", "feat_proj_dropout",
                                "feat_quantizer_dropout", "final_dropout", "layerdrop", "mask_time_prob",
                                "mask_feature_prob")
        self._check_non_negative("mask_time_min_masks", "mask_feature_min_masks")
        if self.contrastive_logits_temperature <= 0:
            raise ConfigError(f"{name}.contrastive_logits_temperature: expected a positive float, "
                              f"got {self.contrastive_logits_temperature}")
        if self.ctc_loss_reduction not in ("mean", "sum", "none"):
            raise ConfigError(f"{name}.ctc_loss_reduction: expected 'mean', 'sum' or 'none', "
                              f"got {self.ctc_loss_reduction!r}")
        if self.vocab_size is not None and self.vocab_size < 1:
            raise ConfigError(f"{name}.vocab_size: expected a positive integer or None, got {self.vocab_size}")
        if self.add_adapter:
            raise ConfigError(f"{name}.add_adapter: the convolutional adapter stack is not implemented in refimpl")
        if self.adapter_attn_dim is not None:
            raise ConfigError(f"{name}.adapter_attn_dim: attention adapters are not implemented in refimpl")
        self._check_non_negative("layer_norm_eps")

    @property
    def inputs_to_logits_ratio(self) -> int:
        """Audio samples per output frame: the product of the conv strides."""
        r = 1
        for s in self.conv_stride:
            r *= s
        return r
