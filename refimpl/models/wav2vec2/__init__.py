"""Wav2Vec2: Wav2Vec2Config, Wav2Vec2Model and its task heads (see modeling.py); masks and negatives in masking.py."""
from .config import Wav2Vec2Config
from .feature_encoder import config_receptive_field, feat_extract_output_lengths, feature_vector_attention_mask
from .masking import compute_mask_indices, sample_negative_indices
from .modeling import (Wav2Vec2ForCTC, Wav2Vec2ForPreTraining, Wav2Vec2ForPreTrainingOutput,
                       Wav2Vec2ForSequenceClassification, Wav2Vec2Model, Wav2Vec2PreTrainedModel)

__all__ = ["Wav2Vec2Config", "Wav2Vec2Model", "Wav2Vec2PreTrainedModel", "Wav2Vec2ForPreTraining",
           "Wav2Vec2ForPreTrainingOutput", "Wav2Vec2ForSequenceClassification", "Wav2Vec2ForCTC",
           "compute_mask_indices", "sample_negative_indices", "feat_extract_output_lengths",
           "feature_vector_attention_mask", "config_receptive_field"]
