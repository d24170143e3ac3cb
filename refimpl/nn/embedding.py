"""Embedding table (torch.nn.Embedding)."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..core.module import Module
from ..core.parameter import Parameter
from ..core.validation import as_dtype, check_positive_int
from ..functional.embedding import embedding, embedding_backward, normalize_padding_idx
from .init import normal


class Embedding(Module):
    """y = weight[input_ids].

    input_ids: integer array of any shape (...), values in [0, num_embeddings) -> y: (..., embedding_dim),
    the module dtype (float64 by default). Param: weight (num_embeddings, embedding_dim).
    padding_idx: that row starts at zero and never receives gradient (negative values count from the
    end, as in torch). Initialised N(0, 1) like torch from `rng` (default seed 0); checkpoints overwrite it.
    backward(dy) adds into weight.grad and returns None (integer ids have no gradient).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: Optional[int] = None, *,
                 dtype=np.float64, rng: Optional[np.random.Generator] = None):
        super().__init__()
        self.num_embeddings = check_positive_int(num_embeddings, "num_embeddings")
        self.embedding_dim = check_positive_int(embedding_dim, "embedding_dim")
        self.padding_idx = normalize_padding_idx(padding_idx, self.num_embeddings)
        dt = as_dtype(dtype)
        rng = rng if rng is not None else np.random.default_rng(0)
        w = normal(rng, (self.num_embeddings, self.embedding_dim), 1.0, dt)
        if self.padding_idx is not None:
            w[self.padding_idx] = 0.0                          # torch zeroes the pad row at init
        self.weight = Parameter(w)

    def forward(self, input_ids: np.ndarray) -> np.ndarray:
        y = embedding(input_ids, self.weight.data, self.padding_idx)   # (..., D); validates input_ids
        self.save_for_backward(input_ids)
        return y

    def backward(self, dy: np.ndarray):
        (input_ids,) = self.saved()
        _, dweight = embedding_backward(dy, input_ids, self.weight.data, self.padding_idx)
        self.weight.accumulate(dweight)                        # dL/dW: scatter-add of dy rows, pad row 0
        return None                                            # integer ids: no gradient

    def extra_repr(self):
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"
