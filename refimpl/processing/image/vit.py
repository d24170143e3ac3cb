"""ViTImageProcessor: warp every image to size {"height": 224, "width": 224} with bilinear resampling,
rescale by 1/255 and normalise with mean = std = 0.5 per channel (pixel values in [-1, 1]).

The defaults of transformers' ViTImageProcessor / ViTImageProcessorPil (5.24); a checkpoint's
preprocessor_config.json overrides them (google/vit-base-patch16-224 uses exactly these).
"""
from __future__ import annotations

from .processor import ImageProcessor
from .transforms import IMAGENET_STANDARD_MEAN, IMAGENET_STANDARD_STD


class ViTImageProcessor(ImageProcessor):
    """Resize (bilinear) to 224x224 -> rescale 1/255 -> normalise (0.5, 0.5). See ImageProcessor."""

    processor_type = "ViTImageProcessor"
    default_to_square = True
    defaults = dict(ImageProcessor.defaults, size={"height": 224, "width": 224}, resample=2,
                    image_mean=IMAGENET_STANDARD_MEAN, image_std=IMAGENET_STANDARD_STD)
