"""Self-checks for the Wav2Vec2 family: float64 torch parity of Wav2Vec2ForCTC (group-norm, post-LN) and
Wav2Vec2ForPreTraining (layer-norm, pre-LN) on a tiny random config and a padded batch: outputs, loss, the
input_values gradient and every parameter gradient. transformers' float32 islands (CTC log_softmax with
dtype=float32, the pretraining .float() casts) are neutralised for the run, as in tests/models/wav2vec2.
Skipped without torch.
"""
import contextlib

import numpy as np

from ..assert_close import compare
from ..parity import ParityReport
from ..selfcheck import register_check

_CFG = dict(vocab_size=10, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=20,
            conv_dim=(8, 8), conv_kernel=(5, 3), conv_stride=(3, 2), num_conv_pos_embeddings=4,
            num_conv_pos_embedding_groups=2, num_codevector_groups=2, num_codevectors_per_group=3, codevector_dim=8,
            proj_codevector_dim=6, layerdrop=0.0, mask_time_prob=0.5, mask_time_length=2, hidden_dropout=0.0,
            activation_dropout=0.0, attention_dropout=0.0, final_dropout=0.0)


@contextlib.contextmanager
def _float64_transformers(torch):
    orig_float, orig_ls = torch.Tensor.float, torch.nn.functional.log_softmax
    torch.Tensor.float = lambda self, *a, **k: self if self.dtype == torch.float64 else orig_float(self, *a, **k)
    torch.nn.functional.log_softmax = lambda x, dim=None, _stacklevel=3, dtype=None: orig_ls(
        x, dim=dim, dtype=None if x.dtype == torch.float64 else dtype)
    try:
        yield
    finally:
        torch.Tensor.float, torch.nn.functional.log_softmax = orig_float, orig_ls


def _parity(name, fields, **inputs) -> ParityReport:
    import torch
    import transformers

    from ...models.wav2vec2 import modeling
    from ...models.wav2vec2.config import Wav2Vec2Config
    overrides = inputs.pop("config", {})
    hf = getattr(transformers, name)(transformers.Wav2Vec2Config(**_CFG, **overrides)).double().eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for pname, p in hf.named_parameters():
            r = torch.randn(p.shape, generator=g, dtype=torch.float64)
            p.copy_(1.0 + 0.2 * r if "layer_norm.weight" in pname else 0.25 * r)
    ref = getattr(modeling, name)(Wav2Vec2Config(**_CFG, **overrides), np.float64).eval()
    ref.load_state_dict({k: v.numpy() for k, v in hf.state_dict().items()})
    r = np.random.default_rng(0)
    x = r.standard_normal((2, 60))
    mask = np.ones((2, 60), np.int64)
    x[1, 45:], mask[1, 45:] = 0.0, 0                                   # the second utterance is padded
    t_x = torch.from_numpy(x).requires_grad_(True)
    t_in = {k: torch.from_numpy(v) for k, v in inputs.items()}
    with _float64_transformers(torch):
        t_out = hf(input_values=t_x, attention_mask=torch.from_numpy(mask), **t_in)
        t_out.loss.backward()
    out = ref(input_values=x, attention_mask=mask, **inputs)
    d_x = ref.backward()["input_values"]
    report = ParityReport([compare(out[f], getattr(t_out, f).detach().numpy(), dtype=np.float64, name=f)
                           for f in fields])
    report.append(compare(d_x, t_x.grad.numpy(), dtype=np.float64, name="grad input_values"))
    t_params = dict(hf.named_parameters())
    for pname, p in ref.named_parameters():
        tg = t_params[pname].grad
        report.append(compare(p.grad if p.grad is not None else np.zeros(p.shape),
                              tg.numpy() if tg is not None else np.zeros(p.shape), dtype=np.float64,
                              name=f"grad {pname}"))
    return report


@register_check("Wav2Vec2ForCTC", "torch f64", needs_torch=True)
def _ctc():
    labels = np.array([[1, 2, 2, 3], [4, 5, -100, -100]])             # 9 and 6 frames; a repeated label
    return _parity("Wav2Vec2ForCTC", ("loss", "logits"), labels=labels, config=dict(ctc_loss_reduction="mean"))


@register_check("Wav2Vec2ForPreTraining", "torch f64", needs_torch=True)
def _pretraining():
    mask = np.zeros((2, 9), bool)                                     # 9 frames (6 valid in the second)
    mask[0, [1, 2, 5, 6]] = True
    mask[1, [0, 1, 3]] = True
    neg = np.zeros((2, 9, 2), np.int64)                               # other masked frames of the same utterance
    neg[0, [1, 2, 5, 6]] = [[2, 5], [6, 1], [1, 2], [5, 2]]
    neg[1, [0, 1, 3]] = [[10, 12], [12, 9], [9, 10]]                  # flat indices b * 9 + t
    return _parity("Wav2Vec2ForPreTraining", ("loss", "projected_states", "projected_quantized_states"),
                   mask_time_indices=mask, sampled_negative_indices=neg,
                   config=dict(feat_extract_norm="layer", do_stable_layer_norm=True))
