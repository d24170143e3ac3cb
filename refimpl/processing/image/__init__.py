"""Image pre-processing as transformers' image processors compute it, in NumPy.

resize.py      resize with Pillow's and torchvision's antialiased filters (and their uint8 fixed point)
transforms.py  channel order, RGB conversion, output sizes, center crop, rescale and normalize
processor.py   ImageProcessor: the pipeline, configured from preprocessor_config.json
vit.py         ViTImageProcessor;  convnext.py  ConvNextImageProcessor (crop_pct)
"""
from .convnext import ConvNextImageProcessor
from .processor import ImageProcessor, default_backend
from .resize import filter_coefficients, resample_name, resize
from .transforms import (IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, IMAGENET_STANDARD_MEAN, IMAGENET_STANDARD_STD,
                         center_crop, convert_to_rgb, infer_channel_format, rescale_and_normalize, to_channels_first)
from .vit import ViTImageProcessor

__all__ = ["ConvNextImageProcessor", "ImageProcessor", "ViTImageProcessor", "center_crop", "convert_to_rgb",
           "default_backend", "filter_coefficients", "infer_channel_format", "resample_name", "rescale_and_normalize",
           "resize", "to_channels_first", "IMAGENET_DEFAULT_MEAN", "IMAGENET_DEFAULT_STD", "IMAGENET_STANDARD_MEAN",
           "IMAGENET_STANDARD_STD"]
