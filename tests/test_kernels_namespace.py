"""Our top-level `kernels` package shares its import name with the Hugging Face kernel hub client.
transformers must keep working, and must not believe the hub client is installed."""
import importlib.metadata

import pytest


def test_our_kernels_package_is_importable():
    import kernels
    assert "refimpl" in (kernels.__doc__ or "")


def test_no_kernels_distribution_metadata():
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.version("kernels")


def test_transformers_imports_and_runs_with_refimpl_installed():
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from transformers.utils import is_kernels_available
    assert is_kernels_available() is False
    cfg = transformers.BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=16, max_position_embeddings=16)
    import torch
    out = transformers.BertModel(cfg)(torch.tensor([[1, 2, 3]]))
    assert out.last_hidden_state.shape == (1, 3, 8)
