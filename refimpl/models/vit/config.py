"""ViTConfig: the fields of a Hugging Face ViT config.json, with transformers' defaults (vit-base-patch16-224)."""
from __future__ import annotations

from typing import Optional, Tuple, Union

from ...core.config import PretrainedConfig
from ...core.errors import ConfigError
from ...nn.activation import ACT2CLS

__all__ = ["ViTConfig", "as_pair"]


def as_pair(value, name: str) -> Tuple[int, int]:
    """An int or a pair of ints (height, width), as transformers reads image_size / patch_size."""
    items = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(items, (list, tuple)) or len(items) != 2 or \
            any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in items):
        raise ConfigError(f"{name}: expected a positive int or a pair of positive ints (height, width), got {value!r}")
    return int(items[0]), int(items[1])


class ViTConfig(PretrainedConfig):
    """ViT hyper-parameters (transformers.ViTConfig names and defaults).

    image_size / patch_size: an int or (height, width). pooler_output_size None means hidden_size (and
    is written as hidden_size, as transformers does). encoder_stride belongs to the masked-image-modeling
    head, which refimpl does not implement; it is kept so configs round-trip.
    """

    model_type = "vit"

    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    image_size: Union[int, list] = 224
    patch_size: Union[int, list] = 16
    num_channels: int = 3
    qkv_bias: bool = True
    encoder_stride: int = 16
    pooler_output_size: Optional[int] = None
    pooler_act: str = "tanh"

    def __post_init__(self):
        self._check_positive("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                             "num_channels")
        self._check_divides("num_attention_heads", "hidden_size")
        image = as_pair(self.image_size, "ViTConfig.image_size")
        patch = as_pair(self.patch_size, "ViTConfig.patch_size")
        if image[0] < patch[0] or image[1] < patch[1]:
            raise ConfigError(f"ViTConfig.image_size: {image} is smaller than one patch (patch_size {patch})")
        self._check_known(("hidden_act", "pooler_act"), ACT2CLS, "activation")
        self._check_probability("hidden_dropout_prob", "attention_probs_dropout_prob")
        self._check_non_negative("layer_norm_eps")
        if not self.pooler_output_size:                 # transformers: None (or 0) -> hidden_size
            self.pooler_output_size = self.hidden_size
        elif self.pooler_output_size < 1:
            raise ConfigError(f"ViTConfig.pooler_output_size: expected a positive integer, got "
                              f"{self.pooler_output_size}")

    @property
    def image_hw(self) -> Tuple[int, int]:
        """image_size as (height, width)."""
        return as_pair(self.image_size, "image_size")

    @property
    def patch_hw(self) -> Tuple[int, int]:
        """patch_size as (height, width)."""
        return as_pair(self.patch_size, "patch_size")
