"""Self-checks for the CTC loss: gradcheck w.r.t. log_probs (f64) and torch parity of
logits -> log_softmax -> ctc_loss (loss and d/dlogits, f64 and f32)."""
import numpy as np

from ...functional.activation import log_softmax, log_softmax_backward
from ...losses.ctc import ctc_loss, ctc_loss_backward
from ..gradcheck import gradcheck
from ..parity import compare_function_with_torch
from ..selfcheck import register_standard_checks

# repeats (1, 1), an empty target, a barely feasible sample (4 labels + 1 repeat = 5 frames), blank = 2
_TARGETS = np.array([[1, 1, 3, 0], [0, 0, 0, 0], [3, 1, 3, 3]])
_S = np.array([3, 0, 4])
_L = np.array([6, 4, 5])
_KW = dict(blank=2, reduction="mean")


def _logits(dtype):
    return np.random.default_rng(0).standard_normal((6, 3, 4)).astype(dtype)


def _gradcheck():
    return gradcheck(lambda lp: ctc_loss(lp, _TARGETS, _L, _S, **_KW), [_logits(np.float64)],
                     backward=lambda g, lp: ctc_loss_backward(g, lp, _TARGETS, _L, _S, **_KW),
                     raise_on_failure=False)


def _torch(dtype):
    import torch
    x = _logits(dtype)
    lp = log_softmax(x, -1)
    t_args = [torch.from_numpy(a) for a in (_TARGETS, _L, _S)]
    return compare_function_with_torch(
        lambda x: ctc_loss(lp, _TARGETS, _L, _S, **_KW),
        lambda g: log_softmax_backward(ctc_loss_backward(g, lp, _TARGETS, _L, _S, **_KW), None, -1, y=lp),
        lambda xt: torch.nn.functional.ctc_loss(xt.log_softmax(-1), *t_args, **_KW), [x], dtype=dtype)


register_standard_checks("losses.ctc_loss", _gradcheck, _torch)
