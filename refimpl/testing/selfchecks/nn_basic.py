"""Self-checks for the foundation layers: activations, softmax, Dropout, DropPath, Embedding."""
import numpy as np

from ...core.module import Module
from ...nn.activation import GELU, LogSoftmax, QuickGELU, ReLU, Sigmoid, SiLU, Softmax, Tanh
from ...nn.dropout import Dropout, DropPath
from ...nn.embedding import Embedding
from ..gradcheck import gradcheck
from ..parity import compare_function_with_torch, compare_module_with_torch
from ..selfcheck import register_layer_checks, register_standard_checks


def _x(dtype=np.float64, shape=(2, 3, 4)):
    x = np.random.default_rng(0).standard_normal(shape) * 2.0
    return np.where(np.abs(x) < 0.05, 0.1, x).astype(dtype)     # away from ReLU's kink


def _torch_dtype(dtype):
    import torch
    return torch.float64 if np.dtype(dtype) == np.float64 else torch.float32


# ---------------------------------------------------------------------------------------------- activations
def _quick_gelu_torch(torch):
    class QuickGELUTorch(torch.nn.Module):  # transformers' "quick_gelu", written from its definition
        def forward(self, t):
            return t * torch.sigmoid(1.702 * t)
    return QuickGELUTorch()


_ACTIVATIONS = {  # label: (refimpl factory, torch factory(torch))
    "nn.GELU": (GELU, lambda torch: torch.nn.GELU()),
    "nn.GELU(tanh)": (lambda: GELU("tanh"), lambda torch: torch.nn.GELU(approximate="tanh")),
    "nn.QuickGELU": (QuickGELU, _quick_gelu_torch),
    "nn.ReLU": (ReLU, lambda torch: torch.nn.ReLU()),
    "nn.SiLU": (SiLU, lambda torch: torch.nn.SiLU()),
    "nn.Sigmoid": (Sigmoid, lambda torch: torch.nn.Sigmoid()),
    "nn.Tanh": (Tanh, lambda torch: torch.nn.Tanh()),
    "nn.Softmax": (lambda: Softmax(1), lambda torch: torch.nn.Softmax(1)),
    "nn.LogSoftmax": (lambda: LogSoftmax(-1), lambda torch: torch.nn.LogSoftmax(-1)),
}


def _register_activation(label, ref_factory, torch_factory):
    # activations hold no parameters and take any float dtype: the module is built without one
    register_layer_checks(label, lambda dtype: ref_factory(), torch_factory, lambda dtype: [_x(dtype)])


for _label, (_ref, _tf) in _ACTIVATIONS.items():
    _register_activation(_label, _ref, _tf)


# ---------------------------------------------------------------------------------------------- dropout / drop path
def _dropout_mask_from_torch(shape, p, dtype, seed):
    import torch
    torch.manual_seed(seed)
    return torch.nn.functional.dropout(torch.ones(shape, dtype=_torch_dtype(dtype)), p, training=True).numpy()


def _fixed_mask(shape, keep_prob, per_sample=False):
    rng = np.random.default_rng(1)
    mshape = (shape[0],) + (1,) * (len(shape) - 1) if per_sample else shape
    return (rng.random(mshape) < keep_prob) / keep_prob


def _dropout_grad():
    x = _x()
    return gradcheck(Dropout(0.4), [x], kwargs={"mask": _fixed_mask(x.shape, 0.6)}, raise_on_failure=False)


def _dropout_torch(dtype):
    """Replay torch's own mask (dropout of ones under a seed), then run torch's dropout under the same seed."""
    import torch
    p, seed, x = 0.3, 17, _x(dtype)
    mask = _dropout_mask_from_torch(x.shape, p, dtype, seed)
    ref = Dropout(p)

    def torch_forward(t):
        torch.manual_seed(seed)
        return torch.nn.functional.dropout(t, p, training=True)
    return compare_function_with_torch(lambda v: ref(v, mask=mask), ref.backward, torch_forward, [x], dtype=dtype)


register_standard_checks("nn.Dropout", _dropout_grad, _dropout_torch)


def _drop_path_grad():
    x = _x(shape=(4, 3, 2))
    return gradcheck(DropPath(0.5), [x], kwargs={"mask": _fixed_mask(x.shape, 0.5, per_sample=True)},
                     raise_on_failure=False)


def _drop_path_torch(dtype):
    """Against the per-sample rule of transformers' DropPath, x.div(keep_prob) * floor(keep_prob + U), same U."""
    import torch
    p, x = 0.5, _x(dtype, (4, 3, 2))
    keep_prob = 1.0 - p
    u = np.random.default_rng(2).random((4, 1, 1)).astype(dtype)
    mask = (np.floor(keep_prob + u) / keep_prob).astype(dtype)
    ref = DropPath(p)

    def torch_forward(t):
        r = torch.floor(torch.from_numpy(u) + keep_prob)
        return t.div(keep_prob) * r
    return compare_function_with_torch(lambda v: ref(v, mask=mask), ref.backward, torch_forward, [x], dtype=dtype)


register_standard_checks("nn.DropPath", _drop_path_grad, _drop_path_torch)


# ---------------------------------------------------------------------------------------------- embedding
class _IdsOnly(Module):
    # gradcheck expects one gradient per float input; Embedding has none and returns None for its ids
    def __init__(self, emb):
        super().__init__()
        self.emb = emb

    def forward(self, ids):
        return self.emb(ids)

    def backward(self, dy):
        self.emb.backward(dy)
        return ()


_IDS = np.array([[1, 4, 4, 0], [4, 2, 0, 9]])     # repeated ids and pad tokens (id 0)


def _emb_grad():
    ids = np.where(_IDS == 0, 3, _IDS)            # the pad row's zero gradient is a convention, not a derivative
    return gradcheck(_IdsOnly(Embedding(10, 5, padding_idx=0)), [ids], raise_on_failure=False)


def _emb_torch(dtype):
    import torch
    torch.manual_seed(0)
    tm = torch.nn.Embedding(10, 5, padding_idx=0)
    with torch.no_grad():
        tm.weight.normal_()                       # a non-zero pad row, as in a trained checkpoint
    return compare_module_with_torch(Embedding(10, 5, padding_idx=0, dtype=dtype), tm, [_IDS], dtype=dtype)


register_standard_checks("nn.Embedding", _emb_grad, _emb_torch)
