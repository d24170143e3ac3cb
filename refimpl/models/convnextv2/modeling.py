"""ConvNeXt V2 (Woo et al., 2023): ConvNeXT blocks with global response normalisation.

    block: x + drop_path(W_2 · GRN(act(W_1 · LayerNorm(dwconv7x7(x)))))      no layer scale γ

Everything else (stem, stages, downsampling, pooled LayerNorm, the classification head and its losses,
drop path) is ConvNeXT's: the classes below are refimpl.models.convnext's with GRN switched on and the
checkpoint prefix `convnextv2`. GRN itself: refimpl.nn.grn.GlobalResponseNorm (weight and bias of shape
(1, 1, 1, 4 dim), initialised to 0 as in transformers, so a fresh block's GRN is the identity).
"""
from __future__ import annotations

import numpy as np

from ..convnext.modeling import ConvNextForImageClassification, ConvNextModel, ConvNextPreTrainedModel
from ..outputs import BaseModelOutputWithPoolingAndNoAttention, ImageClassifierOutputWithNoAttention
from .config import ConvNextV2Config

__all__ = ["ConvNextV2Model", "ConvNextV2PreTrainedModel", "ConvNextV2ForImageClassification",
           "BaseModelOutputWithPoolingAndNoAttention", "ImageClassifierOutputWithNoAttention"]


class ConvNextV2PreTrainedModel(ConvNextPreTrainedModel):
    config_class = ConvNextV2Config
    base_model_prefix = "convnextv2"


class ConvNextV2Model(ConvNextV2PreTrainedModel, ConvNextModel):
    """ConvNextModel with GRN blocks (see refimpl.models.convnext.modeling.ConvNextModel for the I/O)."""

    use_grn = True

    def __init__(self, config: ConvNextV2Config, dtype=np.float64):
        ConvNextModel.__init__(self, config, dtype)


class ConvNextV2ForImageClassification(ConvNextV2PreTrainedModel, ConvNextForImageClassification):
    """classifier(pooler_output) with the ConvNeXT head's losses; the base model is `self.convnextv2`."""

    base_model_class = ConvNextV2Model

    def __init__(self, config: ConvNextV2Config, dtype=np.float64):
        ConvNextForImageClassification.__init__(self, config, dtype)
