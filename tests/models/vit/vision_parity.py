"""ViT's float32 island in transformers, for the float64 parity tests (the shared helpers are in
tests/models/hf_parity.py: run_parity matches parameters by checkpoint key, so ViT's renamed live names
line up, and randomize_(..., norms="type") re-draws its layernorm_before / layernorm_after near 1)."""
import torch


def eager_attention_float64(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """transformers' eager attention with the softmax in the input dtype (transformers takes it in float32,
    which would cap float64 parity near 1e-7 and hide real errors under it). Patch it in as
    modeling_vit.eager_attention_forward."""
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
        else:
            scores = scores + attention_mask
    weights = torch.nn.functional.softmax(scores, dim=-1)
    weights = torch.nn.functional.dropout(weights, p=dropout, training=module.training)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights
