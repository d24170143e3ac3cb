"""refimpl: a NumPy reference implementation (forward and hand-written backward) of the models in
"How Transformers solve tasks", meant as a verification oracle for other frameworks.

Float64 by default, parameter names equal to Hugging Face checkpoint keys.
"""
from .core import (Module, ModuleDict, ModuleList, Parameter, Sequential, enable_grad,
                   get_kernel_backend, is_grad_enabled, no_grad, use_kernels)
from .core.errors import (BackwardError, CheckpointError, ConfigError, DTypeError, IndexRangeError,
                          RefimplError, ShapeError, StateDictError)

__version__ = "0.1.0"

__all__ = [
    "Module", "ModuleList", "ModuleDict", "Sequential", "Parameter", "no_grad", "enable_grad",
    "is_grad_enabled", "use_kernels", "get_kernel_backend", "RefimplError", "ShapeError",
    "DTypeError", "IndexRangeError", "ConfigError", "StateDictError", "CheckpointError",
    "BackwardError", "__version__",
]
