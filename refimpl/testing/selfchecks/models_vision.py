"""Self-checks for the image models: one float64 torch-parity check of each classification head
(ViT, ConvNeXT, ConvNeXt V2), plus the three standard checks of GlobalResponseNorm.

A tiny transformers model (every weight re-drawn, so ConvNeXT's 1e-6 layer scale and V2's zero GRN do not
make the blocks the identity) and the refimpl model with the same weights (under the checkpoint keys,
which transformers 5.24 renames for ViT) run the same images; logits, loss, the pixel_values gradient and
every parameter gradient are compared. Skipped without torch; the first one pays transformers' import.
"""
import numpy as np

from ...functional.grn import global_response_norm, global_response_norm_backward
from ..assert_close import compare
from ..parity import ParityReport
from ..selfcheck import register_check, register_function_checks


def _parity(ref_cls, ref_config, hf_model, size) -> ParityReport:
    import torch
    from transformers.core_model_loading import revert_weight_conversion
    g = torch.Generator().manual_seed(0)
    hf_model.double().eval()
    ln = {id(m.weight) for m in hf_model.modules() if isinstance(m, torch.nn.LayerNorm)}
    with torch.no_grad():
        for _, p in hf_model.named_parameters():
            r = torch.randn(p.shape, generator=g, dtype=torch.float64)
            p.copy_(1.0 + 0.2 * r if id(p) in ln else 0.25 * r)
    # {live name: checkpoint key}: tag each parameter with its index, revert the renaming, read it back
    names = [n for n, _ in hf_model.named_parameters()]
    keyed = revert_weight_conversion(hf_model, {n: torch.tensor(float(i)) for i, n in enumerate(names)})
    key_of = {names[int(v.item())]: k for k, v in keyed.items()}
    ref = ref_cls(ref_config, np.float64).eval()
    ref.load_state_dict({key_of[n]: p.detach().numpy() for n, p in hf_model.named_parameters()})

    x = np.random.default_rng(0).standard_normal((2, 3) + size)
    labels = np.array([2, 0])
    t_x = torch.from_numpy(x).requires_grad_(True)
    t_out = hf_model(pixel_values=t_x, labels=torch.from_numpy(labels))
    t_out.loss.backward()
    out = ref(pixel_values=x, labels=labels)
    dx = ref.backward()["pixel_values"]
    report = ParityReport([compare(out.logits, t_out.logits.detach().numpy(), dtype=np.float64, name="logits"),
                           compare(out.loss, t_out.loss.detach().numpy(), dtype=np.float64, name="loss"),
                           compare(dx, t_x.grad.numpy(), dtype=np.float64, name="grad pixel_values")])
    t_params = {key_of[n]: p for n, p in hf_model.named_parameters()}
    for name, p in ref.named_parameters():
        tg = t_params[name].grad
        report.append(compare(p.grad if p.grad is not None else np.zeros(p.shape),
                              tg.numpy() if tg is not None else np.zeros(p.shape), dtype=np.float64,
                              name=f"grad {name}"))
    return report


@register_check("ViTForImageClassification", "torch f64", needs_torch=True)
def _vit():
    import transformers

    from ...models.vit import ViTConfig, ViTForImageClassification
    kw = dict(hidden_size=12, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16, image_size=8,
              patch_size=4, num_labels=3)
    return _parity(ViTForImageClassification, ViTConfig(**kw),
                   transformers.ViTForImageClassification(transformers.ViTConfig(**kw)), (8, 8))


@register_check("ConvNextForImageClassification", "torch f64", needs_torch=True)
def _convnext():
    import transformers

    from ...models.convnext import ConvNextConfig, ConvNextForImageClassification
    kw = dict(patch_size=2, num_stages=2, hidden_sizes=[4, 8], depths=[1, 1], num_labels=3)
    return _parity(ConvNextForImageClassification, ConvNextConfig(**kw),
                   transformers.ConvNextForImageClassification(transformers.ConvNextConfig(**kw)), (8, 10))


@register_check("ConvNextV2ForImageClassification", "torch f64", needs_torch=True)
def _convnextv2():
    import transformers

    from ...models.convnextv2 import ConvNextV2Config, ConvNextV2ForImageClassification
    kw = dict(patch_size=2, num_stages=2, hidden_sizes=[4, 8], depths=[1, 1], num_labels=3)
    return _parity(ConvNextV2ForImageClassification, ConvNextV2Config(**kw),
                   transformers.ConvNextV2ForImageClassification(transformers.ConvNextV2Config(**kw)), (8, 10))


def _grn_inputs(dtype):
    r = np.random.default_rng(3)
    x = r.standard_normal((2, 3, 4, 5)).astype(dtype)
    w = r.standard_normal((1, 1, 1, 5)).astype(dtype)
    b = r.standard_normal((1, 1, 1, 5)).astype(dtype)
    return [x, w, b], {}


def _torch_grn(torch):
    def grn(x, weight, bias):                   # transformers' ConvNextV2GRN formula
        g = torch.linalg.vector_norm(x, ord=2, dim=(1, 2), keepdim=True)
        return weight * (x * (g / (g.mean(dim=-1, keepdim=True) + 1e-6))) + bias + x
    return grn


register_function_checks("nn.GlobalResponseNorm", global_response_norm, global_response_norm_backward, _torch_grn,
                         _grn_inputs)
