"""ViT: ViTConfig, ViTModel and ViTForImageClassification (see modeling.py)."""
from .config import ViTConfig
from .modeling import ViTForImageClassification, ViTModel, ViTPreTrainedModel

__all__ = ["ViTConfig", "ViTModel", "ViTPreTrainedModel", "ViTForImageClassification"]
