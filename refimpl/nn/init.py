"""Deterministic initialisers (from an explicit Generator). Checkpoints overwrite them; they exist so
a freshly built model is usable and reproducible."""
import numpy as np


def uniform_fan_in(rng: np.random.Generator, shape, fan_in: int, dtype) -> np.ndarray:
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)), torch's default for Linear/Conv weights and biases."""
    bound = 1.0 / np.sqrt(fan_in) if fan_in > 0 else 0.0
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def normal(rng: np.random.Generator, shape, std: float, dtype) -> np.ndarray:
    """N(0, std^2), the initializer_range init of Hugging Face models."""
    return (rng.standard_normal(shape) * std).astype(dtype)
