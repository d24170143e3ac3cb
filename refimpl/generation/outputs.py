"""What generate() returns with return_dict_in_generate=True (transformers' GenerateDecoderOnlyOutput /
GenerateBeamDecoderOnlyOutput, and their encoder-decoder twins, in one class each)."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..core.model import ModelOutput

__all__ = ["GenerateOutput", "GenerateBeamOutput"]


class GenerateOutput(ModelOutput):
    """Greedy search and sampling.

    sequences: (B * num_return_sequences, L_out) int64 - prompt (decoder prompt for encoder-decoder
        models) + generated tokens; rows that finished early are filled with pad_token_id.
    scores: tuple over steps of (B * num_return_sequences, V) - the PROCESSED next-token scores
        (after every logits processor / warper) when output_scores=True.
    logits: tuple over steps of (B * num_return_sequences, V) - the raw model logits when output_logits=True.
    encoder_outputs: the encoder's output (encoder-decoder models).
    past_key_values: the final key/value cache (when use_cache=True).
    """
    sequences: Optional[np.ndarray] = None
    scores: Optional[tuple] = None
    logits: Optional[tuple] = None
    encoder_outputs: Optional[object] = None
    past_key_values: Optional[tuple] = None


class GenerateBeamOutput(ModelOutput):
    """Beam search and beam sampling.

    sequences: (B * num_return_sequences, L_out) int64, best first within each prompt; hypotheses
        shorter than L_out are filled with the beam fill token (pad_token_id, see beam_search.py).
    sequences_scores: (B * num_return_sequences,) - final score sum(log p) / gen_len ** length_penalty
        (when output_scores=True).
    scores: tuple over steps of (B * num_beams, V) - processed log-probabilities per running beam
        (before adding the beam's running score), when output_scores=True.
    logits: tuple over steps of (B * num_beams, V) raw logits, when output_logits=True.
    beam_indices: (B * num_return_sequences, L_out - prompt_len) int64 - at each generated step, the
        row (b * num_beams + beam) of `scores` the hypothesis came from; -1 after it ended.
    """
    sequences: Optional[np.ndarray] = None
    sequences_scores: Optional[np.ndarray] = None
    scores: Optional[tuple] = None
    logits: Optional[tuple] = None
    beam_indices: Optional[np.ndarray] = None
    encoder_outputs: Optional[object] = None
    past_key_values: Optional[tuple] = None
