"""Self-checks for Conv1d, Conv2d (dense and depthwise), MaxPool2d and AdaptiveAvgPool2d."""
import numpy as np

from ...nn.conv import Conv1d, Conv2d
from ...nn.pooling import AdaptiveAvgPool2d, MaxPool2d
from ..selfcheck import register_layer_checks


def _x(shape, dtype=np.float64):
    return np.random.default_rng(0).standard_normal(shape).astype(dtype)


# label: (input shape, refimpl factory(dtype), torch factory(torch))
_LAYERS = {
    "nn.Conv1d": ((2, 4, 9),
                  lambda dt: Conv1d(4, 6, 3, stride=2, padding=1, groups=2, dtype=dt),
                  lambda torch: torch.nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2)),
    "nn.Conv2d": ((2, 3, 7, 6),
                  lambda dt: Conv2d(3, 4, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2), dtype=dt),
                  lambda torch: torch.nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2))),
    "nn.Conv2d(depthwise)": ((2, 4, 7, 6),
                             lambda dt: Conv2d(4, 4, 4, padding="same", groups=4, dtype=dt),
                             lambda torch: torch.nn.Conv2d(4, 4, 4, padding="same", groups=4)),
    "nn.MaxPool2d": ((2, 3, 7, 6),
                     lambda dt: MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
                     lambda torch: torch.nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)),
    "nn.AdaptiveAvgPool2d": ((2, 3, 7, 5),
                             lambda dt: AdaptiveAvgPool2d((3, 2)),
                             lambda torch: torch.nn.AdaptiveAvgPool2d((3, 2))),
}


def _register(label, shape, make_ref, make_torch):
    # torch warns that even-kernel "same" padding copies the input
    register_layer_checks(label, make_ref, make_torch, lambda dtype: [_x(shape, dtype)],
                          ignore_torch_warnings=(UserWarning,))


for _label, (_shape, _ref, _torch) in _LAYERS.items():
    _register(_label, _shape, _ref, _torch)
