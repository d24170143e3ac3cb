"""Losses with torch.nn.functional names and semantics: `loss(...)` returns a Python float
("mean"/"sum"; CTC returns a 0-d array) or an array ("none"); `loss_backward(grad, <same args>)` returns the gradient(s)
w.r.t. the float input(s)."""
from .binary_cross_entropy import binary_cross_entropy_with_logits, binary_cross_entropy_with_logits_backward
from .ctc import check_ctc_feasible, ctc_loss, ctc_loss_backward, ctc_min_input_lengths
from .cross_entropy import cross_entropy, cross_entropy_backward
from .regression import (huber_loss, huber_loss_backward, l1_loss, l1_loss_backward, mse_loss, mse_loss_backward,
                         smooth_l1_loss, smooth_l1_loss_backward)

__all__ = [
    "cross_entropy", "cross_entropy_backward",
    "binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_backward",
    "mse_loss", "mse_loss_backward", "l1_loss", "l1_loss_backward",
    "smooth_l1_loss", "smooth_l1_loss_backward", "huber_loss", "huber_loss_backward",
    "ctc_loss", "ctc_loss_backward", "ctc_min_input_lengths", "check_ctc_feasible",
]
