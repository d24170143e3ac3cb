"""Wav2Vec2's quirks for the parity tests: transformers' float32 islands neutralised in float64 runs
(float64_transformers), and run_parity = tests/models/hf_parity.run_parity with that neutralisation and
float32 cotangents of std 0.1 (input_values is the differentiable input; 0-d outputs such as the losses and
the perplexity can be cotangent fields)."""
from __future__ import annotations

import contextlib
from typing import Optional

import numpy as np

from tests.models import hf_parity


@contextlib.contextmanager
def float64_transformers(torch, enabled: bool = True):
    """Neutralise transformers' float32 islands in a float64 Wav2Vec2 run (HF_TINY_MODELS.md).

    - Tensor.float() is the identity on float64 tensors: Wav2Vec2ForPreTraining calls .float() on the
      cosine-similarity inputs, the contrastive cross-entropy logits, the gumbel-softmax logits and the
      perplexity softmax input (then .type_as back to float64);
    - torch.nn.functional.log_softmax ignores dtype=torch.float32 for float64 input: transformers'
      ForCTCLoss computes log_softmax(logits, dtype=torch.float32).
    Everything else runs unchanged. float32 runs need nothing (the casts are no-ops there).
    """
    if not enabled:
        yield
        return
    orig_float = torch.Tensor.float
    orig_log_softmax = torch.nn.functional.log_softmax

    def float_(self, *args, **kwargs):
        return self if self.dtype == torch.float64 else orig_float(self, *args, **kwargs)

    def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
        if input.dtype == torch.float64 and dtype == torch.float32:
            dtype = None
        return orig_log_softmax(input, dim=dim, dtype=dtype)

    torch.Tensor.float = float_
    torch.nn.functional.log_softmax = log_softmax
    try:
        yield
    finally:
        torch.Tensor.float = orig_float
        torch.nn.functional.log_softmax = orig_log_softmax


def run_parity(ref, hf, inputs: dict, *, dtype, torch, neutralise: bool = True, hf_context=None,
               cotangent_scale: Optional[float] = None, **kwargs) -> hf_parity.ParityReport:
    """hf_parity.run_parity with float64_transformers around transformers' forward and backward (unless
    neutralise=False) besides hf_context (e.g. a gumbel-softmax patch).

    cotangent_scale: std of the random cotangents; default 1 in float64 and 0.1 in float32. The float32 table
    is elementwise (atol 1e-5): standard-normal cotangents on every hidden state, summed over ~100 audio
    samples, give parameter gradients up to ~100 whose float32 rounding (~1e-5 absolute, the same size in
    refimpl and in transformers) exceeds it on the small entries; 0.1 keeps the gradients O(1-10).
    """
    if cotangent_scale is None:
        cotangent_scale = 1.0 if np.dtype(dtype) == np.float64 else 0.1

    @contextlib.contextmanager
    def context():
        with float64_transformers(torch, neutralise and np.dtype(dtype) == np.float64):
            with (hf_context() if hf_context is not None else contextlib.nullcontext()):
                yield

    return hf_parity.run_parity(ref, hf, inputs, dtype=dtype, torch=torch, hf_context=context,
                                cotangent_scale=cotangent_scale, **kwargs)
