"""Self-checks for GPT-2: the Conv1D layer (three standard checks) and two float64 model checks against
transformers (random weights, a left-padded batch with position_ids): GPT2LMHeadModel logits, loss and every
parameter gradient; and one cached decoding step fed to transformers as a DynamicCache. Skipped without torch.
"""
import numpy as np

from ...nn.conv1d_linear import Conv1D
from ..assert_close import compare
from ..parity import ParityReport
from ..selfcheck import register_check, register_layer_checks

_V, _L = 30, 6
_CFG = dict(vocab_size=_V, n_embd=16, n_layer=2, n_head=2, n_inner=20, n_positions=8, bos_token_id=1,
            eos_token_id=1, pad_token_id=0, scale_attn_by_inverse_layer_idx=True)


def _conv_x(dtype):
    return np.random.default_rng(0).standard_normal((2, 3, 5)).astype(dtype)


def _hf_conv1d(torch):
    from transformers.pytorch_utils import Conv1D as HFConv1D
    m = HFConv1D(4, 5)
    with torch.no_grad():
        m.bias.normal_()
    return m


register_layer_checks("nn.Conv1D (GPT-2)", lambda dt: Conv1D(4, 5, dtype=dt), _hf_conv1d, lambda dt: [_conv_x(dt)])


def _models():
    """(refimpl GPT2LMHeadModel, transformers GPT2LMHeadModel), same random float64 weights, eval mode."""
    import torch
    import transformers

    from ...models.gpt2 import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(**_CFG)).double().eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in hf.named_parameters():       # re-draw everything: no near-identity blocks
            r = torch.randn(p.shape, generator=g, dtype=torch.float64)
            p.copy_(1.0 + 0.2 * r if ".ln_" in name and name.endswith("weight") else 0.25 * r)
    ref = GPT2LMHeadModel(GPT2Config(**_CFG), np.float64).eval()
    ref.load_state_dict({k: v.numpy() for k, v in hf.state_dict().items()})
    return ref, hf


def _left_padded():
    r = np.random.default_rng(0)
    ids = r.integers(2, _V, (2, _L))
    mask = np.ones((2, _L), np.int64)
    ids[1, :2], mask[1, :2] = 0, 0                   # the second row is left-padded
    pos = np.where(mask == 1, mask.cumsum(1) - 1, 1)
    return ids, mask, pos


@register_check("GPT2LMHeadModel", "torch f64", needs_torch=True)
def _lm():
    import torch
    ref, hf = _models()
    ids, mask, pos = _left_padded()
    labels = np.where(mask == 1, ids, -100)
    t_out = hf(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
               position_ids=torch.from_numpy(pos))
    shifted = torch.nn.functional.pad(torch.from_numpy(labels), (0, 1), value=-100)[:, 1:]
    t_loss = torch.nn.functional.cross_entropy(t_out.logits.reshape(-1, _V), shifted.reshape(-1))  # float64 loss
    t_loss.backward()
    out = ref(input_ids=ids, attention_mask=mask, position_ids=pos, labels=labels)
    ref.backward()
    report = ParityReport([compare(out.logits, t_out.logits.detach().numpy(), dtype=np.float64, name="logits"),
                           compare(out.loss, t_loss.detach().numpy(), dtype=np.float64, name="loss")])
    t_params = dict(hf.named_parameters())
    for name, p in ref.named_parameters():
        report.append(compare(p.grad, t_params[name].grad.numpy(), dtype=np.float64, name=f"grad {name}"))
    return report


@register_check("GPT2LMHeadModel KV cache", "torch f64", needs_torch=True)
def _cache():
    import torch
    from transformers.cache_utils import DynamicCache

    from ...core.grad_mode import no_grad
    ref, hf = _models()
    ids, mask, pos = _left_padded()
    with no_grad():
        past = ref(input_ids=ids[:, :4], attention_mask=mask[:, :4], position_ids=pos[:, :4]).past_key_values
        out = ref(input_ids=ids[:, 4:], attention_mask=mask, position_ids=pos[:, 4:], past_key_values=past)
    cache = DynamicCache(ddp_cache_data=[(torch.from_numpy(k), torch.from_numpy(v)) for k, v in past])
    with torch.no_grad():
        t_out = hf(input_ids=torch.from_numpy(ids[:, 4:]), attention_mask=torch.from_numpy(mask),
                   position_ids=torch.from_numpy(pos[:, 4:]), cache=cache, use_cache=True)
    report = ParityReport([compare(out.logits, t_out.logits.numpy(), dtype=np.float64, name="logits (cached step)")])
    for i, ((k, v), layer) in enumerate(zip(out.past_key_values, t_out.cache.layers)):
        report.append(compare(k, layer.keys.numpy(), dtype=np.float64, name=f"cache[{i}] keys"))
        report.append(compare(v, layer.values.numpy(), dtype=np.float64, name=f"cache[{i}] values"))
    return report
