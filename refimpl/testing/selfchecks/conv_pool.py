"""Self-checks for Conv1d, Conv2d (dense and depthwise), MaxPool2d and AdaptiveAvgPool2d."""
import numpy as np

from ...nn.conv import Conv1d, Conv2d
from ...nn.pooling import AdaptiveAvgPool2d, MaxPool2d
from ..gradcheck import gradcheck
from ..parity import compare_module_with_torch
from ..selfcheck import register_check


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
    @register_check(label, "gradcheck f64")
    def _grad():
        return gradcheck(make_ref(np.float64), [_x(shape)], raise_on_failure=False)

    def _parity(dtype):
        import torch
        import warnings
        torch.manual_seed(0)
        with warnings.catch_warnings():   # torch warns that even-kernel "same" copies the input
            warnings.simplefilter("ignore", UserWarning)
            return compare_module_with_torch(make_ref(dtype), make_torch(torch), [_x(shape, dtype)], dtype=dtype)

    @register_check(label, "torch f64")
    def _t64():
        return _parity(np.float64)

    @register_check(label, "torch f32")
    def _t32():
        return _parity(np.float32)


for _label, (_shape, _ref, _torch) in _LAYERS.items():
    _register(_label, _shape, _ref, _torch)
