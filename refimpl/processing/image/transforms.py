"""Per-image steps of transformers' image processors besides resizing: channel order, RGB conversion,
output-size rules, center crop, rescale and normalise. Images here are channels-first (C, H, W).

The processors have two backends whose arithmetic differs in the last bits (and, for center crop
with padding, by a row); each function takes `backend` where they differ:

    step            "pil" (PilBackend, NumPy)                   "torchvision" (TorchvisionBackend)
    rescale         float32(float64(x) * s)                     float32(x) * float32(s)
    normalize       (x - m) / d in x's float dtype (else f32)   float32: (x - m') / d', fused with rescale
                                                                as m' = f32(m) * f32(1/s), d' = f32(d) * f32(1/s)
    center crop     pad with zeros, the image at ceil(pad / 2)  pad with zeros, the image at floor(pad / 2)
    RGBA -> RGB     uint8: round(a x + (1 - a) 255), a = A/255  uint8: trunc(255.999 f32(x a + 1 - a)),
                    (float64 arithmetic)                        x, a = f32(X) f32(1/255) (float32 arithmetic)

With dtype=np.float64 the same steps run in float64 (the oracle); with float32, as the backend does.
"""
from __future__ import annotations

import warnings
from typing import Optional, Sequence, Tuple

import numpy as np

from ...core.errors import ConfigError, ShapeError

CHANNEL_FORMATS = ("channels_first", "channels_last")
IMAGENET_STANDARD_MEAN = (0.5, 0.5, 0.5)
IMAGENET_STANDARD_STD = (0.5, 0.5, 0.5)
IMAGENET_DEFAULT_MEAN = (0.485, 0.456, 0.406)
IMAGENET_DEFAULT_STD = (0.229, 0.224, 0.225)


# ---------------------------------------------------------------------------------- channel order

def infer_channel_format(image: np.ndarray, num_channels: Sequence[int] = (1, 3, 4), name: str = "images") -> str:
    """transformers' rule for a 3-D image: channels first if dim 0 is a channel count, else channels
    last if dim 2 is; when both are (a (3, 5, 3) or a 1x1 RGB (1, 1, 3) image) it picks channels first."""
    if image.ndim != 3:
        raise ShapeError(f"{name}: expected a 3-D image (C, H, W) or (H, W, C), got shape {image.shape}")
    first, last = image.shape[0] in num_channels, image.shape[2] in num_channels
    if first and last:
        warnings.warn(f"{name}: the channel axis of shape {image.shape} is ambiguous; taking channels first "
                      f"as transformers does (pass input_data_format to choose)", stacklevel=3)
        return "channels_first"
    if first:
        return "channels_first"
    if last:
        return "channels_last"
    raise ShapeError(f"{name}: cannot tell the channel axis of shape {image.shape}: neither the first nor the "
                     f"last dimension is one of {list(num_channels)} channels; pass input_data_format")


def check_channel_format(fmt, name: str = "input_data_format") -> Optional[str]:
    if fmt is None:
        return None
    value = getattr(fmt, "value", fmt)                        # transformers' ChannelDimension enum
    if value not in CHANNEL_FORMATS:
        raise ConfigError(f"{name}: expected one of {list(CHANNEL_FORMATS)} or None, got {fmt!r}")
    return value


def to_channels_first(image: np.ndarray, input_data_format: Optional[str] = None, name: str = "images") -> np.ndarray:
    """(C, H, W) view of a 3-D image in the given (or inferred) layout."""
    fmt = check_channel_format(input_data_format) or infer_channel_format(image, name=name)
    return image if fmt == "channels_first" else np.moveaxis(image, -1, 0)    # (H, W, C) -> (C, H, W)


# ------------------------------------------------------------------------------------ RGB conversion

def convert_to_rgb(image: np.ndarray, backend: str = "pil") -> np.ndarray:
    """(C, H, W) -> (3, H, W): grayscale repeated, RGBA composited onto white, RGB unchanged."""
    c = image.shape[0]
    if c == 1:
        return np.repeat(image, 3, axis=0)                                   # (1, H, W) -> (3, H, W)
    if c != 4:
        return image
    is_int = image.dtype == np.uint8
    if not is_int and (image.min() < 0.0 or image.max() > 1.0):
        raise ConfigError(f"images: an RGBA float image must lie in [0, 1] to be composited onto white, "
                          f"got [{image.min()}, {image.max()}]")
    if backend == "pil":                                                     # float64 arithmetic
        white = 255 if is_int else 1.0
        alpha = image[3:4] / white
        out = alpha * image[:3] + (1 - alpha) * white
        return np.round(out).astype(image.dtype) if is_int else out.astype(image.dtype)
    f32 = np.float32                                                         # torchvision: float32 arithmetic
    x = image.astype(f32) * f32(1.0 / 255) if is_int else image.astype(f32)
    out = x[:3] * x[3:4] + (f32(1) - x[3:4])
    return (out * f32(255 + 1.0 - 1e-3)).astype(np.uint8) if is_int else out.astype(image.dtype)


# --------------------------------------------------------------------------------------- sizes

def size_dict(size, *, default_to_square: bool = True, name: str = "size") -> dict:
    """transformers' get_size_dict: an int is a square (default_to_square) or the shortest edge,
    (h, w) a height and width; a dict must use one of the supported key sets."""
    if isinstance(size, bool):
        raise ConfigError(f"{name}: expected an int, (height, width) or a dict, got {size!r}")
    if isinstance(size, (int, np.integer)):
        size = {"height": int(size), "width": int(size)} if default_to_square else {"shortest_edge": int(size)}
    elif isinstance(size, (tuple, list)):
        if len(size) != 2:
            raise ConfigError(f"{name}: a sequence must be (height, width), got {size!r}")
        size = {"height": size[0], "width": size[1]}
    if not isinstance(size, dict):
        raise ConfigError(f"{name}: expected an int, (height, width) or a dict, got {type(size).__name__}")
    keys = set(size)
    supported = ({"height", "width"}, {"shortest_edge"}, {"shortest_edge", "longest_edge"})
    if keys not in supported:
        raise ConfigError(f"{name}: expected keys {' or '.join(str(sorted(k)) for k in supported)}, "
                          f"got {sorted(keys)}")
    for k, v in size.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ConfigError(f"{name}: {k} must be a positive integer, got {v!r}")
    return {k: int(v) for k, v in size.items()}


def shortest_edge_size(hw: Tuple[int, int], shortest_edge: int) -> Tuple[int, int]:
    """Keep the aspect ratio with the short side = shortest_edge; long side int(shortest_edge * long / short)."""
    h, w = hw
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = shortest_edge, int(shortest_edge * long / short)
    return (new_long, new_short) if w <= h else (new_short, new_long)


def aspect_size_with_max(hw: Tuple[int, int], shortest_edge: int, longest_edge: int) -> Tuple[int, int]:
    """transformers' get_size_with_aspect_ratio: shortest edge, unless the long edge would pass longest_edge."""
    h, w = hw
    size, raw = shortest_edge, None
    lo, hi = float(min(h, w)), float(max(h, w))
    if hi / lo * size > longest_edge:
        raw = longest_edge * lo / hi
        size = int(round(raw))
    if (h <= w and h == size) or (w <= h and w == size):
        return h, w
    if w < h:
        return (int(raw * h / w) if raw is not None else int(size * h / w)), size
    return size, (int(raw * w / h) if raw is not None else int(size * w / h))


def output_size(hw: Tuple[int, int], size: dict) -> Tuple[int, int]:
    """The (height, width) a resize to `size` (a size_dict) produces for an image of size hw."""
    if "height" in size:
        return size["height"], size["width"]
    if "longest_edge" in size:
        return aspect_size_with_max(hw, size["shortest_edge"], size["longest_edge"])
    return shortest_edge_size(hw, size["shortest_edge"])


# ----------------------------------------------------------------------------------- center crop

def center_crop(image: np.ndarray, size: Tuple[int, int], backend: str = "pil") -> np.ndarray:
    """Crop (..., H, W) to size = (h, w) around the centre, top = (H - h) // 2, left = (W - w) // 2.
    A side shorter than the crop is zero-padded first; "pil" puts the image ceil(pad / 2) from the
    top/left, "torchvision" floor(pad / 2) (they differ by one row/column for odd padding)."""
    ch, cw = size
    h, w = image.shape[-2:]
    if ch <= h and cw <= w:
        top, left = (h - ch) // 2, (w - cw) // 2
        return image[..., top:top + ch, left:left + cw]
    ph, pw = max(ch - h, 0), max(cw - w, 0)
    half = (lambda p: (p + 1) // 2) if backend == "pil" else (lambda p: p // 2)
    padded = np.zeros(image.shape[:-2] + (h + ph, w + pw), dtype=image.dtype)   # (..., max(H, h), max(W, w))
    padded[..., half(ph):half(ph) + h, half(pw):half(pw) + w] = image
    return center_crop(padded, size, backend)


# ----------------------------------------------------------------------------- rescale, normalize

def _channel_values(v, c: int, name: str) -> np.ndarray:
    vals = np.atleast_1d(np.asarray(v, dtype=np.float64))
    if vals.ndim != 1 or vals.size not in (1, c):
        raise ConfigError(f"{name}: expected one value or {c} values (one per channel of the images), got {v!r}")
    if not np.all(np.isfinite(vals)):
        raise ConfigError(f"{name}: expected finite values, got {v!r}")
    return np.broadcast_to(vals, (c,))


def rescale_and_normalize(image: np.ndarray, *, do_rescale: bool, rescale_factor: float, do_normalize: bool,
                          image_mean, image_std, backend: str = "pil", dtype=np.float32) -> np.ndarray:
    """(C, H, W) -> x * rescale_factor and/or (x - mean) / std, in the backend's float32 arithmetic
    (see the module docstring) or in float64 when dtype is float64. Returns `dtype`."""
    dtype = np.dtype(dtype)
    c = image.shape[0]
    mean = _channel_values(image_mean, c, "image_mean") if do_normalize else None
    std = _channel_values(image_std, c, "image_std") if do_normalize else None
    if do_normalize and np.any(std == 0):
        raise ConfigError(f"image_std: must not contain 0, got {image_std!r}")
    if dtype == np.float64:                                                  # the oracle: plain float64
        x = image.astype(np.float64)
        if do_rescale:
            x = x * rescale_factor
        if do_normalize:
            x = (x - mean[:, None, None]) / std[:, None, None]
        return x
    f32 = np.float32
    if backend == "pil":
        x = image
        if do_rescale:
            x = (x.astype(np.float64) * rescale_factor).astype(f32)
        if do_normalize:
            x = x if np.issubdtype(x.dtype, np.floating) else x.astype(f32)
            x = (x - mean.astype(x.dtype)[:, None, None]) / std.astype(x.dtype)[:, None, None]
        return x.astype(dtype)
    if do_normalize:                                                         # torchvision, fused rescale
        if do_rescale:
            mean, std = (mean.astype(f32) * f32(1.0 / rescale_factor)), (std.astype(f32) * f32(1.0 / rescale_factor))
        x = image.astype(f32)
        return ((x - mean.astype(f32)[:, None, None]) / std.astype(f32)[:, None, None]).astype(dtype)
    if do_rescale:                                                           # a uint8 tensor times a Python float
        x = image.astype(f32) if image.dtype == np.uint8 else image
        return (x * x.dtype.type(rescale_factor)).astype(dtype)
    return image.astype(dtype)


# ----------------------------------------------------------------------- float -> uint8 for Pillow

def quantize_for_pil(image: np.ndarray, name: str = "images") -> Tuple[np.ndarray, bool]:
    """transformers hands a float image to Pillow as uint8 (to_pil_image): values that are all
    (close to) integers in [0, 255] are cast as they are; values in [0, 1] are scaled by 255 first
    (then cast: truncation, 0.5 -> 127); anything else is an error. Returns (uint8 image, scaled)."""
    if image.dtype == np.uint8:
        return image, False
    if np.allclose(image, image.astype(np.int64)):
        if image.min() < 0 or image.max() > 255:
            raise ConfigError(f"{name}: a float image of whole numbers must lie in [0, 255] to be resized through "
                              f"Pillow, got [{image.min()}, {image.max()}]")
        return image.astype(np.uint8), False
    if image.min() >= 0 and image.max() <= 1:
        return (image.astype(np.float64) * 255).astype(np.float32).astype(np.uint8), True
    raise ConfigError(f"{name}: a float image resized through Pillow must lie in [0, 1] (or be whole numbers in "
                      f"[0, 255]), got [{image.min()}, {image.max()}]")
