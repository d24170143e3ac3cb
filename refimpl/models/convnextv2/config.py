"""ConvNextV2Config: the fields of a Hugging Face ConvNeXt V2 config.json, with transformers' defaults."""
from __future__ import annotations

from ..convnext.config import ConvNextConfigBase

__all__ = ["ConvNextV2Config"]


class ConvNextV2Config(ConvNextConfigBase):
    """ConvNeXt V2 hyper-parameters (transformers.ConvNextV2Config): ConvNeXT's fields without
    layer_scale_init_value (V2 blocks have GRN instead of a layer scale)."""

    model_type = "convnextv2"
