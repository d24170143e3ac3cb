"""Layers mirroring torch.nn names and arguments, each with forward and hand-written backward."""
from .linear import Identity, Linear
