"""Wav2Vec2 in `refimpl diff`: the base model, CTC, sequence classification and (eval-mode) pretraining.

transformers computes a few steps of Wav2Vec2 in float32 even in a float64 model (HF_TINY_MODELS.md):
ForCTCLoss's log_softmax(dtype=float32) and the pretraining head's .float() casts. A float64 run
neutralises them around transformers' forward and backward (hf_context), so float64 parity is tight.
"""
import contextlib

import numpy as np

from .base import FamilyAdapter, Task, make_labels, register_family

_M = "refimpl.models.wav2vec2.modeling:"


@contextlib.contextmanager
def float64_transformers():
    """Tensor.float() is the identity on float64 tensors, and log_softmax ignores dtype=float32 on float64
    input, while the block runs; float32 tensors behave as usual."""
    import torch
    orig_float, orig_log_softmax = torch.Tensor.float, torch.nn.functional.log_softmax

    def float_(self, *args, **kwargs):
        return self if self.dtype == torch.float64 else orig_float(self, *args, **kwargs)

    def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
        if input.dtype == torch.float64 and dtype == torch.float32:
            dtype = None
        return orig_log_softmax(input, dim=dim, dtype=dtype)

    torch.Tensor.float, torch.nn.functional.log_softmax = float_, log_softmax
    try:
        yield
    finally:
        torch.Tensor.float, torch.nn.functional.log_softmax = orig_float, orig_log_softmax


class Wav2Vec2Adapter(FamilyAdapter):
    name = "wav2vec2"
    model_type = "wav2vec2"
    hf_config_class = "Wav2Vec2Config"
    ref_config_class = "refimpl.models.wav2vec2.config:Wav2Vec2Config"
    grad_input = "input_values"
    batch_size = 3
    loss_inputs = ("labels", "sampled_negative_indices")
    cotangent_scale = 0.1       # float32 gradients summed over many samples: keep them O(1)
    tiny_config = dict(vocab_size=12, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=20,
                       conv_dim=(8, 8, 8), conv_kernel=(5, 3, 3), conv_stride=(3, 2, 2), num_conv_pos_embeddings=4,
                       num_conv_pos_embedding_groups=2, num_codevector_groups=2, num_codevectors_per_group=3,
                       codevector_dim=8, proj_codevector_dim=6, classifier_proj_size=7, num_negatives=4, layerdrop=0.0,
                       mask_time_prob=0.5, mask_time_length=2, hidden_dropout=0.0, activation_dropout=0.0,
                       attention_dropout=0.0, final_dropout=0.0)
    tasks = {
        "base": Task(_M + "Wav2Vec2Model", "Wav2Vec2Model"),
        # mean reduction keeps the float32 gradients O(1) (the elementwise float32 atol is 1e-5)
        "ctc": Task(_M + "Wav2Vec2ForCTC", "Wav2Vec2ForCTC", "ctc", {"ctc_loss_reduction": "mean"}),
        "sequence-classification": Task(_M + "Wav2Vec2ForSequenceClassification", "Wav2Vec2ForSequenceClassification",
                                        "class", {"num_labels": 3}),
        "pretraining": Task(_M + "Wav2Vec2ForPreTraining", "Wav2Vec2ForPreTraining", "pretraining-w2v"),
    }

    def hf_context(self, dtype):
        return float64_transformers() if np.dtype(dtype) == np.float64 else contextlib.nullcontext()

    def make_inputs(self, config, task, dtype, rng, batch_size=None):
        from ...models.wav2vec2.feature_encoder import config_receptive_field, feat_extract_output_lengths
        from ...models.wav2vec2.masking import compute_mask_indices, sample_negative_indices
        b = batch_size or self.batch_size
        s = 5 * config_receptive_field(config) + 5                             # ~ 5 frames per receptive field
        lengths = [s - (s // 4) * i if i < 3 else s // 2 for i in range(b)]        # s, 3s/4, s/2, ...
        x = rng.standard_normal((b, s))
        mask = np.zeros((b, s), np.int64)
        for i, n in enumerate(lengths):
            mask[i, :n] = 1
            x[i, n:] = 0.0
        inputs = {"input_values": x.astype(dtype), "attention_mask": mask}
        frames = np.asarray(feat_extract_output_lengths(config, np.asarray(lengths)))
        kind = self.tasks[task].labels
        if kind == "ctc":
            blank = config.pad_token_id if config.pad_token_id is not None else 0
            per_row = [max(1, int(f) // 3) for f in frames]
            labels = np.full((b, max(per_row)), -100, np.int64)
            for i, k in enumerate(per_row):
                ids = rng.integers(0, config.vocab_size - 1, k)
                labels[i, :k] = ids + (ids >= blank)                             # any id but the blank
            inputs["labels"] = labels
        elif kind == "pretraining-w2v":
            t = int(feat_extract_output_lengths(config, s))
            keep = np.arange(t)[None, :] < frames[:, None]                       # (B, T) real frames
            m = compute_mask_indices((b, t), config.mask_time_prob, config.mask_time_length, rng,
                                     attention_mask=keep, min_masks=2) & keep
            m[m.sum(-1) == 1] = False                                            # a lone masked frame has no negative
            inputs["mask_time_indices"] = m
            inputs["sampled_negative_indices"] = sample_negative_indices((b, t), config.num_negatives, rng, m)
        else:
            inputs.update(make_labels(kind, config, inputs, dtype, rng))
        return inputs


register_family(Wav2Vec2Adapter())
