"""Text generation shared by decoder-only (GPT-2) and encoder-decoder (BART, T5) models.

    from refimpl.generation import generate, GenerationConfig
    ids = generate(model, input_ids, attention_mask, max_new_tokens=10, num_beams=4)
    out = generate(model, input_ids, do_sample=True, top_p=0.9, rng=np.random.default_rng(0),
                   return_dict_in_generate=True, output_scores=True)

Semantics follow transformers 5.x `generate()` (greedy, sampling, beam search with its exact
bookkeeping, the logits processors and their order); see utils.py for the model interface.
"""
from .beam_search import beam_fill_value
from .configuration import GLOBAL_DEFAULTS, GenerationConfig
from .logits_process import (ForcedBOSTokenLogitsProcessor, ForcedEOSTokenLogitsProcessor,
                             InfNanRemoveLogitsProcessor, LogitNormalization, LogitsProcessor, LogitsProcessorList,
                             MinLengthLogitsProcessor, MinNewTokensLengthLogitsProcessor, NoBadWordsLogitsProcessor,
                             NoRepeatNGramLogitsProcessor, RepetitionPenaltyLogitsProcessor,
                             SequenceBiasLogitsProcessor, SuppressTokensAtBeginLogitsProcessor,
                             SuppressTokensLogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper,
                             TopPLogitsWarper, build_logits_processor)
from .outputs import GenerateBeamOutput, GenerateOutput
from .sampling import multinomial, sample_next_tokens
from .stopping_criteria import EosTokenCriteria, MaxLengthCriteria, StoppingCriteria, StoppingCriteriaList
from .utils import GenerationMixin, generate, model_max_positions, reorder_cache

__all__ = [
    "generate", "GenerationMixin", "GenerationConfig", "GLOBAL_DEFAULTS", "GenerateOutput", "GenerateBeamOutput",
    "LogitsProcessor", "LogitsProcessorList", "build_logits_processor", "TemperatureLogitsWarper",
    "TopKLogitsWarper", "TopPLogitsWarper", "RepetitionPenaltyLogitsProcessor", "NoRepeatNGramLogitsProcessor",
    "MinLengthLogitsProcessor", "MinNewTokensLengthLogitsProcessor", "SequenceBiasLogitsProcessor",
    "NoBadWordsLogitsProcessor", "ForcedBOSTokenLogitsProcessor", "ForcedEOSTokenLogitsProcessor",
    "InfNanRemoveLogitsProcessor", "LogitNormalization", "SuppressTokensLogitsProcessor",
    "SuppressTokensAtBeginLogitsProcessor", "StoppingCriteria", "StoppingCriteriaList", "MaxLengthCriteria",
    "EosTokenCriteria", "multinomial", "sample_next_tokens", "model_max_positions", "reorder_cache",
    "beam_fill_value",
]
