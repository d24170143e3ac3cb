"""ConvNeXT: ConvNextConfig, ConvNextModel and ConvNextForImageClassification (see modeling.py)."""
from .config import ConvNextConfig
from .modeling import ConvNextForImageClassification, ConvNextModel, ConvNextPreTrainedModel

__all__ = ["ConvNextConfig", "ConvNextModel", "ConvNextPreTrainedModel", "ConvNextForImageClassification"]
