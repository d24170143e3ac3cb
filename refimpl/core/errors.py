"""Exception types raised by refimpl.

Every check in refimpl raises one of these with a message that names the argument, what
was expected and what was received, before any arithmetic runs. They subclass the built-in
exception a NumPy user would expect (ValueError / TypeError), so `except ValueError` works.
"""


class RefimplError(Exception):
    """Base class of every error refimpl raises on purpose."""


class ShapeError(RefimplError, ValueError):
    """An array has the wrong number of dimensions or the wrong size along an axis."""


class DTypeError(RefimplError, TypeError):
    """An array has a dtype the operation does not take, or mixes dtypes."""


class IndexRangeError(RefimplError, ValueError):
    """An integer index (token id, label, position) lies outside its valid range."""


class ConfigError(RefimplError, ValueError):
    """An argument or configuration value is outside what the operation supports."""


class StateDictError(RefimplError, KeyError):
    """A state dict does not match a module: missing, unexpected or mis-shaped keys."""

    def __str__(self):  # KeyError would otherwise repr() the message and escape newlines
        return str(self.args[0]) if self.args else ""


class CheckpointError(RefimplError, ValueError):
    """A checkpoint file (safetensors, config.json, pytorch_model.bin) is missing or corrupt."""


class BackwardError(RefimplError, RuntimeError):
    """backward() was called without a matching forward() (or under no_grad)."""


class InfeasibleError(RefimplError, ValueError):
    """A problem has no solution: a cost matrix whose forbidden (infinite) entries leave no complete
    assignment, a CTC target that cannot fit in its frames (when the caller asks for an error)."""
