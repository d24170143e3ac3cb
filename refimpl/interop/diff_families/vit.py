"""ViT in `refimpl diff`. transformers 5 renames ViT's modules on load (vit.layers.N.attention.q_proj for
the checkpoint's vit.encoder.layer.N.attention.attention.query); the diff maps them back by parameter
through transformers' own revert_weight_conversion, so no mapping lives here."""
from .base import ImageAdapter, Task, register_family

_M = "refimpl.models.vit.modeling:"


class ViTAdapter(ImageAdapter):
    name = "vit"
    model_type = "vit"
    hf_config_class = "ViTConfig"
    ref_config_class = "refimpl.models.vit.config:ViTConfig"
    tiny_config = dict(hidden_size=24, num_hidden_layers=2, num_attention_heads=3, intermediate_size=37,
                       image_size=12, patch_size=4, num_channels=3)
    tasks = {
        "base": Task(_M + "ViTModel", "ViTModel"),
        "image-classification": Task(_M + "ViTForImageClassification", "ViTForImageClassification", "class",
                                     {"num_labels": 3}),
    }


register_family(ViTAdapter())
