"""ConvNextImageProcessor: resize with the crop_pct rule of ConvNeXT's evaluation, then rescale and normalise.

With s = size["shortest_edge"] (default 384) and crop_pct (default 224/256 = 0.875):

    s < 384:   resize the short side to int(s / crop_pct), keeping the aspect ratio (long side
               int(int(s / crop_pct) * long / short)), then center crop s x s   ("resize 256, crop 224")
    s >= 384:  warp to s x s, no crop

Resampling is bicubic by default; mean = std = 0.5 as in transformers' ConvNextImageProcessor (5.24).
A crop_pct above 1 makes the resized image smaller than the crop; it is then zero-padded, as there.
"""
from __future__ import annotations

import numpy as np

from ...core.errors import ConfigError
from .processor import ImageProcessor, _finite_number
from .transforms import IMAGENET_STANDARD_MEAN, IMAGENET_STANDARD_STD, shortest_edge_size

CROP_THRESHOLD = 384          # shortest_edge below this: resize then crop; at or above: warp


class ConvNextImageProcessor(ImageProcessor):
    """Resize (bicubic; crop_pct rule) -> rescale 1/255 -> normalise (0.5, 0.5). See ImageProcessor."""

    processor_type = "ConvNextImageProcessor"
    default_to_square = False
    defaults = dict(ImageProcessor.defaults, size={"shortest_edge": 384}, resample=3, crop_pct=224 / 256,
                    image_mean=IMAGENET_STANDARD_MEAN, image_std=IMAGENET_STANDARD_STD)

    def _validated(self, cfg: dict, default_to_square: bool) -> dict:
        cfg = super()._validated(cfg, default_to_square)
        pct = cfg["crop_pct"]
        if not _finite_number(pct) or pct <= 0:
            raise ConfigError(f"crop_pct: expected a finite number > 0 (224/256 = 0.875 by default), got {pct!r}")
        cfg["crop_pct"] = float(pct)
        if cfg["do_resize"] and "shortest_edge" not in cfg["size"]:
            raise ConfigError(f"size: ConvNextImageProcessor resizes by {{'shortest_edge': n}}, got {cfg['size']!r}")
        return cfg

    def resize_image(self, image: np.ndarray, cfg: dict, dtype=np.float32, name: str = "images") -> np.ndarray:
        s = cfg["size"]["shortest_edge"]
        if s >= CROP_THRESHOLD:                                    # warp, no crop
            return self._resize_to(image, (s, s), cfg["resample"], dtype, name)
        edge = int(s / cfg["crop_pct"])
        hw = shortest_edge_size(image.shape[-2:], edge)            # keep the aspect ratio
        x = self._resize_to(image, hw, cfg["resample"], dtype, name)
        return self.center_crop_image(x, {"height": s, "width": s})
