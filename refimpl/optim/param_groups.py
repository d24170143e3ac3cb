"""Parameter groups the way transformers' Trainer builds them: weight decay except on biases and norms.

Trainer.create_optimizer gives weight decay only to the parameters that get_decay_parameter_names
returns, i.e. every parameter except

    - those inside a LayerNorm module (torch.nn.LayerNorm there, refimpl.nn.normalization.LayerNorm
      here: ConvNeXT's channels-first norms and GPT-2's ln_1 / ln_f are caught by their type), and
    - those whose lower-cased name contains "bias", "layernorm", "rmsnorm", a ".norm." / "norm"
      component, or "_norm" at the end of a component ("sa_layer_norm.weight", "final_layer_norm.bias").

Because refimpl's parameter names are the Hugging Face state-dict keys, the same rule selects the
same parameters on both sides of a comparison:

    opt = AdamW(trainer_param_groups(model, weight_decay=0.01), lr=5e-5)
"""
from __future__ import annotations

import re
from typing import Dict, List

from ..core.errors import ConfigError
from ..core.module import Module
from ..nn.normalization import LayerNorm
from .optimizer import _number

# The name patterns of Trainer.get_decay_parameter_names (transformers 5), searched in the lower-cased name.
NO_DECAY_NAME_PATTERNS = (r"bias", r"layernorm", r"rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)")
_PATTERNS = [re.compile(p) for p in NO_DECAY_NAME_PATTERNS]


def decay_parameter_names(model: Module) -> List[str]:
    """Names (in model order) of the parameters that Trainer gives weight decay to; see the module docstring."""
    if not isinstance(model, Module):
        raise ConfigError(f"model: expected a refimpl Module, got {type(model).__name__}")
    in_norm = set()
    for _, mod in model.named_modules():
        if isinstance(mod, LayerNorm):
            in_norm.update(id(p) for p in mod.parameters())
    return [name for name, p in model.named_parameters()
            if id(p) not in in_norm and not any(pat.search(name.lower()) for pat in _PATTERNS)]


def trainer_param_groups(model: Module, weight_decay: float) -> List[Dict]:
    """[{"params": decayed (name, Parameter) pairs, "weight_decay": weight_decay},
        {"params": the other pairs, "weight_decay": 0.0}] for the parameters with requires_grad,
    as Trainer.create_optimizer passes them to the optimizer (an empty group is left out)."""
    wd = _number(weight_decay, "weight_decay")
    decay = set(decay_parameter_names(model))
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [{"params": [(n, p) for n, p in named if n in decay], "weight_decay": wd},
              {"params": [(n, p) for n, p in named if n not in decay], "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    if not groups:
        raise ConfigError("model: has no trainable parameter (every requires_grad is False)")
    return groups
