"""Self-checks for the BERT family: one float64 torch-parity check of a sequence-classification head each.

A tiny transformers model (random weights) and the refimpl model with the same weights run the same
padded batch; logits, loss and every parameter gradient are compared. Skipped without torch; the
first one also pays transformers' import (~2-3 s).
"""
import numpy as np

from ..assert_close import compare
from ..parity import ParityReport
from ..selfcheck import register_check

_V, _L = 30, 6


def _batch():
    r = np.random.default_rng(0)
    ids = r.integers(1, _V, (2, _L))
    mask = np.ones((2, _L), np.int64)
    ids[1, 4:], mask[1, 4:] = 0, 0                            # the second row is padded
    return ids, mask, np.array([2, 0])


def _parity(ref_cls, hf_model, **extra_inputs) -> ParityReport:
    import torch
    g = torch.Generator().manual_seed(0)
    hf_model.double().eval()
    with torch.no_grad():
        for name, p in hf_model.named_parameters():           # re-draw everything: no near-identity blocks
            r = torch.randn(p.shape, generator=g, dtype=torch.float64)
            p.copy_(1.0 + 0.2 * r if name.endswith("LayerNorm.weight") or "layer_norm.weight" in name
                    else 0.25 * r)
    ids, mask, labels = _batch()
    ref = ref_cls(ref_cls.config_class.from_dict(hf_model.config.to_dict()), np.float64).eval()
    ref.load_state_dict({k: v.numpy() for k, v in hf_model.state_dict().items()})
    inputs = dict(input_ids=ids, attention_mask=mask, labels=labels, **extra_inputs)
    t_out = hf_model(**{k: torch.from_numpy(v) for k, v in inputs.items()})
    t_out.loss.backward()
    out = ref(**inputs)
    ref.backward()
    report = ParityReport([compare(out.logits, t_out.logits.detach().numpy(), dtype=np.float64, name="logits"),
                           compare(out.loss, t_out.loss.detach().numpy(), dtype=np.float64, name="loss")])
    t_params = dict(hf_model.named_parameters())
    for name, p in ref.named_parameters():
        tg = t_params[name].grad
        report.append(compare(p.grad if p.grad is not None else np.zeros(p.shape),
                              tg.numpy() if tg is not None else np.zeros(p.shape), dtype=np.float64,
                              name=f"grad {name}"))
    return report


@register_check("BertForSequenceClassification", "torch f64", needs_torch=True)
def _bert():
    import transformers

    from ...models.bert.modeling import BertForSequenceClassification
    cfg = transformers.BertConfig(vocab_size=_V, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=20, max_position_embeddings=8, num_labels=3)
    tt = np.zeros((2, _L), np.int64)
    tt[:, 3:] = 1                                             # sentence pairs
    return _parity(BertForSequenceClassification, transformers.BertForSequenceClassification(cfg), token_type_ids=tt)


@register_check("DistilBertForSequenceClassification", "torch f64", needs_torch=True)
def _distilbert():
    import transformers

    from ...models.distilbert.modeling import DistilBertForSequenceClassification
    cfg = transformers.DistilBertConfig(vocab_size=_V, dim=16, n_layers=2, n_heads=2, hidden_dim=20,
                                        max_position_embeddings=8, num_labels=3)
    return _parity(DistilBertForSequenceClassification, transformers.DistilBertForSequenceClassification(cfg))
