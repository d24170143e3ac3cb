"""ConvNeXT in `refimpl diff` (layer scale re-drawn by the default randomize: it starts at 1e-6)."""
from .base import ImageAdapter, Task, register_family

_M = "refimpl.models.convnext.modeling:"


class ConvNextAdapter(ImageAdapter):
    name = "convnext"
    model_type = "convnext"
    hf_config_class = "ConvNextConfig"
    attn_implementation = None
    ref_config_class = "refimpl.models.convnext.config:ConvNextConfig"
    tiny_config = dict(num_channels=3, patch_size=2, num_stages=3, hidden_sizes=[8, 12, 16], depths=[2, 1, 2],
                       image_size=16)
    tasks = {
        "base": Task(_M + "ConvNextModel", "ConvNextModel"),
        "image-classification": Task(_M + "ConvNextForImageClassification", "ConvNextForImageClassification",
                                     "class", {"num_labels": 3}),
    }


register_family(ConvNextAdapter())
