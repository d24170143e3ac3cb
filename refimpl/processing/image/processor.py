"""ImageProcessor: the pipeline of transformers' image processors, configured from preprocessor_config.json.

For each image (PIL image or ndarray; a list, a nested list or a 4-D batch of them):

    1. to (C, H, W): PIL -> np.array; the channel axis from input_data_format or inferred (a leading
       1/3/4 wins, as in transformers); do_convert_rgb repeats grayscale and composites RGBA onto white
    2. do_resize: to `size` ({"height", "width"} warps; {"shortest_edge"} keeps the aspect ratio,
       long side int(edge * long / short)) with `resample` (resize.py). With backend "pil" a float
       image goes through uint8 as in transformers (quantize_for_pil) and comes back as k/255 when scaled
    3. do_center_crop: to crop_size (zero padding when smaller)
    4. do_rescale: x * rescale_factor (1/255);  do_normalize: (x - image_mean) / image_std per channel
    5. stack into pixel_values (B, C, H, W) (return_tensors="np") in `dtype`

backend: transformers 5.24 has two implementations of each processor: TorchvisionBackend
(ViTImageProcessor, its default when torchvision is installed) and PilBackend (ViTImageProcessorPil,
the fallback without torchvision). Their outputs differ by up to one uint8 level after resizing;
backend="auto" picks as transformers' AutoImageProcessor does (torchvision if importable).
dtype=np.float32 reproduces the backend's own float32 arithmetic; np.float64 runs the same steps in
float64 (resizing of uint8 images is integer arithmetic either way and identical in both).

Deliberate differences from transformers (errors where transformers fails later or obscurely):
grayscale must be (1, H, W)/(H, W, 1) (transformers rejects 2-D arrays too, but PIL "L" images work);
2- and 5-channel images and 4-channel images without do_convert_rgb raise (transformers would resize
RGBA with Pillow's premultiplied alpha and then fail on a 3-value image_mean); integer dtypes other
than uint8, float16 and non-finite values raise; do_pad is not supported.
"""
from __future__ import annotations

import copy
import importlib.util
import json
import math
import os
from typing import Any, Dict, Optional

import numpy as np

from ...core.errors import CheckpointError, ConfigError, DTypeError, ShapeError
from ...core.validation import as_dtype
from .resize import BACKENDS, RESAMPLE_CODES, resample_name, resize
from .transforms import (IMAGENET_STANDARD_MEAN, IMAGENET_STANDARD_STD, center_crop, check_channel_format,
                         convert_to_rgb, output_size, quantize_for_pil, rescale_and_normalize, size_dict,
                         to_channels_first)

CONFIG_NAME = "preprocessor_config.json"
# keys a preprocessor_config.json may carry that do not change pixel_values
_INERT_KEYS = ("image_processor_type", "processor_class", "feature_extractor_type", "auto_map", "_processor_class",
               "device", "disable_grouping", "image_seq_length", "return_tensors", "use_fast")
_ACCEPTED_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32), np.dtype(np.float64))


def _finite_number(v) -> bool:
    return isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool) and math.isfinite(v)


def _pil_module():
    try:
        import PIL.Image
        return PIL.Image
    except ImportError:            # pillow is optional: without it PIL inputs simply cannot occur
        return None


def _is_pil(obj) -> bool:
    pil = _pil_module()
    return pil is not None and isinstance(obj, pil.Image)


def default_backend() -> str:
    """transformers' choice when no backend is named: torchvision if it can be imported, else pil."""
    return "torchvision" if importlib.util.find_spec("torchvision") is not None else "pil"


def _pil_to_array(image, do_convert_rgb: bool) -> np.ndarray:
    """Pillow image -> HWC (or HW) uint8 array; with do_convert_rgb Pillow itself converts the mode and
    composites transparency onto white, as transformers' convert_to_rgb does for PIL inputs."""
    if not do_convert_rgb:
        return np.array(image)
    pil = _pil_module()
    if "A" in image.getbands() or image.info.get("transparency") is not None:
        rgba = image.convert("RGBA")
        white = pil.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.array(pil.alpha_composite(white, rgba).convert("RGB"))
    return np.array(image.convert("RGB"))


def flatten_images(images, name: str = "images") -> list:
    """A single image, a 4-D batch, a list of images or a list of lists -> a flat list (transformers'
    make_flat_list_of_images). A 2-D array is not an image here, as there."""
    if _is_pil(images):
        return [images]
    if isinstance(images, np.ndarray):
        if images.ndim == 3:
            return [images]
        if images.ndim == 4:
            return list(images)                                              # (B, ...) -> B images
        hint = "; give a grayscale image as (H, W, 1)" if images.ndim == 2 else ""
        raise ShapeError(f"{name}: expected one image of 3 dimensions (C, H, W)/(H, W, C) or a batch of 4, got "
                         f"shape {images.shape}{hint}")
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise ShapeError(f"{name}: got an empty list")
        flat = []
        for i, item in enumerate(images):
            if isinstance(item, (list, tuple)):
                flat.extend(flatten_images(item, f"{name}[{i}]") if len(item) else [])
            elif isinstance(item, np.ndarray) and item.ndim == 4:
                flat.extend(list(item))
            elif _is_pil(item) or isinstance(item, np.ndarray):
                flat.append(item)
            else:
                raise DTypeError(f"{name}[{i}]: expected a numpy.ndarray or a PIL image, got {type(item).__name__}")
        if not flat:
            raise ShapeError(f"{name}: got only empty lists")
        return flat
    raise DTypeError(f"{name}: expected a numpy.ndarray, a PIL image or a list of them, got {type(images).__name__}"
                     + ("; call .numpy() on a torch tensor" if type(images).__module__.startswith("torch") else ""))


class ImageProcessor:
    """Resize -> center crop -> rescale -> normalize -> pixel_values, as transformers' image processors.

    Keyword configuration (the keys of preprocessor_config.json): do_resize, size, resample, do_center_crop,
    crop_size, do_rescale, rescale_factor, do_normalize, image_mean, image_std, do_convert_rgb,
    default_to_square; backend="auto" | "pil" | "torchvision". Subclasses set the defaults.
    """

    processor_type = "ImageProcessor"
    default_to_square = True
    defaults: Dict[str, Any] = dict(
        do_resize=True, size={"height": 224, "width": 224}, resample=2, do_center_crop=False, crop_size=None,
        do_rescale=True, rescale_factor=1 / 255, do_normalize=True, image_mean=IMAGENET_STANDARD_MEAN,
        image_std=IMAGENET_STANDARD_STD, do_convert_rgb=None)
    model_input_names = ["pixel_values"]

    def __init__(self, *, backend: str = "auto", **config):
        self.backend = default_backend() if backend == "auto" else backend
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend: expected 'auto' or one of {list(BACKENDS)}, got {backend!r}")
        self.extra_config = {k: config.pop(k) for k in list(config) if k in _INERT_KEYS}
        if "do_pad" in config:
            if config.pop("do_pad"):
                raise ConfigError("do_pad: padding the batch to one size is not supported; use do_pad=False")
            config.pop("pad_size", None)
        # the channel layouts may be stored too; they become the defaults of __call__
        self.input_data_format = check_channel_format(config.pop("input_data_format", None), "input_data_format")
        self.data_format = check_channel_format(config.pop("data_format", None), "data_format") or "channels_first"
        unknown = sorted(set(config) - set(self.defaults) - {"default_to_square"})
        if unknown:
            raise ConfigError(f"{unknown[0]}: not a setting of {type(self).__name__}; expected one of "
                              f"{sorted(set(self.defaults) | {'default_to_square'})}")
        square = config.pop("default_to_square", None)
        if square is not None:
            self.default_to_square = bool(square)
        merged = copy.deepcopy(self.defaults)
        merged.update({k: v for k, v in config.items() if v is not None or k in ("crop_size", "do_convert_rgb")})
        self.config = self._validated(merged, self.default_to_square)
        for key, value in self.config.items():
            setattr(self, key, value)

    # ------------------------------------------------------------------------------ configuration

    def _validated(self, cfg: dict, default_to_square: bool) -> dict:
        """Check and normalise settings; every error names the setting."""
        for key in ("do_resize", "do_center_crop", "do_rescale", "do_normalize", "do_convert_rgb"):
            v = cfg.get(key)
            if v is not None and not isinstance(v, (bool, np.bool_)):
                raise ConfigError(f"{key}: expected True, False or None, got {v!r}")
            cfg[key] = None if v is None else bool(v)
        cfg["resample"] = resample_name(cfg["resample"])
        if cfg["do_resize"] or cfg.get("size") is not None:
            cfg["size"] = size_dict(cfg["size"], default_to_square=default_to_square, name="size")
        if cfg["crop_size"] is not None:
            cfg["crop_size"] = size_dict(cfg["crop_size"], default_to_square=True, name="crop_size")
        if cfg["do_center_crop"] and (cfg["crop_size"] is None or "height" not in cfg["crop_size"]):
            raise ConfigError(f"crop_size: do_center_crop needs crop_size with height and width, "
                              f"got {cfg['crop_size']!r}")
        rf = cfg["rescale_factor"]
        if not _finite_number(rf):
            raise ConfigError(f"rescale_factor: expected a finite number, got {rf!r}")
        cfg["rescale_factor"] = float(rf)
        for key in ("image_mean", "image_std"):
            v = cfg[key]
            vals = np.atleast_1d(np.asarray(v, dtype=object))
            if vals.ndim != 1 or not all(_finite_number(t) for t in vals):
                raise ConfigError(f"{key}: expected a number or a list of finite numbers, got {v!r}")
            cfg[key] = float(vals[0]) if np.ndim(v) == 0 else tuple(float(t) for t in vals)
        if any(s == 0 for s in np.atleast_1d(cfg["image_std"])):
            raise ConfigError(f"image_std: must not contain 0, got {cfg['image_std']!r}")
        return cfg

    @classmethod
    def from_dict(cls, config: dict, *, backend: str = "auto", **overrides):
        """A processor from the dict of a preprocessor_config.json (overrides win)."""
        if not isinstance(config, dict):
            raise ConfigError(f"config: expected a dict, got {type(config).__name__}")
        if isinstance(config.get("image_processor"), dict):                  # a processor_config.json
            config = config["image_processor"]
        return cls(backend=backend, **{**config, **overrides})

    @classmethod
    def from_pretrained(cls, path, *, backend: str = "auto", **overrides):
        """Read <path>/preprocessor_config.json (or the json file `path`)."""
        path = os.fspath(path)
        file = os.path.join(path, CONFIG_NAME) if os.path.isdir(path) else path
        if not os.path.isfile(file):
            raise CheckpointError(f"path: no {CONFIG_NAME} at {file!r}")
        try:
            with open(file, encoding="utf-8") as fh:
                config = json.load(fh)
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"path: {file!r} is not a readable JSON file ({exc})") from exc
        return cls.from_dict(config, backend=backend, **overrides)

    def to_dict(self) -> dict:
        out = {k: (list(v) if isinstance(v, tuple) else copy.deepcopy(v)) for k, v in self.config.items()}
        out["resample"] = {n: c for c, n in RESAMPLE_CODES.items()}[out["resample"]]   # Pillow's code, as HF
        out["image_processor_type"] = self.processor_type
        return {k: v for k, v in out.items() if v is not None}

    def save_pretrained(self, directory) -> str:
        os.makedirs(directory, exist_ok=True)
        file = os.path.join(directory, CONFIG_NAME)
        with open(file, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh, indent=2, sort_keys=True)
        return file

    def __repr__(self):
        return f"{type(self).__name__}(backend={self.backend!r}, {self.to_dict()})"

    # ---------------------------------------------------------------------------------- pipeline

    def prepare_image(self, image, do_convert_rgb: Optional[bool], input_data_format: Optional[str],
                      name: str = "images") -> np.ndarray:
        """One input -> (C, H, W) array in its own dtype (step 1 of the module docstring)."""
        if _is_pil(image):
            x = _pil_to_array(image, bool(do_convert_rgb))
            x = x[None] if x.ndim == 2 else np.moveaxis(x, -1, 0)            # (H, W[, C]) -> (C, H, W)
        elif isinstance(image, np.ndarray):
            if image.ndim != 3:
                raise ShapeError(f"{name}: expected a 3-D image (C, H, W) or (H, W, C), got shape {image.shape}")
            x = to_channels_first(image, input_data_format, name)
        else:
            raise DTypeError(f"{name}: expected a numpy.ndarray or a PIL image, got {type(image).__name__}")
        if x.dtype not in _ACCEPTED_DTYPES:                  # also PIL modes "1", "I", "I;16"
            raise DTypeError(f"{name}: expected dtype uint8, float32 or float64, got {x.dtype}; convert "
                             f"explicitly (uint8 for 0..255 pixels, float for 0..1)")
        if x.dtype != np.uint8 and not np.all(np.isfinite(x)):
            raise ConfigError(f"{name}: expected finite pixel values, found NaN or inf")
        c, h, w = x.shape
        if h == 0 or w == 0:
            raise ShapeError(f"{name}: expected a non-empty image, got height {h} x width {w} (channels-first "
                             f"shape {x.shape})")
        if c not in (1, 3, 4) or (c == 4 and not do_convert_rgb):
            raise ShapeError(f"{name}: expected 1 (grayscale) or 3 (RGB) channels, or 4 (RGBA) with "
                             f"do_convert_rgb=True, got {c} channels (channels-first shape {x.shape})")
        if do_convert_rgb and not _is_pil(image):
            x = convert_to_rgb(x, self.backend)
        return x

    def resize_image(self, image: np.ndarray, cfg: dict, dtype=np.float32, name: str = "images") -> np.ndarray:
        """Resize one (C, H, W) image as cfg["size"] asks; ConvNeXT overrides this with its crop_pct rule."""
        return self._resize_to(image, output_size(image.shape[-2:], cfg["size"]), cfg["resample"], dtype, name)

    def _resize_to(self, image: np.ndarray, hw, resample: str, dtype=np.float32, name: str = "images") -> np.ndarray:
        """The backend's resize; for "pil", float images travel through uint8 as in transformers and
        come back as k/255 (float32 as there, float64 when dtype is float64)."""
        if self.backend == "torchvision":
            return resize(image, hw, resample, backend="torchvision")
        x, scaled = quantize_for_pil(image, name)
        x = resize(x, hw, resample, backend="pil")
        if scaled:
            x = (x.astype(np.float64) * (1 / 255)).astype(np.promote_types(dtype, np.float32))
        return x

    def center_crop_image(self, image: np.ndarray, crop_size: dict) -> np.ndarray:
        return center_crop(image, (crop_size["height"], crop_size["width"]), self.backend)

    def _settings(self, overrides: dict) -> dict:
        bad = sorted(set(overrides) - set(self.defaults) - {"default_to_square"})
        if bad:
            raise ConfigError(f"{bad[0]}: not an argument of {type(self).__name__}.__call__; expected one of "
                              f"{sorted(set(self.defaults))} or input_data_format, data_format, return_tensors, dtype")
        if not overrides:
            return self.config
        cfg = copy.deepcopy(self.config)
        cfg.update({k: v for k, v in overrides.items() if v is not None and k != "default_to_square"})
        square = overrides.get("default_to_square")
        return self._validated(cfg, self.default_to_square if square is None else bool(square))

    def __call__(self, images, return_tensors: Optional[str] = "np", *, dtype=np.float32,
                 input_data_format=None, data_format=None, **overrides) -> Dict[str, Any]:
        """images -> {"pixel_values": (B, C, H, W) array of `dtype`} (a list of (C, H, W) arrays when
        return_tensors is None; (B, H, W, C) with data_format="channels_last"). input_data_format says
        where the channels of the inputs are (inferred per image when None). Settings can be
        overridden per call, as in transformers."""
        dtype = as_dtype(dtype)
        if return_tensors not in ("np", None):
            raise ConfigError(f"return_tensors: expected 'np' or None (refimpl returns NumPy arrays), "
                              f"got {return_tensors!r}")
        input_data_format = check_channel_format(input_data_format, "input_data_format") or self.input_data_format
        data_format = check_channel_format(data_format, "data_format") or self.data_format
        cfg = self._settings(overrides)
        out = []
        for i, image in enumerate(flatten_images(images)):
            name = f"images[{i}]"
            x = self.prepare_image(image, cfg["do_convert_rgb"], input_data_format, name)   # (C, H, W)
            if cfg["do_resize"]:
                x = self.resize_image(x, cfg, dtype, name)
            if cfg["do_center_crop"]:
                x = self.center_crop_image(x, cfg["crop_size"])
            x = rescale_and_normalize(x, do_rescale=cfg["do_rescale"], rescale_factor=cfg["rescale_factor"],
                                      do_normalize=cfg["do_normalize"], image_mean=cfg["image_mean"],
                                      image_std=cfg["image_std"], backend=self.backend, dtype=dtype)
            out.append(x if data_format == "channels_first" else np.moveaxis(x, 0, -1))
        if return_tensors is None:
            return {"pixel_values": out}
        shapes = sorted({o.shape for o in out})
        if len(shapes) > 1:
            raise ShapeError(f"images: the processed images have different shapes {shapes} and cannot be stacked; "
                             f"resize them (do_resize=True) or pass return_tensors=None")
        return {"pixel_values": np.stack(out)}                                 # (B, C, H, W)

    preprocess = __call__
