"""Optimizers (torch.optim update rules), learning-rate schedules (transformers' factors) and gradient clipping."""
from .adamw import Adam, AdamW
from .clip import NonFiniteNormError, clip_grad_norm_, clip_grad_value_
from .optimizer import Optimizer
from .param_groups import decay_parameter_names, trainer_param_groups
from .schedules import (LambdaLR, get_constant_schedule, get_constant_schedule_with_warmup,
                        get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup)
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "LambdaLR", "get_constant_schedule",
           "get_constant_schedule_with_warmup", "get_linear_schedule_with_warmup",
           "get_cosine_schedule_with_warmup", "clip_grad_norm_", "clip_grad_value_", "NonFiniteNormError",
           "decay_parameter_names", "trainer_param_groups"]
