"""trainer_param_groups / decay_parameter_names against transformers' Trainer rule, family by family.

The HF model is saved and loaded into refimpl with from_pretrained, so both sides have the same keys;
transformers' get_parameter_names with Trainer's arguments is the reference. (ViT is not in the list:
transformers 5 names its modules differently from its checkpoint keys, q_proj vs attention.query, so
the two name lists cannot be compared directly.)"""
import importlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from transformers.trainer_pt_utils import get_parameter_names  # noqa: E402

from refimpl.core.errors import ConfigError  # noqa: E402
from refimpl.optim import AdamW  # noqa: E402
from refimpl.optim.param_groups import NO_DECAY_NAME_PATTERNS, decay_parameter_names, trainer_param_groups  # noqa: E402

TINY = {
    "bert": ("BertConfig", "BertForSequenceClassification",
             dict(vocab_size=30, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=12,
                  max_position_embeddings=16)),
    "distilbert": ("DistilBertConfig", "DistilBertForSequenceClassification",
                   dict(vocab_size=30, dim=8, n_layers=1, n_heads=2, hidden_dim=12, max_position_embeddings=16)),
    "gpt2": ("GPT2Config", "GPT2LMHeadModel", dict(vocab_size=30, n_embd=8, n_layer=1, n_head=2, n_positions=16)),
    "convnext": ("ConvNextConfig", "ConvNextForImageClassification",
                 dict(hidden_sizes=[4, 8], depths=[1, 1], num_stages=2, num_channels=3)),
    "convnextv2": ("ConvNextV2Config", "ConvNextV2ForImageClassification",
                   dict(hidden_sizes=[4, 8], depths=[1, 1], num_stages=2, num_channels=3)),
}


def _pair(family, tmp_path):
    cfg_name, cls_name, kw = TINY[family]
    hf = getattr(transformers, cls_name)(getattr(transformers, cfg_name)(**kw))
    hf.save_pretrained(tmp_path)
    ref_cls = getattr(importlib.import_module(f"refimpl.models.{family}"), cls_name)
    return ref_cls.from_pretrained(tmp_path), hf


@pytest.mark.parametrize("family", list(TINY))
def test_decay_names_match_trainer(family, tmp_path):
    ref, hf = _pair(family, tmp_path)
    expected = set(get_parameter_names(hf, [torch.nn.LayerNorm], list(NO_DECAY_NAME_PATTERNS)))
    expected &= {n for n, _ in hf.named_parameters()}           # tied duplicates are one parameter
    ours = decay_parameter_names(ref)
    assert set(ours) == expected
    assert ours == [n for n, _ in ref.named_parameters() if n in expected]          # model order
    no_decay = {n for n, _ in ref.named_parameters()} - expected
    assert no_decay and expected                                # both groups are really exercised


def test_groups_for_adamw(tmp_path):
    ref, _ = _pair("bert", tmp_path)
    groups = trainer_param_groups(ref, weight_decay=0.1)
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
    names = [n for g in groups for n, _ in g["params"]]
    assert sorted(names) == sorted(n for n, _ in ref.named_parameters())
    assert all("bias" in n or "LayerNorm" in n for n, _ in groups[1]["params"])
    opt = AdamW(groups, lr=1e-3)
    assert opt.param_groups[1]["param_names"] == [n for n, _ in groups[1]["params"]]
    # frozen parameters are left out, as Trainer does
    ref.get_submodule("bert.embeddings.LayerNorm").weight.requires_grad = False
    assert "bert.embeddings.LayerNorm.weight" not in [n for g in trainer_param_groups(ref, 0.1) for n, _ in g["params"]]


def test_bad_arguments(tmp_path):
    ref, _ = _pair("bert", tmp_path)
    with pytest.raises(ConfigError, match="weight_decay"):
        trainer_param_groups(ref, weight_decay=-1.0)
    with pytest.raises(ConfigError, match="model"):
        decay_parameter_names(np.zeros(3))
    for p in ref.parameters():
        p.requires_grad = False
    with pytest.raises(ConfigError, match="model"):
        trainer_param_groups(ref, weight_decay=0.1)
