"""ConvNeXt V2 in `refimpl diff` (GRN weights re-drawn by the default randomize: they start at 0)."""
from .base import ImageAdapter, Task, register_family

_M = "refimpl.models.convnextv2.modeling:"


class ConvNextV2Adapter(ImageAdapter):
    name = "convnextv2"
    model_type = "convnextv2"
    hf_config_class = "ConvNextV2Config"
    attn_implementation = None
    ref_config_class = "refimpl.models.convnextv2.config:ConvNextV2Config"
    tiny_config = dict(num_channels=3, patch_size=2, num_stages=3, hidden_sizes=[8, 12, 16], depths=[2, 1, 2],
                       image_size=16)
    tasks = {
        "base": Task(_M + "ConvNextV2Model", "ConvNextV2Model"),
        "image-classification": Task(_M + "ConvNextV2ForImageClassification", "ConvNextV2ForImageClassification",
                                     "class", {"num_labels": 3}),
    }


register_family(ConvNextV2Adapter())
