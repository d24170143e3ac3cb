"""Self-checks for LayerNorm (both data formats), RMSNorm, GroupNorm, BatchNorm2d (train, eval), FrozenBatchNorm2d."""
import numpy as np

from ...nn.normalization import BatchNorm2d, FrozenBatchNorm2d, GroupNorm, LayerNorm, RMSNorm
from ..selfcheck import register_layer_checks


def _x(shape, dtype=np.float64, seed=1):
    # seed 1: not the cotangent seed gradcheck uses (a cotangent equal to x zeroes a LayerNorm gradient)
    return (np.random.default_rng(seed).standard_normal(shape) + 0.3).astype(dtype)


def _randomize(module, seed=2):
    """Non-trivial weights and statistics in a refimpl module (all float parameters and buffers)."""
    rng = np.random.default_rng(seed)
    for _, p in module.named_parameters():
        p.data[...] = 1.0 + 0.5 * rng.standard_normal(p.shape)
    for name, b in module.named_buffers():
        if np.issubdtype(b.dtype, np.floating):
            b[...] = 0.5 + np.abs(rng.standard_normal(b.shape))
    return module


def _torch_randomize(torch_module, seed=2):
    import torch
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, t in list(torch_module.named_parameters()) + list(torch_module.named_buffers()):
            if t.is_floating_point():
                t.copy_(0.5 + torch.randn(t.shape, generator=g, dtype=t.dtype).abs())
    return torch_module


def _register(layer, make_ref, make_torch, shape, train=True):
    """gradcheck f64 + torch f64 + torch f32 for one layer configuration, in train or eval mode.

    The refimpl module gets non-trivial weights and statistics for the gradcheck; in the torch checks
    they are overwritten by the (randomized) torch module's.
    """
    register_layer_checks(layer, lambda dtype: _randomize(make_ref(dtype)).train(train),
                          lambda torch: _torch_randomize(make_torch()).train(train),
                          lambda dtype: [_x(shape, dtype)])


def _torch_layernorm(*args, **kw):
    import torch
    return torch.nn.LayerNorm(*args, **kw)


def _torch_channels_first_layernorm(c, eps):
    import torch

    class ChannelsFirstLayerNorm(torch.nn.LayerNorm):   # ConvNeXT's: C last, LayerNorm, C back
        def forward(self, x):
            return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    return ChannelsFirstLayerNorm(c, eps=eps)


def _torch_module(name, *args, **kw):
    import torch
    return getattr(torch.nn, name)(*args, **kw)


_register("nn.LayerNorm", lambda dt: LayerNorm((3, 4), eps=1e-12, dtype=dt),
          lambda: _torch_layernorm((3, 4), eps=1e-12), (2, 3, 4))
_register("nn.LayerNorm channels_first", lambda dt: LayerNorm(4, eps=1e-6, data_format="channels_first", dtype=dt),
          lambda: _torch_channels_first_layernorm(4, 1e-6), (2, 4, 3, 2))
_register("nn.RMSNorm", lambda dt: RMSNorm(6, eps=1e-6, dtype=dt),
          lambda: _torch_module("RMSNorm", 6, eps=1e-6), (2, 3, 6))
_register("nn.GroupNorm", lambda dt: GroupNorm(2, 4, dtype=dt),
          lambda: _torch_module("GroupNorm", 2, 4), (2, 4, 3, 2))
_register("nn.GroupNorm (Wav2Vec2, G=C)", lambda dt: GroupNorm(4, 4, dtype=dt),
          lambda: _torch_module("GroupNorm", 4, 4), (2, 4, 7))
_register("nn.BatchNorm2d train", lambda dt: BatchNorm2d(3, dtype=dt),
          lambda: _torch_module("BatchNorm2d", 3), (2, 3, 2, 3), train=True)
_register("nn.BatchNorm2d eval", lambda dt: BatchNorm2d(3, dtype=dt),
          lambda: _torch_module("BatchNorm2d", 3), (2, 3, 2, 3), train=False)
# DETR's frozen BN is BatchNorm2d in eval mode with eps 1e-5; torch's num_batches_tracked key is ignored on load
_register("nn.FrozenBatchNorm2d", lambda dt: FrozenBatchNorm2d(3, dtype=dt),
          lambda: _torch_module("BatchNorm2d", 3), (2, 3, 2, 3), train=False)
