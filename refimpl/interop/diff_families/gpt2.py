"""GPT-2 in `refimpl diff`: every head of refimpl.models.gpt2.

transformers' causal-LM loss upcasts the logits to float32 even in a float64 model
(HF_TINY_MODELS.md), so a float64 run gives the transformers model a float64 loss with the same
shift, ignore index and mean. The KV cache is off in both forwards (use_cache=False; the QA head has none).
"""
import numpy as np

from .base import Task, TextAdapter, register_family

_M = "refimpl.models.gpt2.modeling:"


def _float64_causal_lm_loss(logits, labels, vocab_size, **kwargs):
    """transformers' ForCausalLMLoss (labels shifted left by one, -100 ignored, mean) without its float32 upcast."""
    import torch
    shifted = torch.nn.functional.pad(labels, (0, 1), value=-100)[..., 1:]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, vocab_size), shifted.reshape(-1).to(logits.device),
                                             ignore_index=-100)


class GPT2Adapter(TextAdapter):
    name = "gpt2"
    model_type = "gpt2"
    hf_config_class = "GPT2Config"
    ref_config_class = "refimpl.models.gpt2.config:GPT2Config"
    tiny_config = dict(vocab_size=40, n_embd=24, n_layer=2, n_head=3, n_inner=37, n_positions=16, bos_token_id=1,
                       eos_token_id=1, pad_token_id=0)
    tasks = {
        "base": Task(_M + "GPT2Model", "GPT2Model"),
        "causal-lm": Task(_M + "GPT2LMHeadModel", "GPT2LMHeadModel", "causal-lm"),
        "sequence-classification": Task(_M + "GPT2ForSequenceClassification", "GPT2ForSequenceClassification",
                                        "class", {"num_labels": 3}),
        "token-classification": Task(_M + "GPT2ForTokenClassification", "GPT2ForTokenClassification", "token",
                                     {"num_labels": 4}),
        "question-answering": Task(_M + "GPT2ForQuestionAnswering", "GPT2ForQuestionAnswering", "qa"),
    }

    def make_inputs(self, config, task, dtype, rng, batch_size=None):
        # without a pad token transformers' sequence classifier takes only one row
        if batch_size is None and config.pad_token_id is None and task == "sequence-classification":
            batch_size = 1
        return super().make_inputs(config, task, dtype, rng, batch_size)

    def prepare_hf(self, hf_model, task, dtype):
        if np.dtype(dtype) == np.float64 and task == "causal-lm":
            hf_model.loss_function = _float64_causal_lm_loss

    def forward_kwargs(self, task):
        return {} if task == "question-answering" else {"use_cache": False}   # the QA head has no cache


register_family(GPT2Adapter())
