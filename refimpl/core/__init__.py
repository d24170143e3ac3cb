"""The layer protocol: Module and Parameter, dtype policy, errors, grad mode, kernel dispatch."""
from .config import PretrainedConfig
from .kernel_dispatch import HOT_PATHS, dispatch, get_kernel_backend, register_reference, use_kernels
from .errors import (BackwardError, CheckpointError, ConfigError, DTypeError, IndexRangeError,
                     RefimplError, ShapeError, StateDictError)
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .model import ModelOutput, PreTrainedModel
from .module import Module, ModuleDict, ModuleList, Sequential
from .parameter import Parameter
from . import validation

__all__ = [
    "Module", "ModuleList", "ModuleDict", "Sequential", "Parameter",
    "PretrainedConfig", "ModelOutput", "PreTrainedModel",
    "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled",
    "use_kernels", "get_kernel_backend", "dispatch", "register_reference", "HOT_PATHS",
    "RefimplError", "ShapeError", "DTypeError", "IndexRangeError", "ConfigError",
    "StateDictError", "CheckpointError", "BackwardError", "validation",
]
