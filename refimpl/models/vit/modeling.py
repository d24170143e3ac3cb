"""ViT (Dosovitskiy et al., 2021): an image as a sequence of patches through a pre-LN Transformer encoder.

    pixel_values (B, C, H, W) ─ Conv2d(kernel = stride = patch) ─ flatten ─ (B, N, E)      patch_embeddings
        [optional: masked patches replaced by mask_token (bool_masked_pos)]
    h_0 = dropout([cls_token; patches] + position_embeddings)                              (B, N + 1, E)
          (position table bicubically resized to the patch grid with interpolate_pos_encoding)
    h_l = ViTLayer(h_{l-1}),  l = 1..L  (pre-LN):
        a   = h + dropout(W_o · MultiHeadSelfAttention(layernorm_before(h)))               attention
        h'  = a + dropout(W_2 · act(W_1 · layernorm_after(a)))                             intermediate / output
    last_hidden_state = layernorm(h_L);  pooler: act(W_p · last_hidden_state[:, 0])       (B, E)

Heads (transformers 5.24):
    ViTForImageClassification   classifier on last_hidden_state[:, 0] (the [CLS] token after the final
                                LayerNorm; NOT the pooler, which this head does not build);
                                MSE / CE / BCE-with-logits by problem_type, as transformers decides it.

Parameter names are the checkpoint keys (what transformers 5.24 writes with save_pretrained and what
the Hub's ViT checkpoints hold): `vit.encoder.layer.N.attention.attention.query.weight`,
`...attention.output.dense`, `...intermediate.dense`, `...output.dense`, `layernorm_before/after`.
transformers 5.24 renames them on load to `vit.layers.N.attention.q_proj`, `o_proj`, `mlp.fc1`, ...
(its conversion_mapping.py); the math is identical.

interpolate_pos_encoding (transformers' rule, kept exactly): the table is used as is when the image
has as many patches as the table has positions AND height == width; otherwise its patch part, a
square sqrt(N_table) grid, is resized with bicubic interpolation (A = -0.75, align_corners=False) to
(H // patch_h, W // patch_w) given as an explicit size (no scale_factor arithmetic), and the [CLS]
position is kept. Without interpolate_pos_encoding the image must be exactly config.image_size.
With it, an image whose sides are not multiples of the patch size loses its border remainder,
as the strided convolution in transformers does.

Attention: softmax(q k^T / sqrt(Dh)) v through the dispatchable scaled_dot_product_attention (as
transformers' default sdpa path). transformers' eager path computes the softmax in float32 even for
float64 models; output_attentions returns the probabilities (after attention dropout).
Dropout: in training mode every forward needs `rng`; masks are drawn in transformers' order
(embeddings; per layer: attention probabilities, attention output, MLP output).
"""
from __future__ import annotations

import math

import numpy as np

from ...core.errors import ConfigError, DTypeError, ShapeError
from ...core.model import PreTrainedModel
from ...core.module import Module
from ...core.parameter import Parameter
from ...functional.interpolate import interpolate, interpolate_backward
from ...nn.activation import get_activation
from ...nn.attention_heads import AttentionHeads
from ...nn.conv import Conv2d
from ...nn.dropout import Dropout
from ...nn.init import normal
from ...nn.layer_stack import LayerStack
from ...nn.linear import Identity, Linear
from ...nn.normalization import LayerNorm
from ..bert.modeling import BertIntermediate
from ..heads import FirstTokenPooler, first_token_backward, logits_grad, sequence_classification_head
from ..inputs import check_pixel_values, padding_keep_mask
from ..modeling_utils import apply_dropout, base_backward, init_weights, output_flags, require_rng, zeros_if_none
from ..outputs import BaseModelOutputWithPooling, ImageClassifierOutput
from ..task_losses import sequence_classification_loss_backward
from .config import ViTConfig

__all__ = ["ViTModel", "ViTPreTrainedModel", "ViTForImageClassification", "BaseModelOutputWithPooling",
           "ImageClassifierOutput"]


# ============================================================================================ embeddings
class ViTPatchEmbeddings(Module):
    """projection: Conv2d(C, E, kernel = stride = patch); (B, C, H, W) -> (B, (H/p)(W/p), E) row-major patches."""

    def __init__(self, config: ViTConfig, dtype):
        super().__init__()
        self.patch_size = config.patch_hw
        self.projection = Conv2d(config.num_channels, config.hidden_size, kernel_size=self.patch_size,
                                 stride=self.patch_size, dtype=dtype)

    def forward(self, pixel_values):
        y = self.projection(pixel_values)                                  # (B, E, h, w)
        b, e, gh, gw = y.shape
        self.save_for_backward(y.shape)
        return y.reshape(b, e, gh * gw).transpose(0, 2, 1), (gh, gw)      # (B, N, E), grid

    def backward(self, dy):
        (shape,) = self.saved()
        dgrid = dy.transpose(0, 2, 1).reshape(shape)                       # (B, E, h, w): undo flatten/transpose
        return self.projection.backward(np.ascontiguousarray(dgrid))


class ViTEmbeddings(Module):
    """dropout([cls_token; patches (mask_token where masked)] + position_embeddings (resized if asked))."""

    def __init__(self, config: ViTConfig, dtype, use_mask_token: bool = False):
        super().__init__()
        e = config.hidden_size
        self.image_size = config.image_hw
        self.cls_token = Parameter(np.zeros((1, 1, e), dtype))
        if use_mask_token:
            self.mask_token = Parameter(np.zeros((1, 1, e), dtype))
        else:
            self.register_parameter("mask_token", None)
        self.patch_embeddings = ViTPatchEmbeddings(config, dtype)
        ph, pw = config.patch_hw
        self.num_patches = (self.image_size[0] // ph) * (self.image_size[1] // pw)
        self.position_embeddings = Parameter(np.zeros((1, self.num_patches + 1, e), dtype))
        self.dropout = Dropout(config.hidden_dropout_prob)

    # ---------------------------------------------------------------- the position table at another size
    def _resize_plan(self, grid, height, width):
        """None when transformers uses the table as is, else (side of the stored grid, new grid)."""
        num_positions = self.num_patches
        if grid[0] * grid[1] == num_positions and height == width:
            return None
        side = int(math.isqrt(num_positions))
        if side * side != num_positions:
            raise ConfigError(f"interpolate_pos_encoding: the position table has {num_positions} patch positions "
                              f"(config.image_size {self.image_size}), not a square grid; transformers can only "
                              f"resize a square one")
        return side, grid

    def _resized_table(self, plan):
        side, grid = plan
        e = self.position_embeddings.shape[-1]
        table = self.position_embeddings.data
        src = table[:, 1:].reshape(1, side, side, e).transpose(0, 3, 1, 2)              # (1, E, s, s)
        resized = interpolate(np.ascontiguousarray(src), size=grid, mode="bicubic", align_corners=False)
        patch_pos = resized.transpose(0, 2, 3, 1).reshape(1, grid[0] * grid[1], e)     # (1, h*w, E)
        return np.concatenate([table[:, :1], patch_pos], axis=1)                        # (1, 1 + h*w, E)

    def _resized_table_backward(self, d_table, plan):
        side, grid = plan
        e = d_table.shape[-1]
        d_patch = d_table[:, 1:].reshape(1, grid[0], grid[1], e).transpose(0, 3, 1, 2)  # (1, E, h, w)
        src_like = np.broadcast_to(np.zeros((), d_table.dtype), (1, e, side, side))
        d_src = interpolate_backward(np.ascontiguousarray(d_patch), src_like, size=grid, mode="bicubic",
                                     align_corners=False)                               # (1, E, s, s)
        d_src = d_src.transpose(0, 2, 3, 1).reshape(1, side * side, e)
        return np.concatenate([d_table[:, :1], d_src], axis=1)                          # (1, 1 + s*s, E)

    # ---------------------------------------------------------------- forward / backward
    def forward(self, pixel_values, bool_masked_pos=None, interpolate_pos_encoding=False, rng=None):
        b, _, height, width = pixel_values.shape
        x, grid = self.patch_embeddings(pixel_values)                                   # (B, N, E)
        m = None
        if bool_masked_pos is not None:
            m = bool_masked_pos.astype(x.dtype)[..., None]                             # (B, N, 1)
            x = x * (1 - m) + self.mask_token.data * m                                  # masked patches -> token
        cls = np.broadcast_to(self.cls_token.data, (b, 1, x.shape[-1]))
        x = np.concatenate([cls, x], axis=1)                                            # (B, N + 1, E)
        plan = self._resize_plan(grid, height, width) if interpolate_pos_encoding else None
        table = self.position_embeddings.data if plan is None else self._resized_table(plan)
        self.save_for_backward(m, plan)
        return apply_dropout(self.dropout, x + table, rng)

    def backward(self, dy):
        m, plan = self.saved()
        d = self.dropout.backward(dy)                                                   # (B, N + 1, E)
        d_table = d.sum(axis=0, keepdims=True)                                          # one table for the batch
        self.position_embeddings.accumulate(d_table if plan is None else self._resized_table_backward(d_table, plan))
        self.cls_token.accumulate(d[:, :1].sum(axis=0, keepdims=True))                 # dL/dcls = sum_b d[:, 0]
        d_patches = d[:, 1:]
        if m is not None:
            self.mask_token.accumulate((d_patches * m).sum(axis=(0, 1), keepdims=True))  # masked slots read the token
            d_patches = d_patches * (1 - m)                                             # ... and not the patch
        return self.patch_embeddings.backward(d_patches)


# ============================================================================================ encoder
class ViTSelfAttention(Module):
    """query / key / value projections (bias = config.qkv_bias) + AttentionHeads."""

    def __init__(self, config: ViTConfig, dtype):
        super().__init__()
        e, h = config.hidden_size, config.num_attention_heads
        self.query = Linear(e, e, bias=config.qkv_bias, dtype=dtype)
        self.key = Linear(e, e, bias=config.qkv_bias, dtype=dtype)
        self.value = Linear(e, e, bias=config.qkv_bias, dtype=dtype)
        self.heads = AttentionHeads(h, e // h, config.attention_probs_dropout_prob)

    def forward(self, x, keep, output_attentions=False, rng=None):
        return self.heads(self.query(x), self.key(x), self.value(x), keep, output_attentions, rng)

    def backward(self, d_ctx, d_probs=None):
        dq, dk, dv = self.heads.backward(d_ctx, d_probs)
        return self.query.backward(dq) + self.key.backward(dk) + self.value.backward(dv)   # x feeds all three


class ViTSelfOutput(Module):
    """dropout(dense(context)): the attention's output projection (the residual is added in ViTLayer)."""

    def __init__(self, config: ViTConfig, dtype):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size, dtype=dtype)
        self.dropout = Dropout(config.hidden_dropout_prob)

    def forward(self, x, rng=None):
        return apply_dropout(self.dropout, self.dense(x), rng)

    def backward(self, dy):
        return self.dense.backward(self.dropout.backward(dy))


class ViTAttention(Module):
    def __init__(self, config: ViTConfig, dtype):
        super().__init__()
        self.attention = ViTSelfAttention(config, dtype)
        self.output = ViTSelfOutput(config, dtype)

    def forward(self, x, keep, output_attentions=False, rng=None):
        ctx, probs = self.attention(x, keep, output_attentions, rng)       # (B, L, E)
        return self.output(ctx, rng), probs

    def backward(self, dy, d_probs=None):
        return self.attention.backward(self.output.backward(dy), d_probs)


class ViTOutput(Module):
    """dropout(dense(intermediate)) + residual: the MLP's second half."""

    def __init__(self, config: ViTConfig, dtype):
        super().__init__()
        self.dense = Linear(config.intermediate_size, config.hidden_size, dtype=dtype)
        self.dropout = Dropout(config.hidden_dropout_prob)

    def forward(self, x, residual, rng=None):
        return apply_dropout(self.dropout, self.dense(x), rng) + residual

    def backward(self, dy):
        return self.dense.backward(self.dropout.backward(dy)), dy             # (d intermediate, d residual)


class ViTLayer(Module):
    """Pre-LN block: a = h + Attn(LN_before(h)); h' = a + MLP(LN_after(a))."""

    def __init__(self, config: ViTConfig, dtype):
        super().__init__()
        self.attention = ViTAttention(config, dtype)
        self.intermediate = BertIntermediate(config, dtype)                 # dense (E -> I) + act, as in BERT
        self.output = ViTOutput(config, dtype)
        self.layernorm_before = LayerNorm(config.hidden_size, eps=config.layer_norm_eps, dtype=dtype)
        self.layernorm_after = LayerNorm(config.hidden_size, eps=config.layer_norm_eps, dtype=dtype)

    def forward(self, h, keep, output_attentions=False, rng=None):
        attn, probs = self.attention(self.layernorm_before(h), keep, output_attentions, rng)
        a = attn + h                                                        # (B, L, E) first residual
        return self.output(self.intermediate(self.layernorm_after(a)), a, rng), probs

    def backward(self, dy, d_probs=None):
        d_inter, d_a = self.output.backward(dy)
        d_a = d_a + self.layernorm_after.backward(self.intermediate.backward(d_inter))   # residual + MLP path
        return d_a + self.layernorm_before.backward(self.attention.backward(d_a, d_probs))  # residual + attention


class ViTEncoder(LayerStack):
    def __init__(self, config: ViTConfig, dtype):
        super().__init__([ViTLayer(config, dtype) for _ in range(config.num_hidden_layers)])


class ViTPooler(FirstTokenPooler):
    """act(dense(h[:, 0])) with act = config.pooler_act: (B, L, E) -> (B, pooler_output_size)."""

    def __init__(self, config: ViTConfig, dtype):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.pooler_output_size, dtype=dtype)
        self.activation = get_activation(config.pooler_act)


# ============================================================================================ models
class ViTPreTrainedModel(PreTrainedModel):
    config_class = ViTConfig
    base_model_prefix = "vit"
    differentiable_inputs = ("pixel_values",)

    def post_init(self) -> None:
        std = self.config.initializer_range
        init_weights(self, std)                                  # Linear: N(0, std^2), bias 0
        rng = np.random.default_rng(1)
        for m in self.modules():
            if isinstance(m, Conv2d):
                m.weight.data = normal(rng, m.weight.shape, std, m.weight.dtype)
                m.bias.data = np.zeros_like(m.bias.data)
            elif isinstance(m, ViTEmbeddings):
                m.cls_token.data = normal(rng, m.cls_token.shape, std, m.cls_token.dtype)
                m.position_embeddings.data = normal(rng, m.position_embeddings.shape, std, m.cls_token.dtype)
        super().post_init()


class ViTModel(ViTPreTrainedModel):
    """Patch embeddings -> L pre-LN layers -> final LayerNorm -> (optional) pooler.

    forward(pixel_values, bool_masked_pos=None, interpolate_pos_encoding=None, attention_mask=None,
            output_attentions=None, output_hidden_states=None, rng=None) -> BaseModelOutputWithPooling
    pixel_values: (B, num_channels, H, W) of the model dtype; (H, W) == config.image_size unless
        interpolate_pos_encoding (then any size of at least one patch).
    bool_masked_pos: bool/int (B, N) (1 = replace the patch by mask_token); needs use_mask_token=True.
    attention_mask: optional (B, N + 1) of 1/0 over [CLS] + patches (keys with 0 are not attended).
    Outputs: last_hidden_state (B, N + 1, E) after the final LayerNorm; pooler_output (B, P) unless
    add_pooling_layer=False; hidden_states (L + 1 arrays (B, N + 1, E): the embeddings, then each layer's
    output, before the final LayerNorm); attentions (L arrays (B, H, N + 1, N + 1)).
    """

    def __init__(self, config: ViTConfig, dtype=np.float64, add_pooling_layer: bool = True,
                 use_mask_token: bool = False):
        super().__init__(config, dtype)
        self.embeddings = ViTEmbeddings(config, self._dtype, use_mask_token=use_mask_token)
        self.encoder = ViTEncoder(config, self._dtype)
        self.layernorm = LayerNorm(config.hidden_size, eps=config.layer_norm_eps, dtype=self._dtype)
        self.pooler = ViTPooler(config, self._dtype) if add_pooling_layer else None
        self.post_init()

    def _check_inputs(self, pixel_values, bool_masked_pos, interpolate_pos_encoding):
        cfg = self.config
        ph, pw = cfg.patch_hw
        b, _, h, w = check_pixel_values(pixel_values, cfg.num_channels, self.dtype, min_hw=(ph, pw))
        if not interpolate_pos_encoding and (h, w) != cfg.image_hw:
            hint = ""
            if h % ph or w % pw:
                hint = f" ({h}x{w} is not a multiple of the patch size {ph}x{pw} either)"
            raise ShapeError(f"pixel_values: image size {h}x{w} does not match config.image_size "
                             f"{cfg.image_hw[0]}x{cfg.image_hw[1]}{hint}; pass interpolate_pos_encoding=True to "
                             f"resize the position embeddings to the image")
        n = (h // ph) * (w // pw)
        if bool_masked_pos is not None:
            if self.embeddings.mask_token is None:
                raise ConfigError("bool_masked_pos: this model has no mask_token; build it with "
                                  "ViTModel(config, use_mask_token=True)")
            if not isinstance(bool_masked_pos, np.ndarray) or not (
                    bool_masked_pos.dtype == np.bool_ or np.issubdtype(bool_masked_pos.dtype, np.integer)):
                raise DTypeError(f"bool_masked_pos: expected a bool or integer numpy array, got "
                                 f"{getattr(bool_masked_pos, 'dtype', type(bool_masked_pos).__name__)}")
            if bool_masked_pos.shape != (b, n):
                raise ShapeError(f"bool_masked_pos: expected shape ({b}, {n}) (batch, patches), got "
                                 f"{bool_masked_pos.shape}")
            if bool_masked_pos.dtype != np.bool_ and not np.isin(bool_masked_pos, (0, 1)).all():
                raise ConfigError("bool_masked_pos: values must be 1 (masked) or 0")
        return b, n + 1

    def forward(self, *, pixel_values=None, bool_masked_pos=None, interpolate_pos_encoding=None,
                attention_mask=None, output_attentions=None, output_hidden_states=None, rng=None):
        cfg = self.config
        interpolate_pos_encoding = bool(interpolate_pos_encoding)
        b, seq = self._check_inputs(pixel_values, bool_masked_pos, interpolate_pos_encoding)
        keep = padding_keep_mask(attention_mask, (b, seq))                              # (B, 1, 1, N + 1)
        require_rng(self, rng)
        output_attentions, output_hidden_states = output_flags(cfg, output_attentions, output_hidden_states)

        h = self.embeddings(pixel_values, bool_masked_pos, interpolate_pos_encoding, rng)   # (B, N + 1, E)
        h, hidden_states, attentions = self.encoder(h, keep, output_hidden_states, output_attentions, rng)
        h = self.layernorm(h)                                                           # last_hidden_state
        pooled = self.pooler(h) if self.pooler is not None else None                    # (B, P)
        self.save_for_backward(h.shape)
        return BaseModelOutputWithPooling(last_hidden_state=h, pooler_output=pooled, hidden_states=hidden_states,
                                          attentions=attentions)

    def _backward(self, grads):
        (shape,) = self.saved()
        dh = zeros_if_none(grads.get("last_hidden_state"), shape, self.dtype)          # (B, N + 1, E)
        if self.pooler is not None:
            d_pooled = zeros_if_none(grads.get("pooler_output"), (shape[0], self.config.pooler_output_size),
                                     self.dtype)
            dh = dh + self.pooler.backward(d_pooled)                                    # the pooler reads h[:, 0]
        dh = self.layernorm.backward(dh)
        dh = self.encoder.backward(dh, grads.get("hidden_states"), grads.get("attentions"))
        return {"pixel_values": self.embeddings.backward(dh)}


class ViTForImageClassification(ViTPreTrainedModel):
    """classifier(last_hidden_state[:, 0]): (B, num_labels); num_labels = 0 gives the [CLS] state itself.

    labels: float (B,) for regression (num_labels == 1), int (B,) for single-label, float (B, C) 0/1 for
    multi-label; problem_type None is decided as transformers does (refimpl.models.task_losses).
    """

    def __init__(self, config: ViTConfig, dtype=np.float64):
        super().__init__(config, dtype)
        self.vit = ViTModel(config, self._dtype, add_pooling_layer=False)
        if config.num_labels > 0:
            self.classifier = Linear(config.hidden_size, config.num_labels, dtype=self._dtype)
        else:
            self.classifier = Identity()                        # transformers' nn.Identity: no parameters
        self.post_init()

    def forward(self, *, pixel_values=None, labels=None, interpolate_pos_encoding=None, attention_mask=None,
                output_attentions=None, output_hidden_states=None, rng=None):
        require_rng(self, rng)
        out = self.vit(pixel_values=pixel_values, interpolate_pos_encoding=interpolate_pos_encoding,
                       attention_mask=attention_mask, output_attentions=output_attentions,
                       output_hidden_states=output_hidden_states, rng=rng)
        h = out.last_hidden_state
        logits = self.classifier(np.ascontiguousarray(h[:, 0]))                        # (B, C)
        loss, target, kind = sequence_classification_head(logits, labels, self.config, self.dtype)
        self.save_for_backward(logits, target, kind, h.shape)
        return ImageClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states,
                                     attentions=out.attentions)

    def _backward(self, grads):
        logits, target, kind, shape = self.saved()
        d_logits = logits_grad(grads, logits, self.dtype, sequence_classification_loss_backward, target, kind)
        dh = first_token_backward(self.classifier.backward(d_logits), shape, self.dtype)   # only [CLS] was read
        return base_backward(self, grads, last_hidden_state=dh)
