"""ConvNeXT (Liu et al., 2022): a pure ConvNet modernised towards the Vision Transformer.

    pixel_values (B, C, H, W) ─ Conv2d(k = s = patch) ─ LayerNorm over channels (eps 1e-6)         embeddings
    stage i = 0..S-1:  [i > 0: LayerNorm over channels (eps 1e-6) ─ Conv2d(k = s = 2)]          downsampling_layer
                       depths[i] blocks of
        x + drop_path(γ ⊙ W_2 · act(W_1 · LayerNorm(dwconv7x7(x))))     (the MLP runs channels last)
    last_hidden_state = the last stage's output (B, C_S, H / (patch 2^(S-1)), ...)
    pooler_output = LayerNorm(mean over H, W)   (eps = config.layer_norm_eps, 1e-12 by default)     (B, C_S)

ConvNeXt V2 (refimpl.models.convnextv2) builds the same pieces with GRN (global response normalisation)
after the activation and no layer scale γ; hence `use_grn` / `layer_scale_init_value` below.

Heads (transformers 5.24):
    ConvNextForImageClassification   classifier on pooler_output; MSE / CE / BCE-with-logits by
                                     problem_type, as transformers decides it.

The 7x7 depthwise convolution is nn.Conv2d with groups = channels, which refimpl.functional.conv2d
routes through the "depthwise_conv" kernel dispatch (refimpl.use_kernels).
Drop path (stochastic depth): block j of all sum(depths) blocks drops its branch with probability
torch.linspace(0, drop_path_rate, sum(depths))[j] in float32, reproduced bit for bit by
refimpl.functional.stochastic_depth.drop_path_rates; in training mode each active block draws its
per-sample mask from the forward's `rng`, in block order (transformers draws torch.rand in the same order).
Image sizes: any size of at least patch * 2^(S-1) pixels per side; sizes that are not multiples are
floored by the strided convolutions, exactly as in transformers.
"""
from __future__ import annotations

import numpy as np

from ...core.errors import ShapeError
from ...core.model import PreTrainedModel
from ...core.module import Module, ModuleList
from ...core.parameter import Parameter
from ...functional.stochastic_depth import drop_path_rates
from ...nn.activation import get_activation
from ...nn.conv import Conv2d
from ...nn.dropout import DropPath
from ...nn.grn import GlobalResponseNorm
from ...nn.linear import Identity, Linear
from ...nn.normalization import LayerNorm
from ..heads import logits_grad, sequence_classification_head
from ..inputs import check_pixel_values
from ..modeling_utils import apply_dropout, base_backward, init_weights, require_rng, zeros_if_none
from ..outputs import BaseModelOutputWithPoolingAndNoAttention, ImageClassifierOutputWithNoAttention
from ..task_losses import sequence_classification_loss_backward
from .config import ConvNextConfig, ConvNextConfigBase

__all__ = ["ConvNextModel", "ConvNextPreTrainedModel", "ConvNextForImageClassification",
           "BaseModelOutputWithPoolingAndNoAttention", "ImageClassifierOutputWithNoAttention",
           "ConvNextEmbeddings", "ConvNextLayer", "ConvNextStage", "ConvNextEncoder"]

BLOCK_LN_EPS = 1e-6      # transformers hard-codes 1e-6 in the stem, downsampling and block LayerNorms


# ============================================================================================ pieces
class ConvNextEmbeddings(Module):
    """patch_embeddings: Conv2d(C, hidden_sizes[0], k = s = patch), then a channels-first LayerNorm."""

    def __init__(self, config: ConvNextConfigBase, dtype):
        super().__init__()
        patch = config.patch_hw
        self.patch_embeddings = Conv2d(config.num_channels, config.hidden_sizes[0], kernel_size=patch, stride=patch,
                                       dtype=dtype)
        self.layernorm = LayerNorm(config.hidden_sizes[0], eps=BLOCK_LN_EPS, data_format="channels_first",
                                   dtype=dtype)

    def forward(self, pixel_values):
        return self.layernorm(self.patch_embeddings(pixel_values))          # (B, C0, H/p, W/p)

    def backward(self, dy):
        return self.patch_embeddings.backward(self.layernorm.backward(dy))


class ConvNextLayer(Module):
    """One block: x + drop_path(γ ⊙ pwconv2(act(pwconv1(LN(dwconv(x)))))), the MLP channels last.

    use_grn (ConvNeXt V2): GRN after the activation. layer_scale_init_value > 0: the per-channel scale γ
    (`layer_scale_parameter`); otherwise none. x: (B, dim, H, W) -> same shape.
    """

    def __init__(self, config: ConvNextConfigBase, dim: int, drop_path: float, dtype, *,
                 layer_scale_init_value: float = 0.0, use_grn: bool = False):
        super().__init__()
        if layer_scale_init_value > 0:
            self.layer_scale_parameter = Parameter(np.full(dim, layer_scale_init_value, dtype))
        else:
            self.register_parameter("layer_scale_parameter", None)
        self.dwconv = Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim, dtype=dtype)   # depthwise
        self.layernorm = LayerNorm(dim, eps=BLOCK_LN_EPS, dtype=dtype)
        self.pwconv1 = Linear(dim, 4 * dim, dtype=dtype)                                     # 1x1 convs as Linear
        self.act = get_activation(config.hidden_act)
        self.grn = GlobalResponseNorm(4 * dim, dtype=dtype) if use_grn else None
        self.pwconv2 = Linear(4 * dim, dim, dtype=dtype)
        self.drop_path = DropPath(drop_path)

    def forward(self, x, rng=None):
        y = self.dwconv(x).transpose(0, 2, 3, 1)                            # (B, H, W, C) channels last
        y = self.act(self.pwconv1(self.layernorm(y)))                       # (B, H, W, 4C)
        if self.grn is not None:
            y = self.grn(y)
        y = self.pwconv2(y)                                                 # (B, H, W, C)
        self.save_for_backward(y if self.layer_scale_parameter is not None else None)
        if self.layer_scale_parameter is not None:
            y = self.layer_scale_parameter.data * y                         # γ per channel
        y = y.transpose(0, 3, 1, 2)                                         # (B, C, H, W)
        return x + apply_dropout(self.drop_path, y, rng)                    # per-sample mask

    def backward(self, dy):
        (pre_scale,) = self.saved()
        d = self.drop_path.backward(dy).transpose(0, 2, 3, 1)               # (B, H, W, C) d branch
        if self.layer_scale_parameter is not None:
            self.layer_scale_parameter.accumulate((d * pre_scale).sum(axis=(0, 1, 2)))   # dL/dγ = sum d * y
            d = d * self.layer_scale_parameter.data                                      # dL/dy = γ d
        d = self.pwconv2.backward(d)                                        # (B, H, W, 4C)
        if self.grn is not None:
            d = self.grn.backward(d)
        d = self.layernorm.backward(self.pwconv1.backward(self.act.backward(d)))   # (B, H, W, C)
        d = np.ascontiguousarray(d.transpose(0, 3, 1, 2))                   # (B, C, H, W)
        return dy + self.dwconv.backward(d)                                 # residual + branch


class ConvNextStage(Module):
    """Optional downsampling (channels-first LayerNorm, Conv2d k = s = 2) and `depth` blocks."""

    def __init__(self, config: ConvNextConfigBase, in_channels: int, out_channels: int, stride: int, depth: int,
                 drop_rates, dtype, **layer_kwargs):
        super().__init__()
        if in_channels != out_channels or stride > 1:
            self.downsampling_layer = ModuleList([
                LayerNorm(in_channels, eps=BLOCK_LN_EPS, data_format="channels_first", dtype=dtype),
                Conv2d(in_channels, out_channels, kernel_size=stride, stride=stride, dtype=dtype)])
        else:
            self.downsampling_layer = ModuleList()
        self.layers = ModuleList([ConvNextLayer(config, out_channels, drop_rates[j], dtype, **layer_kwargs)
                                  for j in range(depth)])

    def forward(self, x, rng=None):
        for m in self.downsampling_layer:
            x = m(x)                                                        # (B, C_out, H/2, W/2)
        for layer in self.layers:
            x = layer(x, rng)
        return x

    def backward(self, dy):
        for layer in reversed(list(self.layers)):
            dy = layer.backward(dy)
        for m in reversed(list(self.downsampling_layer)):
            dy = m.backward(dy)
        return dy


class ConvNextEncoder(Module):
    """The stages; collects hidden_states = (input, each stage's output) and routes their gradients back."""

    def __init__(self, config: ConvNextConfigBase, dtype, **layer_kwargs):
        super().__init__()
        rates = drop_path_rates(config.drop_path_rate, config.depths)       # float32 linspace, as torch
        stages, prev = [], config.hidden_sizes[0]
        for i in range(config.num_stages):
            out = config.hidden_sizes[i]
            stages.append(ConvNextStage(config, prev, out, stride=2 if i > 0 else 1, depth=config.depths[i],
                                        drop_rates=rates[i], dtype=dtype, **layer_kwargs))
            prev = out
        self.stages = ModuleList(stages)

    def forward(self, x, output_hidden_states=False, rng=None):
        hidden = [x]
        for stage in self.stages:
            x = stage(x, rng)
            hidden.append(x)
        return x, (tuple(hidden) if output_hidden_states else None)

    def backward(self, d_last, d_hidden_states=None):
        n = len(self.stages)
        d_hs = d_hidden_states if d_hidden_states is not None else (None,) * (n + 1)
        d = d_last if d_hs[n] is None else d_last + d_hs[n]                 # the last stage's output is output twice
        for i in reversed(range(n)):
            d = self.stages[i].backward(d)                                  # dL/d(input of stage i)
            if d_hs[i] is not None:
                d = d + d_hs[i]                                             # ... which is hidden_states[i] too
        return d


# ============================================================================================ models
class ConvNextPreTrainedModel(PreTrainedModel):
    config_class = ConvNextConfig
    base_model_prefix = "convnext"
    differentiable_inputs = ("pixel_values",)

    def post_init(self) -> None:
        """transformers' init: Linear/Conv2d weights N(0, initializer_range^2), biases 0; LayerNorm 1/0;
        γ = layer_scale_init_value; GRN 0 (set at construction)."""
        init_weights(self, self.config.initializer_range, also=(Conv2d,))
        super().post_init()


class ConvNextModel(ConvNextPreTrainedModel):
    """Embeddings -> stages -> global average pool -> LayerNorm.

    forward(pixel_values, output_hidden_states=None, rng=None) -> BaseModelOutputWithPoolingAndNoAttention
    pixel_values: (B, num_channels, H, W) of the model dtype, H, W >= patch * 2^(num_stages - 1).
    Outputs: last_hidden_state (B, C_last, h, w); pooler_output (B, C_last); hidden_states (num_stages + 1
    arrays: the embeddings, then each stage's output).
    """

    use_grn = False             # ConvNeXt V2: True

    def __init__(self, config: ConvNextConfigBase, dtype=np.float64):
        super().__init__(config, dtype)
        self.embeddings = ConvNextEmbeddings(config, self._dtype)
        self.encoder = ConvNextEncoder(config, self._dtype, **self._layer_kwargs(config))
        self.layernorm = LayerNorm(config.hidden_sizes[config.num_stages - 1], eps=config.layer_norm_eps,
                                   dtype=self._dtype)
        self.post_init()

    def _layer_kwargs(self, config):
        return dict(layer_scale_init_value=getattr(config, "layer_scale_init_value", 0.0), use_grn=self.use_grn)

    def _check_pixel_values(self, pixel_values):
        cfg = self.config
        ph, pw = cfg.patch_hw
        down = 2 ** (cfg.num_stages - 1)                                    # every downsampling halves (floor)
        b, c, h, w = check_pixel_values(pixel_values, cfg.num_channels, self.dtype, min_hw=(ph, pw))
        if h // ph < down or w // pw < down:
            raise ShapeError(f"pixel_values: image {h}x{w} is too small: the {ph}x{pw} patch stem and "
                             f"{cfg.num_stages - 1} 2x downsamplings need at least {ph * down}x{pw * down} pixels")

    def forward(self, *, pixel_values=None, output_hidden_states=None, rng=None):
        self._check_pixel_values(pixel_values)
        require_rng(self, rng)
        cfg = self.config
        output_hidden_states = cfg.output_hidden_states if output_hidden_states is None else output_hidden_states
        h = self.embeddings(pixel_values)                                   # (B, C0, H/p, W/p)
        h, hidden_states = self.encoder(h, output_hidden_states, rng)       # (B, C, h, w)
        pooled = self.layernorm(h.mean(axis=(-2, -1)))                      # (B, C)
        self.save_for_backward(h.shape)
        return BaseModelOutputWithPoolingAndNoAttention(last_hidden_state=h, pooler_output=pooled,
                                                        hidden_states=hidden_states)

    def _backward(self, grads):
        (shape,) = self.saved()
        b, c, hh, ww = shape
        d = zeros_if_none(grads.get("last_hidden_state"), shape, self.dtype)
        d_pooled = zeros_if_none(grads.get("pooler_output"), (b, c), self.dtype)
        d_mean = self.layernorm.backward(d_pooled)                          # (B, C)
        d = d + (d_mean / (hh * ww))[:, :, None, None]                      # the mean spreads evenly over H, W
        d = self.encoder.backward(d, grads.get("hidden_states"))
        return {"pixel_values": self.embeddings.backward(d)}


class ConvNextForImageClassification(ConvNextPreTrainedModel):
    """classifier(pooler_output): (B, num_labels); num_labels = 0 gives the pooled features themselves.

    labels: float (B,) for regression (num_labels == 1), int (B,) for single-label, float (B, C) 0/1 for
    multi-label; problem_type None is decided as transformers does (refimpl.models.task_losses).
    """

    base_model_class = ConvNextModel

    def __init__(self, config: ConvNextConfigBase, dtype=np.float64):
        super().__init__(config, dtype)
        setattr(self, self.base_model_prefix, self.base_model_class(config, self._dtype))
        if config.num_labels > 0:
            self.classifier = Linear(config.hidden_sizes[config.num_stages - 1], config.num_labels, dtype=self._dtype)
        else:
            self.classifier = Identity()
        self.post_init()

    def forward(self, *, pixel_values=None, labels=None, output_hidden_states=None, rng=None):
        out = self.base_model(pixel_values=pixel_values, output_hidden_states=output_hidden_states, rng=rng)
        logits = self.classifier(out.pooler_output)                         # (B, num_labels)
        loss, target, kind = sequence_classification_head(logits, labels, self.config, self.dtype)
        self.save_for_backward(logits, target, kind)
        return ImageClassifierOutputWithNoAttention(loss=loss, logits=logits, hidden_states=out.hidden_states)

    def _backward(self, grads):
        logits, target, kind = self.saved()
        d_logits = logits_grad(grads, logits, self.dtype, sequence_classification_loss_backward, target, kind)
        return base_backward(self, grads, pooler_output=self.classifier.backward(d_logits))
