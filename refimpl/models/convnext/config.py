"""ConvNextConfig: the fields of a Hugging Face ConvNeXT config.json, with transformers' defaults (convnext-tiny)."""
from __future__ import annotations

from typing import Union

from ...core.config import PretrainedConfig
from ...core.errors import ConfigError
from ...nn.activation import ACT2CLS
from ..vit.config import as_pair

__all__ = ["ConvNextConfig", "ConvNextConfigBase"]


class ConvNextConfigBase(PretrainedConfig):
    """The fields ConvNeXT and ConvNeXt V2 share, and their checks.

    Stage i (i < num_stages) has hidden_sizes[i] channels and depths[i] blocks; transformers reads only
    the first num_stages entries of each list (the drop-path schedule spans sum(depths) of all of them).
    The backbone keys (out_features, out_indices, stage_names) are kept as extra keys, unused.
    """

    attribute_map = {"num_hidden_layers": "num_stages"}

    num_channels: int = 3
    patch_size: Union[int, list] = 4
    num_stages: int = 4
    hidden_sizes: list = [96, 192, 384, 768]
    depths: list = [3, 3, 9, 3]
    hidden_act: str = "gelu"
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    drop_path_rate: float = 0.0
    image_size: Union[int, list] = 224

    def __post_init__(self):
        name = type(self).__name__
        self._check_positive("num_channels", "num_stages")
        as_pair(self.patch_size, f"{name}.patch_size")
        for key in ("hidden_sizes", "depths"):
            values = getattr(self, key)
            if len(values) < self.num_stages:
                raise ConfigError(f"{name}.{key}: needs at least num_stages={self.num_stages} entries, got {values}")
            if any(isinstance(v, bool) or not isinstance(v, int) or v < (1 if key == "hidden_sizes" else 0)
                   for v in values):
                what = "positive" if key == "hidden_sizes" else "non-negative"
                raise ConfigError(f"{name}.{key}: expected {what} integers, got {values}")
        self._check_known(("hidden_act",), ACT2CLS, "activation")
        if not 0.0 <= self.drop_path_rate < 1.0:
            raise ConfigError(f"{name}.drop_path_rate: expected a probability in [0, 1), got {self.drop_path_rate}")
        self._check_non_negative("layer_norm_eps")

    @property
    def patch_hw(self):
        """patch_size as (height, width)."""
        return as_pair(self.patch_size, "patch_size")


class ConvNextConfig(ConvNextConfigBase):
    """ConvNeXT hyper-parameters (transformers.ConvNextConfig names and defaults).

    layer_scale_init_value: initial value of each block's per-channel scale γ; <= 0 means no layer scale
    (no `layer_scale_parameter` key), as in transformers.
    """

    model_type = "convnext"

    layer_scale_init_value: float = 1e-6
