"""ConvNeXt V2: ConvNextV2Config, ConvNextV2Model and ConvNextV2ForImageClassification (see modeling.py)."""
from .config import ConvNextV2Config
from .modeling import ConvNextV2ForImageClassification, ConvNextV2Model, ConvNextV2PreTrainedModel

__all__ = ["ConvNextV2Config", "ConvNextV2Model", "ConvNextV2PreTrainedModel", "ConvNextV2ForImageClassification"]
